using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Grpc.Net.Client;
using MachineClient = Emulator.Service.V1.MachineService.MachineServiceClient;

namespace Emulator.Service.Tests;

/// <summary>
/// A node's control plane as `emu serve` builds it (ControlPlaneHost), on 127.0.0.1 with a port
/// the system chooses unless the options say otherwise; its machines may use files in a temporary
/// directory that holds <see cref="TinyKernel"/>, and its snapshots go to another.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly DirectoryInfo files;

    private TestServer(ControlPlaneHost host, DirectoryInfo files)
    {
        Host = host;
        this.files = files;
    }

    public ControlPlaneHost Host { get; }

    /// <summary>"http://127.0.0.1:PORT", "https://..." or "unix:PATH".</summary>
    public string Address => Host.Address;

    /// <summary>The address as Python's grpc.insecure_channel takes it.</summary>
    public string Target => Address.StartsWith("unix:", StringComparison.Ordinal) ? Address : new Uri(Address).Authority;

    /// <summary>A kernel the node allows.</summary>
    public string Kernel => Path.Combine(files.FullName, "allowed", "vmlinux");

    public string SnapshotDirectory => Path.Combine(files.FullName, "snapshots");

    /// <summary>A machine of the tiny kernel: 1 vCPU, 64 MiB.</summary>
    public CreateMachineRequest Tiny(string id) => new() { Id = id, Vcpus = 1, MemoryMib = 64, Kernel = Kernel, CommandLine = "console=ttyS0" };

    /// <summary>Starts a server; <paramref name="configure"/> changes the options (its Machines are filled in after, and changed by <paramref name="machines"/>).</summary>
    public static async Task<TestServer> StartAsync(Func<ControlPlaneOptions, ControlPlaneOptions>? configure = null, Func<MachineServiceOptions, MachineServiceOptions>? machines = null)
    {
        var files = Directory.CreateTempSubdirectory("emu-service-test-");
        string allowed = Directory.CreateDirectory(Path.Combine(files.FullName, "allowed")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(allowed, "vmlinux"), TinyKernel.Bytes());
        var options = (configure ?? (o => o))(new ControlPlaneOptions()) with
        {
            Machines = (machines ?? (m => m))(new MachineServiceOptions
            {
                AllowedDirectories = [allowed],
                SnapshotDirectory = Path.Combine(files.FullName, "snapshots"),
                MaxVcpusPerMachine = 2,
                MaxMemoryMibPerMachine = 256,
                Tier1 = null,
            }),
        };
        try
        {
            return new TestServer(await ControlPlaneHost.StartAsync(options), files);
        }
        catch
        {
            files.Delete(recursive: true);
            throw;
        }
    }

    public GrpcChannel Channel(string? token = null) => ControlPlaneChannel.Open(Address, token);

    public static MachineClient Machines(GrpcChannel channel) => new(channel);

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        files.Delete(recursive: true);
    }
}
