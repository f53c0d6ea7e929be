using Emulator.Testing;

namespace Emulator.Service.Tests;

/// <summary>
/// Python's grpcio with this project's stubs (health, machine); each test runs a small script
/// against the server and checks what it prints.
/// </summary>
internal static class PythonGrpc
{
    /// <summary>Imports shared by the scripts: stubs, a channel to argv[1], and status(f).</summary>
    private const string Prelude = """
        import sys, queue, threading, time, grpc
        import health_pb2, health_pb2_grpc
        from emulator.v1 import machine_pb2, machine_pb2_grpc
        channel = grpc.insecure_channel(sys.argv[1])
        machine = machine_pb2_grpc.MachineServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        def status(call):
            try:
                call()
                return "OK"
            except grpc.RpcError as err:
                return err.code().name

        """;

    // health.proto is compiled from its own folder: a grpc/health/v1 package would be
    // shadowed by the installed grpc package.
    private static readonly PythonGrpcRunner runner = new(
    [
        new(Path.Combine("protos", "grpc", "health", "v1"), "health.proto"),
        new("protos", "emulator/v1/machine.proto"),
    ], Prelude);

    /// <summary>Runs <paramref name="script"/> (after the prelude) against the server; returns its output lines.</summary>
    public static Task<string[]> RunAsync(string target, string script) =>
        runner.RunAsync(script, TimeSpan.FromSeconds(60), target);
}
