using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Emulator.Wasm.Runtime;
using Xunit;

namespace Emulator.Wasm.Tests;

public sealed class RuntimeTests
{
    private static readonly byte[] TypeI32ToI32 = { 0x60, 0x01, 0x7F, 0x01, 0x7F };

    /// <summary>(import "env" "inc" (func (param i32) (result i32))) (func (export "f") (param i32) (result i32) local.get 0 call 0 call 0)</summary>
    private static byte[] HostCallModule() => Bytes.Module(
        Bytes.Section(1, new byte[] { 0x01 }.Concat(TypeI32ToI32).ToArray()),
        Bytes.Section(2, new byte[] { 0x01 }.Concat(Bytes.Name("env")).Concat(Bytes.Name("inc")).Concat(new byte[] { 0x00, 0x00 }).ToArray()),
        Bytes.Section(3, 0x01, 0x00),
        Bytes.Section(7, new byte[] { 0x01 }.Concat(Bytes.Export("f", 0x00, 1)).ToArray()),
        Bytes.Code(new byte[] { 0x20, 0x00, 0x10, 0x00, 0x10, 0x00 }));

    [Fact]
    public void HostImportAndTypedExport()
    {
        var imports = new Imports().Define("env", "inc", (Func<int, int>)(x => x + 1));
        var instance = new Engine().Instantiate(HostCallModule(), imports);
        var f = instance.GetFunction<Func<int, int>>("f");
        Assert.Equal(42, f(40));
    }

    [Fact]
    public void WrongHostSignatureIsUnlinkable()
    {
        var imports = new Imports().Define("env", "inc", (Func<long, long>)(x => x + 1));
        Assert.Throws<WasmLinkException>(() => new Engine().Instantiate(HostCallModule(), imports));
    }

    /// <summary>(import "env" "ram" (memory 1)) (func (export "swap") (param i32) (result i32): store 0xAB at [p], return old i32 at [p+4]).</summary>
    [Fact]
    public unsafe void ImportedNativeMemorySharesTheBuffer()
    {
        const int size = 2 * Memory.PageSize;
        byte* ram = (byte*)NativeMemory.AllocZeroed(size);
        try
        {
            *(int*)(ram + 104) = 0x12345678;
            var bytes = Bytes.Module(
                Bytes.Section(1, new byte[] { 0x01 }.Concat(TypeI32ToI32).ToArray()),
                Bytes.Section(2, new byte[] { 0x01 }.Concat(Bytes.Name("env")).Concat(Bytes.Name("ram")).Concat(new byte[] { 0x02, 0x00, 0x01 }).ToArray()),
                Bytes.Section(3, 0x01, 0x00),
                Bytes.Section(7, new byte[] { 0x01 }.Concat(Bytes.Export("swap", 0x00, 0)).ToArray()),
                Bytes.Code(new byte[]
                {
                    0x20, 0x00, 0x41, 0xAB, 0x01, 0x3A, 0x00, 0x00, // i32.store8 [p] = 0xAB
                    0x20, 0x00, 0x28, 0x02, 0x04, // i32.load [p+4]
                }));
            var memory = Memory.WrapNative((nint)ram, size);
            var instance = new Engine().Instantiate(bytes, new Imports().Define("env", "ram", memory));
            var swap = instance.GetFunction<Func<int, int>>("swap");
            Assert.Equal(0x12345678, swap(100));
            Assert.Equal(0xAB, ram[100]);
            var trap = Assert.Throws<WasmTrap>(() => swap(size - 2));
            Assert.Equal(TrapKind.MemoryOutOfBounds, trap.Kind);
            Assert.Equal(-1L, memory.Grow(1)); // a wrapped buffer cannot grow
        }
        finally
        {
            NativeMemory.Free(ram);
        }
    }

    /// <summary>(func (export "div") (param i32) (result i32) i32.const 100 local.get 0 i32.div_s)</summary>
    [Fact]
    public void DivideByZeroTrapsWithKind()
    {
        var bytes = Bytes.Module(
            Bytes.Section(1, new byte[] { 0x01 }.Concat(TypeI32ToI32).ToArray()),
            Bytes.Section(3, 0x01, 0x00),
            Bytes.Section(7, new byte[] { 0x01 }.Concat(Bytes.Export("div", 0x00, 0)).ToArray()),
            Bytes.Code(new byte[] { 0x41, 0xE4, 0x00, 0x20, 0x00, 0x6D }));
        var div = new Engine().Instantiate(bytes).GetFunction<Func<int, int>>("div");
        Assert.Equal(25, div(4));
        Assert.Equal(TrapKind.IntegerDivideByZero, Assert.Throws<WasmTrap>(() => div(0)).Kind);
    }

    /// <summary>(func (export "loop") (param i32) (result i32) local.get 0 call 0): unbounded recursion.</summary>
    [Fact]
    public void UnboundedRecursionTrapsInsteadOfCrashing()
    {
        var bytes = Bytes.Module(
            Bytes.Section(1, new byte[] { 0x01 }.Concat(TypeI32ToI32).ToArray()),
            Bytes.Section(3, 0x01, 0x00),
            Bytes.Section(7, new byte[] { 0x01 }.Concat(Bytes.Export("loop", 0x00, 0)).ToArray()),
            Bytes.Code(new byte[] { 0x20, 0x00, 0x10, 0x00 }));
        var f = new Engine().Instantiate(bytes).GetFunction<Func<int, int>>("loop");
        Assert.Equal(TrapKind.StackExhausted, Assert.Throws<WasmTrap>(() => f(0)).Kind);
    }

    /// <summary>
    /// (import "env" "mem" (memory 1 1 shared)) (func (export "add") (param i32) (result i32)
    ///   loop: i32.atomic.rmw.add [0] += 1; drop; count down; br_if) — two threads, no lost updates.
    /// </summary>
    [Fact]
    public void AtomicAddFromTwoThreadsLosesNoUpdates()
    {
        var bytes = Bytes.Module(
            Bytes.Section(1, new byte[] { 0x01 }.Concat(TypeI32ToI32).ToArray()),
            Bytes.Section(2, new byte[] { 0x01 }.Concat(Bytes.Name("env")).Concat(Bytes.Name("mem")).Concat(new byte[] { 0x02, 0x03, 0x01, 0x01 }).ToArray()),
            Bytes.Section(3, 0x01, 0x00),
            Bytes.Section(7, new byte[] { 0x01 }.Concat(Bytes.Export("add", 0x00, 0)).ToArray()),
            Bytes.Code(new byte[]
            {
                0x03, 0x40,
                0x41, 0x00, 0x41, 0x01, 0xFE, 0x1E, 0x02, 0x00, 0x1A, // i32.atomic.rmw.add [0] += 1; drop
                0x20, 0x00, 0x41, 0x01, 0x6B, 0x22, 0x00, 0x0D, 0x00, // br_if (--n != 0)
                0x0B,
                0x41, 0x00, 0xFE, 0x10, 0x02, 0x00, // i32.atomic.load [0]
            }));
        var memory = new Memory(new Model.MemoryType(new Model.Limits(1, 1, Shared: true)));
        var instance = new Engine().Instantiate(bytes, new Imports().Define("env", "mem", memory));
        var add = instance.GetFunction<Func<int, int>>("add");
        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() => add(100_000))).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.Equal(200_000, BitConverter.ToInt32(memory.GetSpan(0, 4)));
    }

    [Fact]
    public void CompiledCodeIsCollectible()
    {
        var weak = CompileAndRun();
        for (int i = 0; i < 10 && weak.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.False(weak.IsAlive);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference CompileAndRun()
    {
        var imports = new Imports().Define("env", "inc", (Func<int, int>)(x => x + 1));
        var instance = new Engine().Instantiate(HostCallModule(), imports);
        Assert.Equal(3, instance.GetFunction<Func<int, int>>("f")(1));
        return new WeakReference(instance.Module.Methods[0]);
    }
}
