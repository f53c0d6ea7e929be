using System.Runtime.CompilerServices;
using Emulator.Ir;
using Emulator.X86.State;
using static Emulator.X86.Helpers.Float80Math;

namespace Emulator.X86.Helpers;

/// <summary>
/// The x87 register stack as the helpers see it (SDM Vol. 1 8.1): physical registers R0-R7,
/// ST(i) = R[(TOP + i) mod 8], TOP in FSW bits 11-13, a 2-bit tag per physical register in
/// FTW, exception flags in FSW that raise the summary bits ES and B when the matching FCW
/// mask is clear. Stack faults (SDM Vol. 1 8.5.1.1) set IE and SF, with C1 = 1 for an
/// overflow and 0 for an underflow.
/// </summary>
internal static unsafe class X87State
{
    public const ushort C0 = 1 << 8, C1 = 1 << 9, C2 = 1 << 10, C3 = 1 << 14;
    public const ushort ConditionBits = C0 | C1 | C2 | C3;
    public const ushort TopMask = 7 << 11;
    public const ushort ErrorSummary = 1 << 7, Busy = 1 << 15;

    /// <summary>
    /// The effects of a helper for a waiting x87 instruction: it first raises #NM or delivers a
    /// pending unmasked exception as #MF (<see cref="PendingFault"/>).
    /// </summary>
    public const OpFlags Waiting = OpFlags.ReadsState | OpFlags.WritesState | OpFlags.MayFault;

    private const ulong Cr0Mp = 1 << 1, Cr0Em = 1 << 2, Cr0Ts = 1 << 3, Cr0Ne = 1 << 5;

    /// <summary>
    /// Raises #NM when CR0.EM or CR0.TS is set (SDM Vol. 3A 2.5, Table 2-2): the FPU is being
    /// emulated, or its state belongs to another task. Every x87 instruction but WAIT checks it.
    /// </summary>
    public static bool Unavailable(Cpu cpu)
    {
        if ((cpu.S.Cr0 & (Cr0Em | Cr0Ts)) != 0)
        {
            cpu.RaiseException(Vector.NM);
            return true;
        }

        return false;
    }

    /// <summary>WAIT/FWAIT: #NM only when CR0.MP and CR0.TS are both set, then the pending-exception check.</summary>
    public static bool WaitFault(Cpu cpu)
    {
        if ((cpu.S.Cr0 & (Cr0Mp | Cr0Ts)) == (Cr0Mp | Cr0Ts))
        {
            cpu.RaiseException(Vector.NM);
            return true;
        }

        return PendingError(cpu);
    }

    /// <summary>
    /// The checks before a waiting x87 instruction: #NM (<see cref="Unavailable"/>), then #MF
    /// when an unmasked exception is pending (FSW.ES) and CR0.NE is set (SDM Vol. 1 8.6, 8.7).
    /// With CR0.NE clear the error would go out through FERR# and IRQ 13, not modelled.
    /// </summary>
    public static bool PendingFault(Cpu cpu) => Unavailable(cpu) || PendingError(cpu);

    private static bool PendingError(Cpu cpu)
    {
        if ((cpu.S.Fsw & ErrorSummary) != 0 && (cpu.S.Cr0 & Cr0Ne) != 0)
        {
            cpu.RaiseException(Vector.MF);
            return true;
        }

        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Top(Cpu cpu) => (cpu.S.Fsw >> 11) & 7;

    public static void SetTop(Cpu cpu, int top) => cpu.S.Fsw = (ushort)((cpu.S.Fsw & ~TopMask) | ((top & 7) << 11));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Phys(Cpu cpu, int i) => (Top(cpu) + i) & 7;

    /// <summary>Physical register <paramref name="phys"/>; Float80 is 16 bytes, as the state block lays R0-R7 out.</summary>
    public static ref Float80 Reg(Cpu cpu, int phys) => ref (&cpu.State->Fpr0)[phys];

    public static int TagOf(Cpu cpu, int phys) => (cpu.S.Ftw >> (2 * phys)) & 3;

    public static void SetTag(Cpu cpu, int phys, int tag) =>
        cpu.S.Ftw = (ushort)((cpu.S.Ftw & ~(3 << (2 * phys))) | (tag << (2 * phys)));

    public static bool IsEmpty(Cpu cpu, int i) => TagOf(cpu, Phys(cpu, i)) == 3;

    public static ref Float80 St(Cpu cpu, int i) => ref Reg(cpu, Phys(cpu, i));

    /// <summary>Writes ST(i) and its tag.</summary>
    public static void SetSt(Cpu cpu, int i, in Float80 v)
    {
        int p = Phys(cpu, i);
        Reg(cpu, p) = v;
        SetTag(cpu, p, Tag(v));
    }

    /// <summary>Marks ST(0) empty and increments TOP.</summary>
    public static void Pop(Cpu cpu)
    {
        int top = Top(cpu);
        SetTag(cpu, top, 3);
        SetTop(cpu, top + 1);
    }

    /// <summary>The rounding control of FCW.</summary>
    public static int Rc(Cpu cpu) => (cpu.S.Fcw >> 10) & 3;

    /// <summary>True when any of <paramref name="exc"/> is unmasked in FCW (its exception would trap).</summary>
    public static bool Unmasked(Cpu cpu, uint exc) => (Prioritize(exc) & ~(uint)cpu.S.Fcw & 0x3F) != 0;

    /// <summary>An invalid operation or a zero divide outranks a denormal operand: with IE or ZE, DE is not raised (SDM Vol. 1 4.9.2).</summary>
    public static uint Prioritize(uint exc) => (exc & (IE | ZE)) != 0 ? exc & ~DE : exc;

    /// <summary>Records exception flags in FSW; an unmasked one also sets ES and B (SDM Vol. 1 8.1.3.1).</summary>
    public static void Signal(Cpu cpu, uint exc)
    {
        if (exc == 0)
        {
            return;
        }

        exc = Prioritize(exc);
        uint fsw = cpu.S.Fsw | (exc & 0x7F);
        if (Unmasked(cpu, exc))
        {
            fsw |= ErrorSummary | Busy;
        }

        cpu.S.Fsw = (ushort)fsw;
    }

    /// <summary>
    /// Ends an operation that produced a result: C1 says whether rounding went up in magnitude
    /// (SDM Vol. 1 8.1.3.2), then the exception flags are recorded.
    /// </summary>
    public static void Complete(Cpu cpu, uint exc)
    {
        cpu.S.Fsw = (ushort)((cpu.S.Fsw & ~(uint)C1) | (exc & RoundedUp));
        Signal(cpu, exc);
    }

    /// <summary>Sets C0-C3 (given as FSW bits), leaving the other FSW bits.</summary>
    public static void SetCodes(Cpu cpu, ushort codes) => cpu.S.Fsw = (ushort)((cpu.S.Fsw & ~ConditionBits) | codes);

    /// <summary>
    /// A stack underflow: IE and SF, C1 = 0. Returns true when IE is masked and the caller should
    /// deliver the QNaN indefinite as its result.
    /// </summary>
    public static bool Underflow(Cpu cpu)
    {
        cpu.S.Fsw &= unchecked((ushort)~C1);
        Signal(cpu, IE | SF);
        return !Unmasked(cpu, IE);
    }

    /// <summary>Pushes <paramref name="v"/>; on a full stack signals overflow (C1 = 1) and pushes the indefinite if IE is masked.</summary>
    public static void Push(Cpu cpu, in Float80 v)
    {
        int top = (Top(cpu) - 1) & 7;
        if (TagOf(cpu, top) != 3)
        {
            Signal(cpu, IE | SF);
            cpu.S.Fsw |= C1;
            if (Unmasked(cpu, IE))
            {
                return;
            }

            SetTop(cpu, top);
            Reg(cpu, top) = Indefinite;
            SetTag(cpu, top, 2);
            return;
        }

        cpu.S.Fsw &= unchecked((ushort)~C1);
        SetTop(cpu, top);
        Reg(cpu, top) = v;
        SetTag(cpu, top, Tag(v));
    }

    /// <summary>A NaN made quiet (an SNaN operand also signals IE).</summary>
    public static Float80 Quiet(in Float80 v, ref uint exc)
    {
        if ((v.Mantissa & QuietBit) == 0)
        {
            exc |= IE;
        }

        return Make(v.Mantissa | QuietBit, v.SignExponent);
    }

    /// <summary>
    /// The NaN result of an operation with a NaN operand (SDM Vol. 1 Table 4-7): the quieted NaN;
    /// of an SNaN and a QNaN the QNaN; of two SNaNs or two QNaNs the one with the larger
    /// significand. IE for any SNaN.
    /// </summary>
    public static Float80 PropagateNaN(in Float80 a, in Float80 b, ref uint exc)
    {
        bool an = IsNaN(a), bn = IsNaN(b);
        if (an && bn)
        {
            bool aq = (a.Mantissa & QuietBit) != 0, bq = (b.Mantissa & QuietBit) != 0;
            var qa = Quiet(a, ref exc);
            var qb = Quiet(b, ref exc);
            if (aq != bq)
            {
                return aq ? qa : qb;
            }

            if (qa.Mantissa != qb.Mantissa)
            {
                return qa.Mantissa > qb.Mantissa ? qa : qb;
            }

            return Sign(qa) ? qb : qa;
        }

        return an ? Quiet(a, ref exc) : Quiet(b, ref exc);
    }
}
