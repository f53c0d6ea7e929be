using System.Buffers.Binary;
using System.Diagnostics;

namespace Emulator.X86.DiffTests;

/// <summary>
/// The host side of <see cref="WorldCase"/>s: Native/fault_runner.c, compiled with the system gcc
/// into the test output directory on first use, run as a child process that takes one request
/// per case on stdin and answers on stdout (the record layouts are the C structs'). The child
/// takes each case's fault in a signal handler and goes on with the next case, so a case may
/// fault, leave 64-bit mode or unmask nothing at all without touching the test process.
/// </summary>
public sealed class HostRunner : IDisposable
{
    public const int CodeSize = 0x1000;
    public const int Page = 4096;

    private const uint RequestMagic = 0x31464452, ResponseMagic = 0x31534552;
    private const int RequestHeader = 4 + 4 + 4 * World.RegionPages + 8 * 16 + 8 + 8;
    private const int RequestSize = RequestHeader + 512 + CodeSize + World.RegionBytes;
    private const int ResponseHeader = 4 + 4 + 6 * 8 + 8 * 16;
    private const int ResponseSize = ResponseHeader + 512 + World.RegionBytes;

    private static readonly Lazy<(string? Path, string? Error)> Built = new(Build);

    private readonly Process process;
    private readonly Stream input;
    private readonly Stream output;
    private readonly byte[] request = new byte[RequestSize];
    private readonly byte[] response = new byte[ResponseSize];

    public HostRunner()
    {
        var (path, error) = Built.Value;
        if (path is null)
        {
            throw new InvalidOperationException(error);
        }

        var start = new ProcessStartInfo(path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {path}");
        input = process.StandardInput.BaseStream;
        output = process.StandardOutput.BaseStream;
    }

    /// <summary>Null when the runner can be built and started here; else why not (gcc missing, a compile error).</summary>
    public static string? Unavailable => Built.Value.Error;

    /// <summary>Runs <paramref name="c"/> on the host and returns where and how it stopped.</summary>
    public WorldOutcome Run(WorldCase c)
    {
        var q = request.AsSpan();
        q.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(q, RequestMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(q[4..], (uint)c.Bitness);
        for (int p = 0; p < World.RegionPages; p++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(q[(8 + 4 * p)..], (uint)c.Pages[p]);
        }

        int at = 8 + 4 * World.RegionPages;
        for (int i = 0; i < 16; i++, at += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(q[at..], c.Input.Gpr[i]);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(q[at..], c.Input.Rflags);
        BinaryPrimitives.WriteUInt64LittleEndian(q[(at + 8)..], World.Data16Base);
        c.FxImage().CopyTo(q[RequestHeader..]);
        c.Code.CopyTo(q[(RequestHeader + 512)..]);
        q[RequestHeader + 512 + c.Code.Length] = 0xf4; // HLT: #GP(0) at CPL 3 ends the case on both sides
        c.Region.CopyTo(q[(RequestHeader + 512 + CodeSize)..]);
        try
        {
            input.Write(request);
            input.Flush();
            output.ReadExactly(response);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException)
        {
            throw new InvalidOperationException($"the host runner stopped (exit {(process.WaitForExit(2000) ? process.ExitCode : -1)}): {process.StandardError.ReadToEnd()}", e);
        }

        var r = response.AsSpan();
        if (BinaryPrimitives.ReadUInt32LittleEndian(r) != ResponseMagic)
        {
            throw new InvalidOperationException("the host runner answered with a bad record");
        }

        var o = new WorldOutcome
        {
            Signal = (int)BinaryPrimitives.ReadUInt32LittleEndian(r[4..]),
            Vector = (int)BinaryPrimitives.ReadUInt64LittleEndian(r[8..]),
            ErrorCode = BinaryPrimitives.ReadUInt64LittleEndian(r[16..]),
            Cr2 = BinaryPrimitives.ReadUInt64LittleEndian(r[24..]),
            Rip = BinaryPrimitives.ReadUInt64LittleEndian(r[32..]),
            Rflags = BinaryPrimitives.ReadUInt64LittleEndian(r[40..]),
            Cs = (ushort)BinaryPrimitives.ReadUInt64LittleEndian(r[48..]),
        };
        for (int i = 0; i < 16; i++)
        {
            o.Gpr[i] = BinaryPrimitives.ReadUInt64LittleEndian(r[(56 + 8 * i)..]);
        }

        r.Slice(ResponseHeader, 512).CopyTo(o.Fx);
        r.Slice(ResponseHeader + 512, World.RegionBytes).CopyTo(o.Region);
        return o;
    }

    public void Dispose()
    {
        try
        {
            input.Close();
            if (!process.WaitForExit(5000))
            {
                process.Kill();
            }
        }
        catch (IOException)
        {
            // The runner had stopped already; its exit was reported by Run.
        }

        process.Dispose();
    }

    /// <summary>Compiles the runner once per source version into the output directory (gcc is on every machine that runs the tests).</summary>
    private static (string? Path, string? Error) Build()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            return (null, "the host runner needs Linux on x86-64");
        }

        string source = Path.Combine(AppContext.BaseDirectory, "Native", "fault_runner.c");
        if (!File.Exists(source))
        {
            return (null, $"{source} is missing (the project copies it to the output directory)");
        }

        string text = File.ReadAllText(source);
        string binary = Path.Combine(AppContext.BaseDirectory, "Native", $"fault_runner-{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..12].ToLowerInvariant()}");
        if (File.Exists(binary))
        {
            return (binary, null);
        }

        string temporary = binary + $".{Environment.ProcessId}.tmp";
        ProcessStartInfo start = new("gcc") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in new[] { "-O2", "-Wall", "-o", temporary, source })
        {
            start.ArgumentList.Add(a);
        }

        try
        {
            using var gcc = Process.Start(start)!;
            string errors = gcc.StandardError.ReadToEnd();
            gcc.StandardOutput.ReadToEnd();
            gcc.WaitForExit();
            if (gcc.ExitCode != 0)
            {
                return (null, $"gcc could not build {source}: {errors}");
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"gcc is needed to build the host runner and was not found ({e.Message}); install it (Debian: apt-get install gcc)");
        }

        File.Move(temporary, binary, overwrite: true); // atomic: a parallel build of the same source wins either way
        return (binary, null);
    }
}

/// <summary>Where and how a case stopped, on either side.</summary>
public sealed class WorldOutcome
{
    /// <summary>The host's signal (0 on the emulator side).</summary>
    public int Signal { get; init; }

    /// <summary>The exception vector (the host's trap number).</summary>
    public int Vector { get; set; } = -1;

    public ulong ErrorCode { get; set; }

    public ulong Cr2 { get; set; }

    /// <summary>The saved RIP: the faulting instruction's, or the next one's for a trap.</summary>
    public ulong Rip { get; set; }

    public ulong Rflags { get; set; }

    public ushort Cs { get; set; }

    public ulong[] Gpr { get; } = new ulong[16];

    /// <summary>The FXSAVE image at the fault: x87, MXCSR, XMM0-15.</summary>
    public byte[] Fx { get; } = new byte[512];

    public byte[] Region { get; } = new byte[World.RegionBytes];

    /// <summary>Set when the emulator did not end in the world's exception handler (the reason it stopped).</summary>
    public string? Failure { get; set; }
}
