using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>
/// A case run in the paged world (<see cref="World"/> on the emulator, Native/fault_runner.c on
/// the host): code of any bitness that ends in an exception, the region's pages and their
/// permissions, and the x87 state it starts from.
/// </summary>
public sealed class WorldCase
{
    private readonly byte[]? x87;

    /// <param name="flagsCompared">The RFLAGS bits compared, when fewer than <paramref name="c"/>'s (the flags left undefined before a faulting instruction).</param>
    public WorldCase(DiffCase c, int bitness, PageAccess[] pages, byte[] region, byte[]? x87 = null, ulong? flagsCompared = null)
    {
        Group = c.Group;
        Seed = c.Seed;
        Index = c.Index;
        Bitness = bitness;
        Input = c.Input;
        Instructions = c.Instructions;
        Code = c.Code;
        FlagsCompared = c.FlagsCompared & (flagsCompared ?? ulong.MaxValue);
        Pages = pages;
        Region = region;
        this.x87 = x87;
        if (c.Code.Length >= HostRunner.CodeSize)
        {
            throw new ArgumentException($"case code is {c.Code.Length} bytes; the code page holds {HostRunner.CodeSize - 1} and the final HLT");
        }
    }

    public string Group { get; }

    public ulong Seed { get; }

    public long Index { get; }

    /// <summary>64, 32 (compatibility mode) or 16 (a 16-bit code segment).</summary>
    public int Bitness { get; }

    public MachineState Input { get; }

    public IReadOnlyList<Instruction> Instructions { get; }

    public byte[] Code { get; }

    public ulong FlagsCompared { get; }

    /// <summary>The FSW bits compared: all but condition codes an x87 instruction of the case left undefined.</summary>
    public ushort FswCompared { get; init; } = 0xffff;

    /// <summary>Permissions of the region's pages: a guard page, the four of the data buffer, a guard page.</summary>
    public PageAccess[] Pages { get; }

    /// <summary>The region's input bytes (<see cref="World.RegionBytes"/>).</summary>
    public byte[] Region { get; }

    /// <summary>The FXSAVE image the case starts from: the x87 part as generated (an empty stack by default), MXCSR and XMM from <see cref="Input"/>.</summary>
    public byte[] FxImage()
    {
        var image = X87Image.Initial(Input);
        x87?.AsSpan(0, X87Image.Mxcsr).CopyTo(image);
        x87?.AsSpan(X87Image.St, X87Image.Xmm - X87Image.St).CopyTo(image.AsSpan(X87Image.St));
        return image;
    }

    public string ReplayCommand =>
        $"dotnet run --project tests/Emulator.X86.DiffTests -c Release -- --seed 0x{Seed:x} --group {Group} --case {Index}";

    /// <summary>The region for a data buffer: guard pages filled from the case's own generator, so the case stays a function of (seed, group, index).</summary>
    public static byte[] RegionAround(DiffCase c)
    {
        var region = new byte[World.RegionBytes];
        var r = Rng.ForCase(c.Seed, c.Group + "/guard", c.Index);
        r.Fill(region);
        c.Data.CopyTo(region, (int)(World.DataAddress - World.RegionAddress));
        return region;
    }

    /// <summary>Every page of the region readable and writable.</summary>
    public static PageAccess[] AllWritable() => [.. Enumerable.Repeat(PageAccess.ReadWrite, World.RegionPages)];
}
