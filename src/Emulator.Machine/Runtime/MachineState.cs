namespace Emulator.Machine.Runtime;

/// <summary>A machine's lifecycle: Created -> Running &lt;-> Paused -> Stopped.</summary>
public enum MachineState
{
    Created,
    Running,
    Paused,
    Stopped,
}

/// <summary>How a machine ended.</summary>
public sealed record MachineExit(MachineExitReason Reason, string Detail)
{
    /// <summary>What was thrown, when a part of the machine failed (<see cref="VirtualMachine.Fail"/>); null otherwise.</summary>
    public Exception? Cause { get; init; }

    /// <summary>The process exit code `emu` uses: 0 for a guest power-off (or reboot under -no-reboot).</summary>
    public int ExitCode => Reason is MachineExitReason.PowerOff or MachineExitReason.Reboot ? 0 : 1;
}

public enum MachineExitReason
{
    /// <summary>The guest powered off (ACPI S5).</summary>
    PowerOff,

    /// <summary>The guest asked for a reset and the machine was started with no-reboot.</summary>
    Reboot,

    /// <summary>Stopped from outside (the user or the control plane).</summary>
    Stopped,

    /// <summary>A vCPU hit a triple fault or an internal error, or a device or disk backend failed (<see cref="VirtualMachine.Fail"/>).</summary>
    Failed,
}

/// <summary>A request the machine's state forbids, with the state it was in.</summary>
public sealed class MachineStateException(string operation, MachineState state)
    : InvalidOperationException($"cannot {operation} a machine that is {state.ToString().ToLowerInvariant()}")
{
    public string Operation { get; } = operation;

    public MachineState State { get; } = state;
}
