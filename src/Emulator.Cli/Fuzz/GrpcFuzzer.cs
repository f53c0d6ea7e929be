using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;

namespace Emulator.Cli.Fuzz;

/// <summary>
/// `emu fuzz grpc`: malformed requests to every MachineService method of a control plane in this
/// process (Kestrel and Grpc.AspNetCore, as `emu serve`): random bytes, valid messages with
/// hostile field values (ids and paths with NULs, "..", other files, huge numbers, unknown
/// formats), and those truncated, bit-flipped or followed by junk; streams opened and written
/// at random. Each call must end with a status the API documents (never UNKNOWN, INTERNAL or
/// UNAVAILABLE; a unary call never hangs), and afterwards the service must still answer.
/// Migration: MigrateMachine to unreachable, malformed and the node's own address (the target
/// refuses an id it has: the machine runs on), and ReceiveMigration fed random bytes or a real
/// migration stream (made at the start from a halting machine) mutated and cut into random
/// messages. A ReceiveMigration that fails must leave no machine and no stream file behind; one
/// that succeeds must leave exactly its machine (GrpcFuzzer.Migration.cs).
/// </summary>
internal static partial class GrpcFuzzer
{
    private const string Service = "emulator.v1.MachineService";

    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    private static readonly StatusCode[] Documented =
    [
        StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.AlreadyExists, StatusCode.FailedPrecondition,
        StatusCode.ResourceExhausted, StatusCode.PermissionDenied, StatusCode.DataLoss, StatusCode.OutOfRange,
    ];

    private static readonly string[] Unary =
    [
        "CreateMachine", "StartMachine", "PauseMachine", "ResumeMachine", "StopMachine", "ResetMachine", "DeleteMachine", "GetMachine", "ListMachines",
        "CreateSnapshot", "RestoreSnapshot", "ListSnapshots", "DeleteSnapshot", "ListNodes",
    ];

    public static int Run(ulong seed, long first, long cases, TextWriter output) => RunAsync(seed, first, cases, output).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(ulong seed, long first, long cases, TextWriter output)
    {
        var scratch = Directory.CreateTempSubdirectory("emu-fuzz-grpc-");
        var findings = new List<string>();
        var codes = new SortedDictionary<string, long>(StringComparer.Ordinal);
        try
        {
            string allowed = Directory.CreateDirectory(Path.Combine(scratch.FullName, "images")).FullName;
            var junk = new byte[4096];
            new FuzzRng(seed).Fill(junk);
            File.WriteAllBytes(Path.Combine(allowed, "vmlinux"), junk);
            File.WriteAllBytes(Path.Combine(allowed, "halt.mb"), HaltingKernel());
            File.WriteAllBytes(Path.Combine(allowed, "disk.raw"), new byte[1 << 20]);
            File.WriteAllBytes(Path.Combine(scratch.FullName, "outside"), junk);
            await using var server = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
            {
                Machines = new MachineServiceOptions
                {
                    AllowedDirectories = [allowed],
                    SnapshotDirectory = Path.Combine(scratch.FullName, "snapshots"),
                    Tier1 = null,
                },
            });
            output.WriteLine($"fuzz grpc: seed {seed}, cases {first} to {first + cases - 1}, against {server.Address}");
            using var channel = ControlPlaneChannel.Open(server.Address);
            var invoker = channel.CreateCallInvoker();
            var values = new Values(allowed, scratch.FullName);
            var migration = await Migrations.StartAsync(server.Address, scratch.FullName, values.Kernel, invoker);
            for (long i = first; i < first + cases; i++)
            {
                var rng = FuzzRng.ForCase(seed, i);
                int kind = rng.Below(16);
                if (kind < 2)
                {
                    var (what, migrationCode, finding) = await migration.CaseAsync(kind == 0 ? "ReceiveMigration" : "MigrateMachine", rng, values);
                    string migrationKey = $"{what} {migrationCode}";
                    codes[migrationKey] = codes.GetValueOrDefault(migrationKey) + 1;
                    if (finding is not null)
                    {
                        findings.Add($"case {i}: {finding}");
                    }

                    continue;
                }

                string method = kind < 4 ? rng.Pick(["WatchMachine", "AttachConsole"]) : rng.Pick(Unary);
                var message = Message(method, rng, values);
                byte[] request = Damage(message.ToByteArray(), rng);
                bool parses = Parses(message.Descriptor.Parser, request);
                StatusCode code;
                try
                {
                    code = await Call(invoker, method, request, rng);
                }
                catch (Exception e) when (e is not RpcException)
                {
                    findings.Add($"case {i}: {method}: the client failed: {e.GetType().Name}: {e.Message}");
                    continue;
                }

                string key = $"{method} {code}{(code == StatusCode.Internal && !parses ? " (unparsable)" : "")}";
                codes[key] = codes.GetValueOrDefault(key) + 1;
                bool streaming = method is "WatchMachine" or "AttachConsole";
                // INTERNAL is documented for a request that does not parse as its message, and only then.
                bool documented = Documented.Contains(code) || (code == StatusCode.Internal && !parses)
                    || (streaming && code is StatusCode.DeadlineExceeded or StatusCode.Cancelled);
                if (!documented)
                {
                    findings.Add($"case {i}: {method} with {Convert.ToHexString(request[..Math.Min(request.Length, 48)])}{(request.Length > 48 ? "..." : "")}: {code}");
                }
            }

            // The service still serves.
            var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = "" }, deadline: DateTime.UtcNow.AddSeconds(10));
            var listed = await new Emulator.Service.V1.MachineService.MachineServiceClient(channel).ListMachinesAsync(new ListMachinesRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
            if (health.Status != HealthCheckResponse.Types.ServingStatus.Serving)
            {
                findings.Add($"after the run the service reports {health.Status}");
            }

            output.WriteLine($"  after the run: health {health.Status}, {listed.Machines.Count} machines listed");
        }
        catch (RpcException e)
        {
            findings.Add($"after the run the service did not answer: {e.Status}");
        }
        finally
        {
            scratch.Delete(recursive: true);
        }

        output.WriteLine($"  statuses: {string.Join(", ", codes.Select(kv => $"{kv.Key} {kv.Value:N0}"))}");
        output.WriteLine($"  findings: {findings.Count}");
        foreach (string f in findings.Take(20))
        {
            output.WriteLine($"  finding: {f}");
        }

        if (findings.Count > 0)
        {
            output.WriteLine($"  replay one case: emu fuzz grpc --seed {seed} --first CASE --cases 1");
        }

        return findings.Count == 0 ? 0 : 1;
    }

    /// <summary>
    /// A Multiboot kernel (the a.out kludge: header fields give the load addresses) that halts
    /// with interrupts off: a machine of it runs, idle, until stopped.
    /// </summary>
    private static byte[] HaltingKernel()
    {
        const uint load = 0x10_0000, magic = 0x1bad_b002, flags = 1 << 16, entry = load + 0x20;
        var image = new byte[0x30];
        uint[] header = [magic, flags, unchecked(0u - magic - flags), load, load, load + (uint)image.Length, 0, entry];
        Buffer.BlockCopy(header, 0, image, 0, header.Length * 4);
        byte[] code = [0xfa, 0xf4, 0xeb, 0xfd]; // cli; hlt; jmp back to the hlt
        code.CopyTo(image, 0x20);
        return image;
    }

    private static bool Parses(MessageParser parser, byte[] bytes)
    {
        try
        {
            parser.ParseFrom(bytes);
            return true;
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
    }

    private static async Task<StatusCode> Call(CallInvoker invoker, string method, byte[] request, FuzzRng rng)
    {
        try
        {
            switch (method)
            {
                case "WatchMachine":
                {
                    var m = new Method<byte[], byte[]>(MethodType.ServerStreaming, Service, method, Bytes, Bytes);
                    using var call = invoker.AsyncServerStreamingCall(m, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300)), request);
                    while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    {
                    }

                    return StatusCode.OK;
                }

                case "AttachConsole":
                {
                    var m = new Method<byte[], byte[]>(MethodType.DuplexStreaming, Service, method, Bytes, Bytes);
                    using var call = invoker.AsyncDuplexStreamingCall(m, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300)));
                    await call.RequestStream.WriteAsync(request);
                    // Then console input as a client types it (well-formed: the first message is the one damaged).
                    for (int n = rng.Below(3); n > 0; n--)
                    {
                        var typed = new byte[rng.Below(64)];
                        rng.Fill(typed);
                        await call.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFrom(typed) }.ToByteArray());
                    }

                    await call.RequestStream.CompleteAsync();
                    while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    {
                    }

                    return StatusCode.OK;
                }

                default:
                {
                    var m = new Method<byte[], byte[]>(MethodType.Unary, Service, method, Bytes, Bytes);
                    await invoker.AsyncUnaryCall(m, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), request);
                    return StatusCode.OK;
                }
            }
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    /// <summary>Strings, paths and numbers a hostile client would send.</summary>
    private sealed class Values(string allowed, string scratch)
    {
        /// <summary>A kernel that boots (<see cref="HaltingKernel"/>), so machines exist, run, pause, snapshot and reset.</summary>
        public string Kernel => System.IO.Path.Combine(allowed, "halt.mb");

        public string Id(FuzzRng rng) => rng.Below(12) switch
        {
            8 or 9 or 10 => "vm-" + rng.Below(4),
            0 => "",
            1 => "vm-" + rng.Below(4),
            2 => "../" + rng.Below(4),
            3 => "a\0b",
            4 => new string('x', rng.Chance(50) ? 64 : 5000),
            5 => "vm/../../etc",
            6 => "\u00e9\u4e2d\ud83d\ude00",
            _ => "snap-" + rng.Below(4),
        };

        public string Path(FuzzRng rng) => rng.Below(9) switch
        {
            0 => "",
            1 => System.IO.Path.Combine(allowed, "vmlinux"),
            2 => System.IO.Path.Combine(allowed, "disk.raw"),
            3 => System.IO.Path.Combine(allowed, "..", "outside"),
            4 => System.IO.Path.Combine(scratch, "outside"),
            5 => "vmlinux",
            6 => "/etc/passwd",
            7 => allowed + "/\0x",
            _ => System.IO.Path.Combine(allowed, "missing"),
        };
    }

    private static IMessage Message(string method, FuzzRng rng, Values v)
    {
        switch (method)
        {
            case "CreateMachine":
                // Half of them well-formed, so machines exist for the other calls to act on.
                bool sane = rng.Chance(50);
                var create = new CreateMachineRequest
                {
                    Id = sane ? "vm-" + rng.Below(4) : v.Id(rng),
                    Vcpus = sane ? 1 + (uint)rng.Below(2) : (uint)rng.Interesting(),
                    MemoryMib = sane ? 32 + (ulong)rng.Below(64) : rng.Interesting(),
                    Kernel = sane ? v.Kernel : v.Path(rng),
                    Initrd = sane || rng.Chance(50) ? "" : v.Path(rng),
                    CommandLine = rng.Chance(80) ? "console=ttyS0" : new string('a', rng.Below(10000)),
                };
                for (int n = sane ? 0 : rng.Below(rng.Chance(90) ? 3 : 20); n > 0; n--)
                {
                    create.Disks.Add(new Disk { Path = v.Path(rng), ReadOnly = rng.Chance(50), Format = rng.Pick(["", "raw", "emucow", "qcow2", "RAW", "\0"]) });
                }

                return create;
            case "ListMachines":
                return new ListMachinesRequest { State = (Service.V1.MachineState)(rng.Chance(70) ? rng.Below(6) : (int)rng.Next()) };
            case "CreateSnapshot":
                return new CreateSnapshotRequest { MachineId = v.Id(rng), SnapshotId = v.Id(rng) };
            case "RestoreSnapshot":
                return new RestoreSnapshotRequest { SnapshotId = v.Id(rng), MachineId = v.Id(rng) };
            case "ListSnapshots":
                return new ListSnapshotsRequest { MachineId = v.Id(rng) };
            case "ListNodes":
                return new ListNodesRequest();
            case "DeleteSnapshot":
                return new SnapshotRef { Id = v.Id(rng) };
            case "AttachConsole":
                return new ConsoleInput { MachineId = v.Id(rng), Data = ByteString.CopyFrom(new byte[rng.Below(100)]) };
            default:
                return new MachineRef { Id = v.Id(rng) };
        }
    }

    /// <summary>The message as it is, random bytes instead, or it cut short, bit-flipped or followed by junk.</summary>
    private static byte[] Damage(byte[] message, FuzzRng rng)
    {
        switch (rng.Below(6))
        {
            case 0:
            {
                var random = new byte[rng.Below(rng.Chance(90) ? 64 : 100_000)];
                rng.Fill(random);
                return random;
            }

            case 1:
                return message[..rng.Below(message.Length + 1)];
            case 2:
            {
                var copy = message.ToArray();
                if (copy.Length > 0)
                {
                    copy[rng.Below(copy.Length)] ^= (byte)(1 << rng.Below(8));
                }

                return copy;
            }

            case 3:
            {
                var junk = new byte[1 + rng.Below(32)];
                rng.Fill(junk);
                return [.. message, .. junk];
            }

            default:
                return message;
        }
    }
}
