using System.Runtime.CompilerServices;

namespace Emulator.Wasm.Runtime;

public static class CallHelpers
{
    /// <summary>
    /// Lowest stack address this thread has been confirmed safe to run at. Stack positions at or above it
    /// were approved by the runtime's own check; starts at the top so the first call takes the slow path.
    /// </summary>
    [ThreadStatic]
    private static nuint t_safeLimit;

    /// <summary>How far below an approved position the fast path may go before asking the runtime again.</summary>
    private const nuint ApprovedSpan = 32 * 1024;

    /// <summary>
    /// Called on entry to every compiled function. A .NET stack overflow kills the process, so trap while
    /// the runtime still reports enough headroom (spec 4.4.10 lets an engine exhaust resources at any call).
    /// The fast path compares the stack pointer with a per-thread limit; only every 32 KiB of new depth
    /// asks <see cref="RuntimeHelpers.TryEnsureSufficientExecutionStack"/>, which measures the real stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void CheckStack()
    {
        byte marker = 0;
        if ((nuint)(&marker) < t_safeLimit || t_safeLimit == 0) CheckStackSlow((nuint)(&marker));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CheckStackSlow(nuint position)
    {
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack()) Trap.Throw(TrapKind.StackExhausted);
        // The runtime guarantees at least 64 KiB of headroom here; approve half of it below this frame.
        t_safeLimit = position - ApprovedSpan;
    }
}
