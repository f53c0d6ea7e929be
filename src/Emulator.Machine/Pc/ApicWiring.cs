using Emulator.Actors;
using Emulator.Devices.Apic;
using Emulator.Machine.Runtime;
using Emulator.X86;

namespace Emulator.Machine.Pc;

/// <summary>
/// Connects the local APICs (one device actor per vCPU) and the IOAPIC through actor messages:
/// interrupt messages are posted into the target APIC's actor, an APIC that has something
/// deliverable kicks its vCPU, and the vCPU asks its APIC (through the actor) only when that
/// hint is set, so a vCPU with nothing pending pays nothing per block.
/// </summary>
public sealed class ApicWiring : IApicBus
{
    public const ulong LocalApicBase = 0xfee0_0000;
    public const ulong IoApicBase = 0xfec0_0000;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);

    private readonly List<(LocalApic Apic, ActorRef<DeviceMessage> Actor)> apics = [];

    /// <summary>Set by an APIC when it may have an interrupt for its vCPU; cleared (inside the APIC's actor) when it has none.</summary>
    private volatile bool[] hints = [];

    /// <summary>The same for INIT, SIPI and NMI, which the vCPU polls separately (an interrupt query must not swallow them).</summary>
    private volatile bool[] signalHints = [];

    public void Add(LocalApic apic, ActorRef<DeviceMessage> actor, Action kickVcpu)
    {
        int index = apics.Count;
        apics.Add((apic, actor));
        hints = new bool[apics.Count];
        signalHints = new bool[apics.Count];
        apic.InterruptRequested = () =>
        {
            hints[index] = true;
            signalHints[index] = true;
            kickVcpu();
        };
    }

    /// <summary>
    /// Makes every vCPU ask its APIC once (after a restore: the hints are not APIC state, and an
    /// interrupt restored into an IRR must still be noticed, or a halted vCPU would wait forever).
    /// </summary>
    public void HintAll()
    {
        for (int i = 0; i < apics.Count; i++)
        {
            hints[i] = true;
            signalHints[i] = true;
        }
    }

    /// <summary>Routes an interrupt message to the APICs it addresses (SDM Vol. 3A 11.6).</summary>
    public void Deliver(ApicMessage message)
    {
        if (message.DeliveryMode == ApicDeliveryMode.LowestPriority)
        {
            // Arbitration: the matching APIC with the lowest APIC ID (as ApicBusRouter does).
            foreach (var (apic, actor) in apics.OrderBy(a => a.Apic.ApicId))
            {
                if (Query(actor, () => apic.Matches(message)))
                {
                    actor.Tell(new DeviceMessage.Event(() => apic.Accept(message)));
                    return;
                }
            }

            return;
        }

        foreach (var (apic, actor) in apics)
        {
            actor.Tell(new DeviceMessage.Event(() =>
            {
                if (apic.Matches(message))
                {
                    apic.Accept(message);
                }
            }));
        }
    }

    /// <summary>The INIT/SIPI/NMI signals of vCPU <paramref name="index"/>.</summary>
    public IVcpuSignalSource SignalsFor(int index) => new Signals(this, index);

    /// <summary>The vCPU-side view of APIC <paramref name="index"/>.</summary>
    public IInterruptSource InterruptSourceFor(int index) => new VcpuInterrupts(this, index);

    /// <summary>The APIC MSRs of vCPU <paramref name="index"/>: IA32_APIC_BASE (0x1B) and IA32_TSC_DEADLINE (0x6E0).</summary>
    public IMsrExtension MsrsFor(int index) => new ApicMsrs(this, index);

    /// <summary>A vCPU's MMIO view: its own APIC page first, then the machine's bus.</summary>
    public IMmioBus MmioFor(int index, IMmioBus machineBus) => new PerCpuMmio(this, index, machineBus);

    private static T Query<T>(ActorRef<DeviceMessage> actor, Func<T> f)
    {
        T result = default!;
        actor.Call<bool>(r => new DeviceMessage.Event(() =>
        {
            try
            {
                result = f();
            }
            finally
            {
                r.Reply(true);
            }
        }), CallTimeout);
        return result;
    }

    private sealed class VcpuInterrupts(ApicWiring wiring, int index) : IInterruptSource
    {
        public bool HasPendingInterrupt
        {
            get
            {
                if (!wiring.hints[index])
                {
                    return false;
                }

                var (apic, actor) = wiring.apics[index];
                return Query(actor, () =>
                {
                    bool pending = apic.HasPendingInterrupt;
                    if (!pending)
                    {
                        wiring.hints[index] = false; // inside the actor: a new interrupt sets it again after this
                    }

                    return pending;
                });
            }
        }

        public int Acknowledge()
        {
            var (apic, actor) = wiring.apics[index];
            return Query(actor, () => apic.Acknowledge());
        }
    }

    private sealed class Signals(ApicWiring wiring, int index) : IVcpuSignalSource
    {
        public VcpuSignals Poll()
        {
            if (!wiring.signalHints[index])
            {
                return VcpuSignals.None;
            }

            var (apic, actor) = wiring.apics[index];
            return Query(actor, () =>
            {
                wiring.signalHints[index] = false; // inside the actor: a later signal sets it again
                return new VcpuSignals(apic.TakeInit(), apic.TakeStartupVector(), apic.TakeNmi());
            });
        }
    }

    private sealed class ApicMsrs(ApicWiring wiring, int index) : IMsrExtension
    {
        public bool TryRead(uint msr, out ulong value)
        {
            var (apic, actor) = wiring.apics[index];
            switch (msr)
            {
                case Cpu.MsrApicBase:
                    value = Query(actor, () => apic.ApicBaseMsr);
                    return true;
                case 0x6e0:
                    value = Query(actor, () => apic.ReadTscDeadline());
                    return true;
                default:
                    value = 0;
                    return false;
            }
        }

        public bool TryWrite(uint msr, ulong value)
        {
            var (apic, actor) = wiring.apics[index];
            switch (msr)
            {
                case Cpu.MsrApicBase:
                    Query(actor, () =>
                    {
                        apic.SetApicBaseMsr(value);
                        return true;
                    });
                    return true;
                case 0x6e0:
                    Query(actor, () =>
                    {
                        apic.WriteTscDeadline(value);
                        return true;
                    });
                    return true;
                default:
                    return false;
            }
        }
    }

    private sealed class PerCpuMmio(ApicWiring wiring, int index, IMmioBus machineBus) : IMmioBus
    {
        public bool TryRead(ulong physical, int size, out ulong value)
        {
            if (physical - LocalApicBase < 0x1000)
            {
                var (apic, actor) = wiring.apics[index];
                value = Query(actor, () => apic.Read(physical - LocalApicBase, size));
                return true;
            }

            return machineBus.TryRead(physical, size, out value);
        }

        public bool TryWrite(ulong physical, int size, ulong value)
        {
            if (physical - LocalApicBase < 0x1000)
            {
                var (apic, actor) = wiring.apics[index];
                Query(actor, () =>
                {
                    apic.Write(physical - LocalApicBase, size, value);
                    return true;
                });
                return true;
            }

            return machineBus.TryWrite(physical, size, value);
        }
    }
}
