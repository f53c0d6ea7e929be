using Emulator.Ir;
using Emulator.X86.Memory;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>What one translation produced, besides the IR.</summary>
public readonly record struct TranslationInfo(ulong StartPc, ulong PhysStart, ulong PhysPage2, int Instructions, int GuestBytes);

/// <summary>
/// The x86 frontend: decodes guest code with Iced and lowers each instruction to IR. This is the
/// only place instruction semantics are written; one partial-class file per instruction group
/// (Emit*.cs) holds one method per mnemonic, registered in that file's Register* method.
/// A block ends at a branch, an instruction that changes mode or state, a page boundary, or
/// <see cref="MaxInstructions"/>.
/// </summary>
public sealed partial class Translator
{
    public const int MaxInstructions = 64;

    /// <summary>Emits the IR of one instruction.</summary>
    public delegate void Emitter(Translator t, in Instruction insn);

    private static readonly Emitter?[] Table = BuildTable();

    static Translator() => IrPrinter.StateNames ??= CpuStateOffsets.Name;

    private readonly GuestCodeReader reader = new();

    /// <summary>Called with each physical page the block's code comes from, before any byte of it is read.</summary>
    public Action<ulong>? EnteringCodePage
    {
        get => reader.EnteringPage;
        set => reader.EnteringPage = value;
    }
    private IrBuilder b = null!;
    private Cpu cpu = null!;

    /// <summary>Set by an emitter that ended the block (a jump, an exit, an exception).</summary>
    private bool blockEnded;

    /// <summary>Set when the current instruction stored to memory (an SMC check follows it).</summary>
    private bool stored;

    public CpuMode Mode { get; private set; }

    /// <summary>Address of the instruction being lowered, and of the next one.</summary>
    public ulong Pc { get; private set; }

    public ulong NextPc { get; private set; }

    /// <summary>Mnemonics met that have no emitter yet (they raise #UD), for diagnostics.</summary>
    public static IReadOnlyCollection<Mnemonic> Unimplemented => [.. unimplemented.Keys];

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Mnemonic, byte> unimplemented = new();

    public static bool IsImplemented(Mnemonic m) => Table[(int)m] is not null;

    /// <summary>
    /// Lowers the block that starts at <paramref name="pc"/> (an offset in CS) into
    /// <paramref name="block"/>. The instruction fetch of the first byte must succeed; if it
    /// faults, the block raises that fault.
    /// </summary>
    public TranslationInfo Translate(Cpu cpu, ulong pc, IrBlock block)
    {
        this.cpu = cpu;
        Mode = cpu.Mode;
        missing = CpuFeatures.All & ~cpu.Features;
        block.Clear();
        b = new IrBuilder(block);
        ResetFlagKnowledge();
        endAfterNext = false;
        ulong csBase = Mode.Is64 ? 0 : cpu.S.Cs.Base;
        reader.Reset(cpu, csBase + pc, Mode.Is64 ? ulong.MaxValue : 0xffff_ffff);
        var decoder = Decoder.Create(Mode.Bitness, reader, pc, DecoderOptions.None);

        int count = 0;
        ulong startPage = (csBase + pc) & ~GuestMemory.PageMask;
        while (true)
        {
            Pc = decoder.IP;
            decoder.Decode(out var insn);
            NextPc = Mode.Bitness switch { 16 => insn.NextIP & 0xffff, 32 => insn.NextIP & 0xffff_ffff, _ => insn.NextIP };
            b.BeginInsn(Pc);
            blockEnded = false;
            stored = false;
            bool shadowBefore = endAfterNext;

            if (reader.Faulted && count == 0 && insn.IsInvalid)
            {
                // The first instruction could not be fetched: the fault is in cpu state; deliver it.
                b.Raise(cpu.S.ExceptionVector, I64(cpu.S.ExceptionErrorCode));
                cpu.S.ExceptionVector = -1;
                break;
            }

            if (reader.Faulted && insn.IsInvalid)
            {
                // A later instruction straddles an unmapped page: end before it, it faults when it runs.
                block.InsnPcs.RemoveAt(block.InsnPcs.Count - 1);
                cpu.S.ExceptionVector = -1;
                b.Goto(Pc);
                break;
            }

            if (count > 0 && reader.SecondPhysPage != ulong.MaxValue)
            {
                // An instruction that straddles the page boundary starts a block of its own, so
                // this one lies in one page (only such blocks enter compiled code's jump cache).
                block.InsnPcs.RemoveAt(block.InsnPcs.Count - 1);
                reader.Unread(NextPc - Pc);
                b.Goto(Pc);
                break;
            }

            if (insn.IsInvalid)
            {
                RaiseUd();
            }
            else
            {
                var emit = Table[(int)insn.Mnemonic];
                if (missing != CpuFeatures.None && insn.Mnemonic is Mnemonic.Tzcnt or Mnemonic.Lzcnt && NeedsMissingFeature(in insn))
                {
                    // F3 0F BC/BD is TZCNT/LZCNT only on CPUs with BMI1/LZCNT; elsewhere the REP
                    // prefix is ignored and it is BSF/BSR (SDM Vol. 2B TZCNT, LZCNT), which
                    // kernels rely on (they emit TZCNT where BSF would do).
                    Table[(int)(insn.Mnemonic == Mnemonic.Tzcnt ? Mnemonic.Bsf : Mnemonic.Bsr)]!(this, in insn);
                }
                else if (missing != CpuFeatures.None && NeedsMissingFeature(in insn))
                {
                    // The model does not offer this instruction's feature: #UD, as a CPU without it.
                    RaiseUd();
                }
                else if (emit is null)
                {
                    unimplemented.TryAdd(insn.Mnemonic, 0);
                    RaiseUd();
                }
                else
                {
                    emit(this, in insn);
                }
            }

            count++;
            if (blockEnded)
            {
                break;
            }

            if (stored)
            {
                b.SmcCheck(NextPc);
            }

            ulong nextLinear = csBase + NextPc;
            if (shadowBefore)
            {
                // The instruction after STI or MOV SS ran; interrupts may be taken after it.
                endAfterNext = false;
                b.Exit(NextPc);
                break;
            }

            if (count >= MaxInstructions || (nextLinear & ~GuestMemory.PageMask) != startPage)
            {
                b.Goto(NextPc);
                break;
            }
        }

        return new TranslationInfo(pc, reader.FirstPhys, reader.SecondPhysPage, count, (int)reader.BytesRead);
    }

    /// <summary>Optional features the CPU's model does not offer (fixed for a machine, so blocks need no key for it).</summary>
    private CpuFeatures missing;

    /// <summary>Whether the instruction needs a CPUID feature that <see cref="missing"/> holds (Iced knows each encoding's features).</summary>
    private bool NeedsMissingFeature(in Instruction insn)
    {
        foreach (var f in insn.Code.CpuidFeatures())
        {
            var need = f switch
            {
                CpuidFeature.SSE3 => CpuFeatures.Sse3,
                CpuidFeature.SSSE3 => CpuFeatures.Ssse3,
                CpuidFeature.SSE4_1 => CpuFeatures.Sse41,
                CpuidFeature.SSE4_2 => CpuFeatures.Sse42,
                CpuidFeature.POPCNT => CpuFeatures.Popcnt,
                CpuidFeature.CMPXCHG16B => CpuFeatures.Cx16,
                CpuidFeature.MOVBE => CpuFeatures.Movbe,
                CpuidFeature.LZCNT => CpuFeatures.Lzcnt,
                CpuidFeature.BMI1 => CpuFeatures.Bmi1,
                CpuidFeature.BMI2 => CpuFeatures.Bmi2,
                CpuidFeature.ADX => CpuFeatures.Adx,
                _ => CpuFeatures.None,
            };
            if ((need & missing) != 0)
            {
                return true;
            }
        }

        return false;
    }

    private static Emitter?[] BuildTable()
    {
        var t = new Emitter?[Enum.GetValues<Mnemonic>().Length];
        RegisterMove(t);
        RegisterAlu(t);
        RegisterShift(t);
        RegisterMulDiv(t);
        RegisterBit(t);
        RegisterFlow(t);
        RegisterStack(t);
        RegisterAtomic(t);
        RegisterMisc(t);
        RegisterSse(t);
        RegisterMmx(t);
        RegisterX87(t);
        RegisterSystem(t);
        RegisterConvert(t);
        RegisterSseFloat(t);

        // Last: string MOVSD/CMPSD share their mnemonics with SSE2 and dispatch by encoding.
        RegisterString(t);
        return t;
    }

    // Each instruction group registers its mnemonics; a group not written yet registers none.
    static partial void RegisterMove(Emitter?[] t);

    static partial void RegisterAlu(Emitter?[] t);

    static partial void RegisterShift(Emitter?[] t);

    static partial void RegisterMulDiv(Emitter?[] t);

    static partial void RegisterBit(Emitter?[] t);

    static partial void RegisterFlow(Emitter?[] t);

    static partial void RegisterStack(Emitter?[] t);

    static partial void RegisterString(Emitter?[] t);

    static partial void RegisterAtomic(Emitter?[] t);

    static partial void RegisterMisc(Emitter?[] t);

    static partial void RegisterSse(Emitter?[] t);

    static partial void RegisterMmx(Emitter?[] t);

    static partial void RegisterX87(Emitter?[] t);

    static partial void RegisterSystem(Emitter?[] t);

    static partial void RegisterConvert(Emitter?[] t);

    static partial void RegisterSseFloat(Emitter?[] t);

    /// <summary>The IR builder, for emitters.</summary>
    private IrBuilder B => b;

    /// <summary>Ends the block by raising #UD at this instruction.</summary>
    private void RaiseUd() => Raise(Vector.UD);

    /// <summary>Ends the block by raising <paramref name="vector"/> at this instruction.</summary>
    private void Raise(int vector, ulong errorCode = 0)
    {
        b.Raise(vector, I64(errorCode));
        blockEnded = true;
    }

    /// <summary>Ends the block with a direct jump.</summary>
    private void EndWithGoto(ulong target)
    {
        b.Goto(target);
        blockEnded = true;
    }

    /// <summary>Ends the block with a jump to a computed RIP.</summary>
    private void EndWithGotoIndirect(Operand target)
    {
        b.GotoIndirect(target);
        blockEnded = true;
    }

    /// <summary>Ends the block after this instruction and returns to the dispatcher (mode or state changed).</summary>
    private void EndWithExit()
    {
        b.Exit(NextPc);
        blockEnded = true;
    }
}
