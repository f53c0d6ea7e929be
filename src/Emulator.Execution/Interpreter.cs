using System.Numerics;
using System.Runtime.CompilerServices;
using Emulator.Execution.Tiering;
using Emulator.Ir;
using Emulator.X86;
using Emulator.X86.Helpers;
using Emulator.X86.Memory;

namespace Emulator.Execution;

/// <summary>Why the interpreter returned to the dispatcher.</summary>
public enum BlockExit
{
    /// <summary>A jump to S.Rip whose target block was not chained yet (LastBlock/LastSlot say where to chain).</summary>
    Jump,

    /// <summary>A jump to a computed address or a state change; look the next block up.</summary>
    Dispatch,

    /// <summary>A guest exception is recorded in the state.</summary>
    Exception,

    /// <summary>Tier 1 could not run the block (no instance for this vCPU): nothing ran.</summary>
    NotRun,
}

/// <summary>
/// Tier 0: runs compiled blocks op by op over a per-vCPU frame of 64-bit slots, following
/// chained blocks without returning to the dispatcher while the instruction budget lasts and
/// no exit is requested. Every op's meaning comes from IrEval or the helpers, shared with
/// constant folding and the Wasm tier.
/// </summary>
public sealed unsafe class Interpreter
{
    private ulong[] frame = new ulong[256];

    /// <summary>Where hot blocks are promoted (null: tier 1 is off).</summary>
    private TierUp? tierUp;

    /// <summary>The execution count at which a block is promoted.</summary>
    private long hotAt = long.MaxValue;

    public TierUp? TierUp
    {
        get => tierUp;
        set
        {
            tierUp = value;
            hotAt = value is null ? long.MaxValue : value.Options.Threshold - 1;
        }
    }

    /// <summary>The block and chain slot of the last direct jump that left the interpreter.</summary>
    public CompiledBlock? LastBlock { get; private set; }

    public int LastSlot { get; private set; }

    /// <summary>Runs from <paramref name="tb"/>; <paramref name="budget"/> is decremented by retired instructions.</summary>
    public BlockExit Run(Cpu cpu, CompiledBlock tb, ref long budget)
    {
        var s = cpu.State;
        byte* state = (byte*)s;
        LastBlock = null;
    Enter:
        if (tb.Executions++ == hotAt)
        {
            tierUp!.Promote(tb);
        }

        cpu.RunningBlock = tb;
        if (frame.Length < tb.FrameSize)
        {
            frame = new ulong[Math.Max(tb.FrameSize, frame.Length * 2)];
        }

        tb.Constants.CopyTo(frame, 0);
        var ops = tb.Ops;
        fixed (ulong* f = frame)
        {
            for (int pc = 0; ; pc++)
            {
                ref readonly var op = ref ops[pc];
                switch (op.Op)
                {
                    case IrOpcode.LdState:
                        f[op.Dest] = LoadState(state + op.Imm, op.Type);
                        break;
                    case IrOpcode.StState:
                        StoreState(state + op.Imm, op.Type, f[op.A]);
                        break;
                    case IrOpcode.Load:
                        if (!cpu.Read(f[op.A], 1 << (int)op.Type, out f[op.Dest]))
                        {
                            return Fault(cpu, tb, in op, ref budget);
                        }

                        break;
                    case IrOpcode.Store:
                        if (!cpu.Write(f[op.A], 1 << (int)op.Type, f[op.B]))
                        {
                            return Fault(cpu, tb, in op, ref budget);
                        }

                        break;
                    case IrOpcode.AtomicRmw:
                    case IrOpcode.AtomicCas:
                        if (!AtomicAccess.Run(cpu, op.Op, op.Type, (AtomicOp)op.Imm, f[op.A], f[op.B], f[op.C], out f[op.Dest]))
                        {
                            return Fault(cpu, tb, in op, ref budget);
                        }

                        break;
                    case IrOpcode.Add: f[op.Dest] = (f[op.A] + f[op.B]) & op.Type.Mask(); break;
                    case IrOpcode.Sub: f[op.Dest] = (f[op.A] - f[op.B]) & op.Type.Mask(); break;
                    case IrOpcode.Mul: f[op.Dest] = (f[op.A] * f[op.B]) & op.Type.Mask(); break;
                    case IrOpcode.MulHiU: f[op.Dest] = IrEval.MulHiU(f[op.A], f[op.B], op.Type); break;
                    case IrOpcode.MulHiS: f[op.Dest] = IrEval.MulHiS(f[op.A], f[op.B], op.Type); break;
                    case IrOpcode.And: f[op.Dest] = f[op.A] & f[op.B]; break;
                    case IrOpcode.Or: f[op.Dest] = f[op.A] | f[op.B]; break;
                    case IrOpcode.Xor: f[op.Dest] = f[op.A] ^ f[op.B]; break;
                    case IrOpcode.Shl: f[op.Dest] = IrEval.Shl(f[op.A], f[op.B], op.Type); break;
                    case IrOpcode.Shr: f[op.Dest] = IrEval.Shr(f[op.A], f[op.B], op.Type); break;
                    case IrOpcode.Sar: f[op.Dest] = IrEval.Sar(f[op.A], f[op.B], op.Type); break;
                    case IrOpcode.Rotl: f[op.Dest] = IrEval.Rotl(f[op.A], f[op.B], op.Type); break;
                    case IrOpcode.Rotr: f[op.Dest] = IrEval.Rotr(f[op.A], f[op.B], op.Type); break;
                    case IrOpcode.Neg: f[op.Dest] = (0 - f[op.A]) & op.Type.Mask(); break;
                    case IrOpcode.Not: f[op.Dest] = ~f[op.A] & op.Type.Mask(); break;
                    case IrOpcode.Clz: f[op.Dest] = IrEval.Clz(f[op.A], op.Type); break;
                    case IrOpcode.Ctz: f[op.Dest] = IrEval.Ctz(f[op.A], op.Type); break;
                    case IrOpcode.Popcnt: f[op.Dest] = (ulong)BitOperations.PopCount(f[op.A]); break;
                    case IrOpcode.Bswap: f[op.Dest] = IrEval.Bswap(f[op.A], op.Type); break;
                    case IrOpcode.ZExt: f[op.Dest] = f[op.A]; break;
                    case IrOpcode.SExt: f[op.Dest] = (ulong)IrEval.Signed(f[op.A], op.ArgType) & op.Type.Mask(); break;
                    case IrOpcode.Trunc: f[op.Dest] = f[op.A] & op.Type.Mask(); break;
                    case IrOpcode.SetCond:
                        f[op.Dest] = IrEval.Compare((IrCond)op.Imm, f[op.A], f[op.B], op.ArgType) ? 1UL : 0UL;
                        break;
                    case IrOpcode.Select: f[op.Dest] = f[op.A] != 0 ? f[op.B] : f[op.C]; break;
                    case IrOpcode.Const: f[op.Dest] = op.Imm; break;
                    case IrOpcode.Call:
                        f[op.Dest] = HelperTable.Get((int)op.Imm)(cpu, f[op.A], f[op.B], f[op.C], f[op.D]);
                        if (op.CheckFault && s->ExceptionVector >= 0)
                        {
                            return Fault(cpu, tb, in op, ref budget);
                        }

                        break;
                    case IrOpcode.ExitIf:
                        if (f[op.A] != 0)
                        {
                            Retire(cpu, op.Insn + 1, ref budget);
                            s->Rip = op.Imm;
                            var next = tb.Chains[op.ChainSlot];
                            if (next is { Invalid: false, Tier1: null } && budget > 0 && s->ExitRequest == 0)
                            {
                                tb = next;
                                goto Enter;
                            }

                            LastBlock = tb;
                            LastSlot = op.ChainSlot;
                            return BlockExit.Jump;
                        }

                        break;
                    case IrOpcode.RetryIf:
                        if (f[op.A] != 0)
                        {
                            Retire(cpu, op.Insn, ref budget);
                            s->Rip = tb.InsnPcs[op.Insn];
                            return BlockExit.Dispatch;
                        }

                        break;
                    case IrOpcode.Goto:
                    {
                        Retire(cpu, op.Insn + 1, ref budget);
                        s->Rip = op.Imm;
                        var next = tb.Chains[op.ChainSlot];
                        if (next is { Invalid: false, Tier1: null } && budget > 0 && s->ExitRequest == 0)
                        {
                            tb = next;
                            goto Enter;
                        }

                        LastBlock = tb;
                        LastSlot = op.ChainSlot;
                        return BlockExit.Jump;
                    }

                    case IrOpcode.GotoIndirect:
                        Retire(cpu, op.Insn + 1, ref budget);
                        s->Rip = f[op.A];
                        return BlockExit.Dispatch;
                    case IrOpcode.Exit:
                        Retire(cpu, op.Insn + 1, ref budget);
                        s->Rip = op.Imm;
                        return BlockExit.Dispatch;
                    case IrOpcode.SmcCheck:
                        if (s->CurrentTbInvalidated != 0)
                        {
                            s->CurrentTbInvalidated = 0;
                            Retire(cpu, op.Insn + 1, ref budget);
                            s->Rip = op.Imm;
                            return BlockExit.Dispatch;
                        }

                        break;
                    case IrOpcode.Raise:
                        cpu.RaiseException((int)op.Imm, (uint)f[op.A]);
                        return Fault(cpu, tb, in op, ref budget);
                    case IrOpcode.FaultIf:
                        if (f[op.A] != 0)
                        {
                            cpu.RaiseException((int)op.Imm, (uint)f[op.B]);
                            return Fault(cpu, tb, in op, ref budget);
                        }

                        break;
                    default:
                        throw new InvalidOperationException($"interpreter: no case for IR op {op.Op}");
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Retire(Cpu cpu, int count, ref long budget)
    {
        cpu.S.InstructionCount += (ulong)count;
        budget -= count;
    }

    /// <summary>A guest exception at op's instruction: RIP points at it, earlier instructions are retired.</summary>
    private static BlockExit Fault(Cpu cpu, CompiledBlock tb, in MicroOp op, ref long budget)
    {
        Retire(cpu, op.Insn, ref budget);
        cpu.S.Rip = tb.InsnPcs[op.Insn];
        cpu.S.CurrentTbInvalidated = 0;
        return BlockExit.Exception;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LoadState(byte* p, IrType t) => t switch
    {
        IrType.I64 => Unsafe.ReadUnaligned<ulong>(p),
        IrType.I32 => Unsafe.ReadUnaligned<uint>(p),
        IrType.I16 => Unsafe.ReadUnaligned<ushort>(p),
        _ => *p,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreState(byte* p, IrType t, ulong v)
    {
        switch (t)
        {
            case IrType.I64: Unsafe.WriteUnaligned(p, v); break;
            case IrType.I32: Unsafe.WriteUnaligned(p, (uint)v); break;
            case IrType.I16: Unsafe.WriteUnaligned(p, (ushort)v); break;
            default: *p = (byte)v; break;
        }
    }
}
