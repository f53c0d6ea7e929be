using Google.Protobuf;

namespace Emulator.Service.Rpc;

/// <summary>The handler of a unary call: one request, one response.</summary>
public delegate Task<TResponse> UnaryHandler<TRequest, TResponse>(TRequest request, ServerCallContext context)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>;

/// <summary>The handler of a server-streaming call: one request, any number of responses.</summary>
public delegate Task ServerStreamingHandler<TRequest, TResponse>(
    TRequest request, IServerStreamWriter<TResponse> responses, ServerCallContext context)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>;

/// <summary>The handler of a client-streaming call: any number of requests, one response.</summary>
public delegate Task<TResponse> ClientStreamingHandler<TRequest, TResponse>(
    IAsyncEnumerable<TRequest> requests, ServerCallContext context)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>;

/// <summary>
/// The handler of a bidirectional call. Requests may be read while responses are written;
/// <paramref name="requests"/> ends when the client half-closes.
/// </summary>
public delegate Task DuplexStreamingHandler<TRequest, TResponse>(
    IAsyncEnumerable<TRequest> requests, IServerStreamWriter<TResponse> responses, ServerCallContext context)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>;

/// <summary>Sends a call's responses. Writes are serialized; each is flushed to the client.</summary>
public interface IServerStreamWriter<in TResponse>
{
    Task WriteAsync(TResponse response);
}
