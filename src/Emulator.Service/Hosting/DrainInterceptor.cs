using Grpc.Core;
using Grpc.AspNetCore.Server;
using Grpc.Core.Interceptors;

namespace Emulator.Service.Hosting;

/// <summary>
/// Ends streaming calls when the node drains (<see cref="NodeDrain"/>): the handler sees its call's
/// token cancelled, and the client gets UNAVAILABLE (statuscodes.md: "server shutting down"), so it
/// knows to go elsewhere. Without this a watch or a console would hold shutdown until Kestrel's timeout.
/// </summary>
internal sealed class DrainInterceptor(NodeDrain drain) : Interceptor
{
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.Streams);
        await Run(context, () => continuation(request, responseStream, new DrainingCallContext(context, ended.Token))).ConfigureAwait(false);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.Streams);
        await Run(context, () => continuation(requestStream, responseStream, new DrainingCallContext(context, ended.Token))).ConfigureAwait(false);
    }

    private async Task Run(ServerCallContext context, Func<Task> handler)
    {
        try
        {
            await handler().ConfigureAwait(false);
        }
        catch (Exception) when (Drained(context))
        {
            // The handler stopped because the node drains: say so below.
        }

        if (Drained(context))
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the server is shutting down"));
        }
    }

    private bool Drained(ServerCallContext context) => drain.Streams.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested;

    /// <summary>The call's context with a token that is also cancelled when the node drains.</summary>
    private sealed class DrainingCallContext : ServerCallContext
    {
        private readonly ServerCallContext call;
        private readonly CancellationToken token;

        public DrainingCallContext(ServerCallContext call, CancellationToken token)
        {
            this.call = call;
            this.token = token;
            // Grpc.AspNetCore finds the HttpContext of a context it did not make under this key
            // (ServerCallContextExtensions.GetHttpContext); the user state is shared with the call's.
            call.UserState["__HttpContext"] = call.GetHttpContext();
        }

        protected override string MethodCore => call.Method;

        protected override string HostCore => call.Host;

        protected override string PeerCore => call.Peer;

        protected override DateTime DeadlineCore => call.Deadline;

        protected override Metadata RequestHeadersCore => call.RequestHeaders;

        protected override CancellationToken CancellationTokenCore => token;

        protected override Metadata ResponseTrailersCore => call.ResponseTrailers;

        protected override Status StatusCore
        {
            get => call.Status;
            set => call.Status = value;
        }

        protected override WriteOptions? WriteOptionsCore
        {
            get => call.WriteOptions;
            set => call.WriteOptions = value;
        }

        protected override AuthContext AuthContextCore => call.AuthContext;

        protected override IDictionary<object, object> UserStateCore => call.UserState;

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => call.CreatePropagationToken(options);

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => call.WriteResponseHeadersAsync(responseHeaders);
    }
}
