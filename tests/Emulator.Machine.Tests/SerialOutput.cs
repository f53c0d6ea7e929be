using System.Text;

namespace Emulator.Machine.Tests;

/// <summary>A test machine's COM1 output (PcConfig.SerialOutput), and its first line once the guest has printed it.</summary>
internal sealed class SerialOutput
{
    private readonly StringBuilder text = new();
    private readonly TaskCompletionSource<string> line = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Write(ReadOnlySpan<byte> bytes)
    {
        lock (text)
        {
            text.Append(Encoding.ASCII.GetString(bytes));
            if (text.ToString().EndsWith('\n'))
            {
                line.TrySetResult(text.ToString());
            }
        }
    }

    /// <summary>Everything up to the first newline; a guest that never prints one fails the test after 5 minutes rather than hanging it.</summary>
    public Task<string> Line => line.Task.WaitAsync(TimeSpan.FromMinutes(5));
}
