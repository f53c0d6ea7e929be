using System.IO.Pipelines;
using Emulator.Machine.Migration;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>
/// Live migration of a running machine over a stream (Migration/LiveMigration.cs), source and
/// target in one process: the guest keeps storing into 512 KiB of RAM while its pages are sent,
/// so only a dirty log that misses nothing gives the target the right checksum at the end.
/// </summary>
public sealed class MigrationTests(Xunit.Abstractions.ITestOutputHelper log) : IDisposable
{
    private const long Iterations = 40_000_000;
    private const ulong Buffer = 0x200_0000;
    private const int Slots = 0x10000; // qwords: 512 KiB, 128 pages
    private readonly string dir = Directory.CreateTempSubdirectory("emu-migrate-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>x = x * A + C, stored at buffer[i % 64 Ki] every step; then prints x and the buffer's sum in hex and halts.</summary>
    private static byte[] Kernel()
    {
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        var sum = a.CreateLabel();
        var halt = a.CreateLabel();
        a.mov(r8, 1);
        a.mov(rbx, 6364136223846793005);
        a.mov(rsi, 1442695040888963407);
        a.mov(rdi, Buffer);
        a.mov(rcx, Iterations);
        a.Label(ref loop);
        a.imul(r8, rbx);
        a.add(r8, rsi);
        a.mov(rax, rcx);
        a.and(eax, Slots - 1);
        a.mov(__qword_ptr[rdi + rax * 8], r8);
        a.dec(rcx);
        a.jnz(loop);
        a.xor(r10, r10);
        a.mov(ecx, Slots);
        a.Label(ref sum);
        a.add(r10, __qword_ptr[rdi + rcx * 8 - 8]);
        a.dec(rcx);
        a.jnz(sum);
        a.mov(dx, PcMachine.Com1);
        PrintHex(a, r8);
        a.mov(al, (byte)' ');
        a.@out(dx, al);
        PrintHex(a, r10);
        a.mov(al, (byte)'\n');
        a.@out(dx, al);
        a.cli();
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x100_0200);
        return TestImages.BzImage(ms.ToArray());
    }

    /// <summary>Sixteen hex digits of <paramref name="value"/> on COM1 (DX); the register comes back unchanged (16 rotations of 4).</summary>
    private static void PrintHex(Assembler a, AssemblerRegister64 value)
    {
        var digit = a.CreateLabel();
        var emit = a.CreateLabel();
        a.mov(r9d, 16);
        a.Label(ref digit);
        a.rol(value, 4);
        a.mov(eax, value == r8 ? r8d : r10d);
        a.and(eax, 15);
        a.add(al, (byte)'0');
        a.cmp(al, (byte)'9');
        a.jbe(emit);
        a.add(al, 'a' - '9' - 1);
        a.Label(ref emit);
        a.@out(dx, al);
        a.dec(r9d);
        a.jnz(digit);
    }

    private static string Expected()
    {
        ulong x = 1;
        var buffer = new ulong[Slots];
        for (long i = Iterations; i > 0; i--)
        {
            x = unchecked((x * 6364136223846793005) + 1442695040888963407);
            buffer[i & (Slots - 1)] = x;
        }

        ulong total = 0;
        foreach (ulong v in buffer)
        {
            total = unchecked(total + v);
        }

        return $"{x:x16} {total:x16}\n";
    }

    /// <summary>
    /// Adds 1 to the first qword of each page of 16 MiB in turn, with a pause between pages, pass
    /// after pass, forever: a page is written once a pass, so a page dirtied while one round is sent
    /// is not written again by the time the guest is stopped.
    /// </summary>
    private static byte[] PageWalkerKernel()
    {
        var a = new Assembler(64);
        var pass = a.CreateLabel();
        var page = a.CreateLabel();
        var pause = a.CreateLabel();
        a.mov(rdi, Buffer);
        a.Label(ref pass);
        a.xor(eax, eax);
        a.Label(ref page);
        a.inc(__qword_ptr[rdi + rax]);
        a.mov(ecx, 3000);
        a.Label(ref pause);
        a.dec(ecx);
        a.jnz(pause);
        a.add(rax, 4096);
        a.cmp(rax, 16 << 20);
        a.jb(page);
        a.jmp(pass);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x100_0200);
        return TestImages.BzImage(ms.ToArray());
    }

    private SnapshotOptions Options(string id) => new() { LayerDirectory = dir, MachineId = id };

    private static async Task<VirtualMachine> Running(SerialOutput output, byte[]? kernel = null)
    {
        var vm = PcMachine.Build(new PcConfig { Kernel = kernel ?? Kernel(), MemoryBytes = 64UL << 20, SerialOutput = output.Write });
        vm.Start();
        await Task.Delay(300); // inside the loop: it runs for seconds
        return vm;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // every page record as it is
    public async Task A_machine_migrated_while_it_writes_RAM_finishes_on_the_target_as_it_would_have_on_the_source(bool compress)
    {
        var sourceOutput = new SerialOutput();
        await using var source = await Running(sourceOutput);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        var rounds = new List<MigrationProgress>();
        var targetOutput = new SerialOutput();
        var receiving = LiveMigration.ReceiveAsync(pipe.Reader.AsStream(), Options("target"), targetOutput.Write);
        MigrationReport report;
        await using (var toTarget = pipe.Writer.AsStream())
        {
            report = await LiveMigration.SendAsync(source, toTarget, new MigrationOptions { Snapshot = Options("source"), Compress = compress }, new SyncProgress(rounds));
        }

        await using var target = await receiving;
        foreach (var r in rounds)
        {
            log.WriteLine($"round {r.Round}: {r.PagesSent} pages, {r.BytesSent} bytes sent so far; {r.DirtyPages} dirty ({r.DirtyPagesPerSecond:F0}/s), expected downtime {r.ExpectedDowntime.TotalMilliseconds:F1} ms{(r.Final ? ", final" : "")}");
        }

        log.WriteLine($"{report.Rounds} rounds, {report.PagesSent} pages, {report.BytesSent} bytes ({report.UncompressedBytes} uncompressed) in {report.Total.TotalMilliseconds:F0} ms; source downtime {report.Downtime.TotalMilliseconds:F1} ms");
        Assert.True(compress ? report.BytesSent < report.UncompressedBytes : report.BytesSent == report.UncompressedBytes, $"{report.BytesSent} bytes sent, {report.UncompressedBytes} uncompressed");
        Assert.Equal(MachineState.Paused, source.State); // stopped by the caller once the target has it
        Assert.Equal(MachineState.Created, target.State);
        ulong rcx = target.Cpus[0].Reg(Emulator.X86.State.Gpr.Rcx);
        Assert.True(rcx is > 0 and < Iterations, $"migrated inside the loop (rcx = {rcx})");
        Assert.True(report.PagesSent >= (64L << 20) / 4096, $"every page at least once: {report.PagesSent}");
        Assert.True(report.Rounds >= 1 && rounds.Count == report.Rounds && rounds[^1].Final && !rounds[..^1].Any(r => r.Final));
        Assert.True(report.Downtime <= report.Total);
        Assert.False(source.Memory.IsLoggingDirty);

        target.Start();
        string expected = Expected();
        Assert.Equal(expected, await targetOutput.Line);

        // The source was left paused with everything it had: resumed (as after a failed target), it finishes the same.
        source.Resume();
        Assert.Equal(expected, await sourceOutput.Line);
    }

    [Fact]
    public async Task The_target_gets_every_page_the_paused_source_has_including_those_dirtied_during_the_last_round()
    {
        await using var source = await Running(new SerialOutput(), PageWalkerKernel());
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        var rounds = new List<MigrationProgress>();
        var receiving = LiveMigration.ReceiveAsync(pipe.Reader.AsStream(), Options("target"), _ => { });
        await using (var toTarget = pipe.Writer.AsStream())
        {
            await LiveMigration.SendAsync(source, toTarget, new MigrationOptions { Snapshot = Options("source") }, new SyncProgress(rounds));
        }

        await using var target = await receiving;
        log.WriteLine($"pages dirty after the last round: {rounds[^1].DirtyPages}");
        Assert.Equal(MachineState.Paused, source.State);
        var sourceRam = source.Memory.Span(0, (int)source.Memory.Size);
        var targetRam = target.Memory.Span(0, (int)target.Memory.Size);
        int differing = 0;
        for (int at = 0; at < sourceRam.Length; at += 4096)
        {
            differing += sourceRam.Slice(at, 4096).SequenceEqual(targetRam.Slice(at, 4096)) ? 0 : 1;
        }

        Assert.Equal(0, differing);
    }

    [Fact]
    public async Task A_migration_whose_stream_fails_leaves_the_source_running_with_nothing_lost()
    {
        var output = new SerialOutput();
        await using var source = await Running(output);
        await using var broken = new FailingStream(failAfter: 200_000); // in the first round: the guest's 512 KiB buffer alone is more
        var e = await Assert.ThrowsAsync<IOException>(() => LiveMigration.SendAsync(source, broken, new MigrationOptions { Snapshot = Options("source") }));
        Assert.Contains("link lost", e.Message, StringComparison.Ordinal);
        Assert.Equal(MachineState.Running, source.State);
        Assert.False(source.Memory.IsLoggingDirty);
        Assert.Equal(Expected(), await output.Line);
    }

    [Fact]
    public async Task A_stream_that_is_not_a_migration_or_ends_early_is_refused_with_why()
    {
        var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => LiveMigration.ReceiveAsync(new MemoryStream("NOTAMIGRATION..."u8.ToArray()), Options("t"), _ => { }));
        Assert.Contains("not a migration", e.Message, StringComparison.Ordinal);

        var header = new byte[16];
        "EMUMIG01"u8.CopyTo(header);
        BitConverter.TryWriteBytes(header.AsSpan(8), 64UL << 20);
        e = await Assert.ThrowsAsync<SnapshotFormatException>(() => LiveMigration.ReceiveAsync(new MemoryStream([.. header, (byte)'P', 1, 0, 0, 0]), Options("t"), _ => { }));
        Assert.Contains("ended inside", e.Message, StringComparison.Ordinal);

        byte[] outside = [.. header, (byte)'P', 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x00, 0];
        e = await Assert.ThrowsAsync<SnapshotFormatException>(() => LiveMigration.ReceiveAsync(new MemoryStream(outside), Options("t"), _ => { }));
        Assert.Contains("is not in 64 MiB", e.Message, StringComparison.Ordinal);

        BitConverter.TryWriteBytes(header.AsSpan(8), 1UL << 40);
        await Assert.ThrowsAsync<SnapshotTooLargeException>(() => LiveMigration.ReceiveAsync(new MemoryStream(header), Options("t"), _ => { }));
    }

    private const ulong SweepBase = 0x200_0000;
    private const int SweepPages = 16384; // 64 MiB
    private const int PagesPerDot = 256; // one byte on COM1 per MiB swept: 64 a sweep

    /// <summary>
    /// QEMU's migration-test guest: forever, add one to the first byte of every page of 64 MiB
    /// (RBX the page it is at, R14 the sweeps done), print a dot on COM1 every MiB, and after
    /// every page read the TSC and keep the largest gap between two reads in R13. The pages before
    /// RBX hold one more than the pages from it on, so a target that lost or mixed up a page shows
    /// a second edge.
    /// </summary>
    private static byte[] SweepKernel()
    {
        var a = new Assembler(64);
        var sweep = a.CreateLabel();
        var page = a.CreateLabel();
        var quiet = a.CreateLabel();
        a.mov(rdi, SweepBase);
        a.mov(rsi, SweepBase + ((ulong)SweepPages * 4096));
        a.xor(r13, r13);
        a.xor(r14, r14);
        a.rdtsc();
        a.shl(rdx, 32);
        a.or(rax, rdx);
        a.mov(r12, rax);
        a.Label(ref sweep);
        a.mov(rbx, rdi);
        a.Label(ref page);
        a.inc(__byte_ptr[rbx]);
        a.add(rbx, 4096);
        a.rdtsc();
        a.shl(rdx, 32);
        a.or(rax, rdx);
        a.mov(rcx, rax);
        a.sub(rcx, r12);
        a.mov(r12, rax);
        a.cmp(rcx, r13);
        a.cmova(r13, rcx);
        a.test(ebx, (PagesPerDot * 4096) - 1);
        a.jnz(quiet);
        a.mov(dx, PcMachine.Com1);
        a.mov(al, (byte)'.');
        a.@out(dx, al);
        a.Label(ref quiet);
        a.cmp(rbx, rsi);
        a.jb(page);
        a.inc(r14);
        a.jmp(sweep);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x100_0200);
        return TestImages.BzImage(ms.ToArray());
    }

    /// <summary>
    /// The guest-visible downtime and memory consistency of a migration under a guest that dirties
    /// all of its 64 MiB every sweep (so the pre-copy cannot converge and stops after its rounds):
    /// on the target every page agrees with its neighbour but at the one edge where the sweep was,
    /// and the guest's output stops for at least the source's downtime. The figures are printed:
    /// the host-timed gap in the guest's output (what a user sees), beside the largest gap the
    /// guest's own TSC showed, which leaves the pause out because guest time stops with the machine.
    /// </summary>
    [Fact]
    public async Task A_guest_sweeping_64_MiB_finds_every_page_consistent_on_the_target_and_its_output_gap_is_reported()
    {
        var gap = new OutputGap();
        await using var source = PcMachine.Build(new PcConfig { Kernel = SweepKernel(), MemoryBytes = 128UL << 20, SerialOutput = gap.Source });
        source.Start();
        await Until(() => gap.SourceBytes >= 2 * SweepPages / PagesPerDot); // two sweeps before it moves

        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        var receiving = LiveMigration.ReceiveAsync(pipe.Reader.AsStream(), Options("target"), gap.Target);
        MigrationReport report;
        await using (var toTarget = pipe.Writer.AsStream())
        {
            report = await LiveMigration.SendAsync(source, toTarget, new MigrationOptions { Snapshot = Options("source"), MaxRounds = 2 });
        }

        await using var target = await receiving;
        ulong sweepsThere = target.Cpus[0].Reg(Emulator.X86.State.Gpr.R14);
        // What the target has is what the source had when it stopped (the source stays paused).
        Assert.True(target.Memory.Span(SweepBase, SweepPages * 4096).SequenceEqual(source.Memory.Span(SweepBase, SweepPages * 4096)), "the target's 64 MiB are the paused source's");
        target.Start();
        await Until(() => gap.TargetBytes >= 2 * SweepPages / PagesPerDot); // two sweeps on the target

        target.Pause();
        var cpu = target.Cpus[0];
        Assert.True(cpu.Reg(Emulator.X86.State.Gpr.R14) >= sweepsThere + 1, "the guest swept on after it moved");
        ulong rbx = cpu.Reg(Emulator.X86.State.Gpr.Rbx);
        int at = (int)((rbx - SweepBase) / 4096);
        var ram = target.Memory.Span(SweepBase, SweepPages * 4096);
        byte first = ram[0];
        int edge = 1;
        while (edge < SweepPages && ram[edge * 4096] == first)
        {
            edge++;
        }

        for (int p = edge; p < SweepPages; p++)
        {
            Assert.True(ram[p * 4096] == (byte)(first - 1), $"page {p} holds {ram[p * 4096]}, after an edge at page {edge} from {first}: a second edge");
        }

        // Stopped between the add and the store of a page, the edge is one page past RBX; with no edge, RBX is at an end.
        Assert.True(edge == SweepPages ? at is 0 or SweepPages - 1 or SweepPages : edge == at || edge == at + 1, $"the edge (page {edge}) is where the guest was (page {at})");

        double guestTscGapMs = cpu.Reg(Emulator.X86.State.Gpr.R13) * 1e3 / target.Clock.TscHz;
        var seen = gap.Gap!.Value;
        log.WriteLine($"{report.Rounds} rounds, {report.PagesSent} pages, {report.BytesSent} bytes ({report.UncompressedBytes} uncompressed) in {report.Total.TotalMilliseconds:F0} ms");
        log.WriteLine($"downtime: source-measured {report.Downtime.TotalMilliseconds:F1} ms; guest-visible (host-timed gap in the guest's serial output) {seen.TotalMilliseconds:F1} ms");
        log.WriteLine($"largest gap between two TSC reads of the guest (guest time, which stops while paused) {guestTscGapMs:F1} ms; largest output gap on the source before it moved {gap.LargestSourceGap.TotalMilliseconds:F1} ms");
        Assert.True(seen >= report.Downtime, $"the output stopped for {seen.TotalMilliseconds:F1} ms, less than the {report.Downtime.TotalMilliseconds:F1} ms the source was paused");
    }

    /// <summary>A stream's header; a version 02 one with its disks' record, empty.</summary>
    private static byte[] Header(string version, ulong ramBytes = 64UL << 20)
    {
        var header = new byte[16];
        System.Text.Encoding.ASCII.GetBytes("EMUMIG" + version).CopyTo(header, 0);
        BitConverter.TryWriteBytes(header.AsSpan(8), ramBytes);
        return version == "02" ? [.. header, (byte)'B', 0, 0] : header;
    }

    /// <summary>A 'Z' record: count, body length, length and the body in zlib.</summary>
    private static byte[] Deflated(uint count, byte[] body, int? bodyLength = null)
    {
        using var zipped = new MemoryStream();
        using (var d = new System.IO.Compression.ZLibStream(zipped, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            d.Write(body);
        }

        return [(byte)'Z', .. BitConverter.GetBytes(count), .. BitConverter.GetBytes((uint)(bodyLength ?? body.Length)), .. BitConverter.GetBytes((uint)zipped.Length), .. zipped.ToArray()];
    }

    /// <summary>One page entry of a record's body: page number, kind, and a data page's bytes.</summary>
    private static byte[] Entry(uint page, byte kind) => [.. BitConverter.GetBytes(page), kind, .. kind == 1 ? new byte[4096] : []];

    [Theory]
    [InlineData("garbage", "a compressed page record is damaged")]
    [InlineData("cut-deflate", "not the 4101 it names")]
    [InlineData("checksum", "a compressed page record is damaged")]
    [InlineData("body-length", "inflates to 5 bytes, not the 6")]
    [InlineData("fewer-pages", "holds 1 of its 2 pages")]
    [InlineData("short-page", "page 3 is cut short")]
    [InlineData("trailing", "5 bytes after its 1 pages")]
    [InlineData("outside", "is not in 64 MiB")]
    [InlineData("bad-kind", "(kind 7)")]
    [InlineData("bomb", "inflates to more than")]
    [InlineData("empty", "0 compressed bytes")]
    [InlineData("huge", "compressed bytes (at most")]
    [InlineData("too-many", "a record of 257 pages")]
    [InlineData("z-in-version-1", "unknown record 0x5a")]
    [InlineData("version-3", "this node reads versions 01 and 02")]
    [InlineData("no-disks", "starts with its disks ('B'), not 0x5a")]
    public async Task A_damaged_compressed_stream_is_refused_with_why(string damage, string why)
    {
        byte[] oneZero = Entry(3, 0);
        byte[] stream = damage switch
        {
            "garbage" => [.. Header("02"), (byte)'Z', 1, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8],
            "cut-deflate" => [.. Header("02"), .. CutDeflate()],
            "checksum" => [.. Header("02"), .. Flip(Deflated(1, oneZero), ^1)], // the Adler-32's last byte
            "body-length" => [.. Header("02"), .. Deflated(1, oneZero, bodyLength: 6)],
            "fewer-pages" => [.. Header("02"), .. Deflated(2, oneZero)],
            "short-page" => [.. Header("02"), .. Deflated(1, Entry(3, 1)[..100])],
            "trailing" => [.. Header("02"), .. Deflated(1, [.. oneZero, 1, 2, 3, 4, 5])],
            "outside" => [.. Header("02"), .. Deflated(1, Entry(1 << 20, 0))],
            "bad-kind" => [.. Header("02"), .. Deflated(1, Entry(3, 7))],
            "bomb" => [.. Header("02"), .. Deflated(256, new byte[4 << 20], bodyLength: 256 * 4101)],
            "empty" => [.. Header("02"), (byte)'Z', 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0],
            "huge" => [.. Header("02"), (byte)'Z', 1, 0, 0, 0, 5, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f],
            "too-many" => [.. Header("02"), .. Deflated(257, oneZero)],
            "z-in-version-1" => [.. Header("01"), .. Deflated(1, oneZero)],
            "no-disks" => [.. Header("02")[..16], .. Deflated(1, oneZero)],
            _ => [.. Header("03"), .. Deflated(1, oneZero)],
        };

        var e = await Assert.ThrowsAsync<SnapshotFormatException>(() => LiveMigration.ReceiveAsync(new MemoryStream(stream), Options("t"), _ => { }));
        Assert.True(e.Message.Contains(why, StringComparison.Ordinal), e.Message);
        Assert.Empty(Directory.GetFiles(dir)); // nothing left behind

        // A record whose compressed bytes are cut in the middle (its length says so: it is whole on the stream).
        static byte[] CutDeflate()
        {
            byte[] whole = Deflated(1, [.. Entry(3, 1).Take(5), .. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7))]);
            byte[] cut = whole[..(13 + ((whole.Length - 13) / 2))];
            BitConverter.TryWriteBytes(cut.AsSpan(9), (uint)(cut.Length - 13));
            return cut;
        }

        static byte[] Flip(byte[] bytes, Index at)
        {
            bytes[at] ^= 0x55;
            return bytes;
        }
    }

    /// <summary>Waits for the guest to get somewhere; one that never does fails the test after 5 minutes rather than hanging it.</summary>
    private static async Task Until(Func<bool> reached)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        while (!reached())
        {
            await Task.Delay(50, limit.Token);
        }
    }

    /// <summary>Progress reported on the sender's thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress(List<MigrationProgress> into) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value) => into.Add(value);
    }

    /// <summary>A link that breaks after some bytes.</summary>
    private sealed class FailingStream(long failAfter) : Stream
    {
        private long written;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => written; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            written += count;
            if (written > failAfter)
            {
                throw new IOException("link lost");
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
