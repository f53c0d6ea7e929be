using System.Reflection.Emit;
using Emulator.Wasm.Model;
using Emulator.Wasm.Runtime;

namespace Emulator.Wasm.Compilation;

/// <summary>Memory instructions (spec 4.4.7), bulk memory and table operations, and the threads proposal's atomics.</summary>
internal sealed partial class FunctionCompiler
{
    private ValType AddressType => _memory64 ? ValType.I64 : ValType.I32;

    private ulong ReadMemArgOffset()
    {
        _r.ReadU32(); // alignment hint: validated, irrelevant on x86-64
        return _memory64 ? _r.ReadU64() : _r.ReadU32();
    }

    /// <summary>
    /// Stack: address. Leaves the native pointer to the first byte, after the bounds check:
    ///   ea = address + offset; if (ea + size > length) trap; pointer = base + ea
    /// </summary>
    private void EmitPointer(ulong offset, int size, bool atomic)
    {
        _il.Emit(OpCodes.Ldc_I8, (long)offset);
        LoadInt(size);
        _il.Emit(OpCodes.Ldloc, _memoryLength!);
        _il.Emit(OpCodes.Call, _memory64 ? RuntimeMembers.EffectiveAddress64 : RuntimeMembers.EffectiveAddress32);
        if (atomic)
        {
            LoadInt(size);
            _il.Emit(OpCodes.Call, RuntimeMembers.CheckAlignment);
        }
        _il.Emit(OpCodes.Conv_U);
        _il.Emit(OpCodes.Ldloc, _memoryBase!);
        _il.Emit(OpCodes.Add);
    }

    private void MemoryAccess(MemoryAccess access)
    {
        ulong offset = ReadMemArgOffset();
        if (access.IsStore)
        {
            Pop(2);
            var value = Temp(access.Type, 101);
            _il.Emit(OpCodes.Stloc, value);
            EmitPointer(offset, access.Size, atomic: false);
            _il.Emit(OpCodes.Ldloc, value);
            if (access.Type == ValType.I64 && access.Size < 8) _il.Emit(OpCodes.Conv_I4);
            _il.Emit(access switch
            {
                { Type: ValType.F32 } => OpCodes.Stind_R4,
                { Type: ValType.F64 } => OpCodes.Stind_R8,
                { Size: 1 } => OpCodes.Stind_I1,
                { Size: 2 } => OpCodes.Stind_I2,
                { Size: 4 } => OpCodes.Stind_I4,
                _ => OpCodes.Stind_I8,
            });
            return;
        }
        Pop();
        EmitPointer(offset, access.Size, atomic: false);
        switch (access.Type)
        {
            case ValType.F32: _il.Emit(OpCodes.Ldind_R4); break;
            case ValType.F64: _il.Emit(OpCodes.Ldind_R8); break;
            case ValType.I64 when access.Size == 8: _il.Emit(OpCodes.Ldind_I8); break;
            default:
                _il.Emit((access.Size, access.Signed) switch
                {
                    (1, true) => OpCodes.Ldind_I1,
                    (1, false) => OpCodes.Ldind_U1,
                    (2, true) => OpCodes.Ldind_I2,
                    (2, false) => OpCodes.Ldind_U2,
                    (4, true) => OpCodes.Ldind_I4,
                    _ => OpCodes.Ldind_U4,
                });
                if (access.Type == ValType.I64) _il.Emit(access.Signed ? OpCodes.Conv_I8 : OpCodes.Conv_U8);
                break;
        }
        Push(access.Type);
    }

    private void LoadMemoryObject()
    {
        LoadContext();
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.ContextMemory);
    }

    private void MemorySize()
    {
        LoadMemoryObject();
        CallHelper(typeof(MemoryHelpers), _memory64 ? nameof(MemoryHelpers.Size64) : nameof(MemoryHelpers.Size32));
        Push(AddressType);
    }

    private void MemoryGrow()
    {
        LoadMemoryObject();
        CallHelper(typeof(MemoryHelpers), _memory64 ? nameof(MemoryHelpers.Grow64) : nameof(MemoryHelpers.Grow32));
        ReloadMemory();
    }

    /// <summary>The 0xFC prefix: saturating truncation, bulk memory, and table instructions.</summary>
    private void MiscPrefix(uint sub)
    {
        switch (sub)
        {
            case <= 7: SaturatingTruncation(sub); break;
            case 8:
                LoadInt(_r.ReadIndex());
                _r.ReadByte();
                Pop(3);
                LoadContext();
                CallHelper(typeof(MemoryHelpers), _memory64 ? nameof(MemoryHelpers.Init64) : nameof(MemoryHelpers.Init32));
                break;
            case 9:
                LoadInt(_r.ReadIndex());
                LoadContext();
                CallHelper(typeof(MemoryHelpers), nameof(MemoryHelpers.DataDrop));
                break;
            case 10:
                _r.ReadByte();
                _r.ReadByte();
                Pop(3);
                LoadContext();
                CallHelper(typeof(MemoryHelpers), _memory64 ? nameof(MemoryHelpers.Copy64) : nameof(MemoryHelpers.Copy32));
                break;
            case 11:
                _r.ReadByte();
                Pop(3);
                LoadContext();
                CallHelper(typeof(MemoryHelpers), _memory64 ? nameof(MemoryHelpers.Fill64) : nameof(MemoryHelpers.Fill32));
                break;
            case 12:
                LoadInt(_r.ReadIndex());
                LoadInt(_r.ReadIndex());
                Pop(3);
                LoadContext();
                CallHelper(typeof(TableHelpers), nameof(TableHelpers.Init));
                break;
            case 13:
                LoadInt(_r.ReadIndex());
                LoadContext();
                CallHelper(typeof(TableHelpers), nameof(TableHelpers.ElementDrop));
                break;
            case 14:
                LoadInt(_r.ReadIndex());
                LoadInt(_r.ReadIndex());
                Pop(3);
                LoadContext();
                CallHelper(typeof(TableHelpers), nameof(TableHelpers.Copy));
                break;
            case 15:
                LoadTable(_r.ReadIndex());
                Pop(2);
                CallHelper(typeof(TableHelpers), nameof(TableHelpers.Grow));
                Push(ValType.I32);
                break;
            case 16:
                LoadTable(_r.ReadIndex());
                CallHelper(typeof(TableHelpers), nameof(TableHelpers.Size));
                Push(ValType.I32);
                break;
            case 17:
                LoadTable(_r.ReadIndex());
                Pop(3);
                CallHelper(typeof(TableHelpers), nameof(TableHelpers.Fill));
                break;
            default: throw new InvalidOperationException($"0xfc {sub} passed validation but has no compiler");
        }
    }

    /// <summary>The 0xFE prefix (threads proposal): operands above the address are parked while it is checked.</summary>
    private void AtomicPrefix(uint sub)
    {
        switch (sub)
        {
            case 0x00:
            {
                ulong offset = ReadMemArgOffset();
                Pop(2);
                var count = Temp(ValType.I32, 103);
                _il.Emit(OpCodes.Stloc, count);
                EmitPointer(offset, 4, atomic: true);
                _il.Emit(OpCodes.Ldloc, count);
                LoadMemoryObject();
                CallHelper(typeof(AtomicHelpers), nameof(AtomicHelpers.Notify));
                Push(ValType.I32);
                return;
            }
            case 0x01:
            case 0x02:
            {
                ulong offset = ReadMemArgOffset();
                Pop(3);
                var expectedType = sub == 1 ? ValType.I32 : ValType.I64;
                var timeout = Temp(ValType.I64, 104);
                var expected = Temp(expectedType, 105);
                _il.Emit(OpCodes.Stloc, timeout);
                _il.Emit(OpCodes.Stloc, expected);
                EmitPointer(offset, sub == 1 ? 4 : 8, atomic: true);
                _il.Emit(OpCodes.Ldloc, expected);
                _il.Emit(OpCodes.Ldloc, timeout);
                LoadMemoryObject();
                CallHelper(typeof(AtomicHelpers), sub == 1 ? nameof(AtomicHelpers.Wait32) : nameof(AtomicHelpers.Wait64));
                Push(ValType.I32);
                return;
            }
            case 0x03:
                _r.ReadByte();
                CallHelper(typeof(AtomicHelpers), nameof(AtomicHelpers.Fence));
                return;
        }
        var a = OpcodeTables.Atomic[sub];
        ulong off = ReadMemArgOffset();
        bool is64 = a.Type == ValType.I64;
        switch (a.Kind)
        {
            case AtomicKind.Load:
                Pop();
                EmitPointer(off, a.Size, atomic: true);
                LoadInt(a.Size);
                CallHelper(typeof(AtomicHelpers), is64 ? nameof(AtomicHelpers.LoadI64) : nameof(AtomicHelpers.LoadI32));
                Push(a.Type);
                break;
            case AtomicKind.Store:
            {
                Pop(2);
                var value = Temp(a.Type, 103);
                _il.Emit(OpCodes.Stloc, value);
                EmitPointer(off, a.Size, atomic: true);
                _il.Emit(OpCodes.Ldloc, value);
                LoadInt(a.Size);
                CallHelper(typeof(AtomicHelpers), is64 ? nameof(AtomicHelpers.StoreI64) : nameof(AtomicHelpers.StoreI32));
                break;
            }
            case AtomicKind.CompareExchange:
            {
                Pop(3);
                var replacement = Temp(a.Type, 103);
                var expected = Temp(a.Type, 104);
                _il.Emit(OpCodes.Stloc, replacement);
                _il.Emit(OpCodes.Stloc, expected);
                EmitPointer(off, a.Size, atomic: true);
                _il.Emit(OpCodes.Ldloc, expected);
                _il.Emit(OpCodes.Ldloc, replacement);
                LoadInt(a.Size);
                CallHelper(typeof(AtomicHelpers), is64 ? nameof(AtomicHelpers.CompareExchangeI64) : nameof(AtomicHelpers.CompareExchangeI32));
                Push(a.Type);
                break;
            }
            default:
            {
                Pop(2);
                var value = Temp(a.Type, 103);
                _il.Emit(OpCodes.Stloc, value);
                EmitPointer(off, a.Size, atomic: true);
                _il.Emit(OpCodes.Ldloc, value);
                LoadInt(a.Size);
                LoadInt(a.Kind switch
                {
                    AtomicKind.Add => AtomicHelpers.OpAdd,
                    AtomicKind.Sub => AtomicHelpers.OpSub,
                    AtomicKind.And => AtomicHelpers.OpAnd,
                    AtomicKind.Or => AtomicHelpers.OpOr,
                    AtomicKind.Xor => AtomicHelpers.OpXor,
                    _ => AtomicHelpers.OpExchange,
                });
                CallHelper(typeof(AtomicHelpers), is64 ? nameof(AtomicHelpers.RmwI64) : nameof(AtomicHelpers.RmwI32));
                Push(a.Type);
                break;
            }
        }
    }
}
