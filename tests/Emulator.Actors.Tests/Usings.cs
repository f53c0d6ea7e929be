global using Xunit;

namespace Emulator.Actors.Tests;

internal static class TestSetup
{
    /// <summary>
    /// Several tests park a pool thread inside a handler on purpose (Hold); with two cores the pool
    /// starts with two threads and injects more only slowly, which would stall unrelated tests.
    /// </summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void RaisePoolMinimum()
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), io);
    }
}
