using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Emulator.Service.Rpc;

/// <summary>A registered method: its descriptor and how to run one call of it.</summary>
internal abstract class ServerMethod(MethodDescriptor descriptor)
{
    public MethodDescriptor Descriptor { get; } = descriptor;

    /// <summary>Runs the handler; throwing ends the call with the mapped status.</summary>
    public abstract Task RunAsync(ServerCall call, ServerCallContext context);

    /// <summary>
    /// Exactly one request for unary and server-streaming calls. Any other count is a
    /// "request cardinality violation", UNIMPLEMENTED (grpc/doc/statuscodes.md).
    /// </summary>
    protected static async Task<T> ReadSingleAsync<T>(ServerCall call, MessageParser<T> parser) where T : IMessage<T>
    {
        T? request = await call.ReadAsync(parser)
            ?? throw new RpcException(StatusCode.Unimplemented, "The method expects one request message; none was sent");
        if (await call.ReadAsync(parser) is not null)
            throw new RpcException(StatusCode.Unimplemented, "The method expects one request message; more were sent");
        return request;
    }
}

internal static class Parsers<T> where T : class, IMessage<T>, new()
{
    public static readonly MessageParser<T> Parser = new(() => new T());
}

internal sealed class UnaryMethod<TRequest, TResponse>(MethodDescriptor descriptor, UnaryHandler<TRequest, TResponse> handler)
    : ServerMethod(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>
{
    public override async Task RunAsync(ServerCall call, ServerCallContext context)
    {
        TRequest request = await ReadSingleAsync(call, Parsers<TRequest>.Parser);
        TResponse response = await handler(request, context)
            ?? throw new RpcException(StatusCode.Internal, "The handler returned no response");
        await call.WriteAsync(response);
    }
}

internal sealed class ServerStreamingMethod<TRequest, TResponse>(MethodDescriptor descriptor, ServerStreamingHandler<TRequest, TResponse> handler)
    : ServerMethod(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>
{
    public override async Task RunAsync(ServerCall call, ServerCallContext context)
    {
        TRequest request = await ReadSingleAsync(call, Parsers<TRequest>.Parser);
        await handler(request, new ServerCall.StreamWriter<TResponse>(call), context);
    }
}

internal sealed class ClientStreamingMethod<TRequest, TResponse>(MethodDescriptor descriptor, ClientStreamingHandler<TRequest, TResponse> handler)
    : ServerMethod(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>
{
    public override async Task RunAsync(ServerCall call, ServerCallContext context)
    {
        TResponse response = await handler(call.ReadAllAsync(Parsers<TRequest>.Parser), context)
            ?? throw new RpcException(StatusCode.Internal, "The handler returned no response");
        await call.WriteAsync(response);
    }
}

internal sealed class DuplexStreamingMethod<TRequest, TResponse>(MethodDescriptor descriptor, DuplexStreamingHandler<TRequest, TResponse> handler)
    : ServerMethod(descriptor)
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>
{
    public override Task RunAsync(ServerCall call, ServerCallContext context) =>
        handler(call.ReadAllAsync(Parsers<TRequest>.Parser), new ServerCall.StreamWriter<TResponse>(call), context);
}
