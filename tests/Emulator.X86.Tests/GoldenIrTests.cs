using System.Globalization;
using System.Text;
using Emulator.Ir;
using Emulator.Ir.Passes;
using Emulator.X86.Frontend;
using Xunit;

namespace Emulator.X86.Tests;

/// <summary>
/// Golden tests of the frontend: guest bytes in, optimised IR text out. Golden/ir.txt holds one
/// case per "== BITS HEXBYTES ; disassembly" header followed by the expected IR. Each case is
/// translated as a block holding that one instruction followed by HLT. After a deliberate change
/// to the lowering, regenerate with EMU_UPDATE_GOLDEN=1 and review the diff like code.
/// </summary>
public class GoldenIrTests
{
    private static readonly string GoldenPath = Path.Combine(SourceDirectory(), "Golden", "ir.txt");

    public static IEnumerable<object[]> Cases() =>
        Parse(File.ReadAllText(GoldenPath)).Select(c => new object[] { c.Header });

    [Theory]
    [MemberData(nameof(Cases))]
    public void LowersToExpectedIr(string header)
    {
        var expected = Parse(File.ReadAllText(GoldenPath)).Single(c => c.Header == header).Body;
        Assert.Equal(expected.TrimEnd(), Lower(header).TrimEnd());
    }

    [Fact]
    public void RegenerateWhenAsked()
    {
        if (Environment.GetEnvironmentVariable("EMU_UPDATE_GOLDEN") != "1")
        {
            return;
        }

        var sb = new StringBuilder();
        foreach (var (header, _) in Parse(File.ReadAllText(GoldenPath)))
        {
            sb.Append(header).Append('\n').Append(Lower(header).TrimEnd()).Append("\n\n");
        }

        File.WriteAllText(GoldenPath, sb.ToString());
    }

    /// <summary>Translates the header's instruction (plus HLT) and prints the optimised IR.</summary>
    private static string Lower(string header)
    {
        var parts = header[3..].Split(' ', 3);
        int bitness = int.Parse(parts[0], CultureInfo.InvariantCulture);
        byte[] bytes = Convert.FromHexString(parts[1]);
        using var m = new TestMachine(bitness);
        ulong pc = bitness == 16 ? 0x1000UL : TestMachine.CodeAddress;
        m.LoadBytes([.. bytes, 0xf4], pc);
        var block = new IrBlock();
        new Translator().Translate(m.Cpu, pc, block);
        Optimizer.Run(block);
        Assert.Empty(IrValidator.Validate(block));
        return IrPrinter.Print(block);
    }

    private static List<(string Header, string Body)> Parse(string text)
    {
        var cases = new List<(string, string)>();
        string? header = null;
        var body = new StringBuilder();
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("== ", StringComparison.Ordinal))
            {
                if (header is not null)
                {
                    cases.Add((header, body.ToString().Trim('\n')));
                }

                header = line.TrimEnd();
                body.Clear();
            }
            else if (header is not null)
            {
                body.Append(line).Append('\n');
            }
        }

        if (header is not null)
        {
            cases.Add((header, body.ToString().Trim('\n')));
        }

        return cases;
    }

    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string path = "") =>
        Path.GetDirectoryName(path)!;
}
