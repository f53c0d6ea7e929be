using Emulator.Backend.Wasm.Builder;
using Emulator.Backend.Wasm.Lowering;
using Emulator.X86.Flags;
using Xunit;

namespace Emulator.Backend.Wasm.Tests;

/// <summary>The Wasm lazy-flags function against x86 LazyFlags.Compute, on both engines.</summary>
public class FlagsFunctionTests
{
    private static byte[] Module()
    {
        var m = new WasmModuleBuilder();
        m.Export("flags", FlagsFunction.Add(m));
        return m.ToBytes();
    }

    /// <summary>Operands that reach the edges: zero, one, the sign bits and all ones of each size, and random values.</summary>
    private static ulong Operand(Random r) => r.Next(8) switch
    {
        0 => 0,
        1 => 1,
        2 => 1UL << (8 << r.Next(4)) - 1,
        3 => ulong.MaxValue >> (64 - (8 << r.Next(4))),
        4 => (ulong)r.Next(0, 130), // shift counts and small values
        _ => (ulong)r.NextInt64() ^ ((ulong)r.Next() << 33),
    };

    [Fact]
    public void Matches_LazyFlags_Compute_for_every_kind_and_size()
    {
        var cil = Emulator.Wasm.Runtime.Instance.Create(Emulator.Wasm.Runtime.Module.Compile(Module()), new Emulator.Wasm.Runtime.Imports())
            .GetFunction<Func<long, long, long, long, long>>("flags");
        using var engine = new Wasmtime.Engine();
        using var module = Wasmtime.Module.FromBytes(engine, "flags", Module());
        using var store = new Wasmtime.Store(engine);
        var wasmtime = new Wasmtime.Instance(store, module).GetFunction<long, long, long, long, long>("flags")!;

        var r = new Random(0x11a95);
        int kinds = Enum.GetValues<CcKind>().Length;
        for (int i = 0; i < 200_000; i++)
        {
            ulong ccOp = CcOp.Make((CcKind)(i % kinds), r.Next(4));
            ulong dst = Operand(r), src1 = Operand(r), src2 = Operand(r);
            if (r.Next(4) == 0)
            {
                // A consistent result, as the frontend records it, for the arithmetic kinds.
                dst = (CcKind)(i % kinds) is CcKind.Sub or CcKind.Sbb ? src1 - src2 : src1 + src2;
            }

            ulong expected = LazyFlags.Compute(ccOp, dst, src1, src2);
            Assert.Equal(expected, (ulong)cil((long)ccOp, (long)dst, (long)src1, (long)src2));
            Assert.Equal(expected, (ulong)wasmtime((long)ccOp, (long)dst, (long)src1, (long)src2));
        }
    }
}
