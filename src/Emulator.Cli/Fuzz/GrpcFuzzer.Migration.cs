using Emulator.Machine.Migration;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Emulator.Cli.Fuzz;

internal static partial class GrpcFuzzer
{
    /// <summary>
    /// The migration cases: ReceiveMigration fed damaged streams, MigrateMachine sent where it
    /// cannot go. After each, what the node lists is checked against the status: a refused
    /// stream adds no machine and leaves no stream file in the layers directory, an accepted one
    /// adds exactly its machine, and a refused MigrateMachine leaves the machine as it was.
    /// </summary>
    private sealed class Migrations(string address, string layers, byte[] valid, CallInvoker invoker)
    {
        private readonly Emulator.Service.V1.MachineService.MachineServiceClient client = new(invoker);

        /// <summary>Migrates a halting machine (the kernel at <paramref name="kernelPath"/>) into memory once: the stream the mutations start from.</summary>
        public static async Task<Migrations> StartAsync(string address, string scratch, string kernelPath, CallInvoker invoker)
        {
            string sourceLayers = Directory.CreateDirectory(Path.Combine(scratch, "fuzz-source-layers")).FullName;
            await using var vm = PcMachine.Build(new PcConfig { Kernel = File.ReadAllBytes(kernelPath), KernelName = kernelPath, MemoryBytes = 32UL << 20 });
            vm.Start();
            using var stream = new MemoryStream();
            await LiveMigration.SendAsync(vm, stream, new MigrationOptions { Snapshot = new SnapshotOptions { LayerDirectory = sourceLayers, MachineId = "fuzz-source" } });
            vm.Stop(new MachineExit(MachineExitReason.Stopped, "its stream was taken"));
            return new Migrations(address, Path.Combine(scratch, "snapshots", "layers"), stream.ToArray(), invoker);
        }

        /// <summary>One case: the call it made, its status, and a finding or null.</summary>
        public async Task<(string Method, StatusCode Code, string? Finding)> CaseAsync(string method, FuzzRng rng, Values values)
        {
            var before = await ListAsync();
            return method == "ReceiveMigration"
                ? await ReceiveAsync(rng, values, before)
                : await MigrateAsync(rng, values, before);
        }

        private async Task<(string, StatusCode, string?)> ReceiveAsync(FuzzRng rng, Values values, Dictionary<string, Service.V1.MachineState> before)
        {
            string id = rng.Chance(70) ? "mig-" + rng.Below(4) : values.Id(rng);
            byte[] data = rng.Below(8) switch
            {
                0 => valid, // whole, in random pieces: the node must take it
                1 => Random(rng),
                _ => Mutate(rng),
            };
            var first = new MigrationChunk { MachineId = id, Resume = rng.Chance(50), Data = ByteString.CopyFrom(data, 0, Math.Min(data.Length, rng.Below(data.Length + 1))) };
            byte[] firstBytes = rng.Below(10) == 0 ? Damage(first.ToByteArray(), rng) : first.ToByteArray();
            bool parses = Parses(MigrationChunk.Parser, firstBytes);
            var m = new Method<byte[], byte[]>(MethodType.ClientStreaming, Service, "ReceiveMigration", Bytes, Bytes);
            StatusCode code;
            using (var call = invoker.AsyncClientStreamingCall(m, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30))))
            {
                try
                {
                    await call.RequestStream.WriteAsync(firstBytes);
                    for (int at = first.Data.Length; at < data.Length;)
                    {
                        int n = Math.Min(data.Length - at, 1 + rng.Below(rng.Chance(50) ? 512 : 300_000));
                        await call.RequestStream.WriteAsync(new MigrationChunk { Data = ByteString.CopyFrom(data, at, n) }.ToByteArray());
                        at += n;
                    }

                    await call.RequestStream.CompleteAsync();
                }
                catch (RpcException)
                {
                    // The target refused before the stream ended: its status is the response's.
                }

                try
                {
                    await call.ResponseAsync;
                    code = StatusCode.OK;
                }
                catch (RpcException e)
                {
                    code = e.StatusCode;
                }
            }

            var after = await ListAsync();
            var added = after.Keys.Except(before.Keys).ToArray();
            var removed = before.Keys.Except(after.Keys).ToArray();
            string? finding = null;
            if (!(Documented.Contains(code) || (code == StatusCode.Internal && !parses)))
            {
                finding = $"ReceiveMigration of {data.Length} bytes as '{id}': {code}";
            }
            else if (removed.Length > 0 || (code == StatusCode.OK ? added.Length != 1 || added[0] != id : added.Length > 0))
            {
                finding = $"ReceiveMigration as '{id}' ended {code} and the node added [{string.Join(", ", added)}], removed [{string.Join(", ", removed)}]";
            }
            else if (Directory.Exists(layers) && Directory.GetFiles(layers, "*.migration").Length > 0)
            {
                finding = $"ReceiveMigration as '{id}' ended {code} and left {string.Join(", ", Directory.GetFiles(layers, "*.migration").Select(Path.GetFileName))}";
            }

            if (code == StatusCode.OK)
            {
                // Received machines are let go again, so the node keeps room for the next.
                await Quietly(() => client.StopMachineAsync(new MachineRef { Id = id }).ResponseAsync);
                await Quietly(() => client.DeleteMachineAsync(new MachineRef { Id = id }).ResponseAsync);
            }

            return ("ReceiveMigration", code, finding);
        }

        private async Task<(string, StatusCode, string?)> MigrateAsync(FuzzRng rng, Values values, Dictionary<string, Service.V1.MachineState> before)
        {
            string id = rng.Chance(70) ? "vm-" + rng.Below(4) : values.Id(rng);
            string target = rng.Below(7) switch
            {
                0 => "",
                1 => "127.0.0.1:1",
                2 or 3 => address, // itself: it has the id already
                4 => "unix:" + Path.Combine(layers, "no-such-socket"),
                5 => "\0junk",
                _ => "http://[::1",
            };
            var request = new MigrateMachineRequest { Id = id, Target = target, DowntimeBudgetMs = rng.Chance(50) ? 0 : (uint)rng.Interesting() };
            StatusCode code;
            try
            {
                using var call = client.MigrateMachine(request, deadline: DateTime.UtcNow.AddSeconds(60));
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }

                code = StatusCode.OK;
            }
            catch (RpcException e)
            {
                code = e.StatusCode;
            }

            var after = await ListAsync();
            string? finding = null;

            // None of these targets can take a machine: OK would mean it left for nowhere.
            if (code == StatusCode.OK || !(Documented.Contains(code) || code == StatusCode.Unavailable))
            {
                finding = $"MigrateMachine of '{id}' to '{target}': {code}";
            }
            else if (before.TryGetValue(id, out var was) && (!after.TryGetValue(id, out var now) || now != was))
            {
                finding = $"MigrateMachine of '{id}' to '{target}' ended {code} and the machine went from {was} to {(after.TryGetValue(id, out var s) ? s.ToString() : "gone")}";
            }

            return ("MigrateMachine", code, finding);
        }

        private async Task<Dictionary<string, Service.V1.MachineState>> ListAsync() =>
            (await client.ListMachinesAsync(new ListMachinesRequest(), deadline: DateTime.UtcNow.AddSeconds(30))).Machines.ToDictionary(m => m.Id, m => m.State);

        private static byte[] Random(FuzzRng rng)
        {
            var bytes = new byte[rng.Below(rng.Chance(80) ? 256 : 65536)];
            rng.Fill(bytes);
            if (bytes.Length >= 8 && rng.Chance(50))
            {
                "EMUMIG0"u8.CopyTo(bytes);
                bytes[7] = (byte)('0' + rng.Below(4));
            }

            return bytes;
        }

        /// <summary>The real stream with one to four changes: bits flipped, bytes set, a cut, junk spliced in, a piece repeated.</summary>
        private byte[] Mutate(FuzzRng rng)
        {
            var bytes = valid.ToList();
            for (int n = 1 + rng.Below(4); n > 0 && bytes.Count > 0; n--)
            {
                int at = rng.Chance(30) ? rng.Below(Math.Min(bytes.Count, 64)) : rng.Below(bytes.Count);
                switch (rng.Below(5))
                {
                    case 0:
                        bytes[at] ^= (byte)(1 << rng.Below(8));
                        break;
                    case 1:
                        bytes[at] = (byte)rng.Interesting();
                        break;
                    case 2:
                        bytes.RemoveRange(at, bytes.Count - at);
                        break;
                    case 3:
                        var junk = new byte[1 + rng.Below(64)];
                        rng.Fill(junk);
                        bytes.InsertRange(at, junk);
                        break;
                    default:
                        int length = Math.Min(bytes.Count - at, 1 + rng.Below(4096));
                        bytes.InsertRange(at, bytes.GetRange(at, length));
                        break;
                }
            }

            return [.. bytes];
        }

        private static async Task Quietly(Func<Task> call)
        {
            try
            {
                await call();
            }
            catch (RpcException)
            {
            }
        }
    }
}
