using System.Diagnostics;
using System.Text;

namespace Emulator.Service.Tests;

/// <summary>
/// The real gRPC client: Python's grpcio (Debian python3-grpcio, python3-grpc-tools). Stubs
/// are generated from the .proto files at test time with grpc_tools.protoc; each test runs a
/// small script against the server and checks what it prints.
/// </summary>
internal static class PythonGrpc
{
    public const string MissingMessage =
        "python3 with grpc and grpc_tools is not installed: apt-get install python3-grpcio python3-grpc-tools";

    private static readonly Lazy<string?> interpreter = new(FindInterpreter);
    private static readonly Lazy<string> stubs = new(GenerateStubs);

    public static bool Available => interpreter.Value is not null;

    /// <summary>Imports shared by the scripts: stubs, a channel to argv[1], and status(f).</summary>
    private const string Prelude = """
        import sys, queue, threading, time, grpc
        import health_pb2, health_pb2_grpc
        from emulator.test.v1 import echo_pb2, echo_pb2_grpc
        from emulator.v1 import machine_pb2, machine_pb2_grpc
        channel = grpc.insecure_channel(sys.argv[1])
        echo = echo_pb2_grpc.EchoStub(channel)
        machine = machine_pb2_grpc.MachineServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        def status(call):
            try:
                call()
                return "OK"
            except grpc.RpcError as err:
                return err.code().name

        """;

    /// <summary>Runs <paramref name="script"/> (after the prelude) against the server; returns its output lines.</summary>
    public static async Task<string[]> RunAsync(string target, string script)
    {
        string path = Path.Combine(stubs.Value, $"test_{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(path, Prelude + script);
        try
        {
            (int exit, string output, string error) = await ExecAsync(interpreter.Value!, [path, target], stubs.Value, TimeSpan.FromSeconds(60));
            Assert.True(exit == 0, $"python exited with {exit}\nstdout:\n{output}\nstderr:\n{error}");
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string? FindInterpreter()
    {
        // A pyenv or venv python3 may come first on PATH without Debian's packages.
        foreach (string candidate in new[] { "python3", "/usr/bin/python3" })
        {
            try
            {
                if (ExecAsync(candidate, ["-c", "import grpc, grpc_tools.protoc"], null, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult().Exit == 0)
                    return candidate;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // not installed
            }
        }
        return null;
    }

    private static string GenerateStubs()
    {
        string root = RepositoryRoot();
        string output = Directory.CreateTempSubdirectory("emulator-grpc-py-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(output, recursive: true);
        // health.proto is compiled from its own folder: a grpc/health/v1 package would be
        // shadowed by the installed grpc package.
        (string Include, string File)[] protos =
        [
            (Path.Combine(root, "protos", "grpc", "health", "v1"), "health.proto"),
            (Path.Combine(root, "protos"), "emulator/v1/machine.proto"),
            (Path.Combine(root, "tests", "Emulator.Service.Tests", "Protos"), "emulator/test/v1/echo.proto"),
        ];
        foreach ((string include, string file) in protos)
        {
            (int exit, string stdout, string stderr) = ExecAsync(interpreter.Value!,
                ["-m", "grpc_tools.protoc", "-I" + include, "--python_out=" + output, "--grpc_python_out=" + output, file],
                null, TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
            if (exit != 0)
                throw new InvalidOperationException($"grpc_tools.protoc failed for {file}: {stdout}{stderr}");
        }
        return output;
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Emulator.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("Emulator.sln not found above " + AppContext.BaseDirectory);
    }

    private static async Task<(int Exit, string Output, string Error)> ExecAsync(
        string file, string[] arguments, string? pythonPath, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["PYTHONIOENCODING"] = "utf-8";
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        if (pythonPath is not null)
            start.Environment["PYTHONPATH"] = pythonPath;
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} ran longer than {timeout}");
        }
        return (process.ExitCode, await output, await error);
    }
}

/// <summary>A fact that is skipped, with the packages to install, when Python's gRPC is missing.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (!PythonGrpc.Available)
            Skip = PythonGrpc.MissingMessage;
    }
}
