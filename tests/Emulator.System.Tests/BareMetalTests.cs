using Emulator.Cli.Terminal;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.System.Tests;

/// <summary>
/// The `emu` process with bare-metal Multiboot kernels written by the tests (<see cref="TestKernels"/>),
/// as QEMU runs them: `-kernel K -device isa-debug-exit,iobase=0xf4,iosize=0x04`, the exit status
/// (value &lt;&lt; 1) | 1, -smp through fw_cfg and INIT/SIPI, guest resets, and the errors for a bad
/// -device or a file that is no kernel.
/// </summary>
public sealed class BareMetalTests(ITestOutputHelper log) : IDisposable
{
    /// <summary>Bounds how long a failing test waits; a passing one goes on as soon as emu exits.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    private static readonly string[] DebugExit = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"];

    private readonly string dir = Directory.CreateTempSubdirectory("emu-baremetal-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private (int Exit, string Output, string Errors) Emu(params string[] args)
    {
        using var emu = ConsoleSession.StartEmu(null, ["-m", "64", .. args]);
        int exit = emu.WaitForExit(Limit);
        string output = emu.Transcript, errors = emu.Errors;
        log.WriteLine($"emu {string.Join(' ', args)}: exit {exit}\n{output}\n{errors}");
        return (exit, output, errors);
    }

    [Fact]
    public void AMultibootKernelPrintsAndItsDebugExitValueIsEmusExitStatus()
    {
        string kernel = Write("hello.elf", TestKernels.Hello(0x2a));
        var (exit, output, _) = Emu(["-kernel", kernel, .. DebugExit]);
        Assert.Equal((0x2a << 1) | 1, exit);
        Assert.Contains("hello from a multiboot kernel", output);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void AnSmpKernelStartsEveryApItLearnsOfFromFwCfg(int cpus)
    {
        string kernel = Write("smp.elf", TestKernels.Smp());
        var (exit, output, _) = Emu(["-kernel", kernel, "-smp", $"{cpus}", .. DebugExit]);
        Assert.Contains($"fw_cfg signature QEMU cpus={cpus} started={cpus - 1}", output);
        Assert.Equal((cpus << 1) | 1, exit);
    }

    [Theory]
    [InlineData(ResetMechanism.KeyboardController)]
    [InlineData(ResetMechanism.Port0xCf9)]
    [InlineData(ResetMechanism.TripleFault)]
    public void AGuestResetBootsAgainAndWithNoRebootEmuExitsZero(ResetMechanism how)
    {
        string kernel = Write("boots.elf", TestKernels.BootCounter(how));
        var (exit, output, _) = Emu(["-kernel", kernel, .. DebugExit]);
        Assert.Equal("boot 1\nboot 2\n", output);
        Assert.Equal((2 << 1) | 1, exit);

        var (quit, once, errors) = Emu(["-kernel", kernel, "-no-reboot", .. DebugExit]);
        Assert.Equal(0, quit);
        Assert.Equal("boot 1\n", once);
        Assert.DoesNotContain("triple fault", errors); // a clean exit, not an error
    }

    [Fact]
    public void AnUnknownDeviceOrPropertyIsAClearErrorAndHelpListsTheDevices()
    {
        string kernel = Write("hello.elf", TestKernels.Hello(1));
        var (exit, _, errors) = Emu("-kernel", kernel, "-device", "e1000");
        Assert.Equal(2, exit);
        Assert.Contains("-device 'e1000' is not a device emu has", errors);

        (exit, _, errors) = Emu("-kernel", kernel, "-device", "isa-debug-exit,iobase=0xf4,colour=red");
        Assert.Equal(2, exit);
        Assert.Contains("unknown property 'colour=red'", errors);

        (exit, _, errors) = Emu("-kernel", kernel, "-device", "isa-debug-exit,iobase=banana");
        Assert.Equal(2, exit);
        Assert.Contains("iobase=banana", errors);

        (exit, _, errors) = Emu("-kernel", kernel, "-device", "isa-debug-exit,iobase=0x3f8");
        Assert.Equal(2, exit);
        Assert.Contains("overlap uart0", errors);

        (exit, string listing, _) = Emu("-device", "help");
        Assert.Equal(0, exit);
        Assert.Contains("isa-debug-exit", listing);
    }

    [Fact]
    public void AFileThatIsNoKernelIsAClearError()
    {
        string text = Write("notes.txt", "these are not the kernels you are looking for\n"u8.ToArray());
        var (exit, _, errors) = Emu("-kernel", text);
        Assert.Equal(2, exit);
        Assert.Contains("not a kernel emu can boot", errors);
        Assert.Contains("Multiboot header", errors);
        Assert.DoesNotContain("Exception", errors);
    }
}
