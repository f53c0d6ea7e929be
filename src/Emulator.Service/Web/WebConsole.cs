using System.Net.WebSockets;
using System.Text;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;

namespace Emulator.Service.Web;

/// <summary>
/// The web console on the control plane's port: the page and its static files (wwwroot beside
/// the assembly: the page, and the npm packages the build installs), gRPC-Web for the page's
/// calls to MachineService (the same service and token as every client), and the serial console
/// as a WebSocket at /console/ID, because gRPC-Web has no client streaming. A browser cannot set
/// headers on a WebSocket, so the token travels as the subprotocol "emu-token.BASE64URL" beside
/// "emu-console"; without it (when the node has a token) the socket is closed at once with a
/// policy-violation status saying so, before anything of the machine is sent.
/// </summary>
internal static class WebConsole
{
    public const string Subprotocol = "emu-console";
    public const string TokenPrefix = "emu-token.";

    /// <summary>The page's files: wwwroot in the directory of the running program.</summary>
    public static string Root => Path.Combine(AppContext.BaseDirectory, "wwwroot");

    public static void Map(WebApplication app, ControlPlaneOptions options, MachineService machines)
    {
        if (Directory.Exists(Root))
        {
            var files = new PhysicalFileProvider(Root);
            var types = new FileExtensionContentTypeProvider();
            types.Mappings[".proto"] = "text/plain; charset=utf-8";
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
            app.UseStaticFiles(new StaticFileOptions { FileProvider = files, ContentTypeProvider = types });
        }

        app.UseWebSockets();
        var token = new TokenCheck(options.BearerToken);
        app.Map("/console/{id}", (HttpContext http, string id) => ServeAsync(http, id, options.BearerToken is null ? null : token, machines));
    }

    private static async Task ServeAsync(HttpContext http, string id, TokenCheck? token, MachineService machines)
    {
        if (!http.WebSockets.IsWebSocketRequest || !http.WebSockets.WebSocketRequestedProtocols.Contains(Subprotocol))
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            await http.Response.WriteAsync($"a WebSocket with the subprotocol {Subprotocol} is expected here").ConfigureAwait(false);
            return;
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync(Subprotocol).ConfigureAwait(false);
        var cancel = http.RequestAborted;
        if (token is not null && !http.WebSockets.WebSocketRequestedProtocols.Any(p => p.StartsWith(TokenPrefix, StringComparison.Ordinal) && token.Accepts(Decode(p[TokenPrefix.Length..]))))
        {
            await CloseAsync(socket, WebSocketCloseStatus.PolicyViolation, "the service's token is required (it was missing or not accepted)", pending: null).ConfigureAwait(false);
            return;
        }

        // A cancelled WebSocket receive aborts the socket, so the console's cancellation ends the
        // wait for input, not the receive: that one stays pending until the page answers the close.
        var input = new byte[4096];
        Task<WebSocketReceiveResult>? pending = null;
        try
        {
            await machines.ServeConsoleAsync(
                id,
                async c =>
                {
                    while (true)
                    {
                        pending ??= socket.ReceiveAsync(input, CancellationToken.None);
                        var received = await pending.WaitAsync(c).ConfigureAwait(false);
                        pending = null;
                        if (received.MessageType == WebSocketMessageType.Close)
                        {
                            return null;
                        }

                        if (received.Count > 0)
                        {
                            return input.AsMemory(0, received.Count).ToArray();
                        }
                    }
                },
                chunk => socket.SendAsync(chunk.Data, WebSocketMessageType.Binary, endOfMessage: true, cancel),
                cancel).ConfigureAwait(false);
            await CloseAsync(socket, WebSocketCloseStatus.NormalClosure, "the console ended (the machine stopped, or the page closed it)", pending).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            await CloseAsync(socket, WebSocketCloseStatus.PolicyViolation, e.Status.Detail, pending).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // the page went away
        }
    }

    private static string Decode(string base64Url)
    {
        string padded = base64Url.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - padded.Length % 4) % 4);
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(padded));
        }
        catch (FormatException)
        {
            return "";
        }
    }

    /// <summary>Sends the close frame and waits a little for the page's answer (through the receive still pending, if one is).</summary>
    private static async Task CloseAsync(WebSocket socket, WebSocketCloseStatus status, string reason, Task<WebSocketReceiveResult>? pending)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        // A close frame's reason is at most 123 bytes of UTF-8.
        byte[] bytes = Encoding.UTF8.GetBytes(reason);
        string fitting = bytes.Length <= 123 ? reason : Encoding.UTF8.GetString(bytes, 0, 100) + "...";
        try
        {
            await socket.CloseOutputAsync(status, fitting, CancellationToken.None).ConfigureAwait(false);
            if (socket.State == WebSocketState.CloseSent)
            {
                await (pending ?? socket.ReceiveAsync(new byte[128], CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or TimeoutException)
        {
            // the page went away first, or did not answer the close
        }
    }
}
