using System.Diagnostics;
using System.Globalization;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Cli.Bench;

/// <summary>
/// Runs a guest kernel under <c>qemu-system-x86_64 -accel tcg</c>, for a same-machine ratio.
/// The kernel is wrapped in a Multiboot image (load address 1 MiB; QEMU's -kernel accepts it):
/// a 32-bit trampoline builds identity page tables and enters long mode, the kernel runs over
/// its data at 2 MiB, RAX is printed in hex on COM1 and QEMU is ended through the isa-debug-exit
/// device. The kernel runs <see cref="Repeats"/> times per QEMU run; a run of the same image
/// with an empty kernel measures QEMU's start-up, which is subtracted before dividing.
/// </summary>
internal static class QemuReference
{
    private const uint LoadAddress = 0x100000;
    private const uint DataAddress = 0x200000;
    private const uint TrampolineOffset = 0x100;
    private const uint KernelOffset = 0x400;
    private const uint Tables = 0x20000;

    /// <summary>The kernel runs this many times in one QEMU run, so its time stands well above QEMU's start-up noise.</summary>
    public const int Repeats = 10;

    public static string? FindQemu() =>
        new[] { "/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64" }.FirstOrDefault(File.Exists);

    /// <summary>The kernel's run time under QEMU (start-up subtracted) and its RAX, or null with a reason.</summary>
    public static (TimeSpan Time, ulong Rax)? Measure(string qemu, GuestKernel kernel, byte[] data, int runs, out string? problem)
    {
        problem = null;
        var empty = new GuestKernel("empty", "", (a, _) => a.xor(eax, eax), _ => 0);
        TimeSpan? baseline = Best(qemu, empty, data, runs, out _, ref problem);
        TimeSpan? full = Best(qemu, kernel, data, runs, out ulong rax, ref problem);
        if (baseline is null || full is null)
        {
            return null;
        }

        return ((full.Value - baseline.Value) / Repeats, rax);
    }

    private static TimeSpan? Best(string qemu, GuestKernel kernel, byte[] data, int runs, out ulong rax, ref string? problem)
    {
        rax = 0;
        string image = Path.Combine(Path.GetTempPath(), $"emu-bench-{Environment.ProcessId}-{kernel.Name}.img");
        File.WriteAllBytes(image, BuildImage(kernel, data));
        try
        {
            TimeSpan best = TimeSpan.MaxValue;
            for (int i = 0; i < runs; i++)
            {
                var psi = new ProcessStartInfo(qemu)
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                foreach (var arg in new[]
                         {
                             "-accel", "tcg", "-m", "64", "-display", "none", "-monitor", "none", "-serial", "stdio",
                             "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", image,
                         })
                {
                    psi.ArgumentList.Add(arg);
                }

                var sw = Stopwatch.StartNew();
                using var p = Process.Start(psi)!;
                string output = p.StandardOutput.ReadToEnd();
                string errors = p.StandardError.ReadToEnd();
                if (!p.WaitForExit(120_000))
                {
                    p.Kill();
                    problem = "QEMU did not finish within 2 minutes";
                    return null;
                }

                sw.Stop();
                string line = output.Trim().Split('\n').LastOrDefault()?.Trim() ?? "";
                if (p.ExitCode != 1 || !ulong.TryParse(line, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out rax))
                {
                    problem = $"QEMU exited with {p.ExitCode}, output '{line}' {errors.Trim()}";
                    return null;
                }

                best = sw.Elapsed < best ? sw.Elapsed : best;
            }

            return best;
        }
        finally
        {
            File.Delete(image);
        }
    }

    /// <summary>The Multiboot image: header, GDT, 32-bit trampoline, the 64-bit kernel, then its data at 2 MiB.</summary>
    private static byte[] BuildImage(GuestKernel kernel, byte[] data)
    {
        var image = new byte[DataAddress - LoadAddress + data.Length];
        data.CopyTo(image, (int)(DataAddress - LoadAddress));

        // Multiboot header (Multiboot 0.6.96 section 3.1.1) with the address fields (flag bit 16).
        const uint magic = 0x1badb002, flags = 1 << 16;
        uint[] header = [magic, flags, unchecked(0u - magic - flags), LoadAddress, LoadAddress, LoadAddress + (uint)image.Length, 0, LoadAddress + TrampolineOffset];
        Buffer.BlockCopy(header, 0, image, 0, header.Length * 4);

        // GDT at 0x40: null, 64-bit code (0x08), data (0x10); GDTR image at 0x60.
        BitConverter.TryWriteBytes(image.AsSpan(0x48), 0x00af9a000000ffffUL);
        BitConverter.TryWriteBytes(image.AsSpan(0x50), 0x00cf92000000ffffUL);
        BitConverter.TryWriteBytes(image.AsSpan(0x60), (ushort)0x17);
        BitConverter.TryWriteBytes(image.AsSpan(0x62), LoadAddress + 0x40);

        var t = new Assembler(32);
        var fill = t.CreateLabel();
        t.mov(edi, Tables);
        t.mov(ecx, 3 * 1024);
        t.xor(eax, eax);
        t.rep.stosd();
        t.mov(__dword_ptr[Tables], Tables + 0x1003);
        t.mov(__dword_ptr[Tables + 0x1000], Tables + 0x2003);
        t.xor(ecx, ecx);
        t.Label(ref fill);
        t.mov(eax, ecx);
        t.shl(eax, 21);
        t.or(eax, 0x83);
        t.mov(__dword_ptr[ecx * 8 + (int)(Tables + 0x2000)], eax);
        t.inc(ecx);
        t.cmp(ecx, 512);
        t.jb(fill);
        t.mov(eax, Tables);
        t.mov(cr3, eax);
        t.mov(eax, cr4);
        t.or(eax, 0x20);
        t.mov(cr4, eax);
        t.mov(ecx, 0xc0000080);
        t.rdmsr();
        t.or(eax, 0x100);
        t.wrmsr();
        t.lgdt(__[LoadAddress + 0x60]);
        t.mov(eax, cr0);
        t.or(eax, 0x80000001);
        t.mov(cr0, eax);
        t.jmp(0x08, LoadAddress + KernelOffset);
        Place(image, TrampolineOffset, t);

        var k = new Assembler(64);
        var hex = k.CreateLabel();
        var digit = k.CreateLabel();
        k.mov(ax, 0x10);
        k.mov(ds, ax);
        k.mov(es, ax);
        k.mov(ss, ax);
        k.mov(rsp, 0x90000);
        var again = k.CreateLabel();
        k.mov(r15d, Repeats);
        k.Label(ref again);
        kernel.Build(k, DataAddress); // kernels leave R15 alone
        k.dec(r15d);
        k.jnz(again);

        // Print RAX as 16 hex digits and a newline on COM1, then exit QEMU through isa-debug-exit.
        k.mov(rbx, rax);
        k.mov(ecx, 16);
        k.mov(dx, 0x3f8);
        k.Label(ref hex);
        k.rol(rbx, 4);
        k.mov(eax, ebx);
        k.and(eax, 0xf);
        k.cmp(al, 10);
        k.jb(digit);
        k.add(al, 'a' - '0' - 10);
        k.Label(ref digit);
        k.add(al, (byte)'0');
        k.@out(dx, al);
        k.dec(ecx);
        k.jnz(hex);
        k.mov(al, 10);
        k.@out(dx, al);
        k.mov(al, 0);
        k.@out(0xf4, al);
        k.hlt();
        Place(image, KernelOffset, k);
        return image;
    }

    private static void Place(byte[] image, uint offset, Assembler a)
    {
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), LoadAddress + offset);
        ms.ToArray().CopyTo(image, offset);
    }
}
