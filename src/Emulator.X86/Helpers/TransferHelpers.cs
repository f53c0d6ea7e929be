using Emulator.Ir;

namespace Emulator.X86.Helpers;

/// <summary>Helpers for far transfers and fast system calls; each sets RIP (and CS) in the state or records a fault.</summary>
public static unsafe class TransferHelpers
{
    private const OpFlags Fx = HelperTable.Effects;

    public static readonly HelperInfo FarJump = HelperTable.Define("far_jump", 2, Fx, &FarJumpImpl);
    public static readonly HelperInfo FarCall = HelperTable.Define("far_call", 4, Fx, &FarCallImpl);
    public static readonly HelperInfo FarReturn = HelperTable.Define("far_return", 2, Fx, &FarReturnImpl);
    public static readonly HelperInfo InterruptReturn = HelperTable.Define("iret", 1, Fx, &IretImpl);
    public static readonly HelperInfo Syscall = HelperTable.Define("syscall", 1, Fx, &SyscallImpl);
    public static readonly HelperInfo Sysret = HelperTable.Define("sysret", 1, Fx, &SysretImpl);
    public static readonly HelperInfo Sysenter = HelperTable.Define("sysenter", 0, Fx, &SysenterImpl);
    public static readonly HelperInfo Sysexit = HelperTable.Define("sysexit", 1, Fx, &SysexitImpl);
    public static readonly HelperInfo Swapgs = HelperTable.Define("swapgs", 0, Fx, &SwapgsImpl);

    private static ulong FarJumpImpl(Cpu cpu, ulong sel, ulong offset, ulong a2, ulong a3) => cpu.FarJump((ushort)sel, offset) ? 1UL : 0;

    private static ulong FarCallImpl(Cpu cpu, ulong sel, ulong offset, ulong ret, ulong size) => cpu.FarCall((ushort)sel, offset, ret, (int)size) ? 1UL : 0;

    private static ulong FarReturnImpl(Cpu cpu, ulong size, ulong release, ulong a2, ulong a3) => cpu.FarReturn((int)size, (ushort)release) ? 1UL : 0;

    private static ulong IretImpl(Cpu cpu, ulong size, ulong a1, ulong a2, ulong a3) => cpu.InterruptReturn((int)size) ? 1UL : 0;

    private static ulong SyscallImpl(Cpu cpu, ulong next, ulong a1, ulong a2, ulong a3) => cpu.Syscall(next) ? 1UL : 0;

    private static ulong SysretImpl(Cpu cpu, ulong to64, ulong a1, ulong a2, ulong a3) => cpu.Sysret(to64 != 0) ? 1UL : 0;

    private static ulong SysenterImpl(Cpu cpu, ulong a0, ulong a1, ulong a2, ulong a3) => cpu.Sysenter() ? 1UL : 0;

    private static ulong SysexitImpl(Cpu cpu, ulong to64, ulong a1, ulong a2, ulong a3) => cpu.Sysexit(to64 != 0) ? 1UL : 0;

    private static ulong SwapgsImpl(Cpu cpu, ulong a0, ulong a1, ulong a2, ulong a3) => cpu.Swapgs() ? 1UL : 0;
}
