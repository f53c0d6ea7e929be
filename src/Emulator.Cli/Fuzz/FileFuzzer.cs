using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Emulator.Machine.Block;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;

namespace Emulator.Cli.Fuzz;

/// <summary>
/// `emu fuzz files`: damaged snapshot and overlay files. A real snapshot (of a machine with two
/// vCPUs and a disk) and a real overlay are made once; each case damages a copy (truncation, bit
/// flips, a section's payload or header changed, sections dropped or repeated, header fields of
/// the overlay) and, so that the damage reaches the decoders behind them, seals it again (the
/// snapshot's SHA-256 trailer, the overlay header's checksum) in most cases. Each must be refused
/// with the documented error (SnapshotFormatException, SnapshotTooLargeException,
/// BlockImageException) or, if it still makes sense, restore or open and run; anything else is a
/// finding.
/// </summary>
internal static class FileFuzzer
{
    private sealed record Section(string Name, int Version, byte[] Payload);

    public static int Run(ulong seed, long first, long cases, TextWriter output)
    {
        string scratch = Directory.CreateTempSubdirectory("emu-fuzz-files-").FullName;
        var findings = new List<string>();
        var ends = new SortedDictionary<string, long>(StringComparer.Ordinal);
        output.WriteLine($"fuzz files: seed {seed}, cases {first} to {first + cases - 1} (even: snapshot, odd: overlay)");
        try
        {
            string layers = Directory.CreateDirectory(Path.Combine(scratch, "layers")).FullName;
            string disk = Path.Combine(scratch, "disk.raw");
            var content = new byte[1 << 20];
            new FuzzRng(seed).Fill(content);
            File.WriteAllBytes(disk, content);
            byte[] snapshot = MakeSnapshot(scratch, layers, disk);
            var sections = Parse(snapshot);
            if (!Seal(snapshot.AsSpan(0, 24), sections).AsSpan().SequenceEqual(snapshot))
            {
                throw new InvalidOperationException("the fuzzer's idea of the snapshot framing no longer matches SnapshotFile's");
            }

            byte[] overlay = MakeOverlay(scratch, disk);
            var options = new SnapshotOptions { LayerDirectory = layers, AllowedDirectories = [scratch], MaxCpus = 8, MaxMemoryBytes = 256 << 20, MachineId = "fuzz" };
            for (long i = first; i < first + cases; i++)
            {
                var rng = FuzzRng.ForCase(seed, i);
                string end;
                try
                {
                    end = i % 2 == 0
                        ? RestoreCase(Path.Combine(scratch, $"case.emusnap"), DamageSnapshot(snapshot, sections, rng), options)
                        : OpenCase(Path.Combine(scratch, "case.cow"), DamageOverlay(overlay, rng), scratch, rng);
                }
                catch (Exception e)
                {
                    end = "finding";
                    findings.Add($"case {i}: {e.GetType().Name}: {e.Message}{Environment.NewLine}{e.StackTrace}");
                }

                ends[end] = ends.GetValueOrDefault(end) + 1;
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        output.WriteLine($"  how cases ended: {string.Join(", ", ends.Select(kv => $"{kv.Key} {kv.Value:N0}"))}");
        output.WriteLine($"  findings: {findings.Count}");
        foreach (string f in findings.Take(20))
        {
            output.WriteLine($"  finding: {f}");
        }

        if (findings.Count > 0)
        {
            output.WriteLine($"  replay one case: emu fuzz files --seed {seed} --first CASE --cases 1");
        }

        return findings.Count == 0 ? 0 : 1;
    }

    private static byte[] MakeSnapshot(string scratch, string layers, string disk)
    {
        var vm = PcMachine.BuildWithoutGuest(new PcConfig { Kernel = [], MemoryBytes = 16 << 20, Cpus = 2, Disks = [new DiskConfig(disk)], NoReboot = true });
        try
        {
            vm.Cpus[0].S.Halted = 1;
            vm.StartPaused();
            string path = Path.Combine(scratch, "original.emusnap");
            MachineSnapshot.SaveAsync(vm, path, new SnapshotOptions { LayerDirectory = layers, MachineId = "fuzz" }).GetAwaiter().GetResult();
            return File.ReadAllBytes(path);
        }
        finally
        {
            vm.DisposeAsync().AsTask().Wait();
        }
    }

    private static byte[] MakeOverlay(string scratch, string disk)
    {
        string path = Path.Combine(scratch, "original.cow");
        CowOverlay.Create(path, disk, BlockFormat.Raw, (ulong)new FileInfo(disk).Length);
        using (var image = BlockImage.Open(path, BlockFormat.EmuCow, BackingPolicy.Within([scratch])))
        {
            var data = new byte[4096];
            data.AsSpan().Fill(0x5a);
            image.Write(data, 0);
            image.Write(data, 300_000);
        }

        return File.ReadAllBytes(path);
    }

    /// <summary>Restores a damaged snapshot; a restored machine is started and stopped again.</summary>
    private static string RestoreCase(string path, byte[] file, SnapshotOptions options)
    {
        File.WriteAllBytes(path, file);
        VirtualMachine vm;
        try
        {
            vm = MachineSnapshot.RestoreAsync(path, options, _ => { }).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is SnapshotFormatException or SnapshotTooLargeException or BlockImageException)
        {
            return $"refused ({e.GetType().Name})";
        }

        try
        {
            vm.Start();
            Thread.Sleep(5);
            if (vm.Exited.IsCompleted && vm.Exited.Result is { Reason: MachineExitReason.Failed } exit && !exit.Detail.Contains("triple fault", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"the restored machine failed: {exit.Detail}");
            }

            return "restored and ran";
        }
        finally
        {
            vm.DisposeAsync().AsTask().Wait();
            foreach (string layer in Directory.GetFiles(options.LayerDirectory))
            {
                File.Delete(layer);
            }
        }
    }

    /// <summary>Opens a damaged overlay; an opened one is read and written at random.</summary>
    private static string OpenCase(string path, byte[] file, string scratch, FuzzRng rng)
    {
        File.WriteAllBytes(path, file);
        BlockImage image;
        try
        {
            image = BlockImage.Open(path, BlockFormat.EmuCow, BackingPolicy.Within([scratch]));
        }
        catch (BlockImageException e)
        {
            return $"refused ({e.GetType().Name})";
        }

        using (image)
        {
            var buffer = new byte[8192];
            for (int k = 0; k < 8; k++)
            {
                long size = (long)image.SizeBytes;
                int length = rng.Below(buffer.Length) + 1;
                long offset = size <= length ? 0 : (long)(rng.Next() % (ulong)(size - length));
                length = (int)Math.Min(length, size - offset);
                if (rng.Chance(50))
                {
                    image.Read(buffer.AsSpan(0, length), offset);
                }
                else
                {
                    image.Write(buffer.AsSpan(0, length), offset);
                }
            }
        }

        return "opened, read and written";
    }

    private static byte[] DamageSnapshot(byte[] original, List<Section> sections, FuzzRng rng)
    {
        switch (rng.Below(8))
        {
            case 0:
                return original[..rng.Below(original.Length)];
            case 1:
                return FlipBits(original, rng, 0, original.Length);
        }

        // The rest damage what is inside and seal the file again, so the decoders see it.
        var list = sections.ToList();
        int at = rng.Below(list.Count);
        var s = list[at];
        switch (rng.Below(6))
        {
            case 0:
                list[at] = s with { Payload = FlipBits(s.Payload, rng, 0, s.Payload.Length) };
                break;
            case 1:
                list[at] = s with { Version = rng.Chance(50) ? (int)rng.Interesting() : s.Version + 1 };
                break;
            case 2:
                var random = new byte[rng.Chance(50) ? rng.Below(64) : rng.Below(s.Payload.Length + 1)];
                rng.Fill(random);
                list[at] = s with { Payload = random };
                break;
            case 3:
                list[at] = s with { Payload = s.Payload[..rng.Below(s.Payload.Length + 1)] };
                break;
            case 4:
                list.RemoveAt(at);
                break;
            default:
                list.Insert(rng.Below(list.Count + 1), s);
                break;
        }

        return Seal(original.AsSpan(0, 24), list);
    }

    private static byte[] DamageOverlay(byte[] original, FuzzRng rng)
    {
        byte[] file = original.ToArray();
        switch (rng.Below(5))
        {
            case 0:
                return file[..rng.Below(file.Length)];
            case 1:
                return FlipBits(file, rng, 0, CowHeader.Size); // checksum not fixed: refused as corrupted
        }

        // A header field set to something else (offsets of the fields up to the backing path), then sealed.
        switch (rng.Below(3))
        {
            case 0:
                int field = rng.Below(18) * 4;
                BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(field), (uint)rng.Interesting());
                break;
            case 1:
                int wide = 24 + rng.Below(6) * 8;
                BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(wide), rng.Interesting());
                break;
            default:
                file = FlipBits(file, rng, 0, CowHeader.Size - 4);
                break;
        }

        if (rng.Chance(30))
        {
            // The allocation bitmap too.
            rng.Fill(file.AsSpan(CowHeader.Size, Math.Min(64, file.Length - CowHeader.Size)));
        }

        CowHeader.Reseal(file);
        return file;
    }

    private static byte[] FlipBits(byte[] bytes, FuzzRng rng, int from, int to)
    {
        byte[] copy = bytes.ToArray();
        if (to > from)
        {
            for (int n = 1 + rng.Below(8); n > 0; n--)
            {
                copy[from + rng.Below(to - from)] ^= (byte)(1 << rng.Below(8));
            }
        }

        return copy;
    }

    /// <summary>The sections of a snapshot file (its framing as SnapshotFile writes it), without the end trailer.</summary>
    private static List<Section> Parse(byte[] file)
    {
        var list = new List<Section>();
        int at = 24;
        while (true)
        {
            int nameLength = file[at];
            string name = Encoding.ASCII.GetString(file, at + 1, nameLength);
            int version = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(at + 1 + nameLength));
            int length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(at + 5 + nameLength)));
            if (name == SnapshotFile.EndSection)
            {
                return list;
            }

            list.Add(new Section(name, version, file.AsSpan(at + 13 + nameLength, length).ToArray()));
            at += 13 + nameLength + length;
        }
    }

    /// <summary>The header, the sections, and a trailer with the SHA-256 of everything before it.</summary>
    private static byte[] Seal(ReadOnlySpan<byte> header, List<Section> sections)
    {
        using var ms = new MemoryStream();
        ms.Write(header);
        Span<byte> h = stackalloc byte[13 + 255];
        foreach (var s in sections.Append(new Section(SnapshotFile.EndSection, 1, [])))
        {
            byte[] name = Encoding.ASCII.GetBytes(s.Name);
            h[0] = (byte)name.Length;
            name.CopyTo(h[1..]);
            BinaryPrimitives.WriteInt32LittleEndian(h[(1 + name.Length)..], s.Version);
            BinaryPrimitives.WriteUInt64LittleEndian(h[(5 + name.Length)..], s.Name == SnapshotFile.EndSection ? 32UL : (ulong)s.Payload.Length);
            ms.Write(h[..(13 + name.Length)]);
            ms.Write(s.Payload);
        }

        ms.Write(SHA256.HashData(ms.ToArray()));
        return ms.ToArray();
    }
}
