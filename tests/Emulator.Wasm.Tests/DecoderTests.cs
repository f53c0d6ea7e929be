using Emulator.Wasm.Decoding;
using Emulator.Wasm.Runtime;
using Xunit;

namespace Emulator.Wasm.Tests;

public sealed class DecoderTests
{
    [Fact]
    public void TruncatedSectionNamesSectionOffsetAndReason()
    {
        // A type section that promises 10 bytes but the file ends after 2.
        var bytes = Bytes.Header.Concat(new byte[] { 0x01, 0x0A, 0x01, 0x60 }).ToArray();
        var e = Assert.Throws<WasmModuleException>(() => Module.Compile(bytes));
        Assert.Equal(ModuleErrorKind.Malformed, e.Kind);
        Assert.Equal("type", e.Section);
        Assert.Contains("type section at offset 0x", e.Message);
        Assert.Contains("unexpected end", e.Reason);
    }

    [Fact]
    public void SimdValueTypeIsRefusedAsUnsupported()
    {
        var bytes = Bytes.Module(Bytes.Section(1, 0x01, 0x60, 0x01, 0x7B, 0x00));
        var e = Assert.Throws<WasmModuleException>(() => Module.Compile(bytes));
        Assert.Equal(ModuleErrorKind.Unsupported, e.Kind);
        Assert.Contains("SIMD", e.Message);
    }

    [Fact]
    public void TypeMismatchIsInvalidWithCodeOffset()
    {
        // (func (result i32) i64.const 0)
        var bytes = Bytes.Module(
            Bytes.Section(1, 0x01, 0x60, 0x00, 0x01, 0x7F),
            Bytes.Section(3, 0x01, 0x00),
            Bytes.Code(new byte[] { 0x42, 0x00 }));
        var e = Assert.Throws<WasmModuleException>(() => Module.Compile(bytes));
        Assert.Equal(ModuleErrorKind.Invalid, e.Kind);
        Assert.Equal("code", e.Section);
        Assert.Contains("type mismatch", e.Reason);
    }
}
