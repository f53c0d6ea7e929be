using System.Diagnostics;

namespace Emulator.Wasm.SpecTests;

/// <summary>
/// Console entry: `dotnet run --project tests/Emulator.Wasm.SpecTests -c Release [filter]` prints one line
/// per .wast file and a final `wasm spec: P passed, F failed, S skipped` line.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        bool verbose = args.Contains("-v");
        var filters = args.Where(a => !a.StartsWith('-')).ToArray();
        var totals = new Dictionary<string, (int Passed, int Failed, int Skipped)>();
        int passed = 0, failed = 0, skipped = 0, textModules = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            foreach (var file in SpecSuite.Files())
            {
                if (filters.Length > 0 && !filters.Any(f => file.Name.Contains(f, StringComparison.Ordinal))) continue;
                var t = totals.GetValueOrDefault(file.Category);
                if (file.SkipReason is { } reason)
                {
                    int commands = WastRunner.CountCommands(file);
                    Console.WriteLine($"{file.Name}: {commands} skipped ({reason})");
                    skipped += commands;
                    totals[file.Category] = (t.Passed, t.Failed, t.Skipped + commands);
                    continue;
                }
                var fileClock = Stopwatch.StartNew();
                var result = SpecFileRunner.RunIsolated(file);
                Console.WriteLine($"{file.Name}: {result.Passed} passed, {result.Failed} failed ({fileClock.ElapsedMilliseconds} ms)");
                foreach (var failure in result.Failures.Take(verbose ? int.MaxValue : 5)) Console.WriteLine("    " + failure);
                passed += result.Passed;
                textModules += result.TextModules;
                failed += result.Failed;
                totals[file.Category] = (t.Passed + result.Passed, t.Failed + result.Failed, t.Skipped);
            }
        }
        catch (InvalidOperationException e) when (e.Message.Contains("apt-get install wabt", StringComparison.Ordinal))
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        finally
        {
            WastConverter.CleanUp();
        }
        foreach (var (category, t) in totals)
            Console.WriteLine($"  {category}: {t.Passed} passed, {t.Failed} failed, {t.Skipped} skipped");
        Console.WriteLine($"  of the passed, {textModules} are text-format (.wat) malformed/invalid modules, refused at the binary magic number");
        Console.WriteLine($"  time: {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"wasm spec: {passed} passed, {failed} failed, {skipped} skipped");
        return failed == 0 ? 0 : 1;
    }
}

public static class SpecFileRunner
{
    /// <summary>Runs a script on its own thread with a known stack size, so stack exhaustion behaves the same everywhere.</summary>
    public static WastResult RunIsolated(WastFile file)
    {
        WastResult? result = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { result = WastRunner.Run(file); }
            catch (Exception e) { error = e; }
        }, 16 * 1024 * 1024);
        thread.Start();
        thread.Join();
        if (error is InvalidOperationException { Message: var m } && m.Contains("apt-get install wabt", StringComparison.Ordinal)) throw error;
        return result ?? new WastResult(file.Name, 0, 1, new[] { $"script failed: {error}" });
    }
}
