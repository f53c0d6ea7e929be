using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace Emulator.Service.Rpc;

/// <summary>
/// One call on the server: reads framed requests, writes framed responses, and ends the
/// call with its status exactly once, in the trailers, or in the headers alone
/// ("Trailers-Only") when no response was sent. The deadline may end the call while the
/// handler still runs; writes are serialized with the status under one lock so a late
/// write cannot follow the trailers.
/// </summary>
internal sealed class ServerCall
{
    private readonly HttpContext http;
    private readonly int maxReceiveMessageSize;
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private bool completed;

    public ServerCall(HttpContext http, int maxReceiveMessageSize)
    {
        this.http = http;
        this.maxReceiveMessageSize = maxReceiveMessageSize;
    }

    public CancellationToken CallCancelled { get; set; }

    /// <summary>Held while a read is under way; taken for good by <see cref="EndReadsAsync"/>.</summary>
    private readonly SemaphoreSlim readGate = new(1, 1);
    private bool readsEnded;

    /// <summary>Reads the next request; null when the client has half-closed.</summary>
    public async ValueTask<T?> ReadAsync<T>(MessageParser<T> parser) where T : IMessage<T>
    {
        await readGate.WaitAsync();
        try
        {
            if (readsEnded)
            {
                throw new OperationCanceledException("the call has ended");
            }

            return await ReadFrameAsync(parser);
        }
        finally
        {
            readGate.Release();
        }
    }

    /// <summary>
    /// After the call has completed (and <see cref="CallCancelled"/> was cancelled): waits until no
    /// read is under way and refuses later ones. Kestrel reuses a finished request's stream for
    /// the next request, so a handler's leftover read (a console reader still waiting for input
    /// when its machine stopped) must not survive the call, or it would read another call's body.
    /// </summary>
    public async Task EndReadsAsync()
    {
        await readGate.WaitAsync();
        readsEnded = true;
        readGate.Release();
    }

    private async ValueTask<T?> ReadFrameAsync<T>(MessageParser<T> parser) where T : IMessage<T>
    {
        PipeReader reader = http.Request.BodyReader;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(CallCancelled);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (GrpcProtocol.TryReadFrameHeader(buffer, out bool compressed, out uint length))
            {
                if (compressed)
                {
                    // PROTOCOL-HTTP2.md: a compressed message without a grpc-encoding
                    // (we accept only identity) is a protocol error.
                    reader.AdvanceTo(buffer.Start);
                    throw new RpcException(StatusCode.Internal,
                        "Compressed-Flag set but no compression was negotiated (grpc-encoding identity)");
                }
                if (length > (uint)maxReceiveMessageSize)
                {
                    reader.AdvanceTo(buffer.Start);
                    throw new RpcException(StatusCode.ResourceExhausted,
                        $"Received message larger than max ({length} vs. {maxReceiveMessageSize})");
                }
                long frameSize = GrpcProtocol.FrameHeaderSize + (long)length;
                if (buffer.Length >= frameSize)
                {
                    T message;
                    try
                    {
                        message = parser.ParseFrom(buffer.Slice(GrpcProtocol.FrameHeaderSize, length));
                    }
                    catch (InvalidProtocolBufferException e)
                    {
                        reader.AdvanceTo(buffer.Start);
                        // See RATIONALE.md: a request that does not parse is INTERNAL.
                        throw new RpcException(StatusCode.Internal, "Failed to deserialize request message: " + e.Message);
                    }
                    reader.AdvanceTo(buffer.GetPosition(frameSize));
                    return message;
                }
            }
            if (result.IsCompleted)
            {
                bool empty = buffer.IsEmpty;
                reader.AdvanceTo(buffer.End);
                if (empty)
                    return default;
                throw new RpcException(StatusCode.Internal, "Incomplete message: the request stream ended inside a frame");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    public async IAsyncEnumerable<T> ReadAllAsync<T>(MessageParser<T> parser) where T : class, IMessage<T>
    {
        while (await ReadAsync(parser) is { } message)
            yield return message;
    }

    public async Task WriteAsync(IMessage message)
    {
        await writeLock.WaitAsync(CallCancelled);
        try
        {
            if (completed)
                throw new InvalidOperationException("The call has already completed.");
            GrpcProtocol.WriteFrame(http.Response.BodyWriter, message);
            FlushResult flush = await http.Response.BodyWriter.FlushAsync(CallCancelled);
            if (flush.IsCanceled || flush.IsCompleted)
                throw new OperationCanceledException("The client has gone away.");
        }
        finally
        {
            writeLock.Release();
        }
    }

    /// <summary>Ends the call with a status; later calls do nothing.</summary>
    public async Task CompleteAsync(StatusCode status, string? detail)
    {
        await writeLock.WaitAsync();
        try
        {
            if (completed)
                return;
            completed = true;
            if (http.RequestAborted.IsCancellationRequested)
                return; // nobody to tell; Kestrel resets the stream
            string code = ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!http.Response.HasStarted)
            {
                // Trailers-Only: HEADERS with END_STREAM carrying the status.
                http.Response.Headers[GrpcProtocol.StatusHeader] = code;
                if (!string.IsNullOrEmpty(detail))
                    http.Response.Headers[GrpcProtocol.MessageHeader] = GrpcProtocol.EncodeMessage(detail);
            }
            else
            {
                http.Response.AppendTrailer(GrpcProtocol.StatusHeader, code);
                if (!string.IsNullOrEmpty(detail))
                    http.Response.AppendTrailer(GrpcProtocol.MessageHeader, GrpcProtocol.EncodeMessage(detail));
            }
            await http.Response.CompleteAsync();
        }
        finally
        {
            writeLock.Release();
        }
    }

    internal sealed class StreamWriter<T>(ServerCall call) : IServerStreamWriter<T> where T : IMessage<T>
    {
        public Task WriteAsync(T response) => call.WriteAsync(response);
    }
}
