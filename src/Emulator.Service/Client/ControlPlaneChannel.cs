using System.Net.Security;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;

namespace Emulator.Service.Client;

/// <summary>
/// A Grpc.Net.Client channel to a control plane: "host:port" (h2c), "http://host:port",
/// "https://host:port" (TLS) or "unix:PATH"; with the bearer token on every call when one is given.
/// </summary>
public static class ControlPlaneChannel
{
    /// <summary>
    /// Opens a channel to <paramref name="address"/>. <paramref name="trust"/>, when given, decides
    /// whether a TLS server's certificate is accepted (a self-signed one pinned by the caller);
    /// otherwise the system's trust store does.
    /// </summary>
    public static GrpcChannel Open(string address, string? token = null, Func<System.Security.Cryptography.X509Certificates.X509Certificate2, bool>? trust = null)
    {
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        string target;
        if (address.StartsWith("unix:", StringComparison.Ordinal))
        {
            var socket = new UnixDomainSocketEndPoint(address["unix:".Length..]);
            handler.ConnectCallback = async (_, cancel) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(socket, cancel).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            };
            target = "http://localhost";
        }
        else
        {
            target = address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address;
        }

        if (trust is not null)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && trust(new(certificate)),
            };
        }

        var options = new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true };
        if (token is not null)
        {
            var bearer = CallCredentials.FromInterceptor((_, metadata) =>
            {
                metadata.Add("authorization", "Bearer " + token);
                return Task.CompletedTask;
            });
            bool tls = target.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
            options.Credentials = ChannelCredentials.Create(tls ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure, bearer);
            // A bearer token over h2c is sent in the clear: fine on loopback and a Unix socket, which is
            // where the server allows it without TLS (ControlPlaneOptions.Problem).
            options.UnsafeUseInsecureChannelCallCredentials = !tls;
        }

        return GrpcChannel.ForAddress(target, options);
    }
}
