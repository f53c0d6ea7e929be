using Emulator.Cluster.Catalogue;
using Emulator.Machine.Pc;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Emulator.Service.Machines;

/// <summary>
/// The node's durable catalogue (src/Emulator.Cluster/RATIONALE.md, "The catalogue"): every
/// machine registered here is recorded with its spec and restart policy, every state change and
/// snapshot after it, and its removal (deleted, or migrated away). When the node starts, the
/// machines the catalogue lists come back (<see cref="BringBackAsync"/>): those their policy
/// brings back run again from their latest snapshot, the others are listed without a VM until
/// StartMachine boots them from their spec.
/// </summary>
public sealed partial class MachineService
{
    private volatile bool catalogueClosed;

    /// <summary>The catalogue, once the node's actor system runs; null when the node keeps none (or it could not be read).</summary>
    internal MachineCatalogue? Catalogue
    {
        get => catalogue;
        set
        {
            catalogue = value;
            if (value is not null)
            {
                value.Failed = message => Log("catalogue: " + message);
            }
        }
    }

    private MachineCatalogue? catalogue;

    /// <summary>Where the node's messages go (standard error for `emu serve`; a test may listen).</summary>
    internal Action<string> Log { get; set; } = message => Console.Error.WriteLine("emu: " + message);

    /// <summary>A machine became this node's: its spec and policy go to the catalogue (its state follows as it changes).</summary>
    private void Recorded(HostedMachine m)
    {
        m.Changed = Changed;
        if (Catalogue is { } c && !catalogueClosed)
        {
            c.Record(new MachineRecorded(m.Id, m.Spec.ToByteArray(), (Emulator.Cluster.Catalogue.RestartPolicy)m.Spec.RestartPolicy, options.NodeName));
        }
    }

    /// <summary>
    /// A machine's state changed: recorded; or, when it is no longer the node's (DeleteMachine and
    /// MigrateMachine take it out of the table before they publish its last event), its removal.
    /// </summary>
    private void Changed(HostedMachine m)
    {
        if (Catalogue is not { } c || catalogueClosed)
        {
            return;
        }

        c.Record(machines.TryGetValue(m.Id, out var current) && ReferenceEquals(current, m)
            ? new MachineStateChanged(m.Id, StateName(m.State), m.Detail)
            : new MachineRemoved(m.Id, m.Detail));
    }

    /// <summary>Waits until what this call changed is in the catalogue (a write that fails is logged, not thrown).</summary>
    private Task CatalogueSyncAsync() => Catalogue is { } c && !catalogueClosed ? c.SyncAsync() : Task.CompletedTask;

    /// <summary>The catalogue's name of a state: the proto's, without its prefix ("RUNNING").</summary>
    private static string StateName(Service.V1.MachineState state) =>
        state.ToString().ToUpperInvariant();

    /// <summary>
    /// The node stops in order (SIGTERM, Ctrl-C, <see cref="Hosting.ControlPlaneHost.StopAsync"/>):
    /// the catalogue records it, and nothing after it: the machines the node closes now are not
    /// stopped by their users, and keep their last state for the next start.
    /// </summary>
    internal async Task CloseCatalogueAsync()
    {
        if (Catalogue is not { } c || catalogueClosed || Cluster?.Removed.IsCompleted == true)
        {
            catalogueClosed = true;
            return;
        }

        catalogueClosed = true;
        await c.WriteAsync(new NodeStopped(options.NodeName, DateTimeOffset.UtcNow)).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the catalogue and brings its machines back, before the node serves: by their restart
    /// policy (machine.proto, RestartPolicy). A catalogue that cannot be read is logged and the node
    /// serves without it; a machine that cannot be brought back is listed FAILED with the reason.
    /// </summary>
    internal async Task BringBackAsync(CancellationToken cancel)
    {
        if (Catalogue is not { } c)
        {
            return;
        }

        CatalogueContents contents;
        int attempt = 0;
        while (true)
        {
            try
            {
                contents = await c.LoadAsync(cancel).ConfigureAwait(false);
            }
            catch (CatalogueUnavailableException e)
            {
                Catalogue = null;
                Log($"catalogue: {e.Message}; serving without it: no machine of an earlier run comes back, and this run's machines will not survive a restart");
                return;
            }

            // Written right after what was read, or refused: on a cluster another node may have
            // been taking this node's machines over (it was lost) since the read. Then the
            // catalogue is read again (its actor replays after 1 s), so that no machine another
            // node took is brought back here too (RATIONALE.md, "Node failure").
            if (await c.TryWriteAsync(new NodeStarted(options.NodeName, DateTimeOffset.UtcNow)).ConfigureAwait(false) || ++attempt == 5)
            {
                break;
            }

            Log("catalogue: it changed while it was read (another node was taking this node's machines over); reading it again");
            await Task.Delay(TimeSpan.FromSeconds(2), cancel).ConfigureAwait(false);
        }

        // A node the cluster removes (downed) stops its machines and its actor system: that is no
        // orderly stop, and what it stops is not its users' doing. Nothing more is recorded; the
        // next start finds the machines as they were, after a failure (ON_FAILURE brings them back).
        _ = Cluster?.Removed.ContinueWith(_ => catalogueClosed = true, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        foreach (string problem in contents.Problems)
        {
            Log($"catalogue: an event about no machine that can be named could not be read ({problem}); it is ignored");
        }

        foreach (var record in contents.Machines)
        {
            await BringBackAsync(record, contents.StoppedInOrder, cancel).ConfigureAwait(false);
        }

        if (contents.Machines.Count > 0)
        {
            Log($"catalogue {c.Options.Description}: {contents.Machines.Count} machine(s) of the last run: " +
                string.Join(", ", contents.Machines.Select(m => $"{m.Id} {(machines.TryGetValue(m.Id, out var h) ? StateName(h.State) : "?")}")));
        }
    }

    private async Task BringBackAsync(MachineRecord record, bool stoppedInOrder, CancellationToken cancel)
    {
        CreateMachineRequest spec;
        try
        {
            spec = record.Damage is null ? CreateMachineRequest.Parser.ParseFrom(record.Spec) : new CreateMachineRequest();
        }
        catch (InvalidProtocolBufferException e)
        {
            spec = new CreateMachineRequest();
            record = record with { Damage = $"its spec cannot be read: {e.Message}" };
        }

        spec.Id = record.Id;
        if (record.Damage is { } damage)
        {
            Log($"catalogue: the record of machine '{record.Id}' is damaged ({damage}); it is listed FAILED");
            AddWithoutVm(spec, Service.V1.MachineState.Failed, $"its catalogue record is damaged: {damage}; delete it and create it again");
            return;
        }

        if (record.State == "LOST")
        {
            // Taken over from a lost node and not brought back then: it stays LOST, with its reason.
            AddWithoutVm(spec, Service.V1.MachineState.Lost, record.Detail);
            return;
        }

        var policy = (Emulator.Cluster.Catalogue.RestartPolicy)spec.RestartPolicy;
        bool wasLive = record.State is "RUNNING" or "PAUSED";
        string how = stoppedInOrder ? "the node was stopped in order" : "the node ended without stopping it";
        string policyName = RestartPolicyName(spec.RestartPolicy);
        if (!wasLive || !(policy == Emulator.Cluster.Catalogue.RestartPolicy.Always || (policy == Emulator.Cluster.Catalogue.RestartPolicy.OnFailure && !stoppedInOrder)))
        {
            string why = wasLive
                ? $"it was {record.State} when {how}; its restart policy {policyName} does not bring it back; StartMachine boots it from its spec"
                : $"it was {record.State}{(record.Detail.Length > 0 ? $" ({record.Detail})" : "")} when the node last ran; StartMachine boots it from its spec";
            AddWithoutVm(spec, Service.V1.MachineState.Stopped, why);
            return;
        }

        try
        {
            HostedMachine m;
            if (record.SnapshotId is { } snapshot)
            {
                await RestoreSnapshot(new RestoreSnapshotRequest { SnapshotId = snapshot, MachineId = record.Id }, cancel, spec).ConfigureAwait(false);
                m = Find(record.Id);
                if (record.State == "RUNNING")
                {
                    m.Vm.Resume();
                }

                m.Publish(record.State == "RUNNING" ? Service.V1.MachineState.Running : Service.V1.MachineState.Paused,
                    $"brought back from snapshot {snapshot} ({how}; restart policy {policyName})");
            }
            else
            {
                var line = new SerialLine();
                await createGate.WaitAsync(cancel).ConfigureAwait(false);
                try
                {
                    var config = ConfigFor(record.Id, spec, line);
                    Admit(record.Id, spec.Vcpus, spec.MemoryMib);
                    var vm = BuildVm(config);
                    m = Register(record.Id, spec, vm, line);
                }
                catch
                {
                    line.Dispose();
                    throw;
                }
                finally
                {
                    createGate.Release();
                }

                m.Vm.Start();
                m.Publish(Service.V1.MachineState.Running, $"booted from its spec: it has no snapshot ({how}; restart policy {policyName})");
            }

            await CatalogueSyncAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            string reason = e is RpcException rpc ? rpc.Status.Detail : e.Message;
            Log($"catalogue: machine '{record.Id}' could not be brought back: {reason}");
            if (!machines.ContainsKey(record.Id))
            {
                AddWithoutVm(spec, Service.V1.MachineState.Failed, $"it could not be brought back: {reason}; StartMachine boots it from its spec");
            }
        }
    }

    /// <summary>Lists a catalogue machine without a VM (StartMachine builds one) in <paramref name="state"/>, recorded so.</summary>
    /// <param name="record">
    /// Whether the machine is new to this node's catalogue (taken over from a lost node): its spec
    /// is recorded first, else its state alone would be written, which a restart of the node
    /// cannot place (the machine vanished from the catalogue when the whole cluster restarted).
    /// </param>
    private void AddWithoutVm(CreateMachineRequest spec, Service.V1.MachineState state, string detail, bool record = false)
    {
        var m = new HostedMachine(spec.Id, spec, new SerialLine(), state, detail);
        machines[spec.Id] = m;
        Claim(spec.Id);
        if (record)
        {
            Recorded(m);
        }

        m.Changed = Changed;
        m.Publish(state, detail);
    }

    /// <summary>
    /// StartMachine: a machine without a VM (from the catalogue) gets one built from its spec, as
    /// CreateMachine builds it, and then starts like any created machine.
    /// </summary>
    private async Task<Service.V1.Machine> Start(MachineRef r, CancellationToken cancel)
    {
        var m = Find(r.Id);
        if (!m.HasVm)
        {
            await m.Gate.WaitAsync(cancel).ConfigureAwait(false);
            try
            {
                if (!m.HasVm)
                {
                    var vm = BuildVm(ConfigFor(m.Id, m.Spec, m.Console));
                    vm.Bus.MachineId = m.Id;
                    m.Console.Connect(vm);
                    m.Attach(vm);
                }
            }
            finally
            {
                m.Gate.Release();
            }
        }

        return await Transition(r, h => h.Vm.Start(), Service.V1.MachineState.Running, cancel).ConfigureAwait(false);
    }

    private static string RestartPolicyName(V1.RestartPolicy policy) => policy switch
    {
        V1.RestartPolicy.Always => "ALWAYS",
        V1.RestartPolicy.OnFailure => "ON_FAILURE",
        _ => "NEVER",
    };
}
