namespace Emulator.Devices.Bus;

/// <summary>What a block request asks of a disk image.</summary>
public enum BlockOperation
{
    /// <summary>Read <see cref="BlockRequest.Length"/> bytes at <see cref="BlockRequest.Offset"/>.</summary>
    Read,

    /// <summary>Write <see cref="BlockRequest.Data"/> at <see cref="BlockRequest.Offset"/>.</summary>
    Write,

    /// <summary>Make every write completed so far durable.</summary>
    Flush,

    /// <summary>The guest no longer needs <see cref="BlockRequest.Ranges"/>; they read back as zeroes afterwards.</summary>
    Discard,

    /// <summary>Write zeroes over <see cref="BlockRequest.Ranges"/>.</summary>
    WriteZeroes,
}

public enum BlockStatus
{
    Ok,

    /// <summary>The host I/O failed (the message says why).</summary>
    IoError,

    /// <summary>A write, discard or write-zeroes to a read-only image.</summary>
    ReadOnly,

    /// <summary>The request reaches past the end of the image.</summary>
    OutOfRange,
}

/// <summary>A byte range of the image.</summary>
public readonly record struct BlockRange(ulong Offset, ulong Length);

/// <summary>A request from a disk device to its backend; offsets and lengths are in bytes.</summary>
public sealed record BlockRequest(BlockOperation Operation, ulong Offset = 0, int Length = 0, byte[]? Data = null, IReadOnlyList<BlockRange>? Ranges = null);

/// <summary>The backend's answer: the status and, for a read, the bytes read.</summary>
public sealed record BlockCompletion(BlockStatus Status, byte[]? Data = null, string? Message = null);

/// <summary>
/// A disk image as a device sees it. The device never does file I/O itself: it submits a request
/// and goes on; the backend calls <c>completed</c> exactly once per request, in the device's own
/// execution context (the machine posts it into the device's actor), so the device still sees
/// one event at a time.
/// </summary>
public interface IBlockBackend
{
    /// <summary>Image size in bytes.</summary>
    ulong SizeBytes { get; }

    bool IsReadOnly { get; }

    void Submit(BlockRequest request, Action<BlockCompletion> completed);
}
