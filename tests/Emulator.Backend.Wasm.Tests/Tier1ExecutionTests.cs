using Emulator.Backend.Wasm.Engines;
using Emulator.Backend.Wasm.Lowering;
using Emulator.Execution;
using Emulator.X86;
using Emulator.X86.Memory;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Backend.Wasm.Tests;

public class Tier1ExecutionTests
{
    public static TheoryData<string> Engines => ["cil", "wasmtime"];

    private static IWasmEngine EngineNamed(string name) => Execution.Tiering.Tier1Options.CreateEngine(name);

    /// <summary>A loop over memory: loads, stores, arithmetic, flags and a backward branch.</summary>
    private static void SumLoop(Assembler a)
    {
        var loop = a.CreateLabel();
        a.mov(rsi, Tier1Machine.DataAddress);
        a.xor(eax, eax);
        a.mov(ecx, 1000);
        a.Label(ref loop);
        a.mov(__qword_ptr[rsi + rcx * 8], rcx);
        a.add(rax, __qword_ptr[rsi + rcx * 8]);
        a.imul(rdx, rax, 3);
        a.rol(rdx, 7);
        a.dec(ecx);
        a.jnz(loop);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void A_loop_runs_on_tier1_with_the_same_result_as_tier0(string engine)
    {
        using var t0 = new Tier1Machine(null).Load(SumLoop);
        using var t1 = new Tier1Machine(EngineNamed(engine)).Load(SumLoop);
        Assert.Equal(StopReason.Halted, t0.Run());
        Assert.Equal(StopReason.Halted, t1.Run());

        Assert.Equal(500500UL, t0.Cpu.Reg(Gpr.Rax));
        for (int r = 0; r < 16; r++)
        {
            Assert.Equal(t0.Cpu.Reg((Gpr)r), t1.Cpu.Reg((Gpr)r));
        }

        Assert.Equal(t0.Cpu.Rflags, t1.Cpu.Rflags);
        Assert.Equal(t0.Cpu.S.InstructionCount, t1.Cpu.S.InstructionCount);
        Assert.True(t1.Engine.Tier1Runs >= 1, "tier 1 never ran");
        Assert.Equal(0, t0.Engine.Tier1Runs);
    }

    /// <summary>
    /// Code that rewrites an instruction it runs later, in a loop: each round patches the
    /// immediate of an <c>add eax, imm32</c> ahead of it, so every compiled copy of that block
    /// must be invalidated and retranslated (self-modifying code).
    /// </summary>
    private static void SelfModifying(Assembler a)
    {
        var loop = a.CreateLabel();
        var patched = a.CreateLabel();
        a.xor(eax, eax);
        a.mov(ecx, 200);
        a.Label(ref loop);
        a.lea(rdi, __[patched]);
        a.mov(__dword_ptr[rdi + 1], ecx); // the imm32 of the add below
        a.Label(ref patched);
        a.add(eax, 0x12345678);
        a.dec(ecx);
        a.jnz(loop);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Self_modifying_code_is_seen_by_tier1(string engine)
    {
        using var t0 = new Tier1Machine(null).Load(SelfModifying);
        using var t1 = new Tier1Machine(EngineNamed(engine)).Load(SelfModifying);
        Assert.Equal(StopReason.Halted, t0.Run());
        Assert.Equal(StopReason.Halted, t1.Run());

        Assert.Equal(200UL * 201 / 2, t0.Cpu.Reg(Gpr.Rax)); // 200 + 199 + ... + 1
        Assert.Equal(t0.Cpu.Reg(Gpr.Rax), t1.Cpu.Reg(Gpr.Rax));
        Assert.Equal(t0.Cpu.S.InstructionCount, t1.Cpu.S.InstructionCount);
        Assert.True(t1.Cache.Invalidations >= 200, $"only {t1.Cache.Invalidations} invalidations");
        Assert.True(t1.Engine.Tier1Runs > 0, "tier 1 never ran");
    }

    /// <summary>
    /// Flags set by one block and read by the next: a join reached after an ADD or a SHR (two
    /// operations: the module computes CF inline for each, behind a compare), a join reached
    /// after one of five (the module's flags function), and DEC keeping the CF of a shift made
    /// in the block before (the CRC loop). Each data word picks the path, and the sums depend on
    /// every carry.
    /// </summary>
    private static void FlagsAcrossBlocks(Assembler a)
    {
        var loop = a.CreateLabel();
        var shift = a.CreateLabel();
        var join2 = a.CreateLabel();
        var join5 = a.CreateLabel();
        var next = a.CreateLabel();
        var bit = a.CreateLabel();
        var noXor = a.CreateLabel();
        Label[] kinds = [a.CreateLabel(), a.CreateLabel(), a.CreateLabel(), a.CreateLabel()];
        a.mov(rsi, Tier1Machine.DataAddress);
        a.mov(ebx, 0x9e3779b9);
        a.xor(eax, eax);
        a.xor(ecx, ecx);
        a.xor(r8d, r8d);
        a.mov(edi, 3000);
        a.Label(ref loop);
        // A pseudo-random word: ebx = ebx * 1664525 + 1013904223.
        a.imul(ebx, ebx, 1664525);
        a.add(ebx, 1013904223);
        a.mov(edx, ebx);
        a.test(dl, 1);
        a.jz(shift);
        a.add(eax, edx);
        a.jmp(join2);
        a.Label(ref shift);
        a.shr(eax, 3);
        a.jmp(join2);
        a.Label(ref join2);
        a.adc(ecx, 0);
        a.mov(edx, ebx);
        a.shr(edx, 8);
        a.and(edx, 3);
        a.cmp(edx, 1);
        a.jb(kinds[0]);
        a.je(kinds[1]);
        a.cmp(edx, 3);
        a.jb(kinds[2]);
        a.jmp(kinds[3]);
        a.Label(ref kinds[0]);
        a.sub(r8d, ebx);
        a.jmp(join5);
        a.Label(ref kinds[1]);
        a.sar(r8d, 5);
        a.jmp(join5);
        a.Label(ref kinds[2]);
        a.imul(r8d, ebx);
        a.jmp(join5);
        a.Label(ref kinds[3]);
        a.shl(r8d, 7);
        a.jmp(join5);
        a.Label(ref join5);
        a.jnc(next);
        a.inc(ecx);
        a.Label(ref next);
        // The CRC step: SHR sets CF, the next block's DEC must keep it for the ADC after it.
        a.mov(r9d, 4);
        a.Label(ref bit);
        a.shr(eax, 1);
        a.jnc(noXor);
        a.xor(eax, 0xedb88320);
        a.Label(ref noXor);
        a.dec(r9d);
        a.adc(ecx, 0);
        a.test(r9d, r9d);
        a.jnz(bit);
        a.dec(edi);
        a.jnz(loop);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Flags_set_in_one_block_and_read_in_the_next_agree_with_tier0(string engine)
    {
        var modules = new List<byte[]>();
        using var t0 = new Tier1Machine(null).Load(FlagsAcrossBlocks);

        // Threshold 20: the loop's blocks are all translated when the first is promoted, so one
        // module holds them and its jumps between them stay inside it.
        using var t1 = new Tier1Machine(EngineNamed(engine), modules.Add, threshold: 20).Load(FlagsAcrossBlocks);
        Assert.Equal(StopReason.Halted, t0.Run());
        Assert.Equal(StopReason.Halted, t1.Run());

        for (int r = 0; r < 16; r++)
        {
            Assert.Equal(t0.Cpu.Reg((Gpr)r), t1.Cpu.Reg((Gpr)r));
        }

        Assert.Equal(t0.Cpu.Rflags, t1.Cpu.Rflags);
        Assert.Equal(t0.Cpu.S.InstructionCount, t1.Cpu.S.InstructionCount);
        Assert.True(t1.Engine.Tier1Runs >= 1, "tier 1 never ran");
        long onTier1 = t1.Cache.TierUp!.RunFigures().Instructions;
        Assert.True(onTier1 > (long)t1.Cpu.S.InstructionCount / 2, $"only {onTier1} of {t1.Cpu.S.InstructionCount} instructions ran on tier 1");
        Assert.Contains(modules, m => m.Length > 2000);
    }

    /// <summary>A chain of many small blocks (one per iteration of an unrolled jump ladder), run in a loop.</summary>
    private static void ManyBlocks(Assembler a)
    {
        var loop = a.CreateLabel();
        a.xor(eax, eax);
        a.mov(ecx, 50);
        a.Label(ref loop);
        for (int i = 0; i < 40; i++)
        {
            var next = a.CreateLabel();
            a.add(eax, i + 1);
            a.jmp(next);
            a.int3();
            a.Label(ref next);
        }

        a.dec(ecx);
        a.jnz(loop);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Evicted_blocks_fall_back_to_tier0_and_are_promoted_again(string engine)
    {
        var options = new Execution.Tiering.Tier1Options(EngineNamed(engine)) { Threshold = 3, Synchronous = true, MaxLiveBlocks = 8, BatchSize = 2 };
        var (memory, cache) = Execution.Tiering.MachineCode.Create(16 << 20, options);
        using var t1 = new Tier1Machine(memory, cache).Load(ManyBlocks);
        using var t0 = new Tier1Machine(null).Load(ManyBlocks);
        Assert.Equal(StopReason.Halted, t0.Run());
        Assert.Equal(StopReason.Halted, t1.Run());

        Assert.Equal(50UL * (40 * 41 / 2), t1.Cpu.Reg(Gpr.Rax));
        Assert.Equal(t0.Cpu.S.InstructionCount, t1.Cpu.S.InstructionCount);
        var tierUp = t1.Cache.TierUp!;
        Assert.True(tierUp.Evictions > 0, "nothing was evicted");
        Assert.True(tierUp.LiveBlocks <= options.MaxLiveBlocks, $"{tierUp.LiveBlocks} live blocks over the cap of {options.MaxLiveBlocks}");
        Assert.True(tierUp.Promotions > t1.Cache.Translations, $"{tierUp.Promotions} promotions of {t1.Cache.Translations} blocks: none was promoted again after eviction");
        Assert.True(t1.Engine.Tier1Runs > 0, "tier 1 never ran");
    }

    /// <summary>
    /// A loop that calls a function two pages away 1000 times; when <paramref name="patch"/>,
    /// each round first rewrites the immediate of the function's <c>mov eax, imm32</c> with the
    /// round's counter. RAX ends as the sum of what the calls returned.
    /// </summary>
    private static void CallsAcrossPages(Assembler a, bool patch)
    {
        var loop = a.CreateLabel();
        var function = a.CreateLabel();
        var done = a.CreateLabel();
        a.xor(ebx, ebx);
        a.mov(ecx, 1000);
        a.Label(ref loop);
        if (patch)
        {
            a.lea(rdi, __[function]);
            a.mov(__dword_ptr[rdi + 1], ecx);
        }

        a.call(function);
        a.add(rbx, rax);
        a.dec(ecx);
        a.jnz(loop);
        a.mov(rax, rbx);
        a.jmp(done);
        a.db(new byte[8192]);
        a.Label(ref function);
        a.mov(eax, 7); // B8 imm32: the immediate is at function + 1
        a.ret();
        a.Label(ref done);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Calls_and_returns_across_modules_stay_in_compiled_code(string engine)
    {
        using var t0 = new Tier1Machine(null).Load(a => CallsAcrossPages(a, patch: false));
        using var t1 = new Tier1Machine(EngineNamed(engine)).Load(a => CallsAcrossPages(a, patch: false));
        Assert.Equal(StopReason.Halted, t0.Run());
        Assert.Equal(StopReason.Halted, t1.Run());

        Assert.Equal(7000UL, t1.Cpu.Reg(Gpr.Rax));
        Assert.Equal(t0.Cpu.S.InstructionCount, t1.Cpu.S.InstructionCount);

        // The loop and the function are on different pages, so in different modules: each round
        // makes a call into the other module and a return (a computed jump) back. Without the jump
        // cache every one of those 2000 jumps would return to the host and enter Wasm again.
        Assert.True(t1.Cache.TierUp!.Modules >= 2, $"{t1.Cache.TierUp.Modules} modules: the test needs the loop and the function apart");
        Assert.True(t1.Engine.Tier1Runs < 100, $"{t1.Engine.Tier1Runs} entries into compiled code for 1000 calls and returns");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Modules_that_enter_each_other_often_are_merged_into_one_and_the_guest_runs_on(string engine)
    {
        var options = new Execution.Tiering.Tier1Options(EngineNamed(engine)) { Threshold = 1, Synchronous = true, MergeTransfersPerSecond = 100 };
        var (memory, cache) = Execution.Tiering.MachineCode.Create(16 << 20, options);
        using var t1 = new Tier1Machine(memory, cache).Load(a => CallsAcrossPages(a, patch: false));
        using var t0 = new Tier1Machine(null).Load(a => CallsAcrossPages(a, patch: false));
        var tierUp = t1.Cache.TierUp!;

        // About 400 of the 1000 rounds: each call and each return moves to the other module. The
        // modules must stay hot over two scans.
        Assert.Equal(StopReason.Budget, t1.Run(2000));
        int modules = tierUp.LiveModules;
        Assert.False(tierUp.MergeHotModules(seconds: 1), "merged after one scan");
        Assert.True(tierUp.LastScanTransfers >= 600, $"{tierUp.LastScanTransfers} transfers counted in about 400 rounds of a call and a return between two modules");
        Assert.Equal(StopReason.Budget, t1.Run(1000));
        Assert.True(tierUp.MergeHotModules(seconds: 1), $"nothing merged ({tierUp.LastScanTransfers} transfers counted)");
        Assert.Equal(1, tierUp.Merges);
        Assert.True(tierUp.MergedModules >= 2, $"{tierUp.MergedModules} modules merged");
        Assert.Equal(modules - tierUp.MergedModules + 1, tierUp.LiveModules);

        // The rest runs in the merged module: the calls and returns no longer enter another module.
        Assert.Equal(StopReason.Halted, t1.Run());
        Assert.Equal(StopReason.Halted, t0.Run());
        Assert.Equal(7000UL, t1.Cpu.Reg(Gpr.Rax));
        Assert.Equal(t0.Cpu.S.InstructionCount, t1.Cpu.S.InstructionCount);
        Assert.False(tierUp.MergeHotModules(seconds: 1), "merged again");
        Assert.True(tierUp.LastScanTransfers < 20, $"{tierUp.LastScanTransfers} transfers after the merge");
    }

    /// <summary>
    /// Two call sites of one function, in two pages, whose return addresses take the same
    /// jump-cache index (the second site is searched for with the cache's own hash), called in
    /// turn 1000 times: snippets placed at fixed addresses.
    /// </summary>
    private static void CollidingReturns(Tier1Machine t)
    {
        void At(ulong address, Action<Assembler> build)
        {
            var a = new Assembler(64);
            build(a);
            using var ms = new MemoryStream();
            a.Assemble(new StreamCodeWriter(ms), address);
            ms.ToArray().CopyTo(t.Memory.Span(address, (int)ms.Length));
        }

        const ulong function = 0x14000, first = 0x10100, call = 5;
        int index = JumpCacheEntry.IndexOf(first + call, VcpuArea.JumpCacheBits);
        ulong second = Enumerable.Range(0x12000, 0xf00).Select(a => (ulong)a).First(a => JumpCacheEntry.IndexOf(a + call, VcpuArea.JumpCacheBits) == index);
        At(Tier1Machine.CodeAddress, a => { a.mov(ecx, 1000); a.xor(ebx, ebx); a.jmp(first); });
        At(first, a => { a.call(function); a.jmp(second); });
        At(second, a => { a.call(function); a.add(ebx, 1); a.dec(ecx); a.jnz(first); a.mov(eax, ebx); a.hlt(); });
        At(function, a => a.ret());
        t.Cpu.S.Rip = Tier1Machine.CodeAddress;
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Returns_to_two_addresses_with_one_jump_cache_index_stay_in_compiled_code(string engine)
    {
        using var t1 = new Tier1Machine(EngineNamed(engine));
        CollidingReturns(t1);
        Assert.Equal(StopReason.Halted, t1.Run());
        Assert.Equal(1000UL, t1.Cpu.Reg(Gpr.Rax));

        // With one entry per index the two return addresses would evict each other, and each of
        // the 2000 returns would leave compiled code; the jump cache has two ways.
        Assert.True(t1.Engine.Tier1Runs < 100, $"{t1.Engine.Tier1Runs} entries into compiled code for 2000 returns");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void A_callee_rewritten_between_calls_is_never_entered_stale(string engine)
    {
        using var t0 = new Tier1Machine(null).Load(a => CallsAcrossPages(a, patch: true));
        using var t1 = new Tier1Machine(EngineNamed(engine)).Load(a => CallsAcrossPages(a, patch: true));
        Assert.Equal(StopReason.Halted, t0.Run());
        Assert.Equal(StopReason.Halted, t1.Run());

        Assert.Equal(500500UL, t0.Cpu.Reg(Gpr.Rax)); // 1000 + 999 + ... + 1
        Assert.Equal(t0.Cpu.Reg(Gpr.Rax), t1.Cpu.Reg(Gpr.Rax));
        Assert.Equal(t0.Cpu.S.InstructionCount, t1.Cpu.S.InstructionCount);
        Assert.True(t1.Cache.Invalidations >= 999, $"only {t1.Cache.Invalidations} invalidations"); // the first patch precedes the first call
    }

    /// <summary>
    /// 20,000 rounds of two LOCK-prefixed increments of shared counters: <c>lock add</c> on the
    /// first, a <c>lock cmpxchg</c> retry loop on the second, and an <c>xchg</c> round trip.
    /// </summary>
    private static void LockedCounters(Assembler a)
    {
        var loop = a.CreateLabel();
        var retry = a.CreateLabel();
        a.mov(rdi, Tier1Machine.DataAddress);
        a.mov(ecx, 20_000);
        a.Label(ref loop);
        a.@lock.add(__qword_ptr[rdi], 1);
        a.Label(ref retry);
        a.mov(rax, __qword_ptr[rdi + 8]);
        a.lea(rdx, __[rax + 1]);
        a.@lock.cmpxchg(__qword_ptr[rdi + 8], rdx);
        a.jnz(retry);
        a.mov(ebx, ecx);
        a.xchg(__dword_ptr[rdi + 16 + 4 * 0], ebx); // a per-round store through XCHG (always locked)
        a.dec(ecx);
        a.jnz(loop);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Locked_increments_from_two_vcpus_with_tier1_lose_nothing(string engine)
    {
        // Every block is compiled by the vCPU that translates it, before it first runs there.
        var options = new Execution.Tiering.Tier1Options(EngineNamed(engine)) { Threshold = 1, Synchronous = true };
        var (memory, cache) = Execution.Tiering.MachineCode.Create(16 << 20, options);
        using var first = new Tier1Machine(memory, cache).Load(LockedCounters);
        var second = new Cpu(memory);
        var secondEngine = new ExecutionEngine(second, cache);
        try
        {
            CpuSetup.EnterFlat(second, 64, Tier1Machine.CodeAddress, Tier1Machine.StackTop - 0x10000);
            var runs = new[] { (first.Engine, first.Cpu), (secondEngine, second) }
                .Select(v => Task.Run(() => v.Item1.Run(10_000_000)))
                .ToArray();
            var reasons = await Task.WhenAll(runs);

            Assert.All(reasons, r => Assert.Equal(StopReason.Halted, r));
            Assert.Equal(40_000UL, BitConverter.ToUInt64(first.Memory.Span(Tier1Machine.DataAddress, 8)));
            Assert.Equal(40_000UL, BitConverter.ToUInt64(first.Memory.Span(Tier1Machine.DataAddress + 8, 8)));
            Assert.True(first.Engine.Tier1Runs + secondEngine.Tier1Runs > 0, "tier 1 never ran");
        }
        finally
        {
            secondEngine.Dispose();
            second.Dispose();
        }
    }

    /// <summary>
    /// A cache of 16 blocks under a loop of 41: it fills again and again, drops everything each
    /// time (compiled blocks included), and the guest computes the same result.
    /// </summary>
    [Theory]
    [InlineData("off")]
    [InlineData("cil")]
    [InlineData("wasmtime")]
    public void A_full_translation_cache_drops_its_blocks_and_the_guest_runs_on(string engine)
    {
        var options = engine == "off" ? null : new Execution.Tiering.Tier1Options(EngineNamed(engine)) { Threshold = 1, Synchronous = true };
        var (memory, cache) = Execution.Tiering.MachineCode.Create(16 << 20, options, maxBlocks: 16);
        using var t = new Tier1Machine(memory, cache).Load(ManyBlocks);

        Assert.Equal(StopReason.Halted, t.Run());
        Assert.Equal(50UL * (40 * 41 / 2), t.Cpu.Reg(Gpr.Rax));
        Assert.True(cache.Flushes > 50, $"{cache.Flushes} flushes");
        Assert.True(cache.Count <= 16, $"{cache.Count} blocks held");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Every_module_passes_wasm_validate(string engine)
    {
        var modules = new List<byte[]>();
        using (var t1 = new Tier1Machine(EngineNamed(engine), modules.Add))
        {
            t1.Load(a =>
            {
                SumLoop(a);
                SelfModifying(a);
                ManyBlocks(a);
                CallsAcrossPages(a, patch: true);
                LockedCounters(a);
            });
            Assert.Equal(StopReason.Halted, t1.Run());
        }

        Assert.NotEmpty(modules);
        string dir = Directory.CreateTempSubdirectory("emu-tier1-").FullName;
        try
        {
            for (int i = 0; i < modules.Count; i++)
            {
                string file = Path.Combine(dir, $"m{i}.wasm");
                File.WriteAllBytes(file, modules[i]);
                var (code, output) = WabtTool.Run("wasm-validate", "--enable-threads", "--enable-memory64", file);
                Assert.True(code == 0, $"wasm-validate refused module {i}: {output}");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
