using System.Net;

namespace Emulator.Service.Hosting;

/// <summary>
/// Where the control plane listens: a TCP endpoint ("127.0.0.1:50051", "[::1]:0", "localhost:50051")
/// or a Unix domain socket ("unix:emu.sock", a path), the usual way to serve a local daemon.
/// </summary>
public sealed record ListenAddress
{
    private ListenAddress(IPEndPoint? tcp, string? socketPath)
    {
        Tcp = tcp;
        SocketPath = socketPath;
    }

    /// <summary>The TCP endpoint; null for a Unix socket.</summary>
    public IPEndPoint? Tcp { get; }

    /// <summary>The Unix socket's path; null for TCP.</summary>
    public string? SocketPath { get; }

    /// <summary>True when only this host can connect: a loopback address or a Unix socket.</summary>
    public bool IsLocal => SocketPath is not null || IPAddress.IsLoopback(Tcp!.Address);

    public static ListenAddress Loopback(int port) => new(new IPEndPoint(IPAddress.Loopback, port), null);

    public static ListenAddress UnixSocket(string path) => new(null, Path.GetFullPath(path));

    /// <summary>Parses "unix:PATH", "IP:PORT", "[IPv6]:PORT" or "localhost:PORT"; null with <paramref name="error"/> otherwise.</summary>
    public static ListenAddress? TryParse(string text, out string? error)
    {
        error = null;
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            string path = text["unix:".Length..];
            if (path.Length == 0)
            {
                error = "unix: needs a socket path (example: unix:emu.sock)";
                return null;
            }

            return UnixSocket(path);
        }

        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(text["localhost:".Length..], out int localPort) && localPort is >= 0 and <= IPEndPoint.MaxPort)
        {
            return Loopback(localPort);
        }

        if (IPEndPoint.TryParse(text, out var endpoint) && text.Contains(':', StringComparison.Ordinal) && !text.EndsWith(']'))
        {
            return new ListenAddress(endpoint, null);
        }

        error = $"'{text}' is not an address:port or unix:PATH (examples: 127.0.0.1:50051, [::1]:50051, unix:emu.sock)";
        return null;
    }

    public override string ToString() => SocketPath is not null ? "unix:" + SocketPath : Tcp!.ToString();
}
