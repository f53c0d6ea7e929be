using System.Diagnostics;
using System.Runtime.InteropServices;
using Emulator.Wasm.Runtime;

namespace Emulator.Wasm.Benchmarks;

/// <summary>
/// Prints figures, passes or fails nothing: compile time per function of a generated module, and a
/// checksum kernel run as Wasm against the same kernel in C#.
/// </summary>
public static class Program
{
    public static void Main()
    {
        Console.WriteLine($"runtime {RuntimeInformation.FrameworkDescription}, {Environment.ProcessorCount} cores");
        CompileTime(functionCount: 500);
        Kernel(bytes: 1 << 20, iterations: 200);
        Calls(n: 27);
    }

    /// <summary>Milliseconds of the fastest of <paramref name="runs"/> runs: the machine is shared, the minimum is the least disturbed.</summary>
    private static double BestOf(int runs, Action action)
    {
        double best = double.MaxValue;
        var clock = new Stopwatch();
        for (int i = 0; i < runs; i++)
        {
            clock.Restart();
            action();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
        }
        return best;
    }

    private static void Calls(int n)
    {
        var writer = new ModuleWriter();
        writer.AddFunction(Array.Empty<byte>(), Kernels.Fibonacci());
        var fib = Instance.Create(Module.Compile(writer.Build()), new Imports()).GetFunction<Func<int, int>>("f0");
        if (fib(20) != Kernels.FibonacciCSharp(20)) throw new InvalidOperationException("fib mismatch");
        for (int i = 0; i < 3; i++)
        {
            fib(n);
            Kernels.FibonacciCSharp(n);
        }
        double wasmMs = BestOf(20, () => fib(n));
        double csharpMs = BestOf(20, () => Kernels.FibonacciCSharp(n));
        Console.WriteLine($"calls: recursive fib({n}), best of 20 runs");
        Console.WriteLine($"  wasm: {wasmMs:F1} ms   C#: {csharpMs:F1} ms   ratio wasm/C#: {wasmMs / csharpMs:F2}");
    }

    private static void CompileTime(int functionCount)
    {
        var writer = new ModuleWriter();
        for (int k = 0; k < functionCount; k++) writer.AddFunction(Kernels.MixedLocals, Kernels.Mixed(k));
        var bytes = writer.Build();

        // Warm-up: the compiler's own code is JIT-compiled on first use.
        Module.Compile(bytes);
        Module module = null!;
        double compileMicros = BestOf(5, () => module = Module.Compile(bytes)) * 1000 / functionCount;

        var instance = Instance.Create(module, new Imports());
        var functions = Enumerable.Range(0, functionCount).Select(i => instance.GetFunction<Func<int, int>>("f" + i)).ToArray();
        // One-shot by nature (each function is JIT-compiled once), so this figure is the noisiest.
        var clock = Stopwatch.StartNew();
        int sink = 0;
        foreach (var f in functions) sink += f(1);
        double firstCallMicros = clock.Elapsed.TotalMicroseconds / functionCount;
        Console.WriteLine($"compile: {functionCount} functions of {bytes.Length / functionCount} bytes each");
        Console.WriteLine($"  decode + validate + CIL emit: {compileMicros:F1} us per function");
        Console.WriteLine($"  first call (.NET JIT of the CIL): {firstCallMicros:F1} us per function (checksum {sink})");
    }

    private static unsafe void Kernel(int bytes, int iterations)
    {
        var writer = new ModuleWriter { MemoryPages = bytes / Memory.PageSize };
        writer.AddFunction(Kernels.ChecksumLocals, Kernels.Checksum());
        var instance = Instance.Create(Module.Compile(writer.Build()), new Imports());
        var memory = instance.GetMemory("memory");
        var data = memory.GetSpan(0, bytes);
        var random = new Random(42);
        random.NextBytes(data);
        var wasm = instance.GetFunction<Func<int, int>>("f0");
        var managed = data.ToArray();

        int expected = Kernels.ChecksumCSharp(managed, bytes);
        int actual = wasm(bytes);
        if (expected != actual) throw new InvalidOperationException($"kernel mismatch: C# {expected:x8}, Wasm {actual:x8}");

        for (int i = 0; i < 20; i++)
        {
            wasm(bytes);
            Kernels.ChecksumCSharp(managed, bytes);
        }
        double wasmMs = BestOf(iterations, () => wasm(bytes));
        double csharpMs = BestOf(iterations, () => Kernels.ChecksumCSharp(managed, bytes));
        double mb = (double)bytes / (1 << 20);
        Console.WriteLine($"kernel: FNV-style checksum over {bytes >> 10} KiB, best of {iterations} runs");
        Console.WriteLine($"  wasm: {wasmMs:F3} ms per run ({mb / (wasmMs / 1000):F0} MiB/s)");
        Console.WriteLine($"  C#:   {csharpMs:F3} ms per run ({mb / (csharpMs / 1000):F0} MiB/s)");
        Console.WriteLine($"  ratio wasm/C#: {wasmMs / csharpMs:F2}");
    }
}
