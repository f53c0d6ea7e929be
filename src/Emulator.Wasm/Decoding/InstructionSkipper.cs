using Emulator.Wasm.Model;

namespace Emulator.Wasm.Decoding;

/// <summary>
/// Reads past the immediates of an instruction without interpreting it. The compiler uses it to step
/// over code that follows an unconditional branch, which it does not emit (the body is already validated).
/// </summary>
internal static class InstructionSkipper
{
    public static void SkipImmediates(ref WasmReader r, byte op, bool memory64)
    {
        switch (op)
        {
            case 0x02: case 0x03: case 0x04:
                SkipBlockType(ref r);
                break;
            case 0x0C: case 0x0D: case 0x10: case 0x20: case 0x21: case 0x22: case 0x23: case 0x24:
            case 0x25: case 0x26: case 0xD2:
                r.ReadU32();
                break;
            case 0x0E:
            {
                uint n = r.ReadU32();
                for (uint i = 0; i <= n; i++) r.ReadU32();
                break;
            }
            case 0x11: r.ReadU32(); r.ReadU32(); break;
            case 0x1C:
            {
                uint n = r.ReadU32();
                for (uint i = 0; i < n; i++) r.ReadByte();
                break;
            }
            case >= 0x28 and <= 0x3E: SkipMemArg(ref r, memory64); break;
            case 0x3F: case 0x40: r.ReadByte(); break;
            case 0x41: r.ReadS32(); break;
            case 0x42: r.ReadS64(); break;
            case 0x43: r.ReadBytes(4); break;
            case 0x44: r.ReadBytes(8); break;
            case 0xD0: r.ReadByte(); break;
            case 0xFD:
                throw new WasmModuleException(ModuleErrorKind.Unsupported, r.Section, r.Position - 1, "SIMD (v128) instructions are not supported by this engine");
            case 0xFC:
            {
                uint sub = r.ReadU32();
                switch (sub)
                {
                    case 8: r.ReadU32(); r.ReadByte(); break;
                    case 9: case 13: case 15: case 16: case 17: r.ReadU32(); break;
                    case 10: r.ReadByte(); r.ReadByte(); break;
                    case 11: r.ReadByte(); break;
                    case 12: case 14: r.ReadU32(); r.ReadU32(); break;
                    case > 17: r.Fail($"illegal opcode 0xfc {sub}"); break;
                }
                break;
            }
            case 0xFE:
            {
                uint sub = r.ReadU32();
                if (sub == 3) r.ReadByte();
                else if (sub <= 2 || (sub < OpcodeTables.Atomic.Length && OpcodeTables.Atomic[sub].Kind != AtomicKind.None)) SkipMemArg(ref r, memory64);
                else r.Fail($"illegal opcode 0xfe {sub}");
                break;
            }
        }
    }

    public static void SkipBlockType(ref WasmReader r)
    {
        byte b = r.PeekByte();
        if (b == 0x40 || (b & 0xC0) == 0x40) r.Position++;
        else r.ReadS33();
    }

    private static void SkipMemArg(ref WasmReader r, bool memory64)
    {
        r.ReadU32();
        if (memory64) r.ReadU64(); else r.ReadU32();
    }
}
