using System.Runtime.CompilerServices;

namespace Emulator.Wasm.Runtime;

public static class CallHelpers
{
    /// <summary>
    /// Called on entry to every compiled function. A .NET stack overflow kills the process, so trap while
    /// the runtime still reports enough headroom (spec 4.4.10 lets an engine exhaust resources at any call).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckStack()
    {
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack()) Trap.Throw(TrapKind.StackExhausted);
    }
}
