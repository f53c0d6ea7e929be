using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Emulator.Service.Hosting;

/// <summary>
/// Every call needs "authorization: Bearer &lt;token&gt;" (UNAUTHENTICATED otherwise), on every
/// service the server maps, server reflection included; grpc.health.v1 too unless
/// <see cref="ControlPlaneOptions.AnonymousHealth"/>. An interceptor rather than ASP.NET Core
/// authentication: the answer must be a gRPC status, and there is one secret, no identities.
/// </summary>
internal sealed class BearerTokenInterceptor(ControlPlaneOptions options) : Interceptor
{
    private const string Scheme = "Bearer ";

    private readonly TokenCheck token = new(options.BearerToken);

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Check(ServerCallContext context)
    {
        if (options.BearerToken is null || (options.AnonymousHealth && context.Method.StartsWith("/grpc.health.v1.Health/", StringComparison.Ordinal)))
        {
            return;
        }

        string? authorization = context.RequestHeaders.GetValue("authorization");
        string presented = authorization is not null && authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            ? authorization[Scheme.Length..].Trim()
            : "";
        if (!token.Accepts(presented))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, authorization is null ? "a bearer token is required" : "the bearer token is not accepted"));
        }
    }
}

/// <summary>The node's token, compared in constant time: both sides are hashed first, so the time taken does not depend on the presented token's length or content.</summary>
internal sealed class TokenCheck(string? token)
{
    private readonly byte[] expected = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token ?? ""));

    /// <summary>False for an empty token or one that differs from the node's.</summary>
    public bool Accepts(string presented)
    {
        byte[] actual = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(presented));
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(actual, expected) && presented.Length > 0;
    }
}
