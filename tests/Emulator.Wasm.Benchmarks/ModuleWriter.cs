namespace Emulator.Wasm.Benchmarks;

/// <summary>Writes a small binary module (spec 5.5): one memory, (i32) -> i32 functions, all exported.</summary>
internal sealed class ModuleWriter
{
    private readonly List<(byte[] Locals, byte[] Code)> _functions = new();

    public int MemoryPages { get; init; } = 1;

    /// <summary>Adds a function of type (i32) -> i32; locals are (count, type) pairs, code excludes the final end.</summary>
    public int AddFunction(byte[] locals, byte[] code)
    {
        _functions.Add((locals, code));
        return _functions.Count - 1;
    }

    public byte[] Build()
    {
        var module = new List<byte> { 0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00 };
        Section(module, 1, new byte[] { 0x01, 0x60, 0x01, 0x7F, 0x01, 0x7F });
        var functions = new List<byte>();
        Leb(functions, (uint)_functions.Count);
        foreach (var _ in _functions) functions.Add(0x00);
        Section(module, 3, functions);
        var memory = new List<byte> { 0x01, 0x00 };
        Leb(memory, (uint)MemoryPages);
        Section(module, 5, memory);
        var memName = System.Text.Encoding.UTF8.GetBytes("memory");
        var exports = new List<byte>();
        Leb(exports, (uint)_functions.Count + 1);
        for (int i = 0; i < _functions.Count; i++)
        {
            var name = System.Text.Encoding.UTF8.GetBytes("f" + i);
            Leb(exports, (uint)name.Length);
            exports.AddRange(name);
            exports.Add(0x00);
            Leb(exports, (uint)i);
        }
        Leb(exports, (uint)memName.Length);
        exports.AddRange(memName);
        exports.Add(0x02);
        exports.Add(0x00);
        Section(module, 7, exports);
        var code = new List<byte>();
        Leb(code, (uint)_functions.Count);
        foreach (var (locals, body) in _functions)
        {
            var fn = new List<byte>();
            Leb(fn, (uint)(locals.Length / 2));
            fn.AddRange(locals);
            fn.AddRange(body);
            fn.Add(0x0B);
            Leb(code, (uint)fn.Count);
            code.AddRange(fn);
        }
        Section(module, 10, code);
        return module.ToArray();
    }

    private static void Section(List<byte> module, byte id, IReadOnlyCollection<byte> content)
    {
        module.Add(id);
        Leb(module, (uint)content.Count);
        module.AddRange(content);
    }

    public static void Leb(List<byte> output, uint value)
    {
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            if (value != 0) b |= 0x80;
            output.Add(b);
        } while (value != 0);
    }

    public static void SignedLeb(List<byte> output, long value)
    {
        while (true)
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            bool done = (value == 0 && (b & 0x40) == 0) || (value == -1 && (b & 0x40) != 0);
            if (!done) b |= 0x80;
            output.Add(b);
            if (done) return;
        }
    }
}
