namespace Emulator.Machine.Block;

/// <summary>A disk image could not be opened or used; <see cref="Path"/> says which.</summary>
public class BlockImageException(string path, string message, Exception? inner = null)
    : Exception($"{path}: {message}", inner)
{
    public string Path { get; } = path;
}
