using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>The outcome of delivering an event.</summary>
public enum DeliveryResult
{
    Delivered,

    /// <summary>A fault during delivery of a double fault: the CPU shuts down (SDM Vol. 3A 6.15, interrupt 8).</summary>
    TripleFault,
}

/// <summary>
/// Exception and interrupt delivery through the IVT (real mode) or IDT (protected and long
/// mode), SDM Vol. 3A chapter 6: gate checks, stack switches through the TSS (RSPn and IST in
/// long mode, SSn:ESPn in protected mode), the pushed frame, IF/TF clearing, and the rules that
/// turn a fault during delivery into a double fault, and a fault during that into a triple fault.
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>Vectors that push an error code (SDM Vol. 3A Table 6-1).</summary>
    public static bool HasErrorCode(int vector) => vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21;

    private static bool IsContributory(int vector) => vector is 0 or 10 or 11 or 12 or 13;

    /// <summary>Delivers the exception recorded in the state (ExceptionVector), clearing it.</summary>
    public DeliveryResult DeliverPendingException()
    {
        int first = S.ExceptionVector;
        uint code = S.ExceptionErrorCode;
        bool software = S.ExceptionSoftware != 0;
        ulong returnRip = software ? S.ExceptionNextRip : S.Rip;

        // A fault while delivering is one of the instruction that raised the first event, so it
        // saves that instruction's RIP: for INT n refused by its gate, the INT itself, not the
        // next instruction (SDM Vol. 3A 6.12.1.1).
        ulong faultRip = S.Rip;
        S.ExceptionVector = -1;
        S.ExceptionSoftware = 0;
        if (Deliver(first, code, software, external: false, returnRip))
        {
            return DeliveryResult.Delivered;
        }

        // A second exception while delivering the first.
        int second = S.ExceptionVector;
        uint secondCode = S.ExceptionErrorCode;
        S.ExceptionVector = -1;
        if (first == Vector.DF && !software)
        {
            return DeliveryResult.TripleFault;
        }

        // Only an exception can turn into a double fault: INT n with n = 14 refused by its gate is
        // #GP, as for any other n (SDM Vol. 3A 6.15, interrupt 8: the classes of Table 6-4 are of exceptions).
        bool doubleFault = !software && ((IsContributory(first) && IsContributory(second))
            || (first == Vector.PF && (second == Vector.PF || IsContributory(second))));
        if (doubleFault)
        {
            if (Deliver(Vector.DF, 0, false, false, faultRip))
            {
                return DeliveryResult.Delivered;
            }

            S.ExceptionVector = -1;
            return DeliveryResult.TripleFault;
        }

        // Otherwise the second exception is handled serially (SDM Table 6-5), at the same instruction.
        if (Deliver(second, secondCode, false, false, faultRip))
        {
            return DeliveryResult.Delivered;
        }

        S.ExceptionVector = -1;
        return DeliveryResult.TripleFault;
    }

    /// <summary>Delivers an external interrupt (from the interrupt controller). The caller checked IF and the shadow.</summary>
    public DeliveryResult DeliverExternalInterrupt(int vector)
    {
        if (Deliver(vector, 0, software: false, external: true, S.Rip))
        {
            return DeliveryResult.Delivered;
        }

        // A fault while delivering an external interrupt is delivered as that fault.
        return DeliverPendingException();
    }

    /// <summary>An NMI was delivered and no IRET has run since: further NMIs wait (SDM Vol. 3A 6.7.1).</summary>
    public bool NmiBlocked { get; set; }

    /// <summary>An NMI arrived while blocked; it is delivered after the next IRET.</summary>
    public bool NmiPending { get; set; }

    /// <summary>Delivers a non-maskable interrupt through vector 2, or holds it while NMIs are blocked.</summary>
    public DeliveryResult DeliverNmi()
    {
        if (NmiBlocked)
        {
            NmiPending = true;
            return DeliveryResult.Delivered;
        }

        NmiBlocked = true;
        NmiPending = false;
        if (Deliver(Vector.NMI, 0, software: false, external: true, S.Rip))
        {
            return DeliveryResult.Delivered;
        }

        return DeliverPendingException();
    }

    /// <summary>Whether an external interrupt may be taken now (RFLAGS.IF and no interrupt shadow).</summary>
    public bool InterruptsEnabled => (S.Rflags & (ulong)RFlags.IF) != 0 && S.InterruptShadow == 0;

    /// <summary>When set, every event delivery, IRET and SWAPGS is described to it (EMU_TRACE=events); for debugging guests.</summary>
    public static Action<string>? EventTrace { get; set; }

    /// <summary>One delivery attempt. False: a new exception is recorded in the state.</summary>
    private bool Deliver(int vector, uint errorCode, bool software, bool external, ulong returnRip)
    {
        EventTrace?.Invoke($"cpu{Index} deliver vector={vector} err=0x{errorCode:x} sw={software} ext={external} rip=0x{returnRip:x} cs=0x{S.Cs.Selector:x} rsp=0x{S.Gpr[(int)Gpr.Rsp]:x} cr2=0x{S.Cr2:x} gs.base=0x{S.Gs.Base:x} kgs=0x{S.KernelGsBase:x}");
        S.Halted = 0;
        bool pushCode = !software && !external && HasErrorCode(vector);
        if ((S.Cr0 & 1) == 0)
        {
            return DeliverReal(vector, returnRip);
        }

        bool longMode = (S.Efer & (1 << 10)) != 0;
        int gateSize = longMode ? 16 : 8;
        uint ext = external ? 1u : 0u;
        uint idtCode = (uint)(vector * 8 + 2) | ext;
        if ((ulong)(vector * gateSize + gateSize - 1) > S.Idtr.Limit)
        {
            RaiseException(Vector.GP, idtCode);
            return false;
        }

        if (!ReadSupervisor(S.Idtr.Base + (ulong)(vector * gateSize), 8, out ulong lo))
        {
            return false;
        }

        ulong hi = 0;
        if (longMode && !ReadSupervisor(S.Idtr.Base + (ulong)(vector * gateSize) + 8, 8, out hi))
        {
            return false;
        }

        int type = (int)(lo >> 40) & 0xf;
        int gateDpl = (int)(lo >> 45) & 3;
        bool present = ((lo >> 47) & 1) != 0;
        bool validType = longMode ? type is 0xe or 0xf : type is 0xe or 0xf or 0x6 or 0x7;
        if (!validType)
        {
            // Task gates (type 5) are not supported: #GP, as for an invalid gate.
            RaiseException(Vector.GP, idtCode);
            return false;
        }

        int cpl = Cpl;
        if (software && gateDpl < cpl)
        {
            RaiseException(Vector.GP, idtCode);
            return false;
        }

        if (!present)
        {
            RaiseException(Vector.NP, idtCode);
            return false;
        }

        ushort targetSel = (ushort)(lo >> 16);
        ulong offset = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | (longMode ? hi << 32 : 0);
        if ((targetSel & ~3) == 0)
        {
            RaiseException(Vector.GP, ext);
            return false;
        }

        if (!ReadDescriptor(targetSel, false, out var cs))
        {
            S.ExceptionErrorCode |= ext;
            return false;
        }

        if (!cs.IsCode || cs.Dpl > cpl)
        {
            RaiseException(Vector.GP, (uint)(targetSel & ~3) | ext);
            return false;
        }

        if (!cs.Present)
        {
            RaiseException(Vector.NP, (uint)(targetSel & ~3) | ext);
            return false;
        }

        int newCpl = cs.IsConforming ? cpl : cs.Dpl;
        int ist = longMode ? (int)((lo >> 32) & 7) : 0;
        ulong oldRflags = Rflags;
        ushort oldCs = S.Cs.Selector, oldSs = S.Ss.Selector;
        ulong oldRsp = S.Gpr[(int)Gpr.Rsp];
        bool interruptGate = (type & 1) == 0;

        bool ok = longMode
            ? DeliverLong(newCpl, cpl, ist, oldSs, oldRsp, oldRflags, oldCs, returnRip, pushCode, errorCode)
            : DeliverProtected(newCpl, cpl, type < 8 ? 2 : 4, oldSs, oldRsp, oldRflags, oldCs, returnRip, pushCode, errorCode);
        if (!ok)
        {
            return false;
        }

        LoadCodeSegment(targetSel, cs, newCpl);
        S.Rip = longMode ? offset : offset & (type < 8 ? 0xffffUL : 0xffff_ffffUL);
        ulong clear = (ulong)(RFlags.TF | RFlags.NT | RFlags.RF | RFlags.VM) | (interruptGate ? (ulong)RFlags.IF : 0);
        S.Rflags &= ~clear;
        S.InterruptShadow = 0;
        return true;
    }

    /// <summary>Long mode: always a 64-bit frame SS, RSP, RFLAGS, CS, RIP [, error code] on a 16-byte aligned stack.</summary>
    private bool DeliverLong(int newCpl, int cpl, int ist, ushort oldSs, ulong oldRsp, ulong oldRflags, ushort oldCs, ulong rip, bool pushCode, uint code)
    {
        ulong rsp = oldRsp;
        ulong tss = S.Tr.Base;
        if (ist != 0 || newCpl < cpl)
        {
            // RSPn at TSS offset 4 + 8n, ISTn at 36 + 8(n - 1) (SDM Vol. 3A Figure 8-11).
            ulong slot = ist != 0 ? 36 + 8 * (ulong)(ist - 1) : 4 + 8 * (ulong)newCpl;
            if (!ReadSupervisor(tss + slot, 8, out rsp))
            {
                return false;
            }
        }

        rsp &= ~0xfUL;
        Span<ulong> frame = [oldSs, oldRsp, oldRflags, oldCs, rip, code];
        int count = pushCode ? 6 : 5;
        for (int i = 0; i < count; i++)
        {
            rsp -= 8;
            if (!WriteSupervisor(rsp, 8, frame[i]))
            {
                return false;
            }
        }

        if (newCpl < cpl)
        {
            // The new SS is a null selector with RPL = new CPL (SDM Vol. 3A 6.14.4).
            S.Ss.Selector = (ushort)newCpl;
            S.Ss.Base = 0;
            S.Ss.Limit = 0;
            S.Ss.Attrs = (ushort)(0x13 | (newCpl << 5));
        }

        S.Gpr[(int)Gpr.Rsp] = rsp;
        return true;
    }

    /// <summary>Protected mode: SS:ESP from the TSS on a privilege change; a 16- or 32-bit frame.</summary>
    private bool DeliverProtected(int newCpl, int cpl, int size, ushort oldSs, ulong oldRsp, ulong oldRflags, ushort oldCs, ulong rip, bool pushCode, uint code)
    {
        ulong ssBase = S.Ss.Base;
        ulong sp = oldRsp;
        bool stack32 = (S.Ss.Attrs & CpuMode.AttrDb) != 0;
        bool switchStack = newCpl < cpl;
        Descriptor newSs = default;
        ushort newSsSel = 0;
        if (switchStack)
        {
            // 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n.
            ulong tss = S.Tr.Base;
            if (!ReadSupervisor(tss + 4 + 8 * (ulong)newCpl, 4, out sp) || !ReadSupervisor(tss + 8 + 8 * (ulong)newCpl, 2, out ulong ss))
            {
                return false;
            }

            newSsSel = (ushort)ss;
            if (!ReadDescriptor(newSsSel, false, out newSs))
            {
                return false;
            }

            if ((newSsSel & 3) != newCpl || newSs.Dpl != newCpl || !newSs.IsWritableData || !newSs.Present)
            {
                RaiseException(Vector.TS, (uint)(newSsSel & ~3));
                return false;
            }

            ssBase = newSs.Base;
            stack32 = (newSs.Attrs & CpuMode.AttrDb) != 0;
        }

        Span<ulong> frame = [oldSs, oldRsp, oldRflags, oldCs, rip, code];
        int first = switchStack ? 0 : 2;
        int last = pushCode ? 6 : 5;
        ulong mask = stack32 ? 0xffff_ffffUL : 0xffffUL;
        for (int i = first; i < last; i++)
        {
            sp = (sp - (ulong)size) & mask;
            if (!WriteSupervisor((ssBase + sp) & 0xffff_ffff, size, frame[i]))
            {
                return false;
            }
        }

        if (switchStack)
        {
            LoadCache(ref S.Ss, newSsSel, newSs);
        }

        S.Gpr[(int)Gpr.Rsp] = stack32 ? sp : (S.Gpr[(int)Gpr.Rsp] & ~0xffffUL) | sp;
        return true;
    }

    /// <summary>Real mode: the IVT entry at vector * 4; push FLAGS, CS, IP (SDM Vol. 3A 20.1.4).</summary>
    private bool DeliverReal(int vector, ulong returnRip)
    {
        if ((ulong)(vector * 4 + 3) > S.Idtr.Limit)
        {
            RaiseException(Vector.GP, 0);
            return false;
        }

        if (!Read(S.Idtr.Base + (ulong)(vector * 4), 4, out ulong entry))
        {
            return false;
        }

        ulong sp = S.Gpr[(int)Gpr.Rsp] & 0xffff;
        Span<ulong> frame = [Rflags & 0xffff, S.Cs.Selector, returnRip & 0xffff];
        foreach (ulong v in frame)
        {
            sp = (sp - 2) & 0xffff;
            if (!Write(S.Ss.Base + sp, 2, v))
            {
                return false;
            }
        }

        S.Gpr[(int)Gpr.Rsp] = (S.Gpr[(int)Gpr.Rsp] & ~0xffffUL) | sp;
        S.Cs.Selector = (ushort)(entry >> 16);
        S.Cs.Base = (entry >> 16) << 4;
        S.Rip = entry & 0xffff;
        S.Rflags &= ~(ulong)(RFlags.IF | RFlags.TF | RFlags.AC);
        S.InterruptShadow = 0;
        return true;
    }
}
