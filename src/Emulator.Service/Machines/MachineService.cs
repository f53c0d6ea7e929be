using System.Collections.Concurrent;
using Emulator.Machine.Block;
using Emulator.Machine.Boot;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.SharedFolders;
using Emulator.Machine.Telemetry;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Win32.SafeHandles;

namespace Emulator.Service.Machines;

/// <summary>
/// emulator.v1.MachineService on one node: machines are PC machines of actors run in this
/// process. Each call's preconditions and error codes are those documented in machine.proto.
/// </summary>
public sealed partial class MachineService(MachineServiceOptions options) : V1.MachineService.MachineServiceBase, IAsyncDisposable
{
    /// <summary>The most console output one ConsoleOutput message carries.</summary>
    private const int ConsoleChunkBytes = 16 * 1024;
    private readonly ConcurrentDictionary<string, HostedMachine> machines = new();
    private readonly SemaphoreSlim createGate = new(1, 1);

    /// <summary>
    /// Runs when a call's work is done and before its result is kept (the machine registered, the
    /// snapshot reported), with the call's token. Nothing by default; a test holds a call here so
    /// that its deadline passes at the last moment, and checks nothing of it is left.
    /// </summary>
    internal Func<string, CancellationToken, Task> BeforeCommit { get; set; } = (_, _) => Task.CompletedTask;

    public override async Task<Service.V1.Machine> CreateMachine(CreateMachineRequest request, ServerCallContext context)
    {
        if (await PlaceAsync(request, context).ConfigureAwait(false) is { } node)
        {
            using var span = ForwardSpan("CreateMachine", request.Id, node);
            return await Peer(node).CreateMachineAsync(request, Forwarding(context)).ResponseAsync.ConfigureAwait(false);
        }

        return await Traced("CreateMachine", request.Id, () => WithIdHeld(request.Id, "id", context.CancellationToken, () => Create(request, context.CancellationToken))).ConfigureAwait(false);
    }

    public override Task<Service.V1.Machine> StartMachine(MachineRef request, ServerCallContext context) =>
        Routed("StartMachine", request.Id, context, (c, o) => c.StartMachineAsync(request, o), () => Start(request, context.CancellationToken));

    public override Task<Service.V1.Machine> PauseMachine(MachineRef request, ServerCallContext context) =>
        Routed("PauseMachine", request.Id, context, (c, o) => c.PauseMachineAsync(request, o), () => Transition(request, m => m.Vm.Pause(), Service.V1.MachineState.Paused, context.CancellationToken));

    public override Task<Service.V1.Machine> ResumeMachine(MachineRef request, ServerCallContext context) =>
        Routed("ResumeMachine", request.Id, context, (c, o) => c.ResumeMachineAsync(request, o), () => Transition(request, m => m.Vm.Resume(), Service.V1.MachineState.Running, context.CancellationToken));

    public override Task<Service.V1.Machine> ResetMachine(MachineRef request, ServerCallContext context) =>
        Routed("ResetMachine", request.Id, context, (c, o) => c.ResetMachineAsync(request, o), () => Reset(request, context.CancellationToken));

    public override Task<Service.V1.Machine> StopMachine(MachineRef request, ServerCallContext context) =>
        Routed("StopMachine", request.Id, context, (c, o) => c.StopMachineAsync(request, o), () => Stop(request));

    public override Task<DeleteMachineResponse> DeleteMachine(MachineRef request, ServerCallContext context) =>
        Routed("DeleteMachine", request.Id, context, (c, o) => c.DeleteMachineAsync(request, o), () => Delete(request));

    public override Task<Service.V1.Machine> GetMachine(MachineRef request, ServerCallContext context) =>
        Routed("GetMachine", request.Id, context, (c, o) => c.GetMachineAsync(request, o), () => Task.FromResult(Find(request.Id).Describe(options.NodeName)));

    public override Task<ListMachinesResponse> ListMachines(ListMachinesRequest request, ServerCallContext context) =>
        ListEverywhere(request, context);

    public override async Task WatchMachine(MachineRef request, IServerStreamWriter<MachineEvent> responseStream, ServerCallContext context)
    {
        if (!await TryForwardStream("WatchMachine", request.Id, context, responseStream, (c, o) => c.WatchMachine(request, o)).ConfigureAwait(false))
        {
            await Watch(request, responseStream, context).ConfigureAwait(false);
        }
    }

    /// <summary>A refusal with its gRPC status (machine.proto's error model).</summary>
    private static RpcException Failure(StatusCode code, string detail) => new(new Status(code, detail));

    /// <summary>Runs a control call inside a span named after it, tagged with the machine id and the outcome.</summary>
    private static async Task<T> Traced<T>(string call, string machineId, Func<Task<T>> body)
    {
        using var span = EmulatorTelemetry.ControlPlane.StartActivity("MachineService/" + call, System.Diagnostics.ActivityKind.Internal);
        span?.SetTag("rpc.method", call);
        span?.SetTag("machine.id", machineId);
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            span?.SetTag("rpc.grpc.status_code", (int)e.StatusCode);
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Status.Detail);
            throw;
        }
    }

    private async Task<Service.V1.Machine> Create(CreateMachineRequest r, CancellationToken cancel)
    {
        string id = ChooseId(r.Id, "vm", "id", machines.ContainsKey);
        if (!Enum.IsDefined(r.RestartPolicy))
        {
            throw Failure(StatusCode.InvalidArgument, $"restart_policy {(int)r.RestartPolicy} is not one of NEVER, ALWAYS, ON_FAILURE");
        }

        var line = new SerialLine();
        PcConfig config;
        try
        {
            config = ConfigFor(id, r, line);
        }
        catch
        {
            line.Dispose();
            throw;
        }

        await createGate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            VirtualMachine vm;
            try
            {
                Admit(id, r.Vcpus, r.MemoryMib);
                vm = BuildVm(config);
            }
            catch
            {
                line.Dispose();
                throw;
            }

            try
            {
                // The deadline or the client may be gone by now: then nothing of the machine is kept.
                await BeforeCommit("CreateMachine", cancel).ConfigureAwait(false);
                cancel.ThrowIfCancellationRequested();
            }
            catch
            {
                line.Dispose();
                await vm.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            var hosted = Register(id, r, vm, line);
            await CatalogueSyncAsync().ConfigureAwait(false);
            return hosted.Describe(options.NodeName);
        }
        finally
        {
            createGate.Release();
        }
    }

    /// <summary>
    /// What a CreateMachineRequest asks for, checked as CreateMachine documents it (limits, the
    /// allowed directories, formats), with the kernel and initrd read: the config a VM is built
    /// from, its serial output on <paramref name="line"/>. Throws RpcException with the status.
    /// </summary>
    private PcConfig ConfigFor(string id, CreateMachineRequest r, SerialLine line)
    {
        if (r.Vcpus < 1 || r.Vcpus > options.MaxVcpusPerMachine)
        {
            throw Failure(StatusCode.InvalidArgument, $"vcpus must be 1 to {options.MaxVcpusPerMachine}");
        }

        if (r.MemoryMib < 32 || r.MemoryMib > options.MaxMemoryMibPerMachine)
        {
            throw Failure(StatusCode.InvalidArgument, $"memory_mib must be 32 to {options.MaxMemoryMibPerMachine}");
        }

        if (string.IsNullOrEmpty(r.Kernel))
        {
            throw Failure(StatusCode.InvalidArgument, "kernel is required");
        }

        Emulator.X86.CpuModel cpuModel;
        try
        {
            cpuModel = string.IsNullOrEmpty(r.Cpu) ? Emulator.X86.CpuModel.Default : Emulator.X86.CpuModel.Parse(r.Cpu);
        }
        catch (ArgumentException)
        {
            throw Failure(StatusCode.InvalidArgument, $"cpu: unknown model '{r.Cpu}'; known models: {string.Join(", ", Emulator.X86.CpuModel.All.Select(m => m.Name))}");
        }

        var (kernel, kernelBytes) = ReadAllowedFile(r.Kernel, "kernel");
        var (initrd, initrdBytes) = string.IsNullOrEmpty(r.Initrd) ? (null, null) : ReadAllowedFile(r.Initrd, "initrd");
        var disks = r.Disks.Select(d => new DiskConfig(AllowedDisk(d.Path), d.ReadOnly, Format: DiskFormat(d)) { Backing = LayerPolicy, Confinement = requestFiles, Quota = Quota }).ToList();
        var nics = r.NetworkInterfaces.Select((n, i) => new Emulator.Machine.Net.NetworkInterfaceConfig(n.Tap,
            string.IsNullOrEmpty(n.Mac) ? Emulator.Devices.VirtioNet.MacAddress.Derive($"{id}/net{i}")
            : Emulator.Devices.VirtioNet.MacAddress.TryParse(n.Mac, out var mac, out string? macError) ? mac
            : throw Failure(StatusCode.InvalidArgument, $"network_interfaces[{i}].mac: {macError}"))).ToList();
        var shares = r.SharedFolders.Select(AllowedShare).ToList();
        return new PcConfig
        {
            Kernel = kernelBytes!,
            KernelName = kernel!,
            Initrd = initrdBytes,
            InitrdName = initrd ?? "initrd",
            CommandLine = string.IsNullOrEmpty(r.CommandLine) ? "console=ttyS0" : r.CommandLine,
            MemoryBytes = r.MemoryMib << 20,
            Cpus = (int)r.Vcpus,
            SerialOutput = line.Output,
            NoReboot = r.NoReboot,
            Disks = disks,
            NetworkInterfaces = nics,
            SharedFolders = shares,
            Tier1 = options.Tier1,
            CpuModel = cpuModel,
        };
    }

    /// <summary>Builds a VM from a checked config; what the build refuses is an RpcException with its status.</summary>
    private static VirtualMachine BuildVm(PcConfig config)
    {
        try
        {
            return PcMachine.Build(config);
        }
        catch (BackingFileRefusedException e)
        {
            throw Failure(StatusCode.PermissionDenied, e.Message);
        }
        catch (Exception e) when (e is BootImageException or BlockImageException or ArgumentException or IOException)
        {
            throw Failure(StatusCode.InvalidArgument, e.Message);
        }
    }

    /// <summary>A requested id, checked; or, when empty, a new one ("vm-1a2b3c") that <paramref name="taken"/> does not know.</summary>
    private static string ChooseId(string requested, string prefix, string field, Func<string, bool> taken)
    {
        if (string.IsNullOrEmpty(requested))
        {
            string id;
            do
            {
                id = $"{prefix}-{Guid.NewGuid().ToString("N")[..6]}";
            }
            while (taken(id));
            return id;
        }

        CheckId(requested, field);
        return requested;
    }

    /// <summary>Refuses an id that is not 1-64 letters, digits, '-', '_' or '.' (ids name files: no separators, no leading dot).</summary>
    private static void CheckId(string id, string field)
    {
        if (id.Length is 0 or > 64 || id.Any(ch => !(char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.')) || id[0] == '.')
        {
            throw Failure(StatusCode.InvalidArgument, $"{field} must be 1-64 characters of letters, digits, '-', '_' or '.' (not starting with '.')");
        }
    }

    /// <summary>Checks that a new machine fits: id free, machine count and memory quotas. Call holding createGate.</summary>
    private void Admit(string id, uint vcpus, ulong memoryMib)
    {
        if (machines.ContainsKey(id))
        {
            throw Failure(StatusCode.AlreadyExists, $"machine '{id}' exists");
        }

        if (machines.Count >= options.MaxMachines)
        {
            throw Failure(StatusCode.ResourceExhausted, $"this node runs at most {options.MaxMachines} machines");
        }

        int vcpusUsed = machines.Values.Sum(m => (int)m.Spec.Vcpus);
        if (vcpusUsed + (int)vcpus > options.MaxVcpusPerNode)
        {
            throw Failure(StatusCode.ResourceExhausted, $"this node has {options.MaxVcpusPerNode - vcpusUsed} vCPUs left");
        }

        ulong used = (ulong)machines.Values.Sum(m => (long)m.Spec.MemoryMib);
        if (used + memoryMib > options.MaxMemoryMibPerNode)
        {
            throw Failure(StatusCode.ResourceExhausted, $"this node has {options.MaxMemoryMibPerNode - used} MiB of guest memory left");
        }
    }

    /// <summary>Makes a built machine one of the node's (its console connected, its spans tagged with its id).</summary>
    private HostedMachine Register(string id, CreateMachineRequest spec, VirtualMachine vm, SerialLine line)
    {
        vm.Bus.MachineId = id;
        line.Connect(vm);
        var hosted = new HostedMachine(id, spec, vm, line);
        machines[id] = hosted;
        Claim(id);
        Recorded(hosted);
        return hosted;
    }

    /// <summary>
    /// A request's shared folder: an absolute path to a directory whose real path lies in the
    /// allowed directories (checked again on the directory the server opens), and a valid tag.
    /// </summary>
    private SharedFolderConfig AllowedShare(SharedFolder share)
    {
        if (!Path.IsPathFullyQualified(share.Path))
        {
            throw Failure(StatusCode.InvalidArgument, $"shared folder '{share.Path}' must be absolute");
        }

        if (SharedFolderConfig.CheckTag(share.MountTag) is { } bad)
        {
            throw Failure(StatusCode.InvalidArgument, $"shared folder '{share.Path}': {bad}");
        }

        if (!Directory.Exists(share.Path))
        {
            throw Failure(StatusCode.InvalidArgument, $"shared folder '{share.Path}' is not a directory");
        }

        string real = BackingPolicy.RealDirectory(share.Path);
        if (!requestFiles.AllowsDirectory(real))
        {
            throw Failure(StatusCode.PermissionDenied, $"shared folder '{share.Path}' lies outside the directories this server allows");
        }

        return new SharedFolderConfig(real, share.MountTag, share.ReadOnly) { Confinement = requestFiles };
    }

    /// <summary>A drive spec's format: raw unless it says emucow (machine.proto, Disk.format).</summary>
    private static BlockFormat DiskFormat(Disk disk) =>
        BlockFormats.TryParse(disk.Format, out var format)
            ? format
            : throw Failure(StatusCode.InvalidArgument, $"disk '{disk.Path}': format must be \"{BlockFormats.RawName}\" (the default) or \"{BlockFormats.EmuCowName}\", not \"{disk.Format}\"");

    /// <summary>
    /// Where the disk layers an overlay's header or a snapshot names may lie: the directories
    /// requests may name and layers/, where this node makes overlays (RATIONALE.md in Block/).
    /// </summary>
    private BackingPolicy LayerPolicy => BackingPolicy.Within([.. allowedDirectories, Directory.CreateDirectory(LayerRoot).FullName]);

    /// <summary>The allowed directories at their real paths, resolved once (a symbolic link given as --allow allows where it leads).</summary>
    private readonly string[] allowedDirectories = [.. options.AllowedDirectories.Select(BackingPolicy.RealDirectory)];

    /// <summary>Where a request's kernel, initrd and disks may lie (the same directories, resolved the same way).</summary>
    private readonly BackingPolicy requestFiles = BackingPolicy.Within(options.AllowedDirectories);

    /// <summary>
    /// Reads a request's kernel or initrd (<see cref="OpenAllowed"/>) from the one descriptor that
    /// was checked: its real path and its bytes.
    /// </summary>
    private (string? Path, byte[]? Bytes) ReadAllowedFile(string path, string what)
    {
        using var file = OpenAllowed(path, what, out string real);
        long length = RandomAccess.GetLength(file);
        if (length > Array.MaxLength)
        {
            throw Failure(StatusCode.InvalidArgument, $"{what} '{path}' is larger than {Array.MaxLength} bytes");
        }

        var bytes = new byte[length];
        int at = 0;
        while (at < bytes.Length)
        {
            int got = RandomAccess.Read(file, bytes.AsSpan(at), at);
            if (got == 0)
            {
                throw Failure(StatusCode.InvalidArgument, $"{what} '{path}' shrank while it was read");
            }

            at += got;
        }

        return (real, bytes);
    }

    /// <summary>
    /// A request's disk (<see cref="OpenAllowed"/>) by its real path, which the block backend opens.
    /// The backend opens it again: a file swapped in at that real path between the two opens is not
    /// checked (the backend checks only the layers below the top on their descriptors).
    /// </summary>
    private string AllowedDisk(string path)
    {
        using var file = OpenAllowed(path, "disk", out string real);
        return real;
    }

    /// <summary>
    /// Opens a request's path for reading, confined to the allowed directories (machine.proto,
    /// CreateMachineRequest). A relative path is refused (INVALID_ARGUMENT): it would name a file
    /// by the server's working directory. The name must lead under an allowed directory before
    /// anything is opened; then the opened file itself is checked, by the path the kernel opened
    /// and its link count (<see cref="BackingPolicy.Refuses"/>), so a symbolic or hard link, or a
    /// name swapped after the first check, cannot lead out (PERMISSION_DENIED).
    /// </summary>
    private SafeFileHandle OpenAllowed(string path, string what, out string real)
    {
        if (!Path.IsPathFullyQualified(path))
        {
            throw Failure(StatusCode.InvalidArgument, $"{what} '{path}' must be absolute");
        }

        if (!requestFiles.Allows(path))
        {
            throw Failure(StatusCode.PermissionDenied, $"{what} '{path}' is outside the directories this node allows");
        }

        SafeFileHandle file;
        try
        {
            file = HostFiles.OpenRegular(path, write: false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Failure(StatusCode.InvalidArgument, $"{what} '{path}' does not exist");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Failure(StatusCode.InvalidArgument, $"{what} '{path}' cannot be opened: {e.Message}");
        }

        string? refused = requestFiles.Refuses(file);
        if (refused is not null)
        {
            file.Dispose();
            throw Failure(StatusCode.PermissionDenied, $"{what} '{path}' {refused}");
        }

        real = HostFiles.OpenedPath(file);
        return file;
    }

    private HostedMachine Find(string id) =>
        machines.TryGetValue(id, out var m) ? m : throw Failure(StatusCode.NotFound, $"no machine '{id}'");

    /// <summary>A state change; a call whose deadline passed or whose client left before it is made makes none.</summary>
    private async Task<Service.V1.Machine> Transition(MachineRef r, Func<HostedMachine, Emulator.Machine.Runtime.MachineState> action, Service.V1.MachineState after, CancellationToken cancel)
    {
        var m = Find(r.Id);
        await m.Gate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            cancel.ThrowIfCancellationRequested();
            action(m);
        }
        catch (MachineStateException e)
        {
            throw Failure(StatusCode.FailedPrecondition, e.Message);
        }
        catch (MachinePauseTimeoutException e)
        {
            throw Failure(StatusCode.Unavailable, $"machine '{r.Id}' was not paused: {e.Message}");
        }
        finally
        {
            m.Gate.Release();
        }

        m.Publish(after);
        await CatalogueSyncAsync().ConfigureAwait(false);
        return m.Describe(options.NodeName);
    }

    /// <summary>Resets a running or paused machine (machine.proto ResetMachine); the RESET event comes from the machine.</summary>
    private async Task<Service.V1.Machine> Reset(MachineRef r, CancellationToken cancel)
    {
        var m = Find(r.Id);
        await m.Gate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            cancel.ThrowIfCancellationRequested();
            await m.Vm.ResetAsync("reset through the control plane", CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MachineStateException or MachineResetException)
        {
            throw Failure(StatusCode.FailedPrecondition, e.Message);
        }
        finally
        {
            m.Gate.Release();
        }

        return m.Describe(options.NodeName);
    }

    private async Task<Service.V1.Machine> Stop(MachineRef r)
    {
        var m = Find(r.Id);
        if (m.State is not (Service.V1.MachineState.Running or Service.V1.MachineState.Paused))
        {
            throw Failure(StatusCode.FailedPrecondition, $"machine '{r.Id}' is {m.State}, not running or paused");
        }

        await m.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            m.Vm.Stop(new MachineExit(MachineExitReason.Stopped, "stopped through the control plane"));
            await m.Vm.Exited.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        finally
        {
            m.Gate.Release();
        }

        m.Publish(Service.V1.MachineState.Stopped, "stopped through the control plane");
        await CatalogueSyncAsync().ConfigureAwait(false);
        return m.Describe(options.NodeName);
    }

    private async Task<DeleteMachineResponse> Delete(MachineRef r)
    {
        var m = Find(r.Id);
        if (m.State is Service.V1.MachineState.Running or Service.V1.MachineState.Paused)
        {
            throw Failure(StatusCode.FailedPrecondition, $"machine '{r.Id}' is {m.State}: stop it first");
        }

        if (machines.TryRemove(r.Id, out _))
        {
            m.Publish(m.State, "deleted");
            await m.DisposeAsync().ConfigureAwait(false);
            await CollectLayersAsync().ConfigureAwait(false);
            await CatalogueSyncAsync().ConfigureAwait(false);
        }

        return new DeleteMachineResponse();
    }

    private async Task Watch(MachineRef r, IServerStreamWriter<MachineEvent> responses, ServerCallContext context)
    {
        var m = Find(r.Id);
        using var feed = new MachineEventFeed(m);
        await responses.WriteAsync(m.Event()).ConfigureAwait(false);
        while (true)
        {
            var e = await feed.ReadAsync(context.CancellationToken).ConfigureAwait(false);
            await responses.WriteAsync(e).ConfigureAwait(false);
            if (e.Detail == "deleted")
            {
                return;
            }
        }
    }

    public override async Task AttachConsole(IAsyncStreamReader<ConsoleInput> requests, IServerStreamWriter<ConsoleOutput> responses, ServerCallContext context)
    {
        if (!await requests.MoveNext(context.CancellationToken).ConfigureAwait(false) || string.IsNullOrEmpty(requests.Current.MachineId))
        {
            throw Failure(StatusCode.InvalidArgument, "the first console message must name the machine");
        }

        ByteString? first = requests.Current.Data;
        await ServeConsoleAsync(
            requests.Current.MachineId,
            async cancel =>
            {
                if (first is { } data)
                {
                    first = null;
                    return data.Memory;
                }

                return await requests.MoveNext(cancel).ConfigureAwait(false) ? requests.Current.Data.Memory : null;
            },
            chunk => responses.WriteAsync(new ConsoleOutput { Data = ByteString.CopyFrom(chunk.Data), DroppedBytes = (ulong)chunk.DroppedBefore }),
            context.CancellationToken,
            IsForwarded(context)).ConfigureAwait(false);
    }

    /// <summary>
    /// A console client of a machine (AttachConsole, the web console's WebSocket): the bytes
    /// <paramref name="readInput"/> gives go to the guest's serial line until it gives null (the
    /// client half-closed); the guest's output goes to <paramref name="write"/> until then, or
    /// until the machine ends. One client at a time. On a cluster, a machine another node runs is
    /// served through that node (unless the call was <paramref name="forwarded"/> here already). Throws RpcException for a machine that is not
    /// there or not live, or already has a client.
    /// </summary>
    internal async Task ServeConsoleAsync(string machineId, Func<CancellationToken, ValueTask<ReadOnlyMemory<byte>?>> readInput, Func<ConsoleChunk, Task> write, CancellationToken cancel, bool forwarded = false)
    {
        if (await RemoteOwnerAsync(machineId, forwarded, cancel).ConfigureAwait(false) is { } owner)
        {
            await BridgeConsoleAsync(owner, machineId, readInput, write, cancel).ConfigureAwait(false);
            return;
        }

        var m = Find(machineId);
        if (m.State is not (Service.V1.MachineState.Running or Service.V1.MachineState.Paused))
        {
            throw Failure(StatusCode.FailedPrecondition, $"machine '{m.Id}' is {m.State}");
        }

        if (Interlocked.CompareExchange(ref m.ConsoleWriters, 1, 0) != 0)
        {
            throw Failure(StatusCode.ResourceExhausted, $"another console is attached to '{m.Id}'");
        }

        try
        {
            // Bounded both ways (machine.proto, AttachConsole): output drops its oldest bytes
            // for a client that does not read; input waits for room in the line's queue.
            var output = new ConsoleOutputBuffer();
            using var listening = m.Console.Listen(bytes => output.Write(bytes.Span));

            // Not disposed: the machine's exit may still cancel it after the call has ended; it is
            // linked to the call's token source, disposed with the call.
            var ended = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var reader = Task.Run(async () =>
            {
                try
                {
                    while (await readInput(ended.Token).ConfigureAwait(false) is { } input)
                    {
                        await m.Console.SendAsync(input, ended.Token).ConfigureAwait(false);
                    }
                }
                finally
                {
                    ended.Cancel(); // the client half-closed, or its input ended the call
                }
            });
            _ = m.Vm.Exited.ContinueWith(_ => ended.Cancel(), TaskScheduler.Default);
            try
            {
                while (true)
                {
                    await write(await output.ReadAsync(ConsoleChunkBytes, ended.Token).ConfigureAwait(false)).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                // The machine stopped or the client half-closed: end the stream with OK.
            }
            finally
            {
                // The input read must be over before the call ends: Kestrel reuses a finished
                // request's stream for the next one, and a read left pending would read that call's
                // body ("Reading is already in progress" there). Cancelling its token ends it.
                ended.Cancel();
                try
                {
                    await reader.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // ended by the cancellation above
                }
            }
        }
        finally
        {
            Interlocked.Exchange(ref m.ConsoleWriters, 0);
        }
    }

    /// <summary>Closes every machine of the node (after the server stopped taking calls).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var m in machines.Values)
        {
            await m.DisposeAsync().ConfigureAwait(false);
        }

        machines.Clear();
        DisposePeers();
    }
}
