namespace Emulator.X86.DiffTests;

/// <summary>A family of cases run in the paged world: faults, 32-bit code, the x87.</summary>
public abstract class WorldGroup
{
    private static readonly Lazy<IReadOnlyList<WorldGroup>> AllGroups = new(() =>
    [
        new FaultGroup(),
        new CompatGroup(new CodeGroup("alu32", "integer ALU, moves, cmovcc, setcc, ARPL, BCD adjusts", DiffGroup.AluCodes, bitness: 32)),
        new CompatGroup(new CodeGroup("shift32", "shifts and rotates", DiffGroup.ShiftCodes, bitness: 32)),
        new CompatGroup(new MulDivGroup(32)),
        new CompatGroup(new CodeGroup("bit32", "bit tests and scans, counts, byte swaps, cmovcc, setcc", DiffGroup.BitCodes, bitness: 32)),
        new CompatGroup(new FlowGroup(32)),
        new CompatGroup(new CodeGroup("alu16", "integer ALU, moves, cmovcc, setcc, ARPL, BCD adjusts", DiffGroup.AluCodes, bitness: 16)),
        new CompatGroup(new CodeGroup("shift16", "shifts and rotates", DiffGroup.ShiftCodes, bitness: 16)),
        new CompatGroup(new MulDivGroup(16)),
        new CompatGroup(new CodeGroup("bit16", "bit tests and scans, counts, byte swaps, cmovcc, setcc", DiffGroup.BitCodes, bitness: 16)),
        new X87Group(),
    ]);

    protected WorldGroup(string name, string title)
    {
        Name = name;
        Title = title;
    }

    public static IReadOnlyList<WorldGroup> All => AllGroups.Value;

    public string Name { get; }

    public string Title { get; }

    /// <summary>Instructions left out because the emulator and the host differ there for a reason not fixed yet, or null.</summary>
    public virtual string? HostGaps => null;

    public static WorldGroup? Find(string name) => All.FirstOrDefault(g => g.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    public abstract WorldCase Build(ulong seed, long index);
}

/// <summary>
/// A <see cref="DiffGroup"/> assembled for 32-bit code and run in compatibility mode (a 32-bit
/// code segment of the long-mode world on the emulator; selector 0x23 in the host runner), or
/// for 16-bit code in a 16-bit code segment (an LDT segment from modify_ldt in the runner, based
/// at the code page, with a 16-bit data segment in DS, ES and SS based at the region). Every page
/// of the region is writable; the case ends at the final HLT's #GP.
/// </summary>
public sealed class CompatGroup(DiffGroup inner) : WorldGroup(inner.Name, $"{inner.Title}, in {inner.Bitness}-bit compatibility mode")
{
    public override string? HostGaps => inner.HostGaps;

    public override WorldCase Build(ulong seed, long index)
    {
        var c = inner.Build(seed, index, inner.Bitness == 16 ? World.DataAddress - World.Data16Base : World.DataAddress);
        return new WorldCase(c, inner.Bitness, WorldCase.AllWritable(), WorldCase.RegionAround(c));
    }
}
