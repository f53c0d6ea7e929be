using Emulator.Backend.Wasm.Engines;
using Xunit;
using static Emulator.Backend.Wasm.Tests.WasmtimeTestModule;

namespace Emulator.Backend.Wasm.Tests;

public sealed unsafe class WasmtimeEngineTests
{
    private const ulong Page = 65536;

    private static readonly Tier1Imports Unused = new(
        (_, _) => throw new InvalidOperationException("read is not expected"),
        (_, _, _) => throw new InvalidOperationException("write is not expected"),
        (_, _, _, _) => throw new InvalidOperationException("atomic is not expected"),
        id => throw new InvalidOperationException($"helper {id} is not expected"));

    [Fact]
    public void NameIsWasmtime()
    {
        using var engine = new WasmtimeEngine();
        Assert.Equal("wasmtime", engine.Name);
    }

    [Fact]
    public void MemoryIsZeroedOfTheAskedSizeAndKeepsItsAddress()
    {
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(16 * Page, is64: false);

        Assert.Equal(16 * Page, memory.Length);
        Assert.False(memory.Is64);
        Assert.True(new ReadOnlySpan<byte>(memory.Pointer, (int)memory.Length).IndexOfAnyExcept((byte)0) < 0);

        byte* before = memory.Pointer;
        using IWasmVcpu vcpu = engine.CreateVcpu(memory, Unused);
        vcpu.Instantiate(engine.Compile(LoadAddStoreModule(16, is64: false)), 0)(0x100, 0);
        Assert.True(before == memory.Pointer);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(Page + 1)]
    [InlineData((4UL << 30) + Page)]
    public void A32BitMemoryOfPartPagesOrAbove4GiBIsRefused(ulong bytes)
    {
        using var engine = new WasmtimeEngine();

        Assert.Throws<ArgumentOutOfRangeException>(() => engine.CreateMemory(bytes, is64: false));
    }

    [Fact]
    public void PointerWritesAreSeenByWasmLoadsAndWasmStoresByThePointer()
    {
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(16 * Page, is64: false);
        using IWasmVcpu vcpu = engine.CreateVcpu(memory, Unused);
        ModuleEntry run = vcpu.Instantiate(engine.Compile(LoadAddStoreModule(16, is64: false)), 0);

        *(long*)(memory.Pointer + 0x100) = 0x1_2345_6789;
        int exit = run(0x100, 0);

        Assert.Equal(7, exit);
        Assert.Equal(0x1_2345_678A, *(long*)(memory.Pointer + 0x108));
    }

    [Fact]
    public void TwoVcpusOnTwoThreadsAddAtomicallyToOneCounter()
    {
        const long N = 1_000_000;
        const long Counter = 0x1000;
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(16 * Page, is64: false);
        *(long*)(memory.Pointer + Counter + 8) = N; // the loop count, read by each block

        // Compiled off the vCPU threads, as tier 1 does, and instantiated by each on its own.
        IWasmModule module = OnOwnThread(() => engine.Compile(AtomicAddLoopModule(16)));
        using var start = new Barrier(2);
        var runs = Enumerable.Range(0, 2).Select(_ => StartOnOwnThread(() =>
        {
            using IWasmVcpu vcpu = engine.CreateVcpu(memory, Unused);
            ModuleEntry run;
            try
            {
                run = vcpu.Instantiate(module, 0);
            }
            catch
            {
                start.RemoveParticipant(); // let the other thread run rather than wait forever
                throw;
            }

            start.SignalAndWait();
            return run(Counter, 0);
        })).ToList();
        int[] exits = runs.Select(run => run()).ToArray();

        Assert.Equal([0, 0], exits);
        Assert.Equal(2 * N, *(long*)(memory.Pointer + Counter));
    }

    [Fact]
    public void ImportsGetTheirArgumentsAndTheirResultsComeBack()
    {
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(Page, is64: false);
        var calls = new List<string>();
        var imports = new Tier1Imports(
            (address, size) => { calls.Add($"read {address} {size}"); return 100; },
            (address, size, value) => calls.Add($"write {address} {size} {value}"),
            (address, op, b, c) => { calls.Add($"atomic {address} {op} {b} {c}"); return (1L << 32) + b + c; },
            id => (a, b, c, d) => { calls.Add($"h{id} {a} {b} {c} {d}"); return a + b + c + d + (id * 1000); });
        using IWasmVcpu vcpu = engine.CreateVcpu(memory, imports);
        ModuleEntry run = vcpu.Instantiate(engine.Compile(ImportCallingModule()), 0);

        int exit = run(0x40, 0);

        Assert.Equal(
            [
                "read 65 4",
                "write 66 2 105",
                "atomic 67 9 105 77",
                $"h7 {(1L << 32) + 182} 10 20 30",
            ],
            calls);
        long helperResult = (1L << 32) + 182 + 60 + 7000;
        Assert.Equal(helperResult, *(long*)(memory.Pointer + 0x40));
        Assert.Equal((int)helperResult, exit);
    }

    [Fact]
    public void HelperImportsAreResolvedByIdOncePerVcpu()
    {
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(Page, is64: false);
        var requested = new List<int>();
        var imports = Unused with { Helper = id => { requested.Add(id); return (a, _, _, _) => (id * 1000) + a; } };
        using var vcpu = (WasmtimeVcpu)engine.CreateVcpu(memory, imports);

        ModuleEntry first = vcpu.Instantiate(engine.Compile(HelperCallingModule(7)), 0);
        ModuleEntry second = vcpu.Instantiate(engine.Compile(HelperCallingModule(7, 12)), 0);

        Assert.Equal(7005, first(5, 0));
        Assert.Equal(7005 + 12005, second(5, 0));
        Assert.Equal([7, 12], requested);
        Assert.Equal(2, vcpu.InstanceCount);
    }

    [Fact]
    public void EveryBlockIndexRunsItsOwnBlock()
    {
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(Page, is64: false);
        using IWasmVcpu vcpu = engine.CreateVcpu(memory, Unused);
        var module = new WasmtimeTestModule();
        module.ImportSharedMemory(1, is64: false);
        int[] blocks = Enumerable.Range(0, 3)
            .Select(i => module.Function(null, [I64], [I32], new WasmCode().I32Const(10 + i)))
            .ToArray();
        module.Run(blocks);

        ModuleEntry run = vcpu.Instantiate(engine.Compile(module.ToBytes()), 0);

        Assert.Equal([10, 11, 12], Enumerable.Range(0, 3).Select(block => run(0, block)));
    }

    [Fact]
    public void Memory64IsAddressedAboveFourGiB()
    {
        const ulong Bytes = (4UL << 30) + (16 * Page);
        const long Address = (4L << 30) + 0x100;
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(Bytes, is64: true);
        using IWasmVcpu vcpu = engine.CreateVcpu(memory, Unused);
        ModuleEntry run = vcpu.Instantiate(engine.Compile(LoadAddStoreModule(Bytes / Page, is64: true)), 0);

        *(long*)(memory.Pointer + Address) = 41;
        int exit = run(Address, 0);

        Assert.True(memory.Is64);
        Assert.Equal(Bytes, memory.Length);
        Assert.Equal(7, exit);
        Assert.Equal(42, *(long*)(memory.Pointer + Address + 8));
    }

    [Fact]
    public void AModuleThatIsNotWasmIsRefused()
    {
        using var engine = new WasmtimeEngine();

        var error = Assert.Throws<WasmCompileException>(() => engine.Compile([0x00, 0x61, 0x73, 0x6D, 0x02]));

        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void AModuleThatDoesNotValidateIsRefused()
    {
        using var engine = new WasmtimeEngine();
        var module = new WasmtimeTestModule();
        module.Function("run", [I64, I32, I32], [I32], new WasmCode().I64Const(1)); // returns an i64 where an i32 is due

        Assert.Throws<WasmCompileException>(() => engine.Compile(module.ToBytes()));
    }

    [Fact]
    public void TrapsAreCatchableAndTheVcpuRunsOnAfterwards()
    {
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(Page, is64: false);
        using IWasmVcpu vcpu = engine.CreateVcpu(memory, Unused);
        var module = new WasmtimeTestModule();
        module.ImportSharedMemory(1, is64: false);
        module.Run(
            module.Function(null, [I64], [I32], new WasmCode().Unreachable()),
            module.Function(null, [I64], [I32], new WasmCode().LocalGet(0).I32WrapI64().I64Load().I32WrapI64()),
            module.Function(null, [I64], [I32], new WasmCode().I32Const(3)));
        ModuleEntry run = vcpu.Instantiate(engine.Compile(module.ToBytes()), 0);

        Exception unreachable = Assert.ThrowsAny<Exception>(() => run(0, 0));
        Exception outOfBounds = Assert.ThrowsAny<Exception>(() => run(0xFFFF_0000, 1));

        Assert.Contains("unreachable", unreachable.Message);
        Assert.Contains("out of bounds", outOfBounds.Message);
        Assert.Equal(3, run(0, 2));
    }

    [Fact]
    public void AnExceptionThrownByAnImportReachesTheCallerAsItself()
    {
        using var engine = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(Page, is64: false);
        bool fail = true;
        var imports = Unused with { Read = (_, _) => fail ? throw new GuestAbortException("read failed") : 5 };
        using IWasmVcpu vcpu = engine.CreateVcpu(memory, imports);
        var module = new WasmtimeTestModule();
        int read = module.Import("read", [I64, I32], [I64]);
        module.ImportSharedMemory(1, is64: false);
        module.Function("run", [I64, I32, I32], [I32], new WasmCode().LocalGet(0).I32Const(8).Call(read).I32WrapI64());
        ModuleEntry run = vcpu.Instantiate(engine.Compile(module.ToBytes()), 0);

        var error = Assert.Throws<GuestAbortException>(() => run(0, 0));
        fail = false;

        Assert.Equal("read failed", error.Message);
        Assert.Equal(5, run(0, 0));
    }

    [Fact]
    public void AModuleOfAnotherEngineIsRefused()
    {
        using var engine = new WasmtimeEngine();
        using var other = new WasmtimeEngine();
        using IWasmMemory memory = engine.CreateMemory(Page, is64: false);
        using IWasmVcpu vcpu = engine.CreateVcpu(memory, Unused);

        IWasmModule foreign = other.Compile(LoadAddStoreModule(1, is64: false));

        Assert.Throws<ArgumentException>(() => vcpu.Instantiate(foreign, 0));
        Assert.Throws<ArgumentException>(() => other.CreateVcpu(memory, Unused));
    }

    /// <summary>run(state, block): [state + 8] = [state] + 1; returns 7 (whatever the block).</summary>
    private static byte[] LoadAddStoreModule(ulong pages, bool is64)
    {
        var module = new WasmtimeTestModule();
        module.ImportSharedMemory(pages, is64);
        var code = Address(new WasmCode(), is64);
        code = Address(code, is64).I64Load().I64Const(1).I64Add().I64Store(8).I32Const(7);
        module.Function("run", [I64, I32, I32], [I32], code);
        return module.ToBytes();
    }

    /// <summary>run(state, block): adds 1 to the i64 at state, atomically, [state + 8] times; returns 0.</summary>
    private static byte[] AtomicAddLoopModule(ulong pages)
    {
        var module = new WasmtimeTestModule();
        module.ImportSharedMemory(pages, is64: false);
        var code = new WasmCode()
            .LocalGet(0).I32WrapI64().I64Load(8).LocalSet(3) // local 3: the count, after state, block and nested
            .Loop()
                .LocalGet(0).I32WrapI64().I64Const(1).I64AtomicRmwAdd().Drop()
                .LocalGet(3).I64Const(1).I64Sub().LocalSet(3)
                .LocalGet(3).I64Const(0).I64Ne().BrIf(0)
            .End()
            .I32Const(0);
        module.Function("run", [I64, I32, I32], [I32], code, i64Locals: 1);
        return module.ToBytes();
    }

    /// <summary>
    /// run(state, block): r = read(state + 1, 4); write(state + 2, 2, r + 5); a = atomic(state + 3, 9, r + 5, 77);
    /// h = h7(a, 10, 20, 30); [state] = h; returns (i32)h.
    /// </summary>
    private static byte[] ImportCallingModule()
    {
        var module = new WasmtimeTestModule();
        int read = module.Import("read", [I64, I32], [I64]);
        int write = module.Import("write", [I64, I32, I64], []);
        int atomic = module.Import("atomic", [I64, I32, I64, I64], [I64]);
        int h7 = module.Import("h7", [I64, I64, I64, I64], [I64]);
        module.ImportSharedMemory(1, is64: false);
        // local 3: r + 5, then h (locals 1 and 2 are the block index and the nested flag)
        var code = new WasmCode()
            .LocalGet(0).I64Const(1).I64Add().I32Const(4).Call(read).I64Const(5).I64Add().LocalSet(3)
            .LocalGet(0).I64Const(2).I64Add().I32Const(2).LocalGet(3).Call(write)
            .LocalGet(0).I64Const(3).I64Add().I32Const(9).LocalGet(3).I64Const(77).Call(atomic)
            .I64Const(10).I64Const(20).I64Const(30).Call(h7).LocalSet(3)
            .LocalGet(0).I32WrapI64().LocalGet(3).I64Store()
            .LocalGet(3).I32WrapI64();
        module.Function("run", [I64, I32, I32], [I32], code, i64Locals: 1);
        return module.ToBytes();
    }

    /// <summary>run(x, block): returns the sum of h{id}(x, 0, 0, 0) over <paramref name="ids"/>.</summary>
    private static byte[] HelperCallingModule(params int[] ids)
    {
        var module = new WasmtimeTestModule();
        int[] helpers = ids.Select(id => module.Import("h" + id, [I64, I64, I64, I64], [I64])).ToArray();
        module.ImportSharedMemory(1, is64: false);
        var code = new WasmCode().I64Const(0);
        foreach (int helper in helpers)
        {
            code = code.LocalGet(0).I64Const(0).I64Const(0).I64Const(0).Call(helper).I64Add();
        }

        module.Function("run", [I64, I32, I32], [I32], code.I32WrapI64());
        return module.ToBytes();
    }

    /// <summary>Runs <paramref name="work"/> on a new thread and returns its result (or rethrows its exception).</summary>
    private static T OnOwnThread<T>(Func<T> work) => StartOnOwnThread(work)();

    /// <summary>Starts <paramref name="work"/> on a new thread; the returned function joins it.</summary>
    private static Func<T> StartOnOwnThread<T>(Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        return () =>
        {
            thread.Join();
            return failure is null ? result : throw new AggregateException(failure);
        };
    }

    /// <summary>Pushes the state parameter as an address of the memory's index type.</summary>
    private static WasmCode Address(WasmCode code, bool is64) => is64 ? code.LocalGet(0) : code.LocalGet(0).I32WrapI64();

    private sealed class GuestAbortException(string message) : Exception(message);
}
