using System.Text.Json;

namespace Emulator.System.Tests;

/// <summary>
/// The Python control-plane scripts of this project (control_plane.py, cluster.py) with their
/// stubs; they import guest_console.py from beside this assembly.
/// </summary>
internal static class PythonScripts
{
    public static readonly PythonGrpcRunner Runner = new(
    [
        // health.proto from its own folder: a grpc/health/v1 package would be shadowed by grpcio.
        new(Path.Combine("protos", "grpc", "health", "v1"), "health.proto"),
        new("protos", "emulator/v1/machine.proto"),
    ], prelude: $"import sys\nsys.path.insert(0, {JsonSerializer.Serialize(AppContext.BaseDirectory)})\n");

    /// <summary>Runs the script of that name from beside this assembly; returns its output lines.</summary>
    public static async Task<string[]> RunAsync(string file, TimeSpan limit, params string[] arguments) =>
        await Runner.RunAsync(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, file)), limit, arguments);
}
