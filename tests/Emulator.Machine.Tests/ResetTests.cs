using Emulator.Machine.Acpi;
using Emulator.Machine.Runtime;
using Emulator.Testing;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>
/// A guest reset boots the machine again from its power-on state: a kernel counts its boots in
/// a CMOS byte (battery-backed, so it outlives the reset), prints the count, resets the machine
/// through one mechanism on its first boot and exits through isa-debug-exit on the second.
/// </summary>
public sealed class ResetTests
{
    [Theory]
    [InlineData(ResetMechanism.KeyboardController)]
    [InlineData(ResetMechanism.Port0xCf9)]
    [InlineData(ResetMechanism.AcpiResetRegister)]
    [InlineData(ResetMechanism.TripleFault)]
    public async Task AGuestResetBootsTheMachineAgain(ResetMechanism how)
    {
        await using var run = MultibootTests.Boot(Kernel(how), cpus: 2);
        var exit = await run.ExitAsync();
        Assert.True(exit.Reason == MachineExitReason.DebugExit, $"{exit.Reason}: {exit.Detail}\n{run.Output}");
        Assert.Equal("boot 1\nboot 2\n", run.Output);
        Assert.Equal((2 << 1) | 1, exit.ExitCode);
        Assert.Equal(1, run.Vm.Resets);
    }

    [Theory]
    [InlineData(ResetMechanism.KeyboardController)]
    [InlineData(ResetMechanism.Port0xCf9)]
    [InlineData(ResetMechanism.TripleFault)]
    public async Task WithNoRebootAGuestResetEndsTheMachineCleanly(ResetMechanism how)
    {
        await using var run = MultibootTests.Boot(Kernel(how), noReboot: true);
        var exit = await run.ExitAsync();
        Assert.Equal(MachineExitReason.Reboot, exit.Reason);
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("boot 1\n", run.Output);
        Assert.Equal(0, run.Vm.Resets);
    }

    /// <summary>The boot counter; for the ACPI reset register, with the port and value the machine's FADT gives (RESET_REG, RESET_VALUE).</summary>
    private static byte[] Kernel(ResetMechanism how)
    {
        var fadt = AcpiTables.Build(new AcpiConfig { CpuCount = 2 }, DsdtBuilder.ForMicrovm()).Table("FACP");
        Assert.Equal(1, fadt[Fadt.ResetReg]); // RESET_REG is in system I/O space
        ushort port = (ushort)BitConverter.ToUInt64(fadt[(Fadt.ResetReg + 4)..]);
        return TestKernels.BootCounter(how, port, fadt[Fadt.ResetValue]);
    }

    [Fact]
    public async Task ResetGoesBackToThePowerOnStateOfCpusDevicesAndRam()
    {
        // The second boot starts from a clean machine: RAM the first boot wrote is zero again, the
        // kernel is loaded again and runs from its entry, and the reset is counted.
        var k = new TestKernel();
        var a = k.A;
        const uint Marker = 0x30_0000;
        var fresh = a.CreateLabel();
        a.cmp(__dword_ptr[Marker], 0);
        a.je(fresh);
        k.Print("RAM survived the reset\n");
        k.Exit(0x7f);
        a.Label(ref fresh);
        a.mov(__dword_ptr[Marker], 0x1234_5678);
        k.Print("booted\n");
        k.Halt();
        await using var run = MultibootTests.Boot(k.Build(), cpus: 2);
        Assert.True(await Poll.Eventually(() => run.Output == "booted\n"), run.Output);
        await run.Vm.ResetAsync("test");
        Assert.True(await Poll.Eventually(() => run.Output == "booted\nbooted\n"), run.Output);
        Assert.Equal(MachineState.Running, run.Vm.State);
        Assert.Equal(1, run.Vm.Resets);
    }

    [Fact]
    public async Task APausedMachineResetsAndStaysPausedAndACreatedOneRefuses()
    {
        var k = new TestKernel();
        k.Print("booted\n");
        k.Halt();
        byte[] kernel = k.Build();

        await using var run = MultibootTests.Boot(kernel);
        Assert.True(await Poll.Eventually(() => run.Output == "booted\n"), run.Output);
        run.Vm.Pause();
        await run.Vm.ResetAsync("test");
        Assert.Equal(MachineState.Paused, run.Vm.State);
        Assert.Equal("booted\n", run.Output);
        run.Vm.Resume();
        Assert.True(await Poll.Eventually(() => run.Output == "booted\nbooted\n"), run.Output);

        await using var created = Pc.PcMachine.Build(new Pc.PcConfig { Kernel = kernel, MemoryBytes = 64UL << 20, Tier1 = null });
        var refused = await Assert.ThrowsAsync<MachineStateException>(() => created.ResetAsync("test"));
        Assert.Equal(MachineState.Created, refused.State);
    }

    [Fact]
    public async Task ARestoredMachineResetsWithItsKernelReadAgainOrRefusesWithoutIt()
    {
        var k = new TestKernel();
        k.Print("booted\n");
        k.Halt();
        byte[] kernel = k.Build();
        var dir = Directory.CreateTempSubdirectory("emu-reset-restore-");
        try
        {
            string path = Path.Combine(dir.FullName, "m.emusnap");
            await using (var run = MultibootTests.Boot(kernel))
            {
                Assert.True(await Poll.Eventually(() => run.Output == "booted\n"), run.Output);
                await Snapshots.MachineSnapshot.SaveAsync(run.Vm, path, new Snapshots.SnapshotOptions { LayerDirectory = dir.FullName });
            }

            // Without a way to read the kernel again: refused, and the machine is as it was.
            await using (var restored = await Snapshots.MachineSnapshot.RestoreAsync(path, new Snapshots.SnapshotOptions { LayerDirectory = dir.FullName }, _ => { }))
            {
                restored.StartPaused();
                var e = await Assert.ThrowsAsync<MachineResetException>(() => restored.ResetAsync("test"));
                Assert.Contains("does not hold its kernel", e.Message);
                Assert.Equal(MachineState.Paused, restored.State);
                Assert.Equal(0, restored.Resets);
            }

            var output = new System.Text.StringBuilder();
            var options = new Snapshots.SnapshotOptions { LayerDirectory = dir.FullName, BootFiles = _ => (kernel, null) };
            await using var again = await Snapshots.MachineSnapshot.RestoreAsync(path, options, bytes =>
            {
                lock (output)
                {
                    output.Append(System.Text.Encoding.ASCII.GetString(bytes));
                }
            });
            again.StartPaused();
            await again.ResetAsync("test");
            again.Resume();
            Assert.True(await Poll.Eventually(() =>
            {
                lock (output)
                {
                    return output.ToString() == "booted\n";
                }
            }), output.ToString());
            Assert.Equal(1, again.Resets);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
