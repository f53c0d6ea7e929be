using System.Diagnostics;

namespace Emulator.Cli.Terminal;

/// <summary>What the user asked for with a Ctrl-A escape.</summary>
public enum ConsoleCommand
{
    None,
    Quit,
}

/// <summary>
/// The guest's serial port on the user's terminal, as QEMU's -nographic does: the terminal is put
/// in raw mode (every key, Ctrl-C included, goes to the guest), and Ctrl-A starts an escape:
/// Ctrl-A x quits, Ctrl-A h lists the keys, Ctrl-A Ctrl-A sends a Ctrl-A. When standard input is
/// not a terminal, bytes are passed through as they are.
/// </summary>
public sealed class SerialConsole : IDisposable
{
    private const byte CtrlA = 0x01;
    private readonly Stream input = System.Console.OpenStandardInput();
    private readonly Stream output = System.Console.OpenStandardOutput();
    private readonly object outputGate = new();
    private string? savedTerminal;
    private bool escape;

    /// <summary>Puts the terminal in raw mode when standard input is one.</summary>
    public void Open()
    {
        if (!System.Console.IsInputRedirected)
        {
            savedTerminal = Stty("-g")?.Trim();
            Stty("raw -echo");
        }
    }

    /// <summary>Writes guest output to the terminal.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        lock (outputGate)
        {
            output.Write(bytes);
            output.Flush();
        }
    }

    /// <summary>
    /// Reads the user's input until Ctrl-A x or end of input, sending guest bytes to
    /// <paramref name="send"/>. Returns Quit for Ctrl-A x, None at end of input.
    /// </summary>
    public ConsoleCommand Pump(Action<ReadOnlySpan<byte>> send, CancellationToken cancel)
    {
        var buffer = new byte[256];
        var forward = new byte[256];
        while (!cancel.IsCancellationRequested)
        {
            int n;
            try
            {
                n = input.Read(buffer, 0, buffer.Length);
            }
            catch (IOException)
            {
                return ConsoleCommand.None;
            }

            if (n <= 0)
            {
                return ConsoleCommand.None;
            }

            int m = 0;
            for (int i = 0; i < n; i++)
            {
                byte c = buffer[i];
                if (escape)
                {
                    escape = false;
                    switch (c)
                    {
                        case (byte)'x' or (byte)'X':
                            send(forward.AsSpan(0, m));
                            return ConsoleCommand.Quit;
                        case (byte)'h' or (byte)'H' or (byte)'?':
                            Write("\r\nC-a h    print this help\r\nC-a x    exit emulator\r\nC-a C-a  send C-a\r\n"u8);
                            break;
                        case CtrlA:
                            forward[m++] = CtrlA;
                            break;
                        default:
                            // Unknown escapes (QEMU's monitor, logging, break) are not offered; ignore them.
                            break;
                    }
                }
                else if (c == CtrlA && savedTerminal is not null)
                {
                    escape = true;
                }
                else
                {
                    forward[m++] = c;
                }
            }

            send(forward.AsSpan(0, m));
        }

        return ConsoleCommand.None;
    }

    public void Dispose()
    {
        if (savedTerminal is not null)
        {
            Stty(savedTerminal);
            savedTerminal = null;
        }
    }

    /// <summary>Runs stty on the controlling terminal; null if that is not possible.</summary>
    private static string? Stty(string args)
    {
        try
        {
            var psi = new ProcessStartInfo("stty") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in args.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                psi.ArgumentList.Add(a);
            }

            psi.ArgumentList.Add("-F");
            psi.ArgumentList.Add("/dev/tty");
            using var p = Process.Start(psi)!;
            string text = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? text : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return null;
        }
    }
}
