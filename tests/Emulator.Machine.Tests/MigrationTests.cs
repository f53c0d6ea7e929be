using System.IO.Pipelines;
using Emulator.Machine.Migration;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>
/// Live migration of a running machine over a stream (Migration/LiveMigration.cs), source and
/// target in one process: the guest keeps storing into 512 KiB of RAM while its pages are sent,
/// so only a dirty log that misses nothing gives the target the right checksum at the end.
/// </summary>
public sealed class MigrationTests(Xunit.Abstractions.ITestOutputHelper log) : IDisposable
{
    private const long Iterations = 40_000_000;
    private const ulong Buffer = 0x200_0000;
    private const int Slots = 0x10000; // qwords: 512 KiB, 128 pages
    private readonly string dir = Directory.CreateTempSubdirectory("emu-migrate-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>x = x * A + C, stored at buffer[i % 64 Ki] every step; then prints x and the buffer's sum in hex and halts.</summary>
    private static byte[] Kernel()
    {
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        var sum = a.CreateLabel();
        var halt = a.CreateLabel();
        a.mov(r8, 1);
        a.mov(rbx, 6364136223846793005);
        a.mov(rsi, 1442695040888963407);
        a.mov(rdi, Buffer);
        a.mov(rcx, Iterations);
        a.Label(ref loop);
        a.imul(r8, rbx);
        a.add(r8, rsi);
        a.mov(rax, rcx);
        a.and(eax, Slots - 1);
        a.mov(__qword_ptr[rdi + rax * 8], r8);
        a.dec(rcx);
        a.jnz(loop);
        a.xor(r10, r10);
        a.mov(ecx, Slots);
        a.Label(ref sum);
        a.add(r10, __qword_ptr[rdi + rcx * 8 - 8]);
        a.dec(rcx);
        a.jnz(sum);
        a.mov(dx, PcMachine.Com1);
        PrintHex(a, r8);
        a.mov(al, (byte)' ');
        a.@out(dx, al);
        PrintHex(a, r10);
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

    /// <summary>Sixteen hex digits of <paramref name="value"/> on COM1 (DX); the register comes back unchanged (16 rotations of 4).</summary>
    private static void PrintHex(Assembler a, AssemblerRegister64 value)
    {
        var digit = a.CreateLabel();
        var emit = a.CreateLabel();
        a.mov(r9d, 16);
        a.Label(ref digit);
        a.rol(value, 4);
        a.mov(eax, value == r8 ? r8d : r10d);
        a.and(eax, 15);
        a.add(al, (byte)'0');
        a.cmp(al, (byte)'9');
        a.jbe(emit);
        a.add(al, 'a' - '9' - 1);
        a.Label(ref emit);
        a.@out(dx, al);
        a.dec(r9d);
        a.jnz(digit);
    }

    private static string Expected()
    {
        ulong x = 1;
        var buffer = new ulong[Slots];
        for (long i = Iterations; i > 0; i--)
        {
            x = unchecked((x * 6364136223846793005) + 1442695040888963407);
            buffer[i & (Slots - 1)] = x;
        }

        ulong total = 0;
        foreach (ulong v in buffer)
        {
            total = unchecked(total + v);
        }

        return $"{x:x16} {total:x16}\n";
    }

    /// <summary>
    /// Adds 1 to the first qword of each page of 16 MiB in turn, with a pause between pages, pass
    /// after pass, forever: a page is written once a pass, so a page dirtied while one round is sent
    /// is not written again by the time the guest is stopped.
    /// </summary>
    private static byte[] PageWalkerKernel()
    {
        var a = new Assembler(64);
        var pass = a.CreateLabel();
        var page = a.CreateLabel();
        var pause = a.CreateLabel();
        a.mov(rdi, Buffer);
        a.Label(ref pass);
        a.xor(eax, eax);
        a.Label(ref page);
        a.inc(__qword_ptr[rdi + rax]);
        a.mov(ecx, 3000);
        a.Label(ref pause);
        a.dec(ecx);
        a.jnz(pause);
        a.add(rax, 4096);
        a.cmp(rax, 16 << 20);
        a.jb(page);
        a.jmp(pass);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x100_0200);
        return TestImages.BzImage(ms.ToArray());
    }

    private SnapshotOptions Options(string id) => new() { LayerDirectory = dir, MachineId = id };

    private static async Task<VirtualMachine> Running(SerialOutput output, byte[]? kernel = null)
    {
        var vm = PcMachine.Build(new PcConfig { Kernel = kernel ?? Kernel(), MemoryBytes = 64UL << 20, SerialOutput = output.Write });
        vm.Start();
        await Task.Delay(300); // inside the loop: it runs for seconds
        return vm;
    }

    [Fact]
    public async Task A_machine_migrated_while_it_writes_RAM_finishes_on_the_target_as_it_would_have_on_the_source()
    {
        var sourceOutput = new SerialOutput();
        await using var source = await Running(sourceOutput);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        var rounds = new List<MigrationProgress>();
        var targetOutput = new SerialOutput();
        var receiving = LiveMigration.ReceiveAsync(pipe.Reader.AsStream(), Options("target"), targetOutput.Write);
        MigrationReport report;
        await using (var toTarget = pipe.Writer.AsStream())
        {
            report = await LiveMigration.SendAsync(source, toTarget, new MigrationOptions { Snapshot = Options("source") }, new SyncProgress(rounds));
        }

        await using var target = await receiving;
        foreach (var r in rounds)
        {
            log.WriteLine($"round {r.Round}: {r.PagesSent} pages, {r.BytesSent} bytes sent so far; {r.DirtyPages} dirty ({r.DirtyPagesPerSecond:F0}/s), expected downtime {r.ExpectedDowntime.TotalMilliseconds:F1} ms{(r.Final ? ", final" : "")}");
        }

        log.WriteLine($"{report.Rounds} rounds, {report.PagesSent} pages, {report.BytesSent} bytes in {report.Total.TotalMilliseconds:F0} ms; source downtime {report.Downtime.TotalMilliseconds:F1} ms");
        Assert.Equal(MachineState.Paused, source.State); // stopped by the caller once the target has it
        Assert.Equal(MachineState.Created, target.State);
        ulong rcx = target.Cpus[0].Reg(Emulator.X86.State.Gpr.Rcx);
        Assert.True(rcx is > 0 and < Iterations, $"migrated inside the loop (rcx = {rcx})");
        Assert.True(report.PagesSent >= (64L << 20) / 4096, $"every page at least once: {report.PagesSent}");
        Assert.True(report.Rounds >= 1 && rounds.Count == report.Rounds && rounds[^1].Final && !rounds[..^1].Any(r => r.Final));
        Assert.True(report.Downtime <= report.Total);
        Assert.False(source.Memory.IsLoggingDirty);

        target.Start();
        string expected = Expected();
        Assert.Equal(expected, await targetOutput.Line);

        // The source was left paused with everything it had: resumed (as after a failed target), it finishes the same.
        source.Resume();
        Assert.Equal(expected, await sourceOutput.Line);
    }

    [Fact]
    public async Task The_target_gets_every_page_the_paused_source_has_including_those_dirtied_during_the_last_round()
    {
        await using var source = await Running(new SerialOutput(), PageWalkerKernel());
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        var rounds = new List<MigrationProgress>();
        var receiving = LiveMigration.ReceiveAsync(pipe.Reader.AsStream(), Options("target"), _ => { });
        await using (var toTarget = pipe.Writer.AsStream())
        {
            await LiveMigration.SendAsync(source, toTarget, new MigrationOptions { Snapshot = Options("source") }, new SyncProgress(rounds));
        }

        await using var target = await receiving;
        log.WriteLine($"pages dirty after the last round: {rounds[^1].DirtyPages}");
        Assert.Equal(MachineState.Paused, source.State);
        var sourceRam = source.Memory.Span(0, (int)source.Memory.Size);
        var targetRam = target.Memory.Span(0, (int)target.Memory.Size);
        int differing = 0;
        for (int at = 0; at < sourceRam.Length; at += 4096)
        {
            differing += sourceRam.Slice(at, 4096).SequenceEqual(targetRam.Slice(at, 4096)) ? 0 : 1;
        }

        Assert.Equal(0, differing);
    }

    [Fact]
    public async Task A_migration_whose_stream_fails_leaves_the_source_running_with_nothing_lost()
    {
        var output = new SerialOutput();
        await using var source = await Running(output);
        await using var broken = new FailingStream(failAfter: 200_000); // in the first round: the guest's 512 KiB buffer alone is more
        var e = await Assert.ThrowsAsync<IOException>(() => LiveMigration.SendAsync(source, broken, new MigrationOptions { Snapshot = Options("source") }));
        Assert.Contains("link lost", e.Message, StringComparison.Ordinal);
        Assert.Equal(MachineState.Running, source.State);
        Assert.False(source.Memory.IsLoggingDirty);
        Assert.Equal(Expected(), await output.Line);
    }

    [Fact]
    public async Task A_stream_that_is_not_a_migration_or_ends_early_is_refused_with_why()
    {
        var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => LiveMigration.ReceiveAsync(new MemoryStream("NOTAMIGRATION..."u8.ToArray()), Options("t"), _ => { }));
        Assert.Contains("not a migration", e.Message, StringComparison.Ordinal);

        var header = new byte[16];
        "EMUMIG01"u8.CopyTo(header);
        BitConverter.TryWriteBytes(header.AsSpan(8), 64UL << 20);
        e = await Assert.ThrowsAsync<SnapshotFormatException>(() => LiveMigration.ReceiveAsync(new MemoryStream([.. header, (byte)'P', 1, 0, 0, 0]), Options("t"), _ => { }));
        Assert.Contains("ended inside", e.Message, StringComparison.Ordinal);

        byte[] outside = [.. header, (byte)'P', 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x00, 0];
        e = await Assert.ThrowsAsync<SnapshotFormatException>(() => LiveMigration.ReceiveAsync(new MemoryStream(outside), Options("t"), _ => { }));
        Assert.Contains("is not in 64 MiB", e.Message, StringComparison.Ordinal);

        BitConverter.TryWriteBytes(header.AsSpan(8), 1UL << 40);
        await Assert.ThrowsAsync<SnapshotTooLargeException>(() => LiveMigration.ReceiveAsync(new MemoryStream(header), Options("t"), _ => { }));
    }

    /// <summary>Progress reported on the sender's thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress(List<MigrationProgress> into) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value) => into.Add(value);
    }

    /// <summary>A link that breaks after some bytes.</summary>
    private sealed class FailingStream(long failAfter) : Stream
    {
        private long written;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => written; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            written += count;
            if (written > failAfter)
            {
                throw new IOException("link lost");
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
