using System.Globalization;

namespace Emulator.Devices.State;

/// <summary>
/// A constraint on an integer field of a saved state (or on each element of a list), checked on
/// load before anything is applied. It may read the live device it is loaded into, for limits the
/// device was built with (a virtqueue's maximum size). <see cref="Describe"/> is what the error says
/// the value must be.
/// </summary>
public sealed class StateRule
{
    private readonly Func<object, Int128, bool> ok;
    private readonly Func<object, string> describe;

    private StateRule(Func<object, Int128, bool> ok, Func<object, string> describe)
    {
        this.ok = ok;
        this.describe = describe;
    }

    public bool Allows(object device, Int128 value) => ok(device, value);

    public string Describe(object device) => describe(device);

    /// <summary>From <paramref name="min"/> to <paramref name="max"/>, both included.</summary>
    public static StateRule Within(long min, long max) =>
        new((_, v) => v >= min && v <= max, _ => $"from {min} to {max}");

    /// <summary>No bit set outside <paramref name="mask"/> (the register bits the device defines).</summary>
    public static StateRule Bits(ulong mask) =>
        new((_, v) => v >= 0 && v <= ulong.MaxValue && ((ulong)v & ~mask) == 0, _ => $"only bits 0x{mask:x} set");

    /// <summary>Every bit of <paramref name="mask"/> set (bits that read as ones).</summary>
    public static StateRule AllSet(ulong mask) =>
        new((_, v) => v >= 0 && v <= ulong.MaxValue && ((ulong)v & mask) == mask, _ => $"bits 0x{mask:x} all set");

    /// <summary>One of <paramref name="values"/>.</summary>
    public static StateRule OneOf(params long[] values) =>
        new((_, v) => values.Any(x => x == v), _ => $"one of {string.Join(", ", values.Select(x => x.ToString(CultureInfo.InvariantCulture)))}");

    /// <summary>A multiple of <paramref name="alignment"/> (a power of 2).</summary>
    public static StateRule Aligned(long alignment) =>
        new((_, v) => v % alignment == 0, _ => $"a multiple of {alignment}");

    /// <summary>A constraint that reads the device it is loaded into.</summary>
    public static StateRule Where<TDevice>(Func<TDevice, Int128, bool> ok, Func<TDevice, string> describe) =>
        new((d, v) => ok((TDevice)d, v), d => describe((TDevice)d));

    /// <summary>Both this and <paramref name="other"/>.</summary>
    public StateRule And(StateRule other) =>
        new((d, v) => Allows(d, v) && other.Allows(d, v), d => $"{Describe(d)} and {other.Describe(d)}");
}
