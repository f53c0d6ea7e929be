namespace Emulator.Wasm.SpecTests;

/// <summary>One .wast file of the official suite and the wast2json flags its proposal needs.</summary>
public sealed record WastFile(string Category, string Path, string[] Flags)
{
    public string Name => Category == "core" ? System.IO.Path.GetFileName(Path) : Category + "/" + System.IO.Path.GetFileName(Path);

    /// <summary>SIMD is not claimed by the engine (the scope), so its files are skipped, by name.</summary>
    public string? SkipReason => System.IO.Path.GetFileName(Path).StartsWith("simd_", StringComparison.Ordinal)
        ? "SIMD (v128) is not supported by the engine"
        : null;

    /// <summary>
    /// The feature set each suite was written for, as wast2json's flags: the core suite is WebAssembly 2.0
    /// alone (so threads' and memory64's limit flags are malformed there); the threads and memory64
    /// snapshots predate reference types (one table, zero byte in call_indirect).
    /// </summary>
    public Emulator.Wasm.Validation.WasmFeatures Features => Category switch
    {
        "threads" => new(ReferenceTypes: false, Threads: true, Memory64: false),
        "memory64" => new(ReferenceTypes: false, Threads: false, Memory64: true),
        _ => new(ReferenceTypes: true, Threads: false, Memory64: false),
    };

    public override string ToString() => Name;
}

/// <summary>Finds the suite: $WASM_TESTSUITE, or shared/conformance/wasm-testsuite above the working or build directory.</summary>
public static class SpecSuite
{
    public static string Root { get; } = Locate();

    private static string Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("WASM_TESTSUITE");
        if (!string.IsNullOrEmpty(fromEnvironment) && Directory.Exists(fromEnvironment)) return fromEnvironment;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                foreach (var candidate in new[] { Path.Combine(dir.FullName, "shared", "conformance", "wasm-testsuite"), Path.Combine(dir.FullName, "conformance", "wasm-testsuite") })
                    if (Directory.Exists(candidate)) return candidate;
            }
        }
        throw new DirectoryNotFoundException("wasm-testsuite not found: set WASM_TESTSUITE to the suite's directory");
    }

    public static IReadOnlyList<WastFile> Files()
    {
        var files = new List<WastFile>();
        foreach (var path in Directory.GetFiles(Root, "*.wast").OrderBy(p => p, StringComparer.Ordinal))
            files.Add(new WastFile("core", path, Array.Empty<string>()));
        var threads = Path.Combine(Root, "proposals", "threads");
        if (Directory.Exists(threads))
            foreach (var path in Directory.GetFiles(threads, "*.wast").OrderBy(p => p, StringComparer.Ordinal))
                files.Add(new WastFile("threads", path, new[] { "--enable-threads" }));
        var memory64 = Path.Combine(Root, "proposals", "memory64");
        if (Directory.Exists(memory64))
            foreach (var path in Directory.GetFiles(memory64, "*.wast").OrderBy(p => p, StringComparer.Ordinal))
                files.Add(new WastFile("memory64", path, new[] { "--enable-memory64" }));
        return files;
    }
}
