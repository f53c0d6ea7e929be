using System.Collections.Concurrent;
using System.Diagnostics;
using Emulator.Cluster;
using Emulator.Machine.Pc;
using Emulator.Machine.Telemetry;
using Emulator.Service.Client;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Emulator.Service.Machines;

/// <summary>
/// The node's part in a cluster (`emu serve --cluster`): it tells the cluster what it runs and
/// can run (<see cref="IMachineHost"/>), places new machines on the node with the most room, and
/// forwards every call about a machine another node runs to that node's control plane, streams
/// included. A call forwarded once carries <see cref="ForwardedHeader"/> and is never forwarded
/// again: the node that gets it answers for itself.
/// </summary>
public sealed partial class MachineService : IMachineHost
{
    /// <summary>Metadata on a forwarded call: the name of the node that forwarded it.</summary>
    internal const string ForwardedHeader = "emu-forwarded-by";

    private readonly ConcurrentDictionary<string, GrpcChannel> peers = new(StringComparer.Ordinal);

    /// <summary>The cluster, once the node's actor system runs; null for a node alone.</summary>
    internal MachineDirectory? Cluster
    {
        get => cluster;
        set
        {
            cluster = value;
            if (value is not null)
            {
                WatchMembership(value);
            }
        }
    }

    private MachineDirectory? cluster;

    bool IMachineHost.Hosts(string machineId) => machines.ContainsKey(machineId);

    NodeInfo IMachineHost.Load()
    {
        var specs = machines.Values.Select(m => m.Spec).ToList();
        return new NodeInfo(
            options.NodeName, "", "",
            specs.Count, options.MaxMachines,
            specs.Sum(s => (int)s.Vcpus), options.MaxVcpusPerNode,
            (ulong)specs.Sum(s => (long)s.MemoryMib), options.MaxMemoryMibPerNode);
    }

    /// <summary>The node to forward a call about <paramref name="machineId"/> to; null when this node answers it.</summary>
    private Task<NodeInfo?> RemoteOwnerAsync(string machineId, ServerCallContext context) =>
        RemoteOwnerAsync(machineId, IsForwarded(context), context.CancellationToken);

    private async Task<NodeInfo?> RemoteOwnerAsync(string machineId, bool forwarded, CancellationToken cancel)
    {
        if (Cluster is not { } cluster || machines.ContainsKey(machineId) || string.IsNullOrEmpty(machineId))
        {
            return null;
        }

        if (takingOver.TryGetValue(machineId, out string? restoring))
        {
            throw Failure(StatusCode.Unavailable, restoring);
        }

        if (forwarded)
        {
            return null;
        }

        Joined(cluster);
        var lookup = await cluster.LookupAsync(machineId, cancel).ConfigureAwait(false);
        if (lookup.Owner is null)
        {
            // Not on a node that answered: being brought back after its node was lost, or perhaps
            // on a node that does not answer now. Either is worth a retry, unlike NOT_FOUND.
            if (lookup.Pending is { } pending)
            {
                throw Failure(StatusCode.Unavailable, pending);
            }

            if (lookup.Unreachable.Count > 0)
            {
                throw Failure(StatusCode.Unavailable, $"no node that answered runs machine '{machineId}'; node(s) {string.Join(", ", lookup.Unreachable)} cannot be reached now and may");
            }
        }

        return lookup.Owner is { } owner && owner.Name != cluster.NodeName ? owner : null;
    }

    /// <summary>UNAVAILABLE until this node has joined the cluster: before, it cannot tell where a machine runs.</summary>
    private static void Joined(MachineDirectory cluster)
    {
        if (!cluster.Joined.IsCompleted)
        {
            throw Failure(StatusCode.Unavailable, $"node {cluster.NodeName} has not joined the cluster yet");
        }
    }

    private static bool IsForwarded(ServerCallContext context) => context.RequestHeaders.Get(ForwardedHeader) is not null;

    /// <summary>A client of another node's control plane (one channel per node, with this node's peer token).</summary>
    private V1.MachineService.MachineServiceClient Peer(NodeInfo node) =>
        new(peers.GetOrAdd(node.ControlPlaneAddress, address => ControlPlaneChannel.Open(address, options.PeerToken)));

    /// <summary>The call's own deadline and cancellation, marked as forwarded by this node.</summary>
    private CallOptions Forwarding(ServerCallContext context) =>
        new(new Metadata { { ForwardedHeader, options.NodeName } }, context.Deadline == DateTime.MaxValue ? null : context.Deadline, context.CancellationToken);

    /// <summary>A span for a call this node passes to another (its client call carries the trace on, so one trace shows both nodes).</summary>
    private Activity? ForwardSpan(string call, string machineId, NodeInfo to)
    {
        var span = EmulatorTelemetry.ControlPlane.StartActivity("MachineService/Forward " + call, ActivityKind.Internal);
        span?.SetTag("rpc.method", call);
        span?.SetTag("machine.id", machineId);
        span?.SetTag("emu.node", options.NodeName);
        span?.SetTag("emu.node.target", to.Name);
        return span;
    }

    /// <summary>A unary call about one machine: answered here, or by the node that runs the machine.</summary>
    private async Task<T> Routed<T>(string call, string machineId, ServerCallContext context, Func<V1.MachineService.MachineServiceClient, CallOptions, AsyncUnaryCall<T>> remote, Func<Task<T>> local)
    {
        if (await RemoteOwnerAsync(machineId, context).ConfigureAwait(false) is not { } owner)
        {
            return await Traced(call, machineId, local).ConfigureAwait(false);
        }

        using var span = ForwardSpan(call, machineId, owner);
        return await remote(Peer(owner), Forwarding(context)).ResponseAsync.ConfigureAwait(false);
    }

    /// <summary>A server-streaming call about one machine, answered by the node that runs it: its stream, passed on.</summary>
    private async Task<bool> TryForwardStream<TResponse>(string call, string machineId, ServerCallContext context, IServerStreamWriter<TResponse> responses, Func<V1.MachineService.MachineServiceClient, CallOptions, AsyncServerStreamingCall<TResponse>> remote)
    {
        if (await RemoteOwnerAsync(machineId, context).ConfigureAwait(false) is not { } owner)
        {
            return false;
        }

        using var span = ForwardSpan(call, machineId, owner);
        using var forwarded = remote(Peer(owner), Forwarding(context));
        while (await forwarded.ResponseStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            await responses.WriteAsync(forwarded.ResponseStream.Current).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>
    /// A console client (<see cref="ServeConsoleAsync"/>) of a machine another node runs: its
    /// input and output passed through that node's AttachConsole.
    /// </summary>
    private async Task BridgeConsoleAsync(NodeInfo owner, string machineId, Func<CancellationToken, ValueTask<ReadOnlyMemory<byte>?>> readInput, Func<ConsoleChunk, Task> write, CancellationToken cancel)
    {
        using var span = ForwardSpan("AttachConsole", machineId, owner);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var call = Peer(owner).AttachConsole(new CallOptions(new Metadata { { ForwardedHeader, options.NodeName } }, cancellationToken: ended.Token));
        await call.RequestStream.WriteAsync(new ConsoleInput { MachineId = machineId }, ended.Token).ConfigureAwait(false);
        var input = Task.Run(async () =>
        {
            while (await readInput(ended.Token).ConfigureAwait(false) is { } bytes)
            {
                await call.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFrom(bytes.Span) }, ended.Token).ConfigureAwait(false);
            }

            await call.RequestStream.CompleteAsync().ConfigureAwait(false); // the client half-closed: so does this side
        });
        try
        {
            while (await call.ResponseStream.MoveNext(ended.Token).ConfigureAwait(false))
            {
                var output = call.ResponseStream.Current;
                await write(new ConsoleChunk(output.Data.ToByteArray(), (long)output.DroppedBytes)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or System.Net.Http.HttpRequestException or ObjectDisposedException)
        {
            // The owner's connection broke (its node died): said as such, not as an unknown error.
            throw Failure(StatusCode.Unavailable, $"the console of '{machineId}' on node {owner.Name} ended: {e.Message}");
        }
        finally
        {
            // As in ServeConsoleAsync: the input read must be over before the call ends.
            ended.Cancel();
            try
            {
                await input.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or RpcException or InvalidOperationException)
            {
                // ended by the cancellation above, or the owner's call ended first
            }
        }
    }

    /// <summary>
    /// Where a new machine goes: this node when it is alone, was told by the node that placed it,
    /// or has the most room; otherwise the node with the most free memory among those it fits.
    /// RESOURCE_EXHAUSTED, with every node's room, when it fits none. The node that makes the
    /// machine checks its id (<see cref="WithIdHeld"/>).
    /// </summary>
    private async Task<NodeInfo?> PlaceAsync(CreateMachineRequest r, ServerCallContext context)
    {
        if (Cluster is not { } cluster || IsForwarded(context))
        {
            return null;
        }

        Joined(cluster);
        var nodes = (await cluster.NodesAsync(context.CancellationToken).ConfigureAwait(false)).Nodes;
        var chosen = nodes
            .Where(n => n.Fits((int)r.Vcpus, r.MemoryMib))
            .OrderByDescending(n => n.MemoryMibCapacity - n.MemoryMibUsed)
            .ThenBy(n => n.Name == cluster.NodeName ? 0 : 1)
            .FirstOrDefault();
        if (chosen is null && r.Vcpus >= 1 && r.Vcpus <= options.MaxVcpusPerMachine && r.MemoryMib >= 32 && r.MemoryMib <= options.MaxMemoryMibPerMachine)
        {
            throw Failure(StatusCode.ResourceExhausted, $"no node has room for {r.Vcpus} vCPUs and {r.MemoryMib} MiB ({string.Join("; ", nodes.Select(n => n.Room))})");
        }

        return chosen is null || chosen.Name == cluster.NodeName ? null : chosen;
    }

    /// <summary>
    /// Makes a machine by an id the caller chose, holding the id for this node meanwhile (on a
    /// cluster): the id's one entity answers every node in turn, so of two nodes making one id at
    /// the same moment one is told ALREADY_EXISTS (RATIONALE.md, "One id, one machine"). Then
    /// ALREADY_EXISTS too when a node runs a machine by that id already; UNAVAILABLE when the
    /// cluster does not answer. The id is released if the machine is not made. Ids the node
    /// chooses itself are random and not held.
    /// </summary>
    private async Task<T> WithIdHeld<T>(string id, string field, CancellationToken cancel, Func<Task<T>> make)
    {
        if (Cluster is not { } cluster || string.IsNullOrEmpty(id) || machines.ContainsKey(id))
        {
            return await make().ConfigureAwait(false);
        }

        CheckId(id, field); // a bad id names no entity
        Joined(cluster);

        // Two calls on this node for one id share the hold: the one that fails releases it only
        // if the other is not still making the machine.
        lock (idsBeingMade)
        {
            idsBeingMade[id] = idsBeingMade.GetValueOrDefault(id) + 1;
        }

        try
        {
            string? holder;
            try
            {
                holder = await cluster.ReserveAsync(id, cancel).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw Failure(StatusCode.Unavailable, e.Message);
            }

            if (holder is not null)
            {
                throw Failure(StatusCode.AlreadyExists, $"machine '{id}' exists on node {holder}, or is being made there");
            }

            if (await cluster.OwnerAsync(id, cancel).ConfigureAwait(false) is { } owner && owner.Name != cluster.NodeName)
            {
                throw Failure(StatusCode.AlreadyExists, $"machine '{id}' exists on node {owner.Name}");
            }

            return await make().ConfigureAwait(false);
        }
        finally
        {
            // Under the lock, so that a release reaches the entity before a later call's Reserve.
            lock (idsBeingMade)
            {
                if (--idsBeingMade[id] == 0)
                {
                    idsBeingMade.Remove(id);
                    if (!machines.ContainsKey(id))
                    {
                        cluster.Release(id);
                    }
                }
            }
        }
    }

    /// <summary>Ids this node is making machines by (<see cref="WithIdHeld"/>), with how many calls are at it; the lock is the dictionary.</summary>
    private readonly Dictionary<string, int> idsBeingMade = new(StringComparer.Ordinal);

    /// <summary>Tells the cluster this node runs the machine now (its entity moves here); a failure only costs later lookups a broadcast.</summary>
    private void Claim(string machineId)
    {
        if (Cluster is { } cluster)
        {
            _ = cluster.ClaimAsync(machineId, CancellationToken.None).ContinueWith(
                t => Trace.TraceWarning($"emu: the cluster was not told that {options.NodeName} runs '{machineId}': {t.Exception?.GetBaseException().Message}"),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    /// <summary>Every node's machines (ListMachines on a cluster): this node's, and each other node's as it lists them.</summary>
    private async Task<ListMachinesResponse> ListEverywhere(ListMachinesRequest request, ServerCallContext context)
    {
        var response = new ListMachinesResponse { Machines = { machines.Values.Select(m => m.Describe(options.NodeName)) } };
        if (Cluster is { } cluster && !IsForwarded(context))
        {
            var view = await cluster.NodesAsync(context.CancellationToken).ConfigureAwait(false);
            response.UnreachableNodes.Add(view.Unreachable);
            var others = view.Nodes.Where(n => n.Name != cluster.NodeName).ToList();
            var lists = await Task.WhenAll(others.Select(async n =>
            {
                try
                {
                    using var span = ForwardSpan("ListMachines", "", n);
                    var call = Forwarding(context);
                    return await Peer(n).ListMachinesAsync(request, call.WithDeadline(DateTime.UtcNow.AddSeconds(5))).ResponseAsync.ConfigureAwait(false);
                }
                catch (RpcException)
                {
                    return null;
                }
            })).ConfigureAwait(false);
            for (int i = 0; i < others.Count; i++)
            {
                if (lists[i] is { } list)
                {
                    response.Machines.Add(list.Machines);
                }
                else
                {
                    response.UnreachableNodes.Add(others[i].Name);
                }
            }
        }

        var sorted = response.Machines.OrderBy(m => m.Id, StringComparer.Ordinal).ToList();
        response.Machines.Clear();
        response.Machines.Add(sorted);
        return response;
    }

    /// <summary>
    /// MigrateMachine's target as a node name of the cluster: that node's control-plane address,
    /// once it is known to have room for the machine (RESOURCE_EXHAUSTED before any page is sent);
    /// any other target is an address already, judged by the target when it receives.
    /// </summary>
    private async Task<string> TargetAddressAsync(MigrateMachineRequest r, CancellationToken cancel)
    {
        if (Cluster is not { } cluster || r.Target.Contains(':', StringComparison.Ordinal))
        {
            return r.Target;
        }

        if (r.Target == cluster.NodeName)
        {
            throw Failure(StatusCode.InvalidArgument, $"target '{r.Target}' is the node that runs the machine");
        }

        var nodes = (await cluster.NodesAsync(cancel).ConfigureAwait(false)).Nodes;
        var target = nodes.FirstOrDefault(n => n.Name == r.Target)
            ?? throw Failure(StatusCode.NotFound, $"no node '{r.Target}' in the cluster (nodes: {string.Join(", ", nodes.Select(n => n.Name).Order(StringComparer.Ordinal))})");
        if (machines.TryGetValue(r.Id, out var m) && !target.Fits((int)m.Spec.Vcpus, m.Spec.MemoryMib))
        {
            throw Failure(StatusCode.ResourceExhausted, $"node {target.Name} has no room for '{m.Id}' ({m.Spec.Vcpus} vCPUs, {m.Spec.MemoryMib} MiB): {target.Room}");
        }

        return target.ControlPlaneAddress;
    }

    public override async Task<ListNodesResponse> ListNodes(ListNodesRequest request, ServerCallContext context)
    {
        var view = Cluster is { } cluster
            ? await cluster.NodesAsync(context.CancellationToken).ConfigureAwait(false)
            : new ClusterView([((IMachineHost)this).Load()], []);
        return new ListNodesResponse
        {
            Nodes =
            {
                view.Nodes.Select(n => new Node
                {
                    Name = n.Name,
                    Address = n.ControlPlaneAddress,
                    Machines = (uint)n.Machines,
                    MaxMachines = (uint)n.MaxMachines,
                    VcpusUsed = (uint)n.VcpusUsed,
                    VcpuCapacity = (uint)n.VcpuCapacity,
                    MemoryMibUsed = n.MemoryMibUsed,
                    MemoryMibCapacity = n.MemoryMibCapacity,
                }),
            },
            UnreachableNodes = { view.Unreachable },
            Clustered = Cluster is not null,
        };
    }

    private void DisposePeers()
    {
        foreach (var channel in peers.Values)
        {
            channel.Dispose();
        }

        peers.Clear();
    }
}
