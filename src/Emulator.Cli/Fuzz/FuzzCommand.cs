using System.CommandLine;

namespace Emulator.Cli.Fuzz;

/// <summary>`emu fuzz`: the fuzzers, with fixed seeds and replay commands (CI runs them briefly; longer runs by hand).</summary>
internal static class FuzzCommand
{
    /// <summary>Exit code 2 with the reason for a bad case range, or null.</summary>
    private static int? Ranges(long first, long cases)
    {
        if (first >= 0 && cases >= 0)
        {
            return null;
        }

        Console.Error.WriteLine("emu fuzz: --first and --cases are 0 or more");
        return 2;
    }

    public static Command Create()
    {
        var fuzz = new Command("fuzz", "fuzzers: random guest code and device traffic, malformed files, malformed gRPC requests (exit 1 on a finding)");
        var seed = new Option<ulong>("--seed") { Description = "the run's seed (every case is a function of seed and index)", DefaultValueFactory = _ => 1 };
        var first = new Option<long>("--first") { Description = "the first case" };
        var cases = new Option<long>("--cases") { Description = "how many cases", DefaultValueFactory = _ => 1000 };

        var code = new Command("code", "random guest code and port/MMIO/virtio traffic against a whole PC machine");
        var instructions = new Option<long>("--instructions") { Description = "run cases until this many guest instructions ran (instead of --cases)" };
        var budget = new Option<long>("--budget") { Description = "the most guest instructions per case", DefaultValueFactory = _ => 20_000 };
        var tier1 = new Option<string>("--tier1") { Description = "off, wasmtime or cil: with an engine, blocks are compiled after --threshold runs", DefaultValueFactory = _ => "off" };
        tier1.AcceptOnlyFromAmong("off", "wasmtime", "cil");
        var threshold = new Option<int>("--threshold") { Description = "runs of a block before it is compiled", DefaultValueFactory = _ => 1 };
        code.Add(seed);
        code.Add(first);
        code.Add(cases);
        code.Add(instructions);
        code.Add(budget);
        code.Add(tier1);
        code.Add(threshold);
        var verbose = new Option<bool>("--verbose") { Description = "print each case as it starts and how it ended" };
        code.Add(verbose);
        code.SetAction(parse =>
        {
            var o = new CodeFuzzOptions
            {
                Seed = parse.GetValue(seed),
                First = parse.GetValue(first),
                Cases = parse.GetValue(cases),
                Instructions = parse.GetValue(instructions),
                Budget = parse.GetValue(budget),
                Tier1 = parse.GetValue(tier1)!,
                Threshold = parse.GetValue(threshold),
                Verbose = parse.GetValue(verbose),
            };
            if (o.Cases < 0 || o.First < 0 || o.Budget < 1 || o.Threshold < 1 || o.Instructions < 0)
            {
                Console.Error.WriteLine("emu fuzz code: --first, --cases and --instructions are 0 or more; --budget and --threshold 1 or more");
                return 2;
            }

            return CodeFuzzer.Run(o, Console.Out);
        });
        fuzz.Add(code);

        var files = new Command("files", "damaged snapshot and overlay files: each refused with the documented error, or restored/opened and used");
        files.Add(seed);
        files.Add(first);
        files.Add(cases);
        files.SetAction(parse => Ranges(parse.GetValue(first), parse.GetValue(cases)) ?? FileFuzzer.Run(parse.GetValue(seed), parse.GetValue(first), parse.GetValue(cases), Console.Out));
        fuzz.Add(files);

        var grpc = new Command("grpc", "malformed requests to every MachineService method of an in-process control plane: each a documented status, the service still serving after");
        grpc.Add(seed);
        grpc.Add(first);
        grpc.Add(cases);
        grpc.SetAction(parse => Ranges(parse.GetValue(first), parse.GetValue(cases)) ?? GrpcFuzzer.Run(parse.GetValue(seed), parse.GetValue(first), parse.GetValue(cases), Console.Out));
        fuzz.Add(grpc);
        return fuzz;
    }
}
