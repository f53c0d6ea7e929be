using System.Text.Json;
using Emulator.Wasm.Decoding;
using Emulator.Wasm.Runtime;

namespace Emulator.Wasm.SpecTests;

/// <summary>
/// Outcome of one script. <see cref="TextModules"/> counts the passed assert_malformed/assert_invalid
/// commands whose module is in the text format (.wat): the engine reads only binaries, so it refuses them
/// at the magic number, which is correct but says nothing about the text-level error they test.
/// </summary>
public sealed record WastResult(string Name, int Passed, int Failed, IReadOnlyList<string> Failures, int TextModules = 0);

/// <summary>Runs the commands of one wast2json script against the engine.</summary>
public sealed class WastRunner
{
    private readonly string _directory;
    private readonly WastFile _file;
    private readonly Imports _registry = new();
    private readonly Dictionary<string, Instance> _named = new();
    private Instance? _current;
    private int _passed;
    private int _textModules;
    private readonly List<string> _failures = new();

    private WastRunner(WastFile file, string directory)
    {
        _file = file;
        _directory = directory;
        SpectestHost.Register(_registry);
    }

    public static WastResult Run(WastFile file)
    {
        var json = WastConverter.Convert(file);
        var runner = new WastRunner(file, Path.GetDirectoryName(json)!);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
            foreach (var command in doc.RootElement.GetProperty("commands").EnumerateArray())
                runner.Execute(command);
        }
        finally
        {
            WastConverter.Delete(json);
        }
        return new WastResult(file.Name, runner._passed, runner._failures.Count, runner._failures, runner._textModules);
    }

    /// <summary>The number of commands in a script, for reporting a skipped file.</summary>
    public static int CountCommands(WastFile file)
    {
        var json = WastConverter.Convert(file);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
            return doc.RootElement.GetProperty("commands").GetArrayLength();
        }
        finally
        {
            WastConverter.Delete(json);
        }
    }

    private void Execute(JsonElement c)
    {
        string type = c.GetProperty("type").GetString()!;
        int line = c.GetProperty("line").GetInt32();
        try
        {
            string? problem = type switch
            {
                "module" => DefineModule(c),
                "register" => Register(c),
                "action" => Perform(c.GetProperty("action")).Error,
                "assert_return" => AssertReturn(c),
                "assert_trap" => c.TryGetProperty("action", out _) ? AssertTrap(c) : AssertModuleTraps(c),
                "assert_exhaustion" => AssertExhaustion(c),
                "assert_invalid" or "assert_malformed" => AssertRefused(c),
                "assert_unlinkable" => AssertUnlinkable(c),
                "assert_uninstantiable" => AssertModuleTraps(c),
                _ => $"unknown command {type}",
            };
            if (problem is null) _passed++;
            else _failures.Add($"line {line} {type}: {problem}");
        }
        catch (Exception e)
        {
            _failures.Add($"line {line} {type}: unexpected {e.GetType().Name}: {e.Message}");
        }
    }

    private byte[] ModuleBytes(JsonElement c) => File.ReadAllBytes(Path.Combine(_directory, c.GetProperty("filename").GetString()!));

    private string? DefineModule(JsonElement c)
    {
        _current = null;
        var module = Module.Compile(ModuleBytes(c), _file.Features);
        _current = Instance.Create(module, _registry);
        if (c.TryGetProperty("name", out var name)) _named[name.GetString()!] = _current;
        return null;
    }

    private string? Register(JsonElement c)
    {
        var instance = c.TryGetProperty("name", out var name) ? _named[name.GetString()!] : _current;
        if (instance is null) return "no module to register";
        _registry.Define(c.GetProperty("as").GetString()!, instance);
        return null;
    }

    private Instance? Target(JsonElement action) =>
        action.TryGetProperty("module", out var m) ? _named.GetValueOrDefault(m.GetString()!) : _current;

    private (object?[]? Results, string? Error, Exception? Thrown) Perform(JsonElement action)
    {
        var instance = Target(action);
        if (instance is null) return (null, "no current module", null);
        string field = action.GetProperty("field").GetString()!;
        try
        {
            if (action.GetProperty("type").GetString() == "get")
                return (new[] { instance.GetGlobal(field).Value }, null, null);
            var args = action.GetProperty("args").EnumerateArray().Select(SpecValues.Parse).ToArray();
            return (instance.GetFunction(field).Invoke(args), null, null);
        }
        catch (WasmTrap trap)
        {
            return (null, $"trapped: {trap.Message}", trap);
        }
    }

    private string? AssertReturn(JsonElement c)
    {
        var (results, error, _) = Perform(c.GetProperty("action"));
        if (error is not null) return error;
        var expected = c.GetProperty("expected").EnumerateArray().ToArray();
        if (results!.Length != expected.Length) return $"expected {expected.Length} results, got {results.Length}";
        for (int i = 0; i < expected.Length; i++)
            if (!SpecValues.Matches(expected[i], results[i]))
                return $"result {i}: expected {expected[i]}, got {SpecValues.Show(results[i])}";
        return null;
    }

    private static string? ExpectTrap(Exception? thrown, string? error, string expectedText)
    {
        if (thrown is WasmTrap trap)
            return expectedText.StartsWith(trap.Message, StringComparison.Ordinal) || trap.Message.StartsWith(expectedText, StringComparison.Ordinal)
                ? null
                : $"expected trap \"{expectedText}\", got \"{trap.Message}\"";
        return error ?? $"expected trap \"{expectedText}\", returned normally";
    }

    private string? AssertTrap(JsonElement c)
    {
        var (_, error, thrown) = Perform(c.GetProperty("action"));
        return ExpectTrap(thrown, error, c.GetProperty("text").GetString()!);
    }

    private string? AssertExhaustion(JsonElement c)
    {
        var (_, error, thrown) = Perform(c.GetProperty("action"));
        if (thrown is WasmTrap { Kind: TrapKind.StackExhausted }) return null;
        return error ?? "expected stack exhaustion, returned normally";
    }

    private string? AssertModuleTraps(JsonElement c)
    {
        var module = Module.Compile(ModuleBytes(c), _file.Features);
        try
        {
            Instance.Create(module, _registry);
            return "expected instantiation to trap";
        }
        catch (WasmTrap trap)
        {
            return ExpectTrap(trap, null, c.GetProperty("text").GetString()!);
        }
    }

    private string? AssertRefused(JsonElement c)
    {
        try
        {
            Module.Compile(ModuleBytes(c), _file.Features);
            return $"module accepted, expected \"{c.GetProperty("text").GetString()}\"";
        }
        catch (WasmModuleException e)
        {
            if (c.TryGetProperty("module_type", out var kind) && kind.GetString() == "text")
            {
                _textModules++;
                return null;
            }
            // The category must match: a malformed binary is a decoding error, an invalid one a validation error.
            var expected = c.GetProperty("type").GetString() == "assert_malformed" ? ModuleErrorKind.Malformed : ModuleErrorKind.Invalid;
            return e.Kind == expected ? null : $"refused as {e.Kind.ToString().ToLowerInvariant()} ({e.Reason}), expected {expected.ToString().ToLowerInvariant()} \"{c.GetProperty("text").GetString()}\"";
        }
    }

    private string? AssertUnlinkable(JsonElement c)
    {
        var module = Module.Compile(ModuleBytes(c), _file.Features);
        try
        {
            Instance.Create(module, _registry);
            return "expected linking to fail";
        }
        catch (WasmLinkException)
        {
            return null;
        }
    }
}
