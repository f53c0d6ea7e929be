using System.Runtime.InteropServices;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.DiffTests;

/// <summary>
/// Runs a case's machine code on the host CPU. The data buffer is mapped at a fixed low address
/// (the same guest physical address the emulator uses), so pointers held in registers mean the
/// same memory on both sides. A thunk in an RWX page loads the whole register state from a
/// context block, runs the case, stores the state back and restores the host's callee-saved
/// registers and MXCSR. One instance per process: the addresses are fixed, so callers serialise
/// through <see cref="Gate"/>.
/// </summary>
public sealed unsafe class HostCpu
{
    public const int DataSize = 16 * 1024;

    /// <summary>Room for the case's code between the thunk's load and store halves.</summary>
    private const int CaseMax = 1024;

    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20, MapFixedNoReplace = 0x100000;

    private static readonly Lazy<HostCpu> Shared = new(() => new HostCpu());

    private readonly byte* code;
    private readonly byte* context;
    private readonly byte[] epilogue;
    private readonly int caseOffset;
    private readonly bool toggleProtection;

    private HostCpu()
    {
        // Candidates below 16 MiB (the emulator's RAM), away from the emulator's code and stack.
        foreach (ulong candidate in new ulong[] { 0x100000, 0x300000, 0x500000, 0x900000, 0xb00000, 0xd00000 })
        {
            nint p = mmap((nint)candidate, DataSize, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapFixedNoReplace, -1, 0);
            if (p == (nint)candidate)
            {
                DataAddress = candidate;
                break;
            }

            if (p != -1)
            {
                munmap(p, DataSize); // an old kernel took MAP_FIXED_NOREPLACE as a hint
            }
        }

        if (DataAddress == 0)
        {
            throw new InvalidOperationException("could not map the data buffer at any fixed address below 16 MiB");
        }

        // Page 0: thunk and case code (RWX, or RW and RX in turn where the system refuses W+X);
        // page 1: the context block (RW).
        nint area = mmap(0, 0x2000, ProtRead | ProtWrite | ProtExec, MapPrivate | MapAnonymous, -1, 0);
        if (area == -1)
        {
            area = mmap(0, 0x2000, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
            if (area == -1)
            {
                throw new InvalidOperationException($"could not map the thunk's pages (errno {Marshal.GetLastPInvokeError()})");
            }

            toggleProtection = true;
        }

        code = (byte*)area;
        context = code + 0x1000;
        var prologue = Assemble(BuildPrologue((ulong)context), (ulong)code);
        caseOffset = prologue.Length;
        epilogue = Assemble(BuildEpilogue((ulong)context), 0);
        prologue.CopyTo(new Span<byte>(code, prologue.Length));
    }

    private void Protect(int prot)
    {
        if (toggleProtection && mprotect((nint)code, 0x1000, prot) != 0)
        {
            throw new InvalidOperationException($"mprotect failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    public static HostCpu Instance => Shared.Value;

    /// <summary>Held while a case runs: the data buffer, thunk and context are process-wide.</summary>
    public static object Gate { get; } = new();

    public ulong DataAddress { get; }

    public Span<byte> Data => new((void*)DataAddress, DataSize);

    /// <summary>Runs <paramref name="caseCode"/> from <paramref name="input"/>; the data buffer must already hold the input bytes.</summary>
    public void Run(ReadOnlySpan<byte> caseCode, MachineState input, MachineState output)
    {
        if (caseCode.Length > CaseMax)
        {
            throw new ArgumentException($"case code is {caseCode.Length} bytes, the thunk has room for {CaseMax}");
        }

        Protect(ProtRead | ProtWrite);
        caseCode.CopyTo(new Span<byte>(code + caseOffset, caseCode.Length));
        epilogue.CopyTo(new Span<byte>(code + caseOffset + caseCode.Length, epilogue.Length));
        Protect(ProtRead | ProtExec);
        input.WriteTo(context);

        // Safe: the thunk preserves every callee-saved register and MXCSR, leaves DF clear, uses
        // only its own stack space, and the case code touches nothing but registers and the
        // data buffer (the generators guarantee it cannot fault).
        ((delegate* unmanaged<void>)code)();
        output.ReadFrom(context);
    }

    private static Assembler BuildPrologue(ulong ctx)
    {
        var a = new Assembler(64);
        a.push(rbx);
        a.push(rbp);
        a.push(r12);
        a.push(r13);
        a.push(r14);
        a.push(r15);
        a.sub(rsp, 8);
        a.stmxcsr(__dword_ptr[rsp]);
        a.mov(rax, ctx);
        a.ldmxcsr(__dword_ptr[rax + MachineState.MxcsrOffset]);
        for (int i = 0; i < 16; i++)
        {
            a.movdqu(Xmm(i), __xmmword_ptr[rax + MachineState.XmmOffset + 16 * i]);
        }

        a.push(__qword_ptr[rax + MachineState.RflagsOffset]);
        a.popfq();
        for (int i = 15; i >= 1; i--)
        {
            if (i != 4)
            {
                a.mov(Gpr64(i), __qword_ptr[rax + 8 * i]);
            }
        }

        a.mov(rax, __qword_ptr[rax]);
        return a;
    }

    private static Assembler BuildEpilogue(ulong ctx)
    {
        // Nothing here may change flags before pushfq; mov, push and pop do not.
        var a = new Assembler(64);
        a.push(rax);
        a.mov(rax, ctx);
        a.pop(__qword_ptr[rax]);
        a.pushfq();
        a.pop(__qword_ptr[rax + MachineState.RflagsOffset]);
        for (int i = 1; i < 16; i++)
        {
            if (i != 4)
            {
                a.mov(__qword_ptr[rax + 8 * i], Gpr64(i));
            }
        }

        for (int i = 0; i < 16; i++)
        {
            a.movdqu(__xmmword_ptr[rax + MachineState.XmmOffset + 16 * i], Xmm(i));
        }

        a.stmxcsr(__dword_ptr[rax + MachineState.MxcsrOffset]);
        a.cld();
        a.ldmxcsr(__dword_ptr[rsp]);
        a.add(rsp, 8);
        a.pop(r15);
        a.pop(r14);
        a.pop(r13);
        a.pop(r12);
        a.pop(rbp);
        a.pop(rbx);
        a.ret();
        return a;
    }

    private static AssemblerRegister64 Gpr64(int i) =>
        new[] { rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15 }[i];

    private static AssemblerRegisterXMM Xmm(int i) =>
        new[] { xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14, xmm15 }[i];

    private static byte[] Assemble(Assembler a, ulong address)
    {
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), address);
        return ms.ToArray();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint addr, nuint length);

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(nint addr, nuint length, int prot);
}
