using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Helpers;

/// <summary>
/// A 16-byte compare-and-swap on host memory with the host's own LOCK CMPXCHG16B, for the
/// guest's CMPXCHG16B. .NET has no 128-bit Interlocked operation, and a lock around a
/// read-compare-write would be atomic only against other CMPXCHG16Bs, not against another
/// vCPU's plain stores or 64-bit LOCK operations to the same bytes (which tier 0 does with
/// Interlocked and tier 1 with Wasm atomics, both host LOCK instructions or plain stores on the
/// same RAM). The host instruction is atomic against all of them, as on hardware: the same
/// mechanism as the other LOCK helpers, host atomics on guest RAM, only wider.
/// The stub is 40 bytes assembled with Iced into one page mapped read+execute (Linux x86-64
/// with CX16); elsewhere <see cref="IsAvailable"/> is false and the CPU does not report CX16.
/// </summary>
public static unsafe partial class HostCas16
{
    private static readonly delegate* unmanaged<ulong*, ulong*, ulong, ulong, int> Stub = Create();

    /// <summary>Whether the host instruction is usable here (else CMPXCHG16B is not offered to guests).</summary>
    public static bool IsAvailable => Stub != null;

    /// <summary>
    /// Atomically: if the 16 bytes at <paramref name="p"/> equal expected[0..1], store
    /// (newLo, newHi) and return true; else return false. expected gets the old memory value
    /// either way. <paramref name="p"/> must be 16-byte aligned.
    /// </summary>
    public static bool CompareExchange(ulong* p, ulong* expected, ulong newLo, ulong newHi) => Stub(p, expected, newLo, newHi) != 0;

    private static delegate* unmanaged<ulong*, ulong*, ulong, ulong, int> Create()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64 || !HostHasCx16())
        {
            return null;
        }

        // System V: rdi = p, rsi = expected, rdx = newLo, rcx = newHi; eax = ZF.
        var a = new Assembler(64);
        a.push(rbx);
        a.mov(rbx, rdx);
        a.mov(r8, rcx);
        a.mov(rax, __qword_ptr[rsi]);
        a.mov(rdx, __qword_ptr[rsi + 8]);
        a.mov(rcx, r8);
        a.@lock.cmpxchg16b(__xmmword_ptr[rdi]);
        a.mov(__qword_ptr[rsi], rax);
        a.mov(__qword_ptr[rsi + 8], rdx);
        a.sete(al);
        a.movzx(eax, al);
        a.pop(rbx);
        a.ret();

        const nuint PageSize = 4096;
        const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 2, MapAnonymous = 0x20;
        void* page = mmap(null, PageSize, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (page == (void*)-1)
        {
            return null;
        }

        using (var ms = new UnmanagedMemoryStream((byte*)page, 0, (long)PageSize, FileAccess.Write))
        {
            a.Assemble(new StreamCodeWriter(ms), (ulong)page);
        }

        // Write, then execute, never both: the page is never writable and executable at once.
        if (mprotect(page, PageSize, ProtRead | ProtExec) != 0)
        {
            return null;
        }

        return (delegate* unmanaged<ulong*, ulong*, ulong, ulong, int>)page;
    }

    /// <summary>CPUID.01H:ECX.CX16[bit 13] of the host.</summary>
    private static bool HostHasCx16() => X86Base.IsSupported && (X86Base.CpuId(1, 0).Ecx & (1 << 13)) != 0;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int mprotect(void* addr, nuint length, int prot);
}
