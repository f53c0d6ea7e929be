using System.Diagnostics;
using Emulator.Devices.Bus;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;

namespace Emulator.Devices.VirtioBlk;

/// <summary>
/// The span of one virtio-blk request, from the moment the device takes its chain off the
/// virtqueue to the moment it returns it to the used ring: "virtio-blk read", "virtio-blk write"
/// and so on, with the sector, the bytes moved and the status the driver sees.
/// </summary>
internal static class VirtioBlkTrace
{
    public const string OperationTag = "blk.operation";
    public const string SectorTag = "blk.sector";
    public const string StatusTag = "blk.status";

    /// <summary>The request type's name (virtio 1.1 section 5.2.6) and the span named after it.</summary>
    public static (string Operation, string SpanName) Operation(uint type) => type switch
    {
        TypeIn => ("read", "virtio-blk read"),
        TypeOut => ("write", "virtio-blk write"),
        TypeFlush => ("flush", "virtio-blk flush"),
        TypeGetId => ("get-id", "virtio-blk get-id"),
        TypeDiscard => ("discard", "virtio-blk discard"),
        TypeWriteZeroes => ("write-zeroes", "virtio-blk write-zeroes"),
        _ => ("unknown", "virtio-blk unknown"),
    };

    public static string Status(byte status) => status switch
    {
        StatusOk => "ok",
        StatusIoErr => "ioerr",
        StatusUnsupp => "unsupp",
        _ => "unknown",
    };

    /// <summary>
    /// Bytes the request moves: data-in for a read or GET_ID, data-out for a write, the ranges'
    /// bytes for discard and write-zeroes (set when they are parsed), none for a flush.
    /// </summary>
    public static ulong Bytes(BlkRequest r) => r.Type switch
    {
        TypeIn => r.DataInLength,
        TypeOut => r.DataOutLength,
        TypeGetId => Math.Min((ulong)IdBytes, r.DataInLength),
        TypeDiscard or TypeWriteZeroes => r.RangeBytes,
        _ => 0,
    };

    /// <summary>Records the span of a request that began at <see cref="BlkRequest.TraceStart"/> and ends now with <paramref name="status"/> ("dropped" when no status could be written).</summary>
    public static void Record(DeviceTrace trace, BlkRequest r, string status)
    {
        var (operation, name) = r.Malformed ? ("unknown", "virtio-blk unknown") : Operation(r.Type);
        Activity? span = trace.Open(name, r.TraceStart);
        if (span is not null)
        {
            span.SetTag(OperationTag, operation);
            span.SetTag(SectorTag, (long)r.Sector);
            span.SetTag(DeviceTrace.BytesTag, r.Malformed ? 0L : (long)Bytes(r));
            span.SetTag(StatusTag, status);
        }

        DeviceTrace.Close(span, DateTime.UtcNow);
    }
}
