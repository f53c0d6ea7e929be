using System.Diagnostics;
using System.Globalization;

namespace Emulator.X86.DiffTests;

/// <summary>
/// The console command: runs generated cases on the host CPU and on the emulator and compares
/// them. Exit code 0 when every case matched, 1 on any failure, 2 on bad arguments.
/// </summary>
public static class Program
{
    private const string Usage =
        """
        usage: dotnet run --project tests/Emulator.X86.DiffTests -c Release -- [options]
          --seed S         seed (decimal or 0x hex); default: EMU_DIFF_SEED or the fixed test seed
          --cases N        number of cases, split evenly over the groups (default 10000)
          --group G[,G]    groups to run (default: every in-process group); see --list; "world" names every
                           paged-world group (faults, 32- and 16-bit code, x87: the host side runs in a child process)
          --case K         run only case K of the group (with --group), and print its report
          --first F        index of the first case (default 0)
          --reports R      failure reports printed per group (default 3)
          --stats          also print instruction counts and how often each part of the state changed
          --list           list the groups and exit
          --tier1 ENGINE   compare tier 1 on ENGINE (wasmtime, cil) with tier 0 instead of the emulator with the host;
                           groups are the host differential's plus "bytes" (random bytes); cases run in batches of 256
        """;

    public static int Main(string[] args)
    {
        ulong seed = DiffSettings.Seed;
        long cases = 10_000, first = 0, single = -1;
        int reports = 3;
        string? groups = null;
        string? tier1 = null;
        bool stats = false;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--seed": seed = DiffSettings.ParseSeed(Next()); break;
                    case "--cases": cases = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--group": groups = Next(); break;
                    case "--case": single = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--first": first = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--reports": reports = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--stats": stats = true; break;
                    case "--tier1": tier1 = Next(); break;
                    case "--list": return List();
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default: throw new ArgumentException($"unknown argument {args[i]}");
                }
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        if (tier1 is not null)
        {
            return RunTier1(tier1, groups, seed, first, cases, reports);
        }

        var selected = new List<DiffGroup>();
        var worldGroups = new List<WorldGroup>();
        var allNames = DiffGroup.All.Select(g => g.Name).Concat(WorldGroup.All.Select(g => g.Name));
        foreach (var name in (groups ?? string.Join(',', DiffGroup.All.Select(g => g.Name))).Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (name.Trim() == "world")
            {
                worldGroups.AddRange(WorldGroup.All);
                continue;
            }

            if (WorldGroup.Find(name.Trim()) is { } wg)
            {
                worldGroups.Add(wg);
                continue;
            }

            var g = DiffGroup.Find(name.Trim());
            if (g is null)
            {
                Console.Error.WriteLine($"unknown group '{name}'; groups: {string.Join(' ', allNames)}");
                return 2;
            }

            selected.Add(g);
        }

        if (worldGroups.Count > 0 && HostRunner.Unavailable is { } why)
        {
            Console.Error.WriteLine($"{why}: cannot run {string.Join(' ', worldGroups.Select(g => g.Name))}");
            if (selected.Count == 0)
            {
                return 2;
            }

            worldGroups.Clear();
        }

        if (worldGroups.Count > 0 && (selected.Count == 0 || single >= 0))
        {
            return RunWorld(worldGroups, seed, first, cases, single, reports, stats);
        }

        using var runner = new DiffRunner();
        Console.WriteLine($"seed 0x{seed:x}, data buffer at 0x{runner.DataAddress:x}");
        if (single >= 0)
        {
            if (selected.Count != 1)
            {
                Console.Error.WriteLine("--case needs exactly one --group");
                return 2;
            }

            var result = runner.RunCase(selected[0].Build(seed, single, runner.DataAddress));
            Console.WriteLine(result.Passed ? $"case {single} of {selected[0].Name}: passed" : runner.Describe(result));
            if (result.Passed)
            {
                Console.WriteLine($"  replay: {result.Case.ReplayCommand}");
            }

            return result.Passed ? 0 : 1;
        }

        var summaries = new List<GroupSummary>();
        var total = Stopwatch.StartNew();
        long perGroup = Math.Max(1, cases / (selected.Count + worldGroups.Count));
        foreach (var g in selected)
        {
            if (g.HostGaps is { } gaps)
            {
                Console.WriteLine($"{g.Name}: {gaps}");
            }

            if (!g.Runnable)
            {
                Console.WriteLine($"{g.Name}: skipped, the host cannot run any of its instructions");
                continue;
            }

            var s = runner.RunGroup(g, seed, first, perGroup, reports);
            summaries.Add(s);
            foreach (var f in s.Failures)
            {
                Console.WriteLine(runner.Describe(f));
            }

            Console.WriteLine(s);
            if (stats)
            {
                Console.Write(s.Coverage());
            }
        }

        var worldSummaries = worldGroups.Count == 0 ? [] : RunWorldGroups(worldGroups, seed, first, perGroup, reports, stats);
        long all = summaries.Sum(s => s.Cases) + worldSummaries.Sum(s => s.Cases), passed = summaries.Sum(s => s.Passed) + worldSummaries.Sum(s => s.Passed);
        Console.WriteLine();
        Console.WriteLine("summary:");
        foreach (var s in summaries)
        {
            Console.WriteLine($"  {s}");
        }

        foreach (var s in worldSummaries)
        {
            Console.WriteLine($"  {s}");
        }

        Console.WriteLine($"  total   {all,9} cases {passed,9} passed {all - passed,7} failed  {total.Elapsed.TotalSeconds,7:F1} s {all / total.Elapsed.TotalSeconds,8:F0} cases/s");
        return all == passed ? 0 : 1;
    }

    private static int List()
    {
        foreach (var g in DiffGroup.All)
        {
            string forms = g is CodeGroup cg ? $" ({cg.Codes.Count} instruction forms)" : "";
            Console.WriteLine($"{g.Name,-8} {g.Title}{forms}{(g.HostGaps is { } gaps ? "; " + gaps : "")}");
        }

        foreach (var g in WorldGroup.All)
        {
            Console.WriteLine($"{g.Name,-8} {g.Title} (paged world at CPL 3, host side in a child process){(g.HostGaps is { } gaps ? "; " + gaps : "")}");
        }

        return 0;
    }

    /// <summary>Only world groups (or one world case): exit code 0 when every case matched.</summary>
    private static int RunWorld(List<WorldGroup> groups, ulong seed, long first, long cases, long single, int reports, bool stats)
    {
        Console.WriteLine($"seed 0x{seed:x}, paged world (code at 0x{World.CodeAddress:x}, region at 0x{World.RegionAddress:x})");
        if (single >= 0)
        {
            if (groups.Count != 1)
            {
                Console.Error.WriteLine("--case needs exactly one --group");
                return 2;
            }

            using var runner = new WorldRunner();
            var result = runner.RunCase(groups[0].Build(seed, single));
            Console.WriteLine(result.Passed ? $"case {single} of {groups[0].Name}: passed" : WorldRunner.Describe(result));
            if (result.Passed)
            {
                Console.WriteLine(WorldRunner.Describe(result).Replace("FAILED", "passed", StringComparison.Ordinal));
            }

            return result.Passed ? 0 : 1;
        }

        var total = Stopwatch.StartNew();
        var summaries = RunWorldGroups(groups, seed, first, Math.Max(1, cases / groups.Count), reports, stats);
        long all = summaries.Sum(s => s.Cases), passed = summaries.Sum(s => s.Passed);
        Console.WriteLine();
        Console.WriteLine("summary:");
        foreach (var s in summaries)
        {
            Console.WriteLine($"  {s}");
        }

        Console.WriteLine($"  total   {all,9} cases {passed,9} passed {all - passed,7} failed  {total.Elapsed.TotalSeconds,7:F1} s {all / total.Elapsed.TotalSeconds,8:F0} cases/s");
        return all == passed ? 0 : 1;
    }

    private static List<WorldSummary> RunWorldGroups(List<WorldGroup> groups, ulong seed, long first, long perGroup, int reports, bool stats)
    {
        var summaries = new List<WorldSummary>();
        using var runner = new WorldRunner();
        foreach (var g in groups)
        {
            if (g.HostGaps is { } gaps)
            {
                Console.WriteLine($"{g.Name}: {gaps}");
            }

            var s = runner.RunGroup(g, seed, first, perGroup, reports);
            summaries.Add(s);
            foreach (var f in s.Failures)
            {
                Console.WriteLine(WorldRunner.Describe(f));
            }

            Console.WriteLine(s);
        }

        _ = stats; // the summary line already counts how the cases ended, by vector
        return summaries;
    }

    /// <summary>--tier1: tier 1 against tier 0 on each group; exit code 0 when nothing differed.</summary>
    private static int RunTier1(string engine, string? groups, ulong seed, long first, long cases, int reports)
    {
        if (!Emulator.Execution.Tiering.Tier1Options.EngineNames.Contains(engine))
        {
            Console.Error.WriteLine($"unknown tier-1 engine '{engine}': {string.Join(", ", Emulator.Execution.Tiering.Tier1Options.EngineNames)}");
            return 2;
        }

        var names = (groups ?? string.Join(',', Tier1DiffRunner.Groups)).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(g => g.Trim()).ToArray();
        var unknown = names.Where(n => !Tier1DiffRunner.Groups.Contains(n)).ToArray();
        if (unknown.Length > 0)
        {
            Console.Error.WriteLine($"unknown group '{unknown[0]}'; groups: {string.Join(' ', Tier1DiffRunner.Groups)}");
            return 2;
        }

        Console.WriteLine($"tier 1 ({engine}) against tier 0, seed 0x{seed:x}");
        using var runner = new Tier1DiffRunner(engine);
        bool ok = true;
        long perGroup = Math.Max(1, cases / names.Length);
        foreach (string name in names)
        {
            var summary = runner.Run(name, seed, first, perGroup, reports);
            Console.WriteLine($"{name,-7} {summary}");
            summary.Failures.ForEach(f => Console.WriteLine("  " + f));
            ok &= summary.Mismatched == 0;
        }

        return ok ? 0 : 1;
    }
}

/// <summary>The seed shared by the tests and the command.</summary>
public static class DiffSettings
{
    public const ulong DefaultSeed = 0x5eed_2026;

    /// <summary>EMU_DIFF_SEED if set, else <see cref="DefaultSeed"/>.</summary>
    public static ulong Seed => Environment.GetEnvironmentVariable("EMU_DIFF_SEED") is { Length: > 0 } s ? ParseSeed(s) : DefaultSeed;

    public static ulong ParseSeed(string s) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
        ? ulong.Parse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
        : ulong.Parse(s, CultureInfo.InvariantCulture);
}
