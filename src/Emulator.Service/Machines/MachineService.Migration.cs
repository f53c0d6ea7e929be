using System.IO.Pipelines;
using System.Threading.Channels;
using Emulator.Machine.Block;
using Emulator.Machine.Migration;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Emulator.Service.Client;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Emulator.Service.Machines;

/// <summary>
/// MigrateMachine and its node-to-node half, ReceiveMigration: the migration stream of
/// Emulator.Machine.Migration carried in gRPC messages from this node to the target's endpoint.
/// </summary>
public sealed partial class MachineService
{
    private const int MigrationChunkBytes = 256 * 1024;

    public override async Task MigrateMachine(MigrateMachineRequest request, IServerStreamWriter<MigrationEvent> responses, ServerCallContext context)
    {
        if (!await TryForwardStream("MigrateMachine", request.Id, context, responses, (c, o) => c.MigrateMachine(request, o)).ConfigureAwait(false))
        {
            var toAddress = request.Clone();
            toAddress.Target = await TargetAddressAsync(request, context.CancellationToken).ConfigureAwait(false);
            await Traced("MigrateMachine", request.Id, () => Migrate(toAddress, responses, context.CancellationToken)).ConfigureAwait(false);
        }
    }

    public override Task<Service.V1.Machine> ReceiveMigration(IAsyncStreamReader<MigrationChunk> requests, ServerCallContext context) =>
        Traced("ReceiveMigration", "", () => Receive(requests, context));

    private async Task<bool> Migrate(MigrateMachineRequest r, IServerStreamWriter<MigrationEvent> responses, CancellationToken cancel)
    {
        if (string.IsNullOrEmpty(r.Target))
        {
            throw Failure(StatusCode.InvalidArgument, "target (the receiving node's address) is required");
        }

        var m = Find(r.Id);
        if (Interlocked.CompareExchange(ref m.Migrating, 1, 0) != 0)
        {
            throw Failure(StatusCode.FailedPrecondition, $"machine '{m.Id}' is being migrated already");
        }

        try
        {
            await m.Gate.WaitAsync(cancel).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Exchange(ref m.Migrating, 0);
            throw;
        }

        try
        {
            if (m.State is not (Service.V1.MachineState.Running or Service.V1.MachineState.Paused))
            {
                throw Failure(StatusCode.FailedPrecondition, $"machine '{m.Id}' is {m.State}, not running or paused");
            }

            bool running = m.State == Service.V1.MachineState.Running;
            using var channel = OpenTarget(r.Target);
            using var call = new V1.MachineService.MachineServiceClient(channel).ReceiveMigration(cancellationToken: cancel);
            var events = Channel.CreateUnbounded<MigrationEvent>(new UnboundedChannelOptions { SingleReader = true });
            var forwarding = Task.Run(async () =>
            {
                await foreach (var e in events.Reader.ReadAllAsync(cancel).ConfigureAwait(false))
                {
                    await responses.WriteAsync(e, cancel).ConfigureAwait(false);
                }
            }, cancel);

            MigrationReport report;
            try
            {
                await using var stream = new ChunkStream(call.RequestStream, new MigrationChunk { MachineId = m.Id, Resume = running, Spec = m.Spec });
                report = await LiveMigration.SendAsync(m.Vm, stream, new MigrationOptions
                {
                    DowntimeBudget = TimeSpan.FromMilliseconds(r.DowntimeBudgetMs == 0 ? 100 : r.DowntimeBudgetMs),
                    // The target's early response headers: it has the id free and the disks' base images.
                    TargetAccepted = _ => Accepted(call),
                    Snapshot = new SnapshotOptions { LayerDirectory = LayerDirectory, MachineId = m.Id },
                }, new Reporter(events.Writer), cancel).ConfigureAwait(false);
                await stream.FlushAsync(cancel).ConfigureAwait(false);
                await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                events.Writer.TryComplete();
                throw e switch
                {
                    RpcException rpc => TargetFailure(r.Target, rpc),
                    MachineStateException => Failure(StatusCode.FailedPrecondition, e.Message),
                    IOException or InvalidOperationException or BlockImageException => Failure(StatusCode.Internal, $"migration of '{m.Id}' failed: {e.Message}"),
                    _ => e,
                };
            }

            Service.V1.Machine moved;
            try
            {
                moved = await call.ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                // The source is paused and whole (SendAsync's contract): it runs on here.
                if (running)
                {
                    m.Vm.Resume();
                }

                events.Writer.TryComplete();
                throw TargetFailure(r.Target, e);
            }

            // The target has it: it ends here, and is no longer this node's.
            m.Vm.Stop(new MachineExit(MachineExitReason.Stopped, $"migrated to {r.Target}"));
            await m.Vm.Exited.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
            if (machines.TryRemove(m.Id, out _))
            {
                m.Publish(Service.V1.MachineState.Stopped, $"migrated to {r.Target}");
                await m.DisposeAsync().ConfigureAwait(false);
                await CollectLayersAsync().ConfigureAwait(false);
            }

            events.Writer.TryWrite(new MigrationEvent
            {
                Round = (uint)report.Rounds,
                PagesSent = (ulong)report.PagesSent,
                BytesSent = (ulong)report.BytesSent,
                Final = true,
                Machine = moved,
                TotalNanos = report.Total.Ticks * 100,
                DowntimeNanos = report.Downtime.Ticks * 100,
                UncompressedBytes = (ulong)report.UncompressedBytes,
            });
            events.Writer.TryComplete();
            await forwarding.ConfigureAwait(false);
            return true;
        }
        finally
        {
            m.Gate.Release();
            Interlocked.Exchange(ref m.Migrating, 0);
        }
    }

    private const string AcceptedHeader = "emu-migration";

    /// <summary>
    /// Waits for the target's response headers and their mark of acceptance. A target that refused
    /// answers with headers and trailers at once (no mark): its status is then the call's.
    /// </summary>
    private static async Task Accepted(AsyncClientStreamingCall<MigrationChunk, Service.V1.Machine> call)
    {
        var headers = await call.ResponseHeadersAsync.ConfigureAwait(false);
        if (headers.FirstOrDefault(h => h.Key == AcceptedHeader)?.Value != "accepted")
        {
            await call.ResponseAsync.ConfigureAwait(false);
            throw new RpcException(new Status(StatusCode.Internal, "the target answered without accepting the migration"));
        }
    }

    private GrpcChannel OpenTarget(string target)
    {
        try
        {
            return ControlPlaneChannel.Open(target, options.PeerToken);
        }
        catch (Exception e) when (e is UriFormatException or ArgumentException)
        {
            throw Failure(StatusCode.InvalidArgument, $"target '{target}' is not a node's address (HOST:PORT, a URL or unix:PATH): {e.Message}");
        }
    }

    /// <summary>
    /// The status of a migration the target ended: the target's own. A status the client made up
    /// here from a transport error (it carries the exception) means the target could not be
    /// reached or the connection broke: UNAVAILABLE, also when the client called it INTERNAL (the
    /// gRPC fuzzer met that once, for a target socket that does not exist, on a loaded host).
    /// </summary>
    private static RpcException TargetFailure(string target, RpcException e) =>
        Failure(e.StatusCode == StatusCode.Internal && e.Status.DebugException is not null ? StatusCode.Unavailable : e.StatusCode, $"target {target}: {e.Status.Detail}");

    private async Task<Service.V1.Machine> Receive(IAsyncStreamReader<MigrationChunk> requests, ServerCallContext context)
    {
        var cancel = context.CancellationToken;
        if (!await requests.MoveNext(cancel).ConfigureAwait(false) || string.IsNullOrEmpty(requests.Current.MachineId))
        {
            throw Failure(StatusCode.InvalidArgument, "the first migration message must name the machine");
        }

        string id = requests.Current.MachineId;
        bool resume = requests.Current.Resume;
        var sentSpec = requests.Current.Spec;
        CheckId(id, "machine_id");
        if (machines.ContainsKey(id))
        {
            throw Failure(StatusCode.AlreadyExists, $"machine '{id}' exists");
        }

        // The request stream is copied into a pipe the receiver reads. The copy must be over before
        // the call ends (Kestrel reuses a finished request's stream; see AttachConsole), so a
        // receiver that fails cancels it instead of leaving it to fill the pipe and wait.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 8 << 20, resumeWriterThreshold: 4 << 20));
        var first = requests.Current.Data;
        using var copy = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var pumping = Task.Run(async () =>
        {
            try
            {
                await pipe.Writer.WriteAsync(first.Memory, copy.Token).ConfigureAwait(false);
                while (await requests.MoveNext(copy.Token).ConfigureAwait(false))
                {
                    await pipe.Writer.WriteAsync(requests.Current.Data.Memory, copy.Token).ConfigureAwait(false);
                }

                await pipe.Writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e).ConfigureAwait(false);
            }
        }, CancellationToken.None);

        await layersGate.WaitAsync(cancel).ConfigureAwait(false);
        await createGate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var line = new SerialLine();
            VirtualMachine vm;
            try
            {
                // Response headers early say "accepted" to the source, which waits for them before it pauses.
                vm = await LiveMigration.ReceiveAsync(pipe.Reader.AsStream(), RestoreOptions(id), line.Output, cancel,
                    accepted: () => context.WriteResponseHeadersAsync(new Metadata { { AcceptedHeader, "accepted" } })).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                line.Dispose();
                copy.Cancel();
                throw e is MigrationDiskException ? Failure(StatusCode.FailedPrecondition, e.Message) : RestoreFailure(e, $"receiving '{id}'");
            }

            var config = vm.Config!;
            try
            {
                Admit(id, (uint)config.Cpus, config.MemoryBytes >> 20);
            }
            catch
            {
                copy.Cancel();
                await vm.DisposeAsync().ConfigureAwait(false);
                line.Dispose();
                CollectLayers();
                throw;
            }

            vm.StartPaused();
            var hosted = Register(id, MigratedSpec(id, config, sentSpec), vm, line);
            if (resume)
            {
                vm.Resume();
                hosted.Publish(Service.V1.MachineState.Running, "migrated here");
            }
            else
            {
                hosted.Publish(Service.V1.MachineState.Paused, "migrated here");
            }

            return hosted.Describe(options.NodeName);
        }
        finally
        {
            createGate.Release();
            layersGate.Release();
            await pumping.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The spec a migrated machine is listed and recorded with: the source's (its restart policy,
    /// CPU model, ...) with the vcpus and memory of the machine received; without one (a source
    /// that sends none), what the config says, with restart policy NEVER.
    /// </summary>
    private static CreateMachineRequest MigratedSpec(string id, PcConfig config, CreateMachineRequest? sent)
    {
        if (sent is null)
        {
            return SpecOf(id, config);
        }

        var spec = sent.Clone();
        spec.Id = id;
        spec.Vcpus = (uint)config.Cpus;
        spec.MemoryMib = config.MemoryBytes >> 20;
        if (!Enum.IsDefined(spec.RestartPolicy))
        {
            spec.RestartPolicy = V1.RestartPolicy.Never;
        }

        return spec;
    }

    /// <summary>Progress of the sender, queued for the response stream (the sender reports synchronously).</summary>
    private sealed class Reporter(ChannelWriter<MigrationEvent> events) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress p) => events.TryWrite(new MigrationEvent
        {
            Round = (uint)p.Round,
            PagesSent = (ulong)p.PagesSent,
            BytesSent = (ulong)p.BytesSent,
            DirtyPages = (ulong)p.DirtyPages,
            DirtyPagesPerSecond = p.DirtyPagesPerSecond,
            ExpectedDowntimeNanos = p.ExpectedDowntime.Ticks * 100,
            Final = p.Final,
            UncompressedBytes = (ulong)p.UncompressedBytes,
        });
    }

    /// <summary>The migration stream as ReceiveMigration messages of up to 256 KiB; the first carries the machine's id.</summary>
    private sealed class ChunkStream(IClientStreamWriter<MigrationChunk> writer, MigrationChunk first) : Stream
    {
        private readonly byte[] buffer = new byte[MigrationChunkBytes];
        private MigrationChunk? header = first;
        private int filled;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancel = default)
        {
            while (data.Length > 0)
            {
                int n = Math.Min(data.Length, buffer.Length - filled);
                data[..n].CopyTo(buffer.AsMemory(filled));
                filled += n;
                data = data[n..];
                if (filled == buffer.Length)
                {
                    await SendAsync().ConfigureAwait(false);
                }
            }
        }

        public override Task WriteAsync(byte[] data, int offset, int count, CancellationToken cancel) => WriteAsync(data.AsMemory(offset, count), cancel).AsTask();

        public override async Task FlushAsync(CancellationToken cancel)
        {
            if (filled > 0 || header is not null)
            {
                await SendAsync().ConfigureAwait(false);
            }
        }

        private async Task SendAsync()
        {
            var chunk = header ?? new MigrationChunk();
            header = null;
            chunk.Data = ByteString.CopyFrom(buffer, 0, filled);
            filled = 0;
            await writer.WriteAsync(chunk).ConfigureAwait(false);
        }

        public override void Write(byte[] data, int offset, int count) => WriteAsync(data, offset, count, CancellationToken.None).GetAwaiter().GetResult();

        public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

        public override int Read(byte[] data, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
