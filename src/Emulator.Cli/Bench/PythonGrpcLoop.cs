using System.Diagnostics;
using System.Globalization;

namespace Emulator.Cli.Bench;

/// <summary>
/// The same unary round trips through Python's grpcio (Debian python3-grpcio), for a figure
/// beside our client's. The requests are sent as bytes our side serialized (identity
/// serializers), so no stubs are needed and Python's protobuf runtime is not in the figure.
/// </summary>
internal static class PythonGrpcLoop
{
    private const string Script = """
        import sys, time, grpc
        port, warm_up, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        channel = grpc.insecure_channel("127.0.0.1:" + port)
        for method, request in zip(sys.argv[4::2], sys.argv[5::2]):
            call = channel.unary_unary("/emulator.v1.MachineService/" + method)
            request = bytes.fromhex(request)
            for _ in range(warm_up):
                call(request, timeout=10)
            samples = []
            start = time.perf_counter()
            for _ in range(iterations):
                before = time.perf_counter()
                call(request, timeout=10)
                samples.append(time.perf_counter() - before)
            total = time.perf_counter() - start
            samples.sort()
            print(method, samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))], iterations / total)
        """;

    /// <summary>The first python3 on PATH that imports grpc (a pyenv or venv one may lack it); null if none.</summary>
    public static string? FindInterpreter() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "python3"))
            .Where(File.Exists)
            .Distinct(StringComparer.Ordinal)
            .FirstOrDefault(python => Exec(python, ["-c", "import grpc"]).Exit == 0);

    /// <summary>Runs the loop for each (method, serialized request); returns the figures by method.</summary>
    public static Dictionary<string, ControlBenchmark.LatencyFigures> Measure(
        string python, int port, int warmUp, int iterations, IEnumerable<(string Method, byte[] Request)> calls)
    {
        var arguments = new List<string> { "-c", Script, port.ToString(CultureInfo.InvariantCulture), warmUp.ToString(CultureInfo.InvariantCulture), iterations.ToString(CultureInfo.InvariantCulture) };
        foreach ((string method, byte[] request) in calls)
        {
            arguments.Add(method);
            arguments.Add(Convert.ToHexString(request));
        }

        (int exit, string output) = Exec(python, arguments);
        if (exit != 0)
        {
            throw new InvalidOperationException($"the Python loop failed ({exit}): {output}");
        }

        var figures = new Dictionary<string, ControlBenchmark.LatencyFigures>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ');
            double At(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
            figures[f[0]] = new(At(1), At(2), At(3));
        }

        return figures;
    }

    private static (int Exit, string Output) Exec(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            Task<string> error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, process.ExitCode == 0 ? output : output + error.Result);
        }
        catch (global::System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
