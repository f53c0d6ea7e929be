using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>
/// Snapshots of a PC machine running a synthetic kernel: a long hash loop that prints its result
/// on COM1 and halts. A snapshot taken mid-loop and restored into a new machine finishes with the
/// same output after exactly the same number of instructions; damaged files are refused.
/// </summary>
public sealed class SnapshotTests : IDisposable
{
    private const long Iterations = 60_000_000;
    private readonly string dir = Directory.CreateTempSubdirectory("emu-snap-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static byte[] HashKernel()
    {
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        var digit = a.CreateLabel();
        var letter = a.CreateLabel();
        var emit = a.CreateLabel();
        var halt = a.CreateLabel();
        a.mov(r8, 1);
        a.mov(rbx, 6364136223846793005);
        a.mov(rsi, 1442695040888963407);
        a.mov(rcx, Iterations);
        a.Label(ref loop);
        a.imul(r8, rbx);
        a.add(r8, rsi);
        a.dec(rcx);
        a.jnz(loop);
        a.mov(dx, PcMachine.Com1);
        a.mov(r9d, 16);
        a.Label(ref digit);
        a.rol(r8, 4);
        a.mov(eax, r8d);
        a.and(eax, 15);
        a.add(al, (byte)'0');
        a.cmp(al, (byte)'9');
        a.jbe(emit);
        a.Label(ref letter);
        a.add(al, 'a' - '9' - 1);
        a.Label(ref emit);
        a.@out(dx, al);
        a.dec(r9d);
        a.jnz(digit);
        a.mov(al, (byte)'\n');
        a.@out(dx, al);
        a.cli();
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x100_0200);
        return TestImages.BzImage(ms.ToArray());
    }

    private static string Expected()
    {
        ulong x = 1;
        for (long i = 0; i < Iterations; i++)
        {
            x = unchecked((x * 6364136223846793005) + 1442695040888963407);
        }

        return x.ToString("x16") + "\n";
    }

    private SnapshotOptions Options(string id) => new() { LayerDirectory = dir, MachineId = id };

    private async Task<(string Path, SnapshotReport Report, string Output, ulong Instructions)> SnapshotMidLoop()
    {
        var output = new SerialOutput();
        await using var vm = PcMachine.Build(new PcConfig { Kernel = HashKernel(), MemoryBytes = 64UL << 20, SerialOutput = output.Write });
        vm.Start();
        await Task.Delay(200);
        string path = Path.Combine(dir, "mid.emusnap");
        var report = await MachineSnapshot.SaveAsync(vm, path, Options("original"));
        Assert.Equal(MachineState.Running, vm.State);
        string text = await output.Line;
        vm.Pause();
        return (path, report, text, vm.Cpus[0].S.InstructionCount);
    }

    [Fact]
    public async Task ARestoredMachineFinishesExactlyAsTheOriginal()
    {
        var (path, report, original, instructions) = await SnapshotMidLoop();
        Assert.Equal(Expected(), original);
        Assert.Equal(new FileInfo(path).Length, report.FileBytes);
        Assert.True(report.NonZeroPages < report.RamPages / 4, $"zero pages are skipped: {report.NonZeroPages} of {report.RamPages} saved");

        var output = new SerialOutput();
        await using var restored = await MachineSnapshot.RestoreAsync(path, Options("restored"), output.Write);
        ulong rcx = restored.Cpus[0].Reg(Emulator.X86.State.Gpr.Rcx);
        Assert.True(rcx is > 0 and < Iterations, $"the snapshot was taken inside the loop (rcx = {rcx})");
        Assert.Equal(MachineState.Created, restored.State);
        restored.Start();
        Assert.Equal(original, await output.Line);
        restored.Pause();
        Assert.Equal(instructions, restored.Cpus[0].S.InstructionCount);
    }

    [Fact]
    public async Task DamagedAndForeignFilesAreRefused()
    {
        var (path, _, _, _) = await SnapshotMidLoop();
        byte[] good = await File.ReadAllBytesAsync(path);

        async Task<string> Refusal(byte[] bytes)
        {
            string bad = Path.Combine(dir, $"bad-{Guid.NewGuid():N}.emusnap");
            await File.WriteAllBytesAsync(bad, bytes);
            var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => MachineSnapshot.RestoreAsync(bad, Options("x"), _ => { }));
            Assert.StartsWith(bad, e.Message);
            return e.Reason;
        }

        Assert.Contains("truncated", await Refusal(good[..(good.Length / 2)]));
        Assert.Contains("truncated", await Refusal(good[..(good.Length - 1)]));
        Assert.Contains("shorter than the header", await Refusal(good[..12]));

        var flipped = (byte[])good.Clone();
        flipped[good.Length / 2] ^= 0x40;
        Assert.Contains("checksum mismatch", await Refusal(flipped));

        var foreign = (byte[])good.Clone();
        "QEVM"u8.CopyTo(foreign);
        Assert.Contains("bad magic", await Refusal(foreign));
        Assert.Contains("bad magic", await Refusal([]));

        var newer = (byte[])good.Clone();
        newer[8] = 2;
        Assert.Contains("newer than this emulator reads", await Refusal(newer));
        Assert.Empty(Directory.GetFiles(dir, "*.cow"));
    }
}
