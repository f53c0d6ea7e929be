namespace Emulator.Machine.Boot;

/// <summary>A kernel or initrd the boot loader cannot use; the message names the file and the reason.</summary>
public sealed class BootImageException : Exception
{
    public BootImageException(string fileName, string reason)
        : base($"{fileName}: {reason}")
    {
        FileName = fileName;
        Reason = reason;
    }

    public string FileName { get; }

    public string Reason { get; }
}
