using System.Net;
using Emulator.Service.Health;
using Emulator.Service.Machines;
using Emulator.Service.Rpc;

namespace Emulator.Cli;

/// <summary>`emu serve`: the gRPC control plane (MachineService and grpc.health.v1) on this node.</summary>
internal static class Serve
{
    public static int Run(string listen, string[] allow, int maxMachines, string? snapshotDir, string accel)
    {
        var notes = new List<string>();
        if (MachineOptions.ParseAccel(accel, notes, out var tier1) is { } accelError)
        {
            Console.Error.WriteLine($"emu: {accelError}");
            return 2;
        }

        notes.ForEach(n => Console.Error.WriteLine($"emu: note: {n}"));

        if (!IPEndPoint.TryParse(listen, out var endpoint))
        {
            Console.Error.WriteLine($"emu: --listen '{listen}' is not an address:port (example: 127.0.0.1:50051)");
            return 2;
        }

        var allowed = allow.Length > 0 ? allow : [Path.GetFullPath(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "emu"))];
        string? token = Environment.GetEnvironmentVariable("EMU_TOKEN");
        var server = new GrpcServer(new GrpcServerOptions { Address = endpoint.Address, Port = endpoint.Port, BearerToken = string.IsNullOrEmpty(token) ? null : token });
        var health = new HealthService();
        health.MapTo(server);
        string snapshots = Path.GetFullPath(snapshotDir ?? MachineServiceOptions.DefaultSnapshotDirectory);
        var machines = new MachineService(new MachineServiceOptions { AllowedDirectories = allowed, MaxMachines = maxMachines, SnapshotDirectory = snapshots, Tier1 = tier1 });
        machines.MapTo(server);
        server.StartAsync().GetAwaiter().GetResult();
        Console.WriteLine($"emu: serving on {server.Address} (machines may use files under: {string.Join(", ", allowed)}; snapshots in {snapshots}; tier 1: {tier1?.Engine.Name ?? "off"}){(token is null ? "" : "; a bearer token is required")}");
        Console.Out.Flush();

        var done = new TaskCompletionSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            done.TrySetResult();
        };
        // SIGTERM (systemd, docker stop, kill): stop serving and close the machines, then exit 0.
        // ASP.NET Core's console lifetime cancels the default termination, so it is handled here.
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            done.TrySetResult();
        });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => done.TrySetResult();
        done.Task.GetAwaiter().GetResult();
        Console.WriteLine("emu: stopping: closing the machines");
        server.StopAsync().GetAwaiter().GetResult();
        machines.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.WriteLine("emu: stopped");
        return 0;
    }
}
