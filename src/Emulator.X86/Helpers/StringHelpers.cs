using System.Runtime.CompilerServices;
using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.Frontend;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>
/// REP string loops (SDM Vol. 2 "REP/REPE/REPZ/REPNE/REPNZ"). Each helper takes
/// (descriptor, source segment base, ES base) and runs the loop through cpu.Read and
/// cpu.Write, keeping rSI/rDI/rCX in locals that are stored to state whenever it returns, so
/// a fault at element k leaves the registers as they were after element k-1: the interpreter
/// puts RIP back at the instruction and it resumes where it stopped. After every
/// <see cref="Chunk"/> elements a pending exit request stops the loop early (return 1) so
/// interrupts are not held off by a long copy. CMPS/SCAS store the lazy flags of the last
/// comparison (as CMP: CcKind.Sub); with a zero count nothing changes.
/// Forward MOVS and STOS over RAM copy or fill a page at a time on host pointers.
/// </summary>
public static unsafe partial class StringHelpers
{
    /// <summary>Elements between checks of ExitRequest.</summary>
    public const int Chunk = 4096;

    public static readonly HelperInfo RepMovs = HelperTable.Define("rep_movs", 3, HelperTable.Effects, &RepMovsImpl);
    public static readonly HelperInfo RepCmps = HelperTable.Define("rep_cmps", 3, HelperTable.Effects, &RepCmpsImpl);
    public static readonly HelperInfo RepScas = HelperTable.Define("rep_scas", 3, HelperTable.Effects, &RepScasImpl);
    public static readonly HelperInfo RepLods = HelperTable.Define("rep_lods", 3, HelperTable.Effects, &RepLodsImpl);
    public static readonly HelperInfo RepStos = HelperTable.Define("rep_stos", 3, HelperTable.Effects, &RepStosImpl);

    private const ulong PageMask = GuestMemory.PageMask;

    /// <summary>
    /// Packs what the loop needs to know that the IR cannot pass as values: element size,
    /// address size, whether linear addresses wrap at 4 GiB (outside 64-bit mode), and whether
    /// a comparison repeats while not equal (REPNE) rather than while equal.
    /// </summary>
    public static ulong Describe(int size, int addressSize, bool is64, bool repNe)
    {
        uint d = (uint)System.Numerics.BitOperations.Log2((uint)size) | ((uint)System.Numerics.BitOperations.Log2((uint)addressSize) << 2);
        d |= is64 ? 1u << 4 : 0;
        d |= repNe ? 1u << 5 : 0;
        return d;
    }

    /// <summary>The loop's registers and parameters, unpacked from the descriptor and state.</summary>
    private struct Loop
    {
        public int Size;
        public int AddressSize;
        public ulong AddressMask;
        public bool Is64;
        public bool RepNe;
        public ulong SrcBase;
        public ulong DstBase;
        public ulong Si;
        public ulong Di;
        public ulong Count;
        public long Step;

        public Loop(Cpu cpu, ulong desc, ulong srcBase, ulong dstBase)
        {
            Size = 1 << (int)(desc & 3);
            AddressSize = 1 << (int)((desc >> 2) & 3);
            AddressMask = AddressSize == 8 ? ulong.MaxValue : (1UL << (8 * AddressSize)) - 1;
            Is64 = (desc & (1 << 4)) != 0;
            RepNe = (desc & (1 << 5)) != 0;
            SrcBase = srcBase;
            DstBase = dstBase;
            ref var s = ref cpu.S;
            Si = s.Gpr[(int)Gpr.Rsi] & AddressMask;
            Di = s.Gpr[(int)Gpr.Rdi] & AddressMask;
            Count = s.Gpr[(int)Gpr.Rcx] & AddressMask;
            Step = (s.Rflags & (ulong)RFlags.DF) != 0 ? -Size : Size;
        }

        /// <summary>Segment base + offset, wrapped as Translator.Linear does.</summary>
        public readonly ulong Linear(ulong segBase, ulong offset) => Is64 ? segBase + offset : (segBase + offset) & 0xffff_ffff;

        public readonly ulong Src => Linear(SrcBase, Si);

        public readonly ulong Dst => Linear(DstBase, Di);

        public void AdvanceSi() => Si = (Si + (ulong)Step) & AddressMask;

        public void AdvanceDi() => Di = (Di + (ulong)Step) & AddressMask;
    }

    /// <summary>Stores rSI/rDI/rCX by the address size: 16 bits keep the rest, 32 bits zero-extend.</summary>
    private static void Commit(Cpu cpu, in Loop l, bool si, bool di)
    {
        SetIndex(cpu, Gpr.Rcx, l.Count, l.AddressSize);
        if (si)
        {
            SetIndex(cpu, Gpr.Rsi, l.Si, l.AddressSize);
        }

        if (di)
        {
            SetIndex(cpu, Gpr.Rdi, l.Di, l.AddressSize);
        }
    }

    private static void SetIndex(Cpu cpu, Gpr r, ulong v, int addressSize)
    {
        ref ulong reg = ref cpu.S.Gpr[(int)r];
        reg = addressSize == 2 ? (reg & ~0xffffUL) | (v & 0xffff) : v;
    }

    /// <summary>Writes AL/AX (keeping the rest), EAX (zero-extending) or RAX.</summary>
    private static void SetAccumulator(Cpu cpu, ulong v, int size)
    {
        ref ulong rax = ref cpu.S.Gpr[(int)Gpr.Rax];
        rax = size switch
        {
            1 => (rax & ~0xffUL) | (v & 0xff),
            2 => (rax & ~0xffffUL) | (v & 0xffff),
            _ => v,
        };
    }

    private static ulong SizeMask(int size) => size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;

    /// <summary>Stops an unfinished loop for a pending exit request: 1 tells the IR to run the instruction again later.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool ShouldYield(Cpu cpu, ref int budget)
    {
        if (--budget > 0)
        {
            return false;
        }

        budget = Chunk;
        return cpu.S.ExitRequest != 0;
    }

    private static ulong RepMovsImpl(Cpu cpu, ulong desc, ulong srcBase, ulong dstBase, ulong unused)
    {
        var l = new Loop(cpu, desc, srcBase, dstBase);
        if (l.Count == 0)
        {
            return 0; // nothing at all changes, not even the upper halves of 32-bit registers
        }

        int budget = Chunk;
        while (l.Count != 0)
        {
            if (l.Step > 0 && BulkMovs(cpu, ref l, ref budget))
            {
                if (l.Count == 0)
                {
                    break;
                }
            }
            else
            {
                if (!cpu.Read(l.Src, l.Size, out ulong v) || !cpu.Write(l.Dst, l.Size, v))
                {
                    Commit(cpu, in l, si: true, di: true);
                    return 0;
                }

                l.AdvanceSi();
                l.AdvanceDi();
                l.Count = (l.Count - 1) & l.AddressMask;
            }

            if (l.Count != 0 && ShouldYield(cpu, ref budget))
            {
                Commit(cpu, in l, si: true, di: true);
                return 1;
            }
        }

        Commit(cpu, in l, si: true, di: true);
        return 0;
    }

    private static ulong RepStosImpl(Cpu cpu, ulong desc, ulong srcBase, ulong dstBase, ulong unused)
    {
        var l = new Loop(cpu, desc, srcBase, dstBase);
        if (l.Count == 0)
        {
            return 0; // nothing at all changes, not even the upper halves of 32-bit registers
        }

        ulong v = cpu.S.Gpr[(int)Gpr.Rax] & SizeMask(l.Size);
        int budget = Chunk;
        while (l.Count != 0)
        {
            if (l.Step > 0 && BulkStos(cpu, ref l, v, ref budget))
            {
                if (l.Count == 0)
                {
                    break;
                }
            }
            else
            {
                if (!cpu.Write(l.Dst, l.Size, v))
                {
                    Commit(cpu, in l, si: false, di: true);
                    return 0;
                }

                l.AdvanceDi();
                l.Count = (l.Count - 1) & l.AddressMask;
            }

            if (l.Count != 0 && ShouldYield(cpu, ref budget))
            {
                Commit(cpu, in l, si: false, di: true);
                return 1;
            }
        }

        Commit(cpu, in l, si: false, di: true);
        return 0;
    }

    private static ulong RepLodsImpl(Cpu cpu, ulong desc, ulong srcBase, ulong dstBase, ulong unused)
    {
        var l = new Loop(cpu, desc, srcBase, dstBase);
        if (l.Count == 0)
        {
            return 0; // nothing at all changes, not even the upper halves of 32-bit registers
        }

        int budget = Chunk;
        while (l.Count != 0)
        {
            if (!cpu.Read(l.Src, l.Size, out ulong v))
            {
                Commit(cpu, in l, si: true, di: false);
                return 0;
            }

            SetAccumulator(cpu, v, l.Size);
            l.AdvanceSi();
            l.Count = (l.Count - 1) & l.AddressMask;
            if (l.Count != 0 && ShouldYield(cpu, ref budget))
            {
                Commit(cpu, in l, si: true, di: false);
                return 1;
            }
        }

        Commit(cpu, in l, si: true, di: false);
        return 0;
    }

    private static ulong RepCmpsImpl(Cpu cpu, ulong desc, ulong srcBase, ulong dstBase, ulong unused) =>
        RepCompare(cpu, desc, srcBase, dstBase, fromMemory: true);

    private static ulong RepScasImpl(Cpu cpu, ulong desc, ulong srcBase, ulong dstBase, ulong unused) =>
        RepCompare(cpu, desc, srcBase, dstBase, fromMemory: false);

    /// <summary>
    /// REPE/REPNE CMPS (compares [seg:rSI] with [ES:rDI]) and SCAS (compares rAX with
    /// [ES:rDI]). The count is decremented before the ZF test, so a loop that ends on a
    /// mismatch leaves rCX one past it, as the SDM's pseudo-code does.
    /// </summary>
    private static ulong RepCompare(Cpu cpu, ulong desc, ulong srcBase, ulong dstBase, bool fromMemory)
    {
        var l = new Loop(cpu, desc, srcBase, dstBase);
        if (l.Count == 0)
        {
            return 0; // nothing at all changes, not even the upper halves of 32-bit registers
        }

        ulong mask = SizeMask(l.Size);
        ulong acc = cpu.S.Gpr[(int)Gpr.Rax] & mask;
        int budget = Chunk;
        bool any = false;
        ulong x = 0, y = 0;
        ulong result = 0;
        while (l.Count != 0)
        {
            ulong a = acc;
            if ((fromMemory && !cpu.Read(l.Src, l.Size, out a)) || !cpu.Read(l.Dst, l.Size, out ulong m))
            {
                result = 0;
                goto Done;
            }

            x = a;
            y = m;
            any = true;
            if (fromMemory)
            {
                l.AdvanceSi();
            }

            l.AdvanceDi();
            l.Count = (l.Count - 1) & l.AddressMask;
            if ((x == y) == l.RepNe)
            {
                break;
            }

            if (l.Count != 0 && ShouldYield(cpu, ref budget))
            {
                result = 1;
                goto Done;
            }
        }

    Done:
        if (any)
        {
            ref var s = ref cpu.S;
            s.CcOp = CcOp.Make(CcKind.Sub, (int)(desc & 3));
            s.CcDst = (x - y) & mask;
            s.CcSrc1 = x;
            s.CcSrc2 = y;
        }

        Commit(cpu, in l, si: fromMemory, di: true);
        return result;
    }

    /// <summary>
    /// Forward MOVS over RAM: copies the elements that fit in the current source and destination
    /// pages (and before the offsets wrap) in one go. False when the fast path does not apply
    /// here (not RAM, a page holding translated code, an element crossing a page); the caller
    /// then does one element the slow way, which also raises any fault precisely.
    /// </summary>
    private static bool BulkMovs(Cpu cpu, ref Loop l, ref int budget)
    {
        ulong n = ElementsInPage(in l, l.Src, l.Si, budget);
        n = Math.Min(n, ElementsInPage(in l, l.Dst, l.Di, budget));
        if (n < 2)
        {
            return false;
        }

        byte* src = ReadPointer(cpu, l.Src);
        byte* dst = src == null ? null : cpu.AtomicPointer(l.Dst, 1, out _);
        if (dst == null)
        {
            cpu.S.ExceptionVector = -1; // a probe's fault is raised again by the slow path
            return false;
        }

        ulong bytes = n * (ulong)l.Size;
        if (dst <= src || dst >= src + bytes)
        {
            // No overlap that a forward element copy could see: memmove is the same copy.
            Buffer.MemoryCopy(src, dst, bytes, bytes);
        }
        else
        {
            // The destination overlaps the source ahead of it: each element reads what an
            // earlier one wrote, exactly as the instruction does.
            for (ulong i = 0; i < n; i++)
            {
                ulong off = i * (ulong)l.Size;
                Store(dst + off, l.Size, Load(src + off, l.Size));
            }
        }

        Advance(ref l, n, si: true);
        budget -= (int)n;
        return true;
    }

    /// <summary>Forward STOS over RAM: fills what fits in the current destination page. False: do one element the slow way.</summary>
    private static bool BulkStos(Cpu cpu, ref Loop l, ulong v, ref int budget)
    {
        ulong n = ElementsInPage(in l, l.Dst, l.Di, budget);
        if (n < 2)
        {
            return false;
        }

        byte* dst = cpu.AtomicPointer(l.Dst, 1, out _);
        if (dst == null)
        {
            cpu.S.ExceptionVector = -1;
            return false;
        }

        if (l.Size == 1)
        {
            Unsafe.InitBlockUnaligned(dst, (byte)v, (uint)n);
        }
        else
        {
            for (ulong i = 0; i < n; i++)
            {
                Store(dst + (i * (ulong)l.Size), l.Size, v);
            }
        }

        Advance(ref l, n, si: false);
        budget -= (int)n;
        return true;
    }

    /// <summary>
    /// How many whole elements from <paramref name="linear"/> (at offset <paramref name="offset"/>)
    /// stay in its page and before the offset wraps at the address size, capped by the count
    /// and by the elements left before the next exit-request check.
    /// </summary>
    private static ulong ElementsInPage(in Loop l, ulong linear, ulong offset, int budget)
    {
        ulong inPage = (GuestMemory.PageSize - (linear & PageMask)) / (ulong)l.Size;
        ulong beforeWrap = l.AddressSize == 8 ? ulong.MaxValue : (l.AddressMask - offset + 1) / (ulong)l.Size;
        ulong beforeLinearWrap = l.Is64 ? ulong.MaxValue : (0x1_0000_0000UL - linear) / (ulong)l.Size;
        return Math.Min(Math.Min(inPage, beforeWrap), Math.Min(beforeLinearWrap, Math.Min(l.Count, (ulong)Math.Max(budget, 1))));
    }

    private static void Advance(ref Loop l, ulong n, bool si)
    {
        ulong bytes = n * (ulong)l.Size;
        if (si)
        {
            l.Si = (l.Si + bytes) & l.AddressMask;
        }

        l.Di = (l.Di + bytes) & l.AddressMask;
        l.Count = (l.Count - n) & l.AddressMask;
    }

    /// <summary>A host pointer to a readable RAM page at <paramref name="linear"/>, or null (not RAM, or a fault was recorded).</summary>
    private static byte* ReadPointer(Cpu cpu, ulong linear)
    {
        ulong page = linear & ~PageMask;
        ref var e = ref cpu.Tlb.EntryFor(linear);
        if (e.ReadTag != page && (!cpu.Read(linear, 1, out _) || e.ReadTag != page))
        {
            return null;
        }

        return cpu.Memory.Ram + (linear + (ulong)e.Addend);
    }

    private static ulong Load(byte* p, int size) => size switch
    {
        1 => *p,
        2 => Unsafe.ReadUnaligned<ushort>(p),
        4 => Unsafe.ReadUnaligned<uint>(p),
        _ => Unsafe.ReadUnaligned<ulong>(p),
    };

    private static void Store(byte* p, int size, ulong v)
    {
        switch (size)
        {
            case 1: *p = (byte)v; break;
            case 2: Unsafe.WriteUnaligned(p, (ushort)v); break;
            case 4: Unsafe.WriteUnaligned(p, (uint)v); break;
            default: Unsafe.WriteUnaligned(p, v); break;
        }
    }
}
