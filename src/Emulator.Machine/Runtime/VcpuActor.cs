using Emulator.Actors;
using Emulator.Execution;
using Emulator.X86;

namespace Emulator.Machine.Runtime;

/// <summary>The messages a vCPU takes.</summary>
public abstract record VcpuMessage
{
    private VcpuMessage()
    {
    }

    /// <summary>Begin running guest code (Created or Paused to Running).</summary>
    public sealed record Run : VcpuMessage;

    /// <summary>Stop at the next instruction boundary and stay there; the reply comes once stopped.</summary>
    public sealed record Pause(ReplyTo<bool> Reply) : VcpuMessage;

    /// <summary>Something may need the vCPU's attention (an interrupt was raised); it re-checks and sleeps again if not.</summary>
    public sealed record Wake : VcpuMessage;

    /// <summary>Runs an action on the vCPU's thread while it is between slices (inspection, state changes).</summary>
    public sealed record OnThread(Action<Cpu> Action, ReplyTo<bool> Reply) : VcpuMessage;

    /// <summary>
    /// A machine reset, while paused: the vCPU goes back to its power-on state (even one that
    /// ended with a triple fault), then <paramref name="Then"/> runs on its thread (the boot state).
    /// </summary>
    public sealed record PowerOn(Action<Cpu> Then, ReplyTo<bool> Reply) : VcpuMessage;
}

/// <summary>Processor-level signals from the vCPU's local APIC (SDM Vol. 3A 9.4, 11.6.1).</summary>
public readonly record struct VcpuSignals(bool Init, int StartupVector, bool Nmi)
{
    public static readonly VcpuSignals None = new(false, -1, false);
}

/// <summary>Where a vCPU learns about INIT, SIPI and NMI (its local APIC); polled between slices.</summary>
public interface IVcpuSignalSource
{
    /// <summary>Takes what arrived since the last poll; cheap when nothing did.</summary>
    VcpuSignals Poll();
}

/// <summary>Why a vCPU stopped running guest code for good.</summary>
public sealed record VcpuStopped(int Index, StopReason Reason, string Detail);

/// <summary>
/// One vCPU on its own thread: runs guest code in slices of <see cref="SliceInstructions"/> and
/// handles its mailbox between slices; when the guest halts it sleeps until a message arrives
/// (no spinning). A triple fault or an internal error ends it and is reported through
/// <see cref="Stopped"/>, so the machine stops with a clear error and the process lives on.
/// </summary>
public sealed class VcpuActor(ExecutionEngine engine, Action<VcpuStopped> stopped, IVcpuSignalSource? signals = null)
    : Actor<VcpuMessage>
{
    public const long SliceInstructions = 200_000;

    private bool running;
    private bool ended;

    public Cpu Cpu => engine.Cpu;

    protected override void Run()
    {
        var cpu = engine.Cpu;
        while (!IsStopping)
        {
            while (TryReceive(out var message))
            {
                Receive(message);
            }

            if (!running || ended)
            {
                WaitForMessage(TimeSpan.FromSeconds(1));
                continue;
            }

            if (signals is not null)
            {
                HandleSignals(signals.Poll());
            }

            if (cpu.WaitingForSipi)
            {
                WaitForMessage(TimeSpan.FromMilliseconds(100));
                continue;
            }

            StopReason reason;
            try
            {
                reason = engine.Run(SliceInstructions);
            }
            catch (Exception e)
            {
                // A bug in the emulator, not the guest: stop this machine, keep the process.
                End(StopReason.Exception, $"internal error at rip=0x{cpu.S.Rip:x}: {e.GetType().Name}: {e.Message}");
                continue;
            }

            switch (reason)
            {
                case StopReason.Halted:
                    // Sleep until something is sent (an interrupt wakes us with Wake); re-check then.
                    WaitForMessage(TimeSpan.FromMilliseconds(100));
                    break;
                case StopReason.ExitRequested:
                    Interlocked.Exchange(ref cpu.S.ExitRequest, 0);
                    break;
                case StopReason.TripleFault:
                    End(reason, $"triple fault at rip=0x{cpu.S.Rip:x}");
                    break;
                case StopReason.Exception:
                    End(reason, $"unhandled exception vector {cpu.S.ExceptionVector} at rip=0x{cpu.S.Rip:x}");
                    break;
            }
        }
    }

    protected override void Receive(VcpuMessage message)
    {
        switch (message)
        {
            case VcpuMessage.Run:
                running = true;
                break;
            case VcpuMessage.Pause p:
                running = false;
                p.Reply.Reply(true);
                break;
            case VcpuMessage.Wake:
                break;
            case VcpuMessage.OnThread t:
                t.Action(engine.Cpu);
                t.Reply.Reply(true);
                break;
            case VcpuMessage.PowerOn p:
                engine.Cpu.PowerOn();
                ended = false;
                p.Then(engine.Cpu);
                p.Reply.Reply(true);
                break;
        }
    }

    /// <summary>
    /// INIT: back to the power-on state and wait for a SIPI. SIPI with vector V (while waiting):
    /// start in real mode at CS = V * 256, IP = 0, that is physical V * 4096 (SDM Vol. 3A 9.4.4).
    /// NMI: delivered through vector 2 (held while a previous NMI's handler has not IRETed).
    /// </summary>
    private void HandleSignals(VcpuSignals s)
    {
        var cpu = engine.Cpu;
        if (s.Init)
        {
            cpu.Reset();
            cpu.WaitingForSipi = true;
        }

        if (s.StartupVector >= 0 && cpu.WaitingForSipi)
        {
            cpu.Reset();
            cpu.S.Cs.Selector = (ushort)(s.StartupVector << 8);
            cpu.S.Cs.Base = (ulong)s.StartupVector << 12;
            cpu.S.Rip = 0;
            cpu.WaitingForSipi = false;
        }

        if ((s.Nmi || cpu.NmiPending && !cpu.NmiBlocked) && !cpu.WaitingForSipi)
        {
            cpu.S.Halted = 0;
            if (cpu.DeliverNmi() == DeliveryResult.TripleFault)
            {
                End(StopReason.TripleFault, $"triple fault delivering an NMI at rip=0x{cpu.S.Rip:x}");
            }
        }
    }

    private void End(StopReason reason, string detail)
    {
        ended = true;
        running = false;
        stopped(new VcpuStopped(engine.Cpu.Index, reason, detail));
    }
}
