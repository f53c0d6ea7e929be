using System.Net;

namespace Emulator.Service.Rpc;

public sealed class GrpcServerOptions
{
    /// <summary>The address to listen on; loopback unless the node must be reachable.</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>The TCP port; 0 lets the system choose (read <see cref="GrpcServer.Port"/>).</summary>
    public int Port { get; set; }

    /// <summary>When set, every call needs "authorization: Bearer &lt;token&gt;".</summary>
    public string? BearerToken { get; set; }

    /// <summary>A larger request fails with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = GrpcProtocol.DefaultMaxReceiveMessageSize;
}
