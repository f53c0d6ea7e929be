namespace Emulator.Wasm.Benchmarks;

/// <summary>Function bodies for the benchmark, as Wasm code bytes, and the C# twin of the kernel.</summary>
internal static class Kernels
{
    /// <summary>Locals of the checksum: 2 x i32 ($i, $h); parameter 0 is the byte count.</summary>
    public static readonly byte[] ChecksumLocals = { 0x02, 0x7F };

    /// <summary>
    /// h = 2166136261; do { h = (h ^ load32(i)) * 16777619; i += 4; } while (i &lt; n); return h
    /// </summary>
    public static byte[] Checksum()
    {
        var c = new List<byte>();
        c.Add(0x41); ModuleWriter.SignedLeb(c, unchecked((int)2166136261u)); c.AddRange(new byte[] { 0x21, 0x02 });
        c.AddRange(new byte[] { 0x03, 0x40 }); // loop
        c.AddRange(new byte[] { 0x20, 0x02, 0x20, 0x01, 0x28, 0x02, 0x00, 0x73 }); // h ^ load32(i)
        c.Add(0x41); ModuleWriter.SignedLeb(c, 16777619); c.AddRange(new byte[] { 0x6C, 0x21, 0x02 }); // * prime -> h
        c.AddRange(new byte[] { 0x20, 0x01, 0x41, 0x04, 0x6A, 0x22, 0x01 }); // i += 4 (tee)
        c.AddRange(new byte[] { 0x20, 0x00, 0x49, 0x0D, 0x00 }); // br_if i < n
        c.Add(0x0B); // end loop
        c.AddRange(new byte[] { 0x20, 0x02 });
        return c.ToArray();
    }

    public static int ChecksumCSharp(byte[] data, int n)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(data.AsSpan(0, n));
        uint h = 2166136261u;
        for (int i = 0; i < words.Length; i++) h = (h ^ words[i]) * 16777619u;
        return (int)h;
    }

    /// <summary>fib(n) = n &lt; 2 ? n : fib(n - 1) + fib(n - 2), as function 0: measures call overhead.</summary>
    public static byte[] Fibonacci() => new byte[]
    {
        0x20, 0x00, 0x41, 0x02, 0x49, 0x04, 0x7F, 0x20, 0x00, 0x05,
        0x20, 0x00, 0x41, 0x01, 0x6B, 0x10, 0x00, 0x20, 0x00, 0x41, 0x02, 0x6B, 0x10, 0x00, 0x6A, 0x0B,
    };

    public static int FibonacciCSharp(int n) => n < 2 ? n : FibonacciCSharp(n - 1) + FibonacciCSharp(n - 2);

    /// <summary>Locals of the mixed function: 2 x i32 ($x, $count).</summary>
    public static readonly byte[] MixedLocals = { 0x02, 0x7F };

    /// <summary>A loop with arithmetic, a memory load and a store, varied by <paramref name="k"/>.</summary>
    public static byte[] Mixed(int k)
    {
        var c = new List<byte>();
        c.AddRange(new byte[] { 0x20, 0x00, 0x41 }); ModuleWriter.SignedLeb(c, k); c.AddRange(new byte[] { 0x6A, 0x21, 0x01 });
        c.AddRange(new byte[] { 0x03, 0x40 });
        for (int j = 0; j < 6; j++)
        {
            c.AddRange(new byte[] { 0x20, 0x01, 0x41 }); ModuleWriter.SignedLeb(c, 3 + j + k % 5);
            c.AddRange(new byte[] { 0x6C, 0x41 }); ModuleWriter.SignedLeb(c, 0x55 + j);
            c.AddRange(new byte[] { 0x73, 0x21, 0x01 });
        }
        c.AddRange(new byte[] { 0x20, 0x01, 0x41 }); ModuleWriter.SignedLeb(c, 0xFFFC);
        c.AddRange(new byte[] { 0x71, 0x28, 0x02, 0x00, 0x20, 0x01, 0x6A, 0x21, 0x01 }); // x += load32(x & 0xfffc)
        c.AddRange(new byte[] { 0x41, 0x10, 0x20, 0x01, 0x36, 0x02, 0x00 }); // store32(16, x)
        c.AddRange(new byte[] { 0x20, 0x02, 0x41, 0x01, 0x6A, 0x22, 0x02, 0x41, 0x0A, 0x48, 0x0D, 0x00 }); // while (++count < 10)
        c.Add(0x0B);
        c.AddRange(new byte[] { 0x20, 0x01 });
        return c.ToArray();
    }
}
