using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>
/// Far control transfers (SDM Vol. 2A JMP/CALL far, Vol. 2B RET far, IRET) and the fast system
/// calls (SYSCALL/SYSRET, SYSENTER/SYSEXIT, SWAPGS). Each sets RIP, CS and the stack, or records
/// an exception and changes nothing. Call gates, task switches and virtual-8086 mode are not
/// implemented: they raise #GP, which Linux never provokes.
/// </summary>
public sealed unsafe partial class Cpu
{
    private const ushort FlatCode64 = 0xa09b, FlatCode32 = 0xc09b, FlatData = 0xc093;

    private bool ProtectedMode => (S.Cr0 & 1) != 0;

    private bool LongMode => (S.Efer & (1 << 10)) != 0;

    /// <summary>Checks a code segment for a same-privilege far JMP/CALL/RET; false: exception recorded.</summary>
    private bool CheckCodeTarget(ushort selector, out Descriptor d, int newCpl)
    {
        d = default;
        if ((selector & ~3) == 0)
        {
            RaiseException(Vector.GP, 0);
            return false;
        }

        if (!ReadDescriptor(selector, false, out d))
        {
            return false;
        }

        bool ok = d.IsCode && (d.IsConforming ? d.Dpl <= newCpl : d.Dpl == newCpl && (selector & 3) <= newCpl);
        if (!ok)
        {
            RaiseException(Vector.GP, (uint)(selector & ~3));
            return false;
        }

        if (!d.Present)
        {
            RaiseException(Vector.NP, (uint)(selector & ~3));
            return false;
        }

        return true;
    }

    /// <summary>JMP ptr16:16/32 or m16:16/32/64.</summary>
    public bool FarJump(ushort selector, ulong offset)
    {
        if (!ProtectedMode)
        {
            S.Cs.Selector = selector;
            S.Cs.Base = (ulong)selector << 4;
            S.Rip = offset & 0xffff_ffff;
            return true;
        }

        int cpl = Cpl;
        if (!CheckCodeTarget(selector, out var d, cpl))
        {
            return false;
        }

        MarkAccessed(selector, d);
        LoadCodeSegment(selector, d, cpl);
        S.Rip = Mode.Is64 ? offset : offset & 0xffff_ffff;
        return true;
    }

    /// <summary>CALL far: pushes CS and the return address (each of <paramref name="size"/> bytes), then jumps.</summary>
    public bool FarCall(ushort selector, ulong offset, ulong returnRip, int size)
    {
        ushort oldCs = S.Cs.Selector;
        ulong oldRsp = S.Gpr[(int)Gpr.Rsp];
        if (!Push(oldCs, size) || !Push(returnRip, size))
        {
            S.Gpr[(int)Gpr.Rsp] = oldRsp;
            return false;
        }

        if (!FarJump(selector, offset))
        {
            S.Gpr[(int)Gpr.Rsp] = oldRsp;
            return false;
        }

        return true;
    }

    /// <summary>RET far [imm16]: same privilege, or a return to an outer ring that also pops SS:RSP.</summary>
    public bool FarReturn(int size, ushort release)
    {
        ulong sp = S.Gpr[(int)Gpr.Rsp];
        if (!Peek(sp, size, out ulong rip) || !Peek(sp + (ulong)size, size, out ulong cs))
        {
            return false;
        }

        ushort selector = (ushort)cs;
        if (!ProtectedMode)
        {
            S.Cs.Selector = selector;
            S.Cs.Base = (ulong)selector << 4;
            S.Rip = rip & 0xffff;
            Pop(size * 2 + release);
            return true;
        }

        int cpl = Cpl, rpl = selector & 3;
        if (rpl < cpl)
        {
            RaiseException(Vector.GP, (uint)(selector & ~3));
            return false;
        }

        if (!CheckCodeTarget(selector, out var d, rpl))
        {
            return false;
        }

        if (rpl == cpl)
        {
            LoadCodeSegment(selector, d, cpl);
            S.Rip = rip;
            Pop(size * 2 + release);
            return true;
        }

        // To an outer ring: SS:RSP follow the return address and CS on the stack.
        ulong at = sp + (ulong)(size * 2 + release);
        if (!Peek(at, size, out ulong newSp) || !Peek(at + (ulong)size, size, out ulong newSs))
        {
            return false;
        }

        LoadCodeSegment(selector, d, rpl);
        if (!LoadDataSegment(Seg.Ss, (ushort)newSs))
        {
            return false;
        }

        S.Rip = rip;
        S.Gpr[(int)Gpr.Rsp] = newSp + release;
        NullInaccessibleDataSegments();
        return true;
    }

    /// <summary>IRET/IRETD/IRETQ (SDM Vol. 2A IRET): real mode, same privilege, outer privilege, and long mode's 64-bit frame.</summary>
    public bool InterruptReturn(int size)
    {
        NmiBlocked = false; // IRET ends NMI blocking (even a faulting IRET on real CPUs is not modelled)
        EventTrace?.Invoke($"cpu{Index} iret size={size} rip=0x{S.Rip:x} rsp=0x{S.Gpr[(int)Gpr.Rsp]:x} gs.base=0x{S.Gs.Base:x} kgs=0x{S.KernelGsBase:x}");
        ulong sp = S.Gpr[(int)Gpr.Rsp];
        if (!ProtectedMode)
        {
            if (!Peek(sp, size, out ulong ip) || !Peek(sp + (ulong)size, size, out ulong cs) || !Peek(sp + (ulong)(2 * size), size, out ulong fl))
            {
                return false;
            }

            S.Cs.Selector = (ushort)cs;
            S.Cs.Base = (cs & 0xffff) << 4;
            S.Rip = ip;
            ulong writable = size == 2 ? 0x7fd5UL : 0x257fd5UL;
            SetRflags(fl, writable);
            Pop(3 * size);
            return true;
        }

        if ((S.Rflags & (ulong)RFlags.NT) != 0 && !LongMode)
        {
            RaiseException(Vector.GP, 0); // a nested-task return: task switching is not implemented
            return false;
        }

        if (!Peek(sp, size, out ulong rip) || !Peek(sp + (ulong)size, size, out ulong csv) || !Peek(sp + (ulong)(2 * size), size, out ulong flags))
        {
            return false;
        }

        ushort selector = (ushort)csv;
        int cpl = Cpl, rpl = selector & 3;
        if (rpl < cpl)
        {
            RaiseException(Vector.GP, (uint)(selector & ~3));
            return false;
        }

        if (!CheckCodeTarget(selector, out var d, rpl))
        {
            return false;
        }

        bool popStack = rpl > cpl || (size == 8 && LongMode);
        ulong newSp = 0, newSs = 0;
        if (popStack && (!Peek(sp + (ulong)(3 * size), size, out newSp) || !Peek(sp + (ulong)(4 * size), size, out newSs)))
        {
            return false;
        }

        if (LongMode && (d.Attrs & CpuMode.AttrL) != 0 && !IsCanonical(rip))
        {
            RaiseException(Vector.GP, 0);
            return false;
        }

        // Which flags IRET may change depends on the old CPL and IOPL (SDM Vol. 2A IRET, Operation).
        ulong mask = (ulong)(RFlags.Arith | RFlags.TF | RFlags.DF | RFlags.NT | RFlags.RF | RFlags.AC | RFlags.ID | RFlags.Fixed1);
        if (cpl <= Iopl)
        {
            mask |= (ulong)RFlags.IF;
        }

        if (cpl == 0)
        {
            mask |= (ulong)(RFlags.IOPL | RFlags.VIF | RFlags.VIP);
        }

        if (size == 2)
        {
            mask &= 0xffff;
        }

        LoadCodeSegment(selector, d, rpl);
        if (popStack)
        {
            ushort ss = (ushort)newSs;
            if (LongMode && (ss & ~3) == 0 && (d.Attrs & CpuMode.AttrL) != 0)
            {
                // 64-bit mode allows a null SS at CPL < 3 (SDM Vol. 2A IRET).
                S.Ss.Selector = ss;
                S.Ss.Base = 0;
                S.Ss.Limit = 0;
                S.Ss.Attrs = (ushort)(0x13 | (rpl << 5));
            }
            else if (!LoadDataSegment(Seg.Ss, ss))
            {
                return false;
            }

            S.Gpr[(int)Gpr.Rsp] = newSp;
        }
        else
        {
            Pop(3 * size);
        }

        S.Rip = size == 8 ? rip : rip & (size == 4 ? 0xffff_ffffUL : 0xffffUL);
        SetRflags(flags, mask);
        if (rpl > cpl)
        {
            NullInaccessibleDataSegments();
        }

        return true;
    }

    /// <summary>SYSCALL (SDM Vol. 2B): to CPL 0 at LSTAR (64-bit) or CSTAR (compatibility mode), flags masked by SFMASK.</summary>
    public bool Syscall(ulong nextRip)
    {
        if ((S.Efer & 1) == 0)
        {
            RaiseException(Vector.UD);
            return false;
        }

        ushort sel = (ushort)((S.Star >> 32) & 0xfffc);
        if (LongMode)
        {
            S.Gpr[(int)Gpr.Rcx] = nextRip;
            S.Gpr[11] = Rflags;
            bool from64 = Mode.Is64;
            ulong flags = Rflags & ~S.Sfmask & ~(ulong)RFlags.RF;
            SetFlat(ref S.Cs, sel, FlatCode64);
            SetFlat(ref S.Ss, (ushort)(sel + 8), FlatData);
            Rflags = flags;
            S.Rip = from64 ? S.Lstar : S.Cstar;
        }
        else
        {
            S.Gpr[(int)Gpr.Rcx] = (uint)nextRip;
            SetFlat(ref S.Cs, sel, FlatCode32);
            SetFlat(ref S.Ss, (ushort)(sel + 8), FlatData);
            Rflags = Rflags & ~(ulong)(RFlags.IF | RFlags.RF | RFlags.VM);
            S.Rip = S.Star & 0xffff_ffff;
        }

        OnPrivilegeChange();
        return true;
    }

    /// <summary>SYSRET (SDM Vol. 2B): back to CPL 3; REX.W returns to 64-bit code at RCX, else to 32-bit code at ECX.</summary>
    public bool Sysret(bool to64)
    {
        if ((S.Efer & 1) == 0)
        {
            RaiseException(Vector.UD);
            return false;
        }

        if (Cpl != 0 || !LongMode || (to64 && !IsCanonical(S.Gpr[(int)Gpr.Rcx])))
        {
            RaiseException(Vector.GP, 0);
            return false;
        }

        ushort baseSel = (ushort)((S.Star >> 48) & 0xffff);
        if (to64)
        {
            SetFlat(ref S.Cs, (ushort)((baseSel + 16) | 3), FlatCode64 | 0x60);
            S.Rip = S.Gpr[(int)Gpr.Rcx];
        }
        else
        {
            SetFlat(ref S.Cs, (ushort)(baseSel | 3), FlatCode32 | 0x60);
            S.Rip = (uint)S.Gpr[(int)Gpr.Rcx];
        }

        SetFlat(ref S.Ss, (ushort)((baseSel + 8) | 3), FlatData | 0x60);
        Rflags = (S.Gpr[11] & 0x3c7fd7) | (ulong)RFlags.Fixed1;
        OnPrivilegeChange();
        return true;
    }

    /// <summary>SYSENTER (SDM Vol. 2B): to CPL 0 at SYSENTER_EIP with SYSENTER_ESP.</summary>
    public bool Sysenter()
    {
        if (!ProtectedMode || (S.SysenterCs & 0xfffc) == 0)
        {
            RaiseException(Vector.GP, 0);
            return false;
        }

        ushort sel = (ushort)(S.SysenterCs & 0xfffc);
        S.Rflags &= ~(ulong)(RFlags.VM | RFlags.IF | RFlags.RF);
        SetFlat(ref S.Cs, sel, LongMode ? FlatCode64 : FlatCode32);
        SetFlat(ref S.Ss, (ushort)(sel + 8), FlatData);
        S.Gpr[(int)Gpr.Rsp] = LongMode ? S.SysenterEsp : (uint)S.SysenterEsp;
        S.Rip = LongMode ? S.SysenterEip : (uint)S.SysenterEip;
        OnPrivilegeChange();
        return true;
    }

    /// <summary>SYSEXIT (SDM Vol. 2B): to CPL 3 at RDX/EDX with RCX/ECX as the stack pointer.</summary>
    public bool Sysexit(bool to64)
    {
        if (!ProtectedMode || Cpl != 0 || (S.SysenterCs & 0xfffc) == 0)
        {
            RaiseException(Vector.GP, 0);
            return false;
        }

        ushort sel = (ushort)(S.SysenterCs & 0xfffc);
        if (to64)
        {
            SetFlat(ref S.Cs, (ushort)((sel + 32) | 3), FlatCode64 | 0x60);
            SetFlat(ref S.Ss, (ushort)((sel + 40) | 3), FlatData | 0x60);
            S.Rip = S.Gpr[(int)Gpr.Rdx];
            S.Gpr[(int)Gpr.Rsp] = S.Gpr[(int)Gpr.Rcx];
        }
        else
        {
            SetFlat(ref S.Cs, (ushort)((sel + 16) | 3), FlatCode32 | 0x60);
            SetFlat(ref S.Ss, (ushort)((sel + 24) | 3), FlatData | 0x60);
            S.Rip = (uint)S.Gpr[(int)Gpr.Rdx];
            S.Gpr[(int)Gpr.Rsp] = (uint)S.Gpr[(int)Gpr.Rcx];
        }

        OnPrivilegeChange();
        return true;
    }

    /// <summary>SWAPGS: exchanges GS.base with IA32_KERNEL_GS_BASE (CPL 0, 64-bit mode).</summary>
    public bool Swapgs()
    {
        if (Cpl != 0)
        {
            RaiseException(Vector.GP, 0);
            return false;
        }

        (S.Gs.Base, S.KernelGsBase) = (S.KernelGsBase, S.Gs.Base);
        EventTrace?.Invoke($"cpu{Index} swapgs rip=0x{S.Rip:x} gs.base=0x{S.Gs.Base:x} kgs=0x{S.KernelGsBase:x}");
        return true;
    }

    private static void SetFlat(ref SegmentReg seg, ushort selector, ushort attrs)
    {
        seg.Selector = selector;
        seg.Base = 0;
        seg.Limit = 0xffff_ffff;
        seg.Attrs = attrs;
    }

    /// <summary>Sets the RFLAGS bits in <paramref name="mask"/> from <paramref name="value"/>, arithmetic flags included.</summary>
    private void SetRflags(ulong value, ulong mask)
    {
        ulong merged = (Rflags & ~mask) | (value & mask);
        Rflags = merged;
    }

    /// <summary>After a return to an outer ring, data segments the new CPL may not use become null (SDM Vol. 2A IRET).</summary>
    private void NullInaccessibleDataSegments()
    {
        int cpl = Cpl;
        foreach (var which in (ReadOnlySpan<Seg>)[Seg.Es, Seg.Ds, Seg.Fs, Seg.Gs])
        {
            ref var seg = ref Segment(which);
            bool conformingCode = (seg.Attrs & 0x1c) == 0x1c;
            int dpl = (seg.Attrs >> 5) & 3;
            if ((seg.Attrs & 0x10) != 0 && !conformingCode && dpl < cpl)
            {
                seg.Selector = 0;
                seg.Attrs = 0;
                if (!LongMode)
                {
                    seg.Base = 0;
                }
            }
        }
    }

    private ulong StackMask => Mode.Is64 ? ulong.MaxValue : (S.Ss.Attrs & CpuMode.AttrDb) != 0 ? 0xffff_ffffUL : 0xffffUL;

    private bool Peek(ulong sp, int size, out ulong value) =>
        Read(Mode.Is64 ? sp : (S.Ss.Base + (sp & StackMask)) & 0xffff_ffff, size, out value);

    private bool Push(ulong value, int size)
    {
        ulong sp = (S.Gpr[(int)Gpr.Rsp] - (ulong)size) & StackMask;
        if (!Write(Mode.Is64 ? sp : (S.Ss.Base + sp) & 0xffff_ffff, size, value))
        {
            return false;
        }

        S.Gpr[(int)Gpr.Rsp] = (S.Gpr[(int)Gpr.Rsp] & ~StackMask) | sp;
        return true;
    }

    private void Pop(int bytes)
    {
        ulong sp = (S.Gpr[(int)Gpr.Rsp] + (ulong)bytes) & StackMask;
        S.Gpr[(int)Gpr.Rsp] = (S.Gpr[(int)Gpr.Rsp] & ~StackMask) | sp;
    }
}
