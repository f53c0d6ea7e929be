using System.Diagnostics.CodeAnalysis;

namespace Emulator.Wasm.Runtime;

/// <summary>The ways execution can trap (spec 4.4), plus the engine's stack-exhaustion guard.</summary>
public enum TrapKind
{
    Unreachable,
    IntegerDivideByZero,
    IntegerOverflow,
    InvalidConversionToInteger,
    MemoryOutOfBounds,
    TableOutOfBounds,
    UndefinedElement,
    UninitializedElement,
    IndirectCallTypeMismatch,
    StackExhausted,
    UnalignedAtomic,
    ExpectedSharedMemory,
}

/// <summary>The one exception type every Wasm trap surfaces as.</summary>
public sealed class WasmTrap : Exception
{
    public TrapKind Kind { get; }

    public WasmTrap(TrapKind kind) : base(Describe(kind)) => Kind = kind;

    /// <summary>The wording the spec test suite uses for each trap.</summary>
    public static string Describe(TrapKind kind) => kind switch
    {
        TrapKind.Unreachable => "unreachable",
        TrapKind.IntegerDivideByZero => "integer divide by zero",
        TrapKind.IntegerOverflow => "integer overflow",
        TrapKind.InvalidConversionToInteger => "invalid conversion to integer",
        TrapKind.MemoryOutOfBounds => "out of bounds memory access",
        TrapKind.TableOutOfBounds => "out of bounds table access",
        TrapKind.UndefinedElement => "undefined element",
        TrapKind.UninitializedElement => "uninitialized element",
        TrapKind.IndirectCallTypeMismatch => "indirect call type mismatch",
        TrapKind.StackExhausted => "call stack exhausted",
        TrapKind.UnalignedAtomic => "unaligned atomic",
        TrapKind.ExpectedSharedMemory => "expected shared memory",
        _ => kind.ToString(),
    };
}

/// <summary>Throw helpers: kept out of line so the compiled fast paths stay small (no throw sites inlined).</summary>
public static class Trap
{
    [DoesNotReturn]
    public static void Throw(TrapKind kind) => throw new WasmTrap(kind);

    [DoesNotReturn]
    public static void Unreachable() => throw new WasmTrap(TrapKind.Unreachable);

    [DoesNotReturn]
    public static void MemoryOutOfBounds() => throw new WasmTrap(TrapKind.MemoryOutOfBounds);

    [DoesNotReturn]
    public static void TableOutOfBounds() => throw new WasmTrap(TrapKind.TableOutOfBounds);
}

/// <summary>A module whose imports cannot be satisfied (spec 4.5.4, step 4): assert_unlinkable.</summary>
public sealed class WasmLinkException : Exception
{
    public WasmLinkException(string message) : base(message) { }
}
