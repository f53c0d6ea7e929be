namespace Emulator.X86;

/// <summary>The I/O port space as a vCPU sees it (the machine routes ports to device actors).</summary>
public interface IPortBus
{
    /// <summary>Reads 1, 2 or 4 bytes from a port; unclaimed ports read as all ones.</summary>
    uint In(ushort port, int size);

    void Out(ushort port, int size, uint value);
}

/// <summary>Physical addresses outside RAM that devices claim (MMIO). Accesses are never cached in the TLB.</summary>
public interface IMmioBus
{
    /// <summary>False when no device claims <paramref name="physical"/> (the access is unassigned).</summary>
    bool TryRead(ulong physical, int size, out ulong value);

    bool TryWrite(ulong physical, int size, ulong value);
}

/// <summary>MSRs that belong to a device rather than the core (the local APIC's IA32_APIC_BASE and IA32_TSC_DEADLINE).</summary>
public interface IMsrExtension
{
    /// <summary>False: not this extension's MSR.</summary>
    bool TryRead(uint index, out ulong value);

    /// <summary>False: not this extension's MSR. A write it refuses should record #GP itself and return true.</summary>
    bool TryWrite(uint index, ulong value);
}

/// <summary>The interrupt controller in front of a vCPU (local APIC, or the PIC in legacy mode).</summary>
public interface IInterruptSource
{
    /// <summary>True when an interrupt is waiting to be delivered (whatever RFLAGS.IF says).</summary>
    bool HasPendingInterrupt { get; }

    /// <summary>Acknowledges the highest-priority pending interrupt and returns its vector, or -1 if it vanished.</summary>
    int Acknowledge();
}

/// <summary>The machine clock as the guest sees it; every guest time source derives from it.</summary>
public interface IGuestClock
{
    /// <summary>The time-stamp counter (stops while the machine is paused).</summary>
    ulong Tsc { get; }

    /// <summary>TSC ticks per second (reported in CPUID leaf 0x15 so the kernel need not calibrate).</summary>
    ulong TscHz { get; }
}

/// <summary>A clock for a vCPU outside a machine (tests, benchmarks): host monotonic time at a fixed rate.</summary>
public sealed class HostClock : IGuestClock
{
    private readonly long start = System.Diagnostics.Stopwatch.GetTimestamp();

    public ulong TscHz => 1_000_000_000;

    public ulong Tsc => (ulong)(System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks * 100);
}

/// <summary>Ports with nothing behind them: reads give all ones, writes are dropped.</summary>
public sealed class EmptyPortBus : IPortBus
{
    public static readonly EmptyPortBus Instance = new();

    public uint In(ushort port, int size) => size == 4 ? uint.MaxValue : (1u << (8 * size)) - 1;

    public void Out(ushort port, int size, uint value)
    {
    }
}
