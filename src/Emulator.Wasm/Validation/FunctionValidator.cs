using System.Diagnostics.CodeAnalysis;
using Emulator.Wasm.Decoding;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Validation;

/// <summary>
/// Checks one function body with the operand/control stack algorithm of the spec's appendix
/// ("Validation Algorithm", A.3). Unknown stands for the bottom type of the polymorphic stack.
/// </summary>
internal sealed partial class FunctionValidator
{
    private struct Frame
    {
        public byte Opcode;
        public ValType[] StartTypes;
        public ValType[] EndTypes;
        public int Height;
        public bool Unreachable;
    }

    private readonly ValidationContext _c;
    private readonly List<ValType> _vals = new();
    private readonly List<Frame> _ctrls = new();
    private ValType[] _locals = Array.Empty<ValType>();
    private WasmReader _r;
    private int _opStart;

    public FunctionValidator(ValidationContext context) => _c = context;

    private ModuleDefinition M => _c.Module;

    public void Validate(int funcIndex, FunctionBody body)
    {
        var type = M.FunctionType(funcIndex);
        _locals = new ValType[type.Params.Length + body.Locals.Length];
        type.Params.CopyTo(_locals, 0);
        body.Locals.CopyTo(_locals, type.Params.Length);
        _vals.Clear();
        _ctrls.Clear();
        _r = new WasmReader(M.Bytes, body.CodeStart, body.CodeEnd, "code");
        PushCtrl(0x02, Array.Empty<ValType>(), type.Results);
        try
        {
            while (_ctrls.Count > 0)
            {
                _opStart = _r.Position;
                byte op = _r.ReadByte();
                Step(op, type);
            }
            if (!_r.AtEnd) Malformed("section size mismatch: operators after the final end");
        }
        catch (WasmModuleException e) when (e.Kind == ModuleErrorKind.Invalid)
        {
            // The spec decodes a whole body before typing it, so a decoding error later in the body wins.
            BodyScanner.Scan(M, body);
            throw;
        }
    }

    [DoesNotReturn]
    private void Fail(string reason) => throw Invalid.At("code", _opStart, reason);

    [DoesNotReturn]
    private void Malformed(string reason) => throw new WasmModuleException(ModuleErrorKind.Malformed, "code", _opStart, reason);

    // --- the stack algorithm (spec A.3) ---

    private void PushVal(ValType t) => _vals.Add(t);

    private ValType PopVal()
    {
        ref var top = ref System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ctrls)[^1];
        if (_vals.Count == top.Height)
        {
            if (top.Unreachable) return ValType.Unknown;
            Fail("type mismatch: operand stack underflow");
        }
        var t = _vals[^1];
        _vals.RemoveAt(_vals.Count - 1);
        return t;
    }

    private ValType PopVal(ValType expect)
    {
        var actual = PopVal();
        if (actual != expect && actual != ValType.Unknown && expect != ValType.Unknown)
            Fail($"type mismatch: expected {expect.Name()}, got {actual.Name()}");
        return actual;
    }

    private void PushVals(ValType[] types)
    {
        foreach (var t in types) PushVal(t);
    }

    private void PopVals(ValType[] types)
    {
        for (int i = types.Length - 1; i >= 0; i--) PopVal(types[i]);
    }

    private void PushCtrl(byte opcode, ValType[] start, ValType[] end)
    {
        _ctrls.Add(new Frame { Opcode = opcode, StartTypes = start, EndTypes = end, Height = _vals.Count });
        PushVals(start);
    }

    private Frame PopCtrl()
    {
        if (_ctrls.Count == 0) Fail("unexpected end");
        var frame = _ctrls[^1];
        PopVals(frame.EndTypes);
        if (_vals.Count != frame.Height) Fail("type mismatch: values remain at the end of a block");
        _ctrls.RemoveAt(_ctrls.Count - 1);
        return frame;
    }

    private ValType[] LabelTypes(in Frame f) => f.Opcode == 0x03 ? f.StartTypes : f.EndTypes;

    private void Unreachable()
    {
        ref var top = ref System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ctrls)[^1];
        _vals.RemoveRange(top.Height, _vals.Count - top.Height);
        top.Unreachable = true;
    }

    private Frame Label(int depth)
    {
        if ((uint)depth >= (uint)_ctrls.Count) Fail("unknown label");
        return _ctrls[_ctrls.Count - 1 - depth];
    }

    // --- immediates ---

    private (ValType[] Params, ValType[] Results) ReadBlockType()
    {
        byte b = _r.PeekByte();
        if (b == 0x40) { _r.Position++; return (Array.Empty<ValType>(), Array.Empty<ValType>()); }
        if ((b & 0xC0) == 0x40)
        {
            // A negative single-byte s33: a value type.
            var t = ModuleDecoder.ReadValType(ref _r);
            return (Array.Empty<ValType>(), new[] { t });
        }
        long index = _r.ReadS33();
        if (index < 0) Malformed("malformed block type");
        if (index >= M.Types.Count) Fail("unknown type");
        var ft = M.Types[(int)index];
        return (ft.Params, ft.Results);
    }

    private ValType Local(int index)
    {
        if ((uint)index >= (uint)_locals.Length) Fail("unknown local");
        return _locals[index];
    }

    private GlobalType Global(int index)
    {
        if ((uint)index >= (uint)M.Globals.Count) Fail("unknown global");
        return M.Globals[index].Type;
    }

    private TableType Table(int index)
    {
        if ((uint)index >= (uint)M.Tables.Count) Fail("unknown table");
        return M.Tables[index];
    }

    private FuncType FunctionType(int index)
    {
        if ((uint)index >= (uint)M.FunctionTypes.Count) Fail("unknown function");
        return M.FunctionType(index);
    }

    private void RequireMemory()
    {
        if (!_c.HasMemory) Fail("unknown memory 0");
    }

    private void ReadZeroByte()
    {
        if (_r.ReadByte() != 0) Malformed("zero byte expected");
    }

    /// <summary>Reads a memarg (spec 5.4.6) and checks its alignment (spec 3.3.7): at most natural, exactly natural for atomics.</summary>
    private void ReadMemArg(int naturalLog2, bool atomic)
    {
        uint align = _r.ReadU32();
        if (_c.Memory64) _r.ReadU64(); else _r.ReadU32();
        RequireMemory();
        if (atomic ? align != naturalLog2 : align > naturalLog2)
            Fail(atomic ? "alignment must be equal to natural" : "alignment must not be larger than natural");
    }

    /// <summary>
    /// Data indices in code need the data count section (spec 5.5.13). Without it, an index that the data
    /// section cannot satisfy either is reported as the validation error it also is.
    /// </summary>
    private void CheckDataIndex(int x)
    {
        if (M.DataCount is { } count)
        {
            if (x >= count) Fail("unknown data segment");
            return;
        }
        if (x >= M.Data.Count) Fail("unknown data segment");
        Malformed("data count section required");
    }

    private ElementSegment Element(int index)
    {
        if ((uint)index >= (uint)M.Elements.Count) Fail("unknown elem segment");
        return M.Elements[index];
    }
}
