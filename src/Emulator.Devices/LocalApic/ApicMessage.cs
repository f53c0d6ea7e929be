namespace Emulator.Devices.Apic;

/// <summary>Delivery modes of the ICR, the LVTs and IOAPIC redirection entries (SDM Vol. 3A 11.6.1; 82093AA 3.2.4).</summary>
public enum ApicDeliveryMode
{
    Fixed = 0,
    LowestPriority = 1,
    Smi = 2,
    Nmi = 4,
    Init = 5,
    StartUp = 6,
    ExtInt = 7,
}

/// <summary>ICR bits 19:18 (SDM Vol. 3A 11.6.1).</summary>
public enum ApicShorthand
{
    None = 0,
    Self = 1,
    AllIncludingSelf = 2,
    AllExcludingSelf = 3,
}

/// <summary>
/// One interrupt message on the APIC bus (the system bus on xAPIC parts): an IPI from a local
/// APIC's ICR or an interrupt from the IOAPIC. <see cref="SourceId"/> is the sender's APIC ID,
/// or -1 for the IOAPIC; the shorthands "all excluding self" and "self" are resolved against it.
/// </summary>
public readonly record struct ApicMessage(
    ApicDeliveryMode DeliveryMode,
    byte Vector,
    byte Destination,
    bool LogicalDestination,
    ApicShorthand Shorthand = ApicShorthand.None,
    bool LevelTriggered = false,
    bool Assert = true,
    int SourceId = -1)
{
    /// <summary>Physical destination 0xFF addresses every local APIC (SDM Vol. 3A 11.6.2.1).</summary>
    public const byte Broadcast = 0xFF;

    /// <summary>The "INIT level de-assert" message: INIT, level-triggered, level 0 (SDM Vol. 3A 11.6.1). It only resynchronises arbitration IDs.</summary>
    public bool IsInitDeassert => DeliveryMode == ApicDeliveryMode.Init && LevelTriggered && !Assert;
}

/// <summary>
/// Carries <see cref="ApicMessage"/>s from a sender (a local APIC's ICR, the IOAPIC) to the local
/// APICs it addresses. The machine implements it by routing to the vCPUs' local APICs (through
/// their actors) and waking their threads; <see cref="ApicBusRouter"/> does it synchronously.
/// </summary>
public interface IApicBus
{
    void Deliver(ApicMessage message);
}

/// <summary>
/// A synchronous <see cref="IApicBus"/> over a fixed set of local APICs (tests; a single-threaded
/// machine). Lowest-priority messages go to the matching APIC with the lowest APIC ID: the SDM
/// leaves arbitration among equal-priority targets to the platform (11.6.2.4), and always
/// picking the lowest ID is a valid outcome, as QEMU's and KVM's focus fallbacks are.
/// </summary>
public sealed class ApicBusRouter : IApicBus
{
    private readonly List<LocalApic> apics = [];

    /// <summary>Called after an APIC accepted a message (the machine wakes that vCPU).</summary>
    public Action<LocalApic>? Delivered { get; set; }

    public void Attach(LocalApic apic) => apics.Add(apic);

    public void Deliver(ApicMessage message)
    {
        if (message.DeliveryMode == ApicDeliveryMode.LowestPriority)
        {
            LocalApic? target = null;
            foreach (var apic in apics)
            {
                if (apic.Matches(message) && (target is null || apic.ApicId < target.ApicId))
                {
                    target = apic;
                }
            }

            if (target is not null)
            {
                target.Accept(message);
                Delivered?.Invoke(target);
            }

            return;
        }

        foreach (var apic in apics)
        {
            if (apic.Matches(message))
            {
                apic.Accept(message);
                Delivered?.Invoke(apic);
            }
        }
    }
}
