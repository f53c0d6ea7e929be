namespace Emulator.Backend.Wasm.Builder;

/// <summary>Value types the backend emits (Wasm spec 5.3.1).</summary>
public enum WasmType : byte
{
    I32 = 0x7f,
    I64 = 0x7e,
}

/// <summary>
/// Builds a WebAssembly binary module (Wasm spec 5.5): function types, imported functions,
/// one imported memory, defined functions and their exports. Imports are numbered first, as
/// the function index space requires, so a body may call an import declared while lowering it.
/// </summary>
public sealed class WasmModuleBuilder
{
    private readonly List<(WasmType[] Params, WasmType[] Results)> types = [];
    private readonly List<(string Module, string Name, int Type)> funcImports = [];
    private readonly Dictionary<(string, string), int> importIndex = [];
    private readonly List<(int Type, WasmType[] Locals, byte[] Code)> functions = [];
    private readonly List<(string Name, int Function)> exports = [];
    private (string Module, string Name, ulong Pages, bool Shared, bool Is64)? memory;
    private (string Module, string Name, uint Size)? table;

    public int TypeOf(WasmType[] parameters, WasmType[] results)
    {
        for (int i = 0; i < types.Count; i++)
        {
            if (types[i].Params.AsSpan().SequenceEqual(parameters) && types[i].Results.AsSpan().SequenceEqual(results))
            {
                return i;
            }
        }

        types.Add((parameters, results));
        return types.Count - 1;
    }

    /// <summary>The function index of an imported function, declared on first use.</summary>
    public int ImportFunction(string module, string name, WasmType[] parameters, WasmType[] results)
    {
        if (!importIndex.TryGetValue((module, name), out int index))
        {
            index = funcImports.Count;
            funcImports.Add((module, name, TypeOf(parameters, results)));
            importIndex[(module, name)] = index;
        }

        return index;
    }

    /// <summary>Imports the module's one memory, of fixed size (minimum = maximum pages).</summary>
    public void ImportMemory(string module, string name, ulong pages, bool shared, bool is64) =>
        memory = (module, name, pages, shared, is64);

    /// <summary>Adds a function; its index is known once all imports are (<see cref="FunctionIndex"/>).</summary>
    public int AddFunction(WasmType[] parameters, WasmType[] results, WasmType[] locals, CodeWriter body)
    {
        functions.Add((TypeOf(parameters, results), locals, body.ToArray()));
        return functions.Count - 1;
    }

    public int FunctionIndex(int definedFunction) => funcImports.Count + definedFunction;

    /// <summary>Imports table 0 (funcref, fixed size: minimum = maximum), for call_indirect.</summary>
    public void ImportTable(string module, string name, uint size) => table = (module, name, size);

    public void Export(string name, int definedFunction) => exports.Add((name, definedFunction));

    public byte[] ToBytes()
    {
        var w = new ByteWriter();
        w.Bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

        Section(w, 1, s =>
        {
            s.U32((uint)types.Count);
            foreach (var (p, r) in types)
            {
                s.Byte(0x60);
                s.U32((uint)p.Length);
                foreach (var t in p) s.Byte((byte)t);
                s.U32((uint)r.Length);
                foreach (var t in r) s.Byte((byte)t);
            }
        });

        Section(w, 2, s =>
        {
            s.U32((uint)(funcImports.Count + (memory is null ? 0 : 1) + (table is null ? 0 : 1)));
            foreach (var (module, name, type) in funcImports)
            {
                s.Name(module);
                s.Name(name);
                s.Byte(0x00);
                s.U32((uint)type);
            }

            if (memory is { } m)
            {
                s.Name(m.Module);
                s.Name(m.Name);
                s.Byte(0x02);
                // limits flags: bit 0 max present, bit 1 shared, bit 2 memory64 (threads and memory64 proposals)
                s.Byte((byte)(1 | (m.Shared ? 2 : 0) | (m.Is64 ? 4 : 0)));
                s.U64(m.Pages);
                s.U64(m.Pages);
            }

            if (table is { } t)
            {
                s.Name(t.Module);
                s.Name(t.Name);
                s.Byte(0x01);
                s.Byte(0x70); // funcref
                s.Byte(0x01); // limits: minimum and maximum
                s.U32(t.Size);
                s.U32(t.Size);
            }
        });

        Section(w, 3, s =>
        {
            s.U32((uint)functions.Count);
            foreach (var f in functions) s.U32((uint)f.Type);
        });

        Section(w, 7, s =>
        {
            s.U32((uint)exports.Count);
            foreach (var (name, f) in exports)
            {
                s.Name(name);
                s.Byte(0x00);
                s.U32((uint)FunctionIndex(f));
            }
        });

        Section(w, 10, s =>
        {
            s.U32((uint)functions.Count);
            foreach (var f in functions)
            {
                var body = new ByteWriter();
                // locals: runs of one type
                var runs = new List<(int Count, WasmType Type)>();
                foreach (var t in f.Locals)
                {
                    if (runs.Count > 0 && runs[^1].Type == t) runs[^1] = (runs[^1].Count + 1, t);
                    else runs.Add((1, t));
                }

                body.U32((uint)runs.Count);
                foreach (var (count, type) in runs)
                {
                    body.U32((uint)count);
                    body.Byte((byte)type);
                }

                body.Bytes(f.Code);
                s.U32((uint)body.Length);
                s.Bytes(body.AsSpan());
            }
        });

        return w.ToArray();
    }

    private static void Section(ByteWriter w, byte id, Action<ByteWriter> fill)
    {
        var s = new ByteWriter();
        fill(s);
        w.Byte(id);
        w.U32((uint)s.Length);
        w.Bytes(s.AsSpan());
    }
}

/// <summary>A growable byte buffer with the LEB128 encodings of the Wasm binary format (spec 5.2.2).</summary>
public class ByteWriter
{
    private byte[] buffer = new byte[256];

    public int Length { get; private set; }

    public void Byte(byte b)
    {
        if (Length == buffer.Length)
        {
            Array.Resize(ref buffer, buffer.Length * 2);
        }

        buffer[Length++] = b;
    }

    public void Bytes(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) Byte(b);
    }

    public void U32(uint v) => U64(v);

    public void U64(ulong v)
    {
        do
        {
            byte b = (byte)(v & 0x7f);
            v >>= 7;
            Byte(v != 0 ? (byte)(b | 0x80) : b);
        }
        while (v != 0);
    }

    public void S64(long v)
    {
        while (true)
        {
            byte b = (byte)(v & 0x7f);
            v >>= 7;
            bool done = (v == 0 && (b & 0x40) == 0) || (v == -1 && (b & 0x40) != 0);
            Byte(done ? b : (byte)(b | 0x80));
            if (done) return;
        }
    }

    public void Name(string s)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(s);
        U32((uint)bytes.Length);
        Bytes(bytes);
    }

    public ReadOnlySpan<byte> AsSpan() => buffer.AsSpan(0, Length);

    public byte[] ToArray() => buffer.AsSpan(0, Length).ToArray();
}
