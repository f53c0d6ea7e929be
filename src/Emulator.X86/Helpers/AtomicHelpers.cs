using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>Atomic operations wider than the IR's 64-bit AtomicCas.</summary>
public static unsafe class AtomicHelpers
{
    /// <summary>
    /// cmpxchg16b(linear address): CMPXCHG16B m128 (SDM Vol. 2A CMPXCHG8B/CMPXCHG16B). Returns
    /// ZF (1 when RDX:RAX matched and RCX:RBX was stored; 0 when RDX:RAX got the memory value).
    /// </summary>
    public static readonly HelperInfo Cmpxchg16b = HelperTable.Define("cmpxchg16b", 1, HelperTable.Effects, &Cmpxchg16bImpl);

    private static ulong Cmpxchg16bImpl(Cpu cpu, ulong la, ulong unused1, ulong unused2, ulong unused3)
    {
        if ((la & 15) != 0)
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        ref var s = ref cpu.S;
        ulong expectLo = s.Gpr[(int)Gpr.Rax], expectHi = s.Gpr[(int)Gpr.Rdx];
        ulong newLo = s.Gpr[(int)Gpr.Rbx], newHi = s.Gpr[(int)Gpr.Rcx];
        ulong oldLo, oldHi;
        bool equal;

        // The write checks come first: a mismatch still performs a (locked) write cycle.
        byte* p = cpu.AtomicPointer(la, 16, out bool ok);
        if (p != null && HostCas16.IsAvailable)
        {
            // Safe: p points into guest RAM for 16 bytes within one page (la is 16-byte aligned).
            // The host's LOCK CMPXCHG16B is atomic against every other vCPU's access (HostCas16).
            ulong* old = stackalloc ulong[2];
            old[0] = expectLo;
            old[1] = expectHi;
            equal = HostCas16.CompareExchange((ulong*)p, old, newLo, newHi);
            oldLo = old[0];
            oldHi = old[1];
        }
        else
        {
            // Not RAM, or a recorded fault, or no host CMPXCHG16B (then CX16 is not reported and the
            // translator raises #UD before this): plain accesses, as the interpreter's split-lock path.
            if (!ok || !cpu.Read(la, 8, out oldLo) || !cpu.Read(la + 8, 8, out oldHi))
            {
                return 0;
            }

            equal = oldLo == expectLo && oldHi == expectHi;
            if (!cpu.Write(la + 8, 8, equal ? newHi : oldHi) || !cpu.Write(la, 8, equal ? newLo : oldLo))
            {
                return 0;
            }
        }

        if (!equal)
        {
            s.Gpr[(int)Gpr.Rax] = oldLo;
            s.Gpr[(int)Gpr.Rdx] = oldHi;
        }

        return equal ? 1UL : 0UL;
    }
}
