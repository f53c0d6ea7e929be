using Emulator.Wasm.Model;

namespace Emulator.Wasm.Decoding;

/// <summary>
/// Decodes a function body's instruction sequence without typing it (spec 5.4), throwing only for
/// malformed code. The validator types and decodes in one pass; when it finds a type error it runs this
/// scan so that a malformation anywhere in the body is reported first, as the spec's decode-then-validate
/// order requires.
/// </summary>
internal static class BodyScanner
{
    public static void Scan(ModuleDefinition m, FunctionBody body)
    {
        var r = new WasmReader(m.Bytes, body.CodeStart, body.CodeEnd, "code");
        bool memory64 = m.Memories.Count > 0 && m.Memories[0].Is64;
        int depth = 0;
        while (true)
        {
            byte op = r.ReadByte();
            switch (op)
            {
                case 0x02: case 0x03: case 0x04:
                    InstructionSkipper.SkipBlockType(ref r);
                    depth++;
                    continue;
                case 0x0B:
                    if (depth-- > 0) continue;
                    if (!r.AtEnd) r.Fail("section size mismatch: operators after the final end");
                    return;
            }
            if (!OpcodeTables.IsDefined(op)) { r.Position--; r.Fail($"illegal opcode 0x{op:x2}"); }
            InstructionSkipper.SkipImmediates(ref r, op, memory64);
        }
    }
}
