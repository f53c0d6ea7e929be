using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Emulator.Service.Hosting;

/// <summary>
/// gRPC (HTTP/2 with prior knowledge, RFC 9113 section 3.3) and the web console (HTTP/1.1: a
/// browser never speaks cleartext HTTP/2) on one cleartext port. Kestrel 10 serves every
/// cleartext connection of an Http1AndHttp2 endpoint as HTTP/1.1 without looking at its bytes,
/// so the public endpoint is HTTP/2 only and its first connection middleware reads the first
/// bytes: the HTTP/2 client preface goes on to HTTP/2, anything else is handed to the HTTP/1.1
/// pipeline of a second endpoint, a Unix socket in a private directory that nothing announces,
/// whose pipeline is captured when Kestrel builds it. Under TLS none of this is needed: ALPN says.
/// </summary>
internal sealed class CleartextProtocols : IDisposable
{
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    /// <summary>A connection that has not said which protocol it speaks by then is closed.</summary>
    private static readonly TimeSpan FirstBytesTimeout = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo directory = Directory.CreateTempSubdirectory("emu-http1-");
    private ConnectionDelegate? http1;

    public CleartextProtocols()
    {
        if (!OperatingSystem.IsWindows())
        {
            directory.UnixFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        }
    }

    /// <summary>The private HTTP/1.1 endpoint's socket (not an address clients are given).</summary>
    public string Http1SocketPath => Path.Combine(directory.FullName, "http1.sock");

    /// <summary>Configures the private HTTP/1.1 endpoint and captures its connection pipeline.</summary>
    public void ConfigureHttp1(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1;
        listen.Use(next => http1 = next);
    }

    /// <summary>Configures the public endpoint: HTTP/2, with HTTP/1.1 connections handed over.</summary>
    public void ConfigurePublic(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http2;
        listen.Use(next => connection => Dispatch(connection, next));
    }

    private async Task Dispatch(ConnectionContext connection, ConnectionDelegate http2)
    {
        bool? isHttp2;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            timeout.CancelAfter(FirstBytesTimeout);
            try
            {
                isHttp2 = await ReadFirstBytes(connection.Transport.Input, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                isHttp2 = null;
            }
        }

        if (isHttp2 is null)
        {
            connection.Abort(new ConnectionAbortedException("the connection sent no request"));
            return;
        }

        var next = isHttp2.Value ? http2 : http1 ?? throw new InvalidOperationException("the HTTP/1.1 endpoint was not built");
        await next(connection).ConfigureAwait(false);
    }

    /// <summary>
    /// True for the HTTP/2 preface, false for anything else, null if the client closed first.
    /// Nothing is consumed, and the bytes marked examined are only those compared, so the
    /// protocol's own first read returns at once with everything the client has sent.
    /// </summary>
    internal static async Task<bool?> ReadFirstBytes(System.IO.Pipelines.PipeReader input, CancellationToken cancel)
    {
        var first = new byte[Preface.Length];
        while (true)
        {
            var result = await input.ReadAsync(cancel).ConfigureAwait(false);
            var buffer = result.Buffer;
            int compared = (int)Math.Min(buffer.Length, Preface.Length);
            buffer.Slice(0, compared).CopyTo(first);
            int matching = first.AsSpan(0, compared).CommonPrefixLength(Preface);
            if (matching < compared)
            {
                input.AdvanceTo(buffer.Start, buffer.GetPosition(matching + 1));
                return false;
            }

            input.AdvanceTo(buffer.Start, buffer.GetPosition(compared));
            if (compared == Preface.Length)
            {
                return true;
            }

            if (result.IsCompleted)
            {
                return compared == 0 ? null : false;
            }
        }
    }

    public void Dispose()
    {
        try
        {
            directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // the socket is still held; the temporary directory goes with the next clean-up
        }
    }
}
