using System.Buffers.Binary;
using System.Diagnostics;
using Emulator.Devices.Bus;

namespace Emulator.Devices.Virtio9p;

/// <summary>
/// The span of one 9P message, from the moment the device takes its chain off the virtqueue to
/// the moment it returns the reply: "virtio-9p T24" (the T-message's type number), with the
/// reply's type, the errno of an Rlerror (0 otherwise) and the bytes of request and reply.
/// </summary>
internal static class Virtio9pTrace
{
    public const string TypeTag = "p9.type";
    public const string ErrnoTag = "p9.errno";

    public static void Record(DeviceTrace trace, DateTime start, byte[] request, byte[] reply)
    {
        Activity? span = trace.Open($"virtio-9p T{request[4]}", start);
        if (span is not null)
        {
            span.SetTag(TypeTag, (int)request[4]);
            span.SetTag(ErrnoTag, reply.Length >= P9Type.HeaderSize + 4 && reply[4] == P9Type.Rlerror ? (long)BinaryPrimitives.ReadUInt32LittleEndian(reply.AsSpan(P9Type.HeaderSize)) : 0L);
            span.SetTag(DeviceTrace.BytesTag, (long)request.Length + reply.Length);
        }

        DeviceTrace.Close(span, DateTime.UtcNow);
    }
}
