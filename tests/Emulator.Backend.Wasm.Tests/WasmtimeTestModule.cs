using System.Text;

namespace Emulator.Backend.Wasm.Tests;

/// <summary>
/// Hand assembly of the small modules the Wasmtime engine tests run (WebAssembly core spec 5.5,
/// binary format; threads proposal for shared memories and atomics; memory64 for i64 addresses).
/// Everything imported comes from module "emu", as tier 1 imports it.
/// </summary>
internal sealed class WasmtimeTestModule
{
    public const byte I32 = 0x7F;
    public const byte I64 = 0x7E;

    private readonly List<byte[]> types = [];
    private readonly List<byte[]> imports = [];
    private readonly List<(int Type, byte[] Locals, byte[] Body)> functions = [];
    private readonly List<byte[]> exports = [];
    private int importedFunctions;

    /// <summary>Imports a function; returns its index. All imports come before the first <see cref="Function"/>.</summary>
    public int Import(string name, byte[] parameters, byte[] results)
    {
        if (functions.Count > 0)
        {
            throw new InvalidOperationException("imported functions take the first indices: import before defining");
        }

        imports.Add([.. Name("emu"), .. Name(name), 0x00, .. Unsigned((ulong)TypeIndex(parameters, results))]);
        return importedFunctions++;
    }

    /// <summary>Imports "emu"."mem": shared, minimum = maximum = <paramref name="pages"/>, i64-addressed when <paramref name="is64"/>.</summary>
    public void ImportSharedMemory(ulong pages, bool is64)
    {
        // limits flags: bit 0 has a maximum, bit 1 shared, bit 2 64-bit addresses
        byte flags = (byte)(0x03 | (is64 ? 0x04 : 0));
        imports.Add([.. Name("emu"), .. Name("mem"), 0x02, flags, .. Unsigned(pages), .. Unsigned(pages)]);
    }

    /// <summary>
    /// Defines a function and exports it as <paramref name="export"/> (not at all when null);
    /// <paramref name="i64Locals"/> locals of type i64 follow the parameters. Returns its index.
    /// </summary>
    public int Function(string? export, byte[] parameters, byte[] results, WasmCode body, int i64Locals = 0)
    {
        byte[] locals = i64Locals == 0 ? [0x00] : [0x01, .. Unsigned((ulong)i64Locals), I64];
        functions.Add((TypeIndex(parameters, results), locals, body.ToArray()));
        int index = importedFunctions + functions.Count - 1;
        if (export is not null)
        {
            exports.Add([.. Name(export), 0x00, .. Unsigned((ulong)index)]);
        }

        return index;
    }

    /// <summary>
    /// Defines and exports "run" (param i64 state, i32 block, i32 nested) (result i32): calls
    /// <paramref name="blocks"/>[block](state), each a function (param i64) (result i32), and
    /// returns its result; traps (unreachable) on a block index out of range.
    /// </summary>
    public int Run(params int[] blocks)
    {
        // block (default) block (n-1) ... block (0) [br_table 0 .. n-1 default n] end
        // case 0 end case 1 ... end unreachable: label i ends just before case i's code.
        var code = new WasmCode();
        for (int i = 0; i <= blocks.Length; i++)
        {
            code = code.Block();
        }

        code = code.LocalGet(1).BrTable(Enumerable.Range(0, blocks.Length).ToArray(), blocks.Length).End();
        foreach (int block in blocks)
        {
            code = code.LocalGet(0).Call(block).Return().End();
        }

        return Function("run", [I64, I32, I32], [I32], code.Unreachable());
    }

    public byte[] ToBytes()
    {
        var module = new List<byte> { 0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00 };
        AddSection(module, 1, Vector(types));
        AddSection(module, 2, Vector(imports));
        AddSection(module, 3, Vector(functions.Select(f => Unsigned((ulong)f.Type)).ToList()));
        AddSection(module, 7, Vector(exports));
        AddSection(module, 10, Vector(functions.Select(f =>
        {
            byte[] code = [.. f.Locals, .. f.Body, 0x0B];
            return (byte[])[.. Unsigned((ulong)code.Length), .. code];
        }).ToList()));
        return [.. module];
    }

    public static byte[] Unsigned(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            byte low = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value == 0 ? low : (byte)(low | 0x80));
        }
        while (value != 0);
        return [.. bytes];
    }

    public static byte[] Signed(long value)
    {
        var bytes = new List<byte>();
        while (true)
        {
            byte low = (byte)(value & 0x7F);
            value >>= 7;
            bool done = (value == 0 && (low & 0x40) == 0) || (value == -1 && (low & 0x40) != 0);
            bytes.Add(done ? low : (byte)(low | 0x80));
            if (done)
            {
                return [.. bytes];
            }
        }
    }

    private int TypeIndex(byte[] parameters, byte[] results)
    {
        byte[] type = [0x60, .. Unsigned((ulong)parameters.Length), .. parameters, .. Unsigned((ulong)results.Length), .. results];
        int index = types.FindIndex(t => t.AsSpan().SequenceEqual(type));
        if (index < 0)
        {
            types.Add(type);
            index = types.Count - 1;
        }

        return index;
    }

    private static byte[] Name(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        return [.. Unsigned((ulong)utf8.Length), .. utf8];
    }

    private static byte[] Vector(List<byte[]> items) => [.. Unsigned((ulong)items.Count), .. items.SelectMany(i => i)];

    private static void AddSection(List<byte> module, byte id, byte[] content)
    {
        module.Add(id);
        module.AddRange(Unsigned((ulong)content.Length));
        module.AddRange(content);
    }
}

/// <summary>A function body, instruction by instruction (opcodes from the core spec 5.4 and the threads proposal).</summary>
internal sealed class WasmCode
{
    private readonly List<byte> bytes = [];

    public WasmCode LocalGet(int index) => Op(0x20).Index(index);

    public WasmCode LocalSet(int index) => Op(0x21).Index(index);

    public WasmCode I32Const(int value) => Op(0x41).Raw(WasmtimeTestModule.Signed(value));

    public WasmCode I64Const(long value) => Op(0x42).Raw(WasmtimeTestModule.Signed(value));

    public WasmCode Call(int function) => Op(0x10).Index(function);

    /// <summary>i64.load with natural alignment (2^3) and a constant offset.</summary>
    public WasmCode I64Load(ulong offset = 0) => Op(0x29).MemArg(3, offset);

    public WasmCode I64Store(ulong offset = 0) => Op(0x37).MemArg(3, offset);

    public WasmCode I64AtomicLoad(ulong offset = 0) => Op(0xFE, 0x11).MemArg(3, offset);

    public WasmCode I64AtomicRmwAdd(ulong offset = 0) => Op(0xFE, 0x1F).MemArg(3, offset);

    public WasmCode I64Add() => Op(0x7C);

    public WasmCode I64Sub() => Op(0x7D);

    public WasmCode I64Ne() => Op(0x52);

    public WasmCode I64LtU() => Op(0x54);

    public WasmCode I32WrapI64() => Op(0xA7);

    public WasmCode Drop() => Op(0x1A);

    public WasmCode Unreachable() => Op(0x00);

    /// <summary>block with an empty block type.</summary>
    public WasmCode Block() => Op(0x02, 0x40);

    /// <summary>loop with an empty block type.</summary>
    public WasmCode Loop() => Op(0x03, 0x40);

    public WasmCode BrIf(int depth) => Op(0x0D).Index(depth);

    /// <summary>br_table: pops an i32 i, branches to <paramref name="depths"/>[i], or to <paramref name="defaultDepth"/> when i is out of range.</summary>
    public WasmCode BrTable(int[] depths, int defaultDepth)
    {
        Op(0x0E).Index(depths.Length);
        foreach (int depth in depths)
        {
            Index(depth);
        }

        return Index(defaultDepth);
    }

    public WasmCode Return() => Op(0x0F);

    public WasmCode End() => Op(0x0B);

    public byte[] ToArray() => [.. bytes];

    private WasmCode Op(params byte[] opcode)
    {
        bytes.AddRange(opcode);
        return this;
    }

    private WasmCode Index(int index) => Raw(WasmtimeTestModule.Unsigned((ulong)index));

    private WasmCode MemArg(uint alignLog2, ulong offset) => Raw([.. WasmtimeTestModule.Unsigned(alignLog2), .. WasmtimeTestModule.Unsigned(offset)]);

    private WasmCode Raw(byte[] raw)
    {
        bytes.AddRange(raw);
        return this;
    }
}
