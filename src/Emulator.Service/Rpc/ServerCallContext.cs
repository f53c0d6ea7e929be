using Microsoft.AspNetCore.Http;

namespace Emulator.Service.Rpc;

/// <summary>What a handler knows about its call.</summary>
public sealed class ServerCallContext
{
    private readonly HttpContext http;

    internal ServerCallContext(HttpContext http, string method, DateTime? deadline, CancellationToken cancellationToken)
    {
        this.http = http;
        Method = method;
        Deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>"package.Service/Method".</summary>
    public string Method { get; }

    /// <summary>The client's deadline (UTC), from grpc-timeout; null when it sent none.</summary>
    public DateTime? Deadline { get; }

    /// <summary>Cancelled when the deadline passes or the client cancels or goes away.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The call's metadata (HTTP/2 request headers).</summary>
    public IHeaderDictionary RequestHeaders => http.Request.Headers;

    /// <summary>The client's address, "ip:port".</summary>
    public string Peer => $"{http.Connection.RemoteIpAddress}:{http.Connection.RemotePort}";
}
