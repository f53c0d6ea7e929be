namespace Emulator.Wasm.Decoding;

public enum ModuleErrorKind
{
    /// <summary>The bytes are not a well-formed binary module (spec 5).</summary>
    Malformed,
    /// <summary>The module is well formed but fails validation (spec 3).</summary>
    Invalid,
    /// <summary>The module uses a feature this engine refuses (SIMD).</summary>
    Unsupported,
}

/// <summary>A module refused at decode or validation time; names the section, byte offset and reason.</summary>
public sealed class WasmModuleException : Exception
{
    public ModuleErrorKind Kind { get; }
    public string Section { get; }
    public long Offset { get; }
    public string Reason { get; }

    public WasmModuleException(ModuleErrorKind kind, string section, long offset, string reason)
        : base($"{kind.ToString().ToLowerInvariant()} module: {section} section at offset 0x{offset:x}: {reason}")
    {
        Kind = kind;
        Section = section;
        Offset = offset;
        Reason = reason;
    }
}
