using System.Diagnostics;
using System.Text;
using Xunit;

namespace Emulator.Testing;

/// <summary>A .proto to compile: its include directory (relative to the repository root) and its path under it.</summary>
public readonly record struct PythonProto(string IncludeDirectory, string File);

/// <summary>
/// The real gRPC client: Python's grpcio (Debian python3-grpcio, python3-grpc-tools). Stubs
/// are generated from the given .proto files at test time with grpc_tools.protoc; a test runs
/// a script (after the prelude) against a server and checks what it prints. Used by
/// Emulator.Service.Tests and Emulator.System.Tests: each passes its own proto set and prelude.
/// </summary>
public sealed class PythonGrpcRunner(IReadOnlyList<PythonProto> protos, string prelude)
{
    public const string MissingMessage =
        "python3 with grpc and grpc_tools is not installed: apt-get install python3-grpcio python3-grpc-tools";

    private static readonly Lazy<string?> interpreter = new(FindInterpreter);
    private readonly Lazy<string> stubs = new(() => GenerateStubs(protos));

    public static bool Available => interpreter.Value is not null;

    /// <summary>
    /// Runs <paramref name="script"/> (after the prelude) with <paramref name="arguments"/> as
    /// sys.argv[1:]; asserts it exits with 0 and returns its output lines.
    /// </summary>
    public async Task<string[]> RunAsync(string script, TimeSpan timeout, params string[] arguments)
    {
        string path = Path.Combine(stubs.Value, $"test_{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(path, prelude + script);
        try
        {
            (int exit, string output, string error) = await ExecAsync(interpreter.Value!, [path, .. arguments], stubs.Value, timeout);
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
        // A pyenv or venv python3 may come first on PATH without Debian's packages: try each
        // python3 on PATH in order.
        IEnumerable<string> candidates = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "python3"))
            .Where(File.Exists)
            .Distinct(StringComparer.Ordinal);
        foreach (string candidate in candidates)
        {
            try
            {
                if (ExecAsync(candidate, ["-c", "import grpc, grpc_tools.protoc"], null, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult().Exit == 0)
                    return candidate;
            }
            catch (global::System.ComponentModel.Win32Exception)
            {
                // not executable
            }
        }
        return null;
    }

    private static string GenerateStubs(IReadOnlyList<PythonProto> protos)
    {
        string root = Repository.Root;
        string output = Directory.CreateTempSubdirectory("emulator-grpc-py-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(output, recursive: true);
        foreach ((string include, string file) in protos)
        {
            (int exit, string stdout, string stderr) = ExecAsync(interpreter.Value!,
                ["-m", "grpc_tools.protoc", "-I" + Path.Combine(root, include), "--python_out=" + output, "--grpc_python_out=" + output, file],
                null, TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
            if (exit != 0)
                throw new InvalidOperationException($"grpc_tools.protoc failed for {file}: {stdout}{stderr}");
        }
        return output;
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
        start.Environment["PYTHONUNBUFFERED"] = "1";
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
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} ran longer than {timeout}\n" +
                $"stdout so far:\n{await output}\nstderr so far:\n{await error}");
        }
        return (process.ExitCode, await output, await error);
    }
}

/// <summary>A fact that needs Python's gRPC: skipped (failed under CI) with the packages to install when it is missing.</summary>
public sealed class PythonFactAttribute() : DependencyFactAttribute(PythonGrpcRunner.Available ? null : PythonGrpcRunner.MissingMessage);
