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

    /// <summary>The status a guest asked for through isa-debug-exit ((value &lt;&lt; 1) | 1), for <see cref="MachineExitReason.DebugExit"/>.</summary>
    public int Status { get; init; }

    /// <summary>The process exit code `emu` uses: 0 for a guest power-off (or reboot under -no-reboot), the guest's status for isa-debug-exit.</summary>
    public int ExitCode => Reason switch
    {
        MachineExitReason.PowerOff or MachineExitReason.Reboot => 0,
        MachineExitReason.DebugExit => Status,
        _ => 1,
    };
}

public enum MachineExitReason
{
    /// <summary>The guest powered off (ACPI S5).</summary>
    PowerOff,

    /// <summary>The guest asked for a reset and the machine was started with no-reboot.</summary>
    Reboot,

    /// <summary>The guest wrote to the isa-debug-exit device (a test kernel's verdict); <see cref="MachineExit.Status"/> holds the status.</summary>
    DebugExit,

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

/// <summary>A pause that did not happen: the listed vCPUs did not stop in time, and the machine runs on (nothing about it changed).</summary>
public sealed class MachinePauseTimeoutException(IReadOnlyList<int> vcpus, TimeSpan timeout)
    : TimeoutException($"vCPU {string.Join(", ", vcpus)} did not stop within {timeout.TotalSeconds:F0} s; the machine keeps running")
{
    public IReadOnlyList<int> Vcpus { get; } = vcpus;
}

/// <summary>A reset the machine cannot do (nothing to boot again: a bare machine, or a restored one whose kernel cannot be read); the machine is unchanged.</summary>
public sealed class MachineResetException(string message, Exception? inner = null) : Exception(message, inner);
