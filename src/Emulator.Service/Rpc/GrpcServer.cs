using System.Collections.Frozen;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace Emulator.Service.Rpc;

/// <summary>
/// A gRPC server on Kestrel over cleartext HTTP/2. Services are described by the
/// descriptors protoc generated (<see cref="AddService"/>); handlers are registered by
/// "package.Service/Method" and checked against them, so a typo or a wrong message type
/// fails at registration, not at the first call. A declared method without a handler
/// answers UNIMPLEMENTED.
/// </summary>
public sealed class GrpcServer : IAsyncDisposable
{
    private readonly GrpcServerOptions options;
    private readonly BearerTokenCheck? tokenCheck;
    private readonly Dictionary<string, MethodDescriptor> declared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ServerMethod> registered = new(StringComparer.Ordinal);
    private FrozenDictionary<string, ServerMethod> methods = FrozenDictionary<string, ServerMethod>.Empty;
    private readonly CancellationTokenSource stopping = new();
    private WebApplication? app;
    private bool disposed;

    public GrpcServer(GrpcServerOptions? options = null)
    {
        this.options = options ?? new GrpcServerOptions();
        if (!string.IsNullOrEmpty(this.options.BearerToken))
            tokenCheck = new BearerTokenCheck(this.options.BearerToken);
        Address = new UriBuilder(Uri.UriSchemeHttp, this.options.Address.ToString(), this.options.Port).Uri;
    }

    /// <summary>The bound port, once started.</summary>
    public int Port { get; private set; }

    /// <summary>The base address (cleartext scheme, bound address and port), once started.</summary>
    public Uri Address { get; private set; }

    /// <summary>Declares a service's methods (from a generated file's <c>Descriptor.Services</c>).</summary>
    public GrpcServer AddService(ServiceDescriptor service)
    {
        if (app is not null)
            throw new InvalidOperationException("Services must be declared before the server starts.");
        foreach (MethodDescriptor method in service.Methods)
            declared[$"{service.FullName}/{method.Name}"] = method;
        return this;
    }

    public GrpcServer AddServices(FileDescriptor file)
    {
        foreach (ServiceDescriptor service in file.Services)
            AddService(service);
        return this;
    }

    public GrpcServer MapUnary<TRequest, TResponse>(string method, UnaryHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        Register(new UnaryMethod<TRequest, TResponse>(Check<TRequest, TResponse>(method, false, false), handler));

    public GrpcServer MapServerStreaming<TRequest, TResponse>(string method, ServerStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        Register(new ServerStreamingMethod<TRequest, TResponse>(Check<TRequest, TResponse>(method, false, true), handler));

    public GrpcServer MapClientStreaming<TRequest, TResponse>(string method, ClientStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        Register(new ClientStreamingMethod<TRequest, TResponse>(Check<TRequest, TResponse>(method, true, false), handler));

    public GrpcServer MapDuplexStreaming<TRequest, TResponse>(string method, DuplexStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        Register(new DuplexStreamingMethod<TRequest, TResponse>(Check<TRequest, TResponse>(method, true, true), handler));

    private MethodDescriptor Check<TRequest, TResponse>(string name, bool clientStreaming, bool serverStreaming)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        if (app is not null)
            throw new InvalidOperationException("Handlers must be registered before the server starts.");
        if (!declared.TryGetValue(name, out MethodDescriptor? method))
            throw new ArgumentException($"No declared service has a method \"{name}\"; add its descriptor with AddService first.", nameof(name));
        if (method.IsClientStreaming != clientStreaming || method.IsServerStreaming != serverStreaming)
            throw new ArgumentException($"\"{name}\" is {Kind(method.IsClientStreaming, method.IsServerStreaming)}, " +
                $"not {Kind(clientStreaming, serverStreaming)}.", nameof(name));
        if (new TRequest().Descriptor.FullName != method.InputType.FullName)
            throw new ArgumentException($"\"{name}\" takes {method.InputType.FullName}, not {typeof(TRequest).Name}.", nameof(name));
        if (new TResponse().Descriptor.FullName != method.OutputType.FullName)
            throw new ArgumentException($"\"{name}\" returns {method.OutputType.FullName}, not {typeof(TResponse).Name}.", nameof(name));
        if (registered.ContainsKey(name))
            throw new ArgumentException($"\"{name}\" already has a handler.", nameof(name));
        return method;
    }

    private static string Kind(bool clientStreaming, bool serverStreaming) => (clientStreaming, serverStreaming) switch
    {
        (false, false) => "unary",
        (false, true) => "server streaming",
        (true, false) => "client streaming",
        _ => "bidirectional streaming",
    };

    private GrpcServer Register(ServerMethod method)
    {
        registered[$"{method.Descriptor.Service.FullName}/{method.Descriptor.Name}"] = method;
        return this;
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (app is not null)
            throw new InvalidOperationException("The server is already started.");
        methods = registered.ToFrozenDictionary(StringComparer.Ordinal);

        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            // Long-lived streams (console, watch) send nothing for minutes.
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Listen(options.Address, options.Port, listen => listen.Protocols = HttpProtocols.Http2);
        });
        WebApplication web = builder.Build();
        web.Run(DispatchAsync);
        await web.StartAsync(cancellationToken);
        app = web;

        string bound = web.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        Address = new Uri(bound.EndsWith('/') ? bound : bound + "/");
        Port = Address.Port;
    }

    /// <summary>
    /// Stops accepting calls and cancels the running ones, which end with UNAVAILABLE
    /// ("server shutting down", grpc/doc/statuscodes.md): long streams such as Watch
    /// would otherwise hold the shutdown until Kestrel's timeout.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        await stopping.CancelAsync();
        if (app is { } web)
            await web.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (disposed)
            return;
        if (app is { } web)
        {
            await StopAsync();
            await web.DisposeAsync();
            app = null;
        }
        stopping.Dispose();
        disposed = true;
    }

    private async Task DispatchAsync(HttpContext http)
    {
        HttpRequest request = http.Request;
        if (!HttpMethods.IsPost(request.Method))
        {
            http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            http.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return;
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
            bodySize.MaxRequestBodySize = null; // streams are unbounded; each message is limited instead

        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = GrpcProtocol.ContentType;
        var call = new ServerCall(http, options.MaxReceiveMessageSize);
        string name = (request.Path.Value ?? "").TrimStart('/');

        if (tokenCheck is not null && !tokenCheck.Accepts(request.Headers.Authorization))
        {
            await call.CompleteAsync(StatusCode.Unauthenticated, "A valid bearer token is required");
            return;
        }
        if (!methods.TryGetValue(name, out ServerMethod? method))
        {
            await call.CompleteAsync(StatusCode.Unimplemented,
                declared.ContainsKey(name) ? $"Method {name} is not implemented" : $"Unknown method {name}");
            return;
        }
        string? encoding = request.Headers[GrpcProtocol.EncodingHeader];
        if (!string.IsNullOrEmpty(encoding) && encoding != "identity")
        {
            http.Response.Headers[GrpcProtocol.AcceptEncodingHeader] = "identity";
            await call.CompleteAsync(StatusCode.Unimplemented, $"Unsupported grpc-encoding {encoding}");
            return;
        }
        TimeSpan? timeout = null;
        string? timeoutHeader = request.Headers[GrpcProtocol.TimeoutHeader];
        if (timeoutHeader is not null)
        {
            if (!GrpcProtocol.TryParseTimeout(timeoutHeader, out TimeSpan parsed))
            {
                await call.CompleteAsync(StatusCode.Internal, $"Malformed grpc-timeout {timeoutHeader}");
                return;
            }
            timeout = parsed;
        }
        await RunCallAsync(http, call, method, name, timeout);
    }

    private async Task RunCallAsync(HttpContext http, ServerCall call, ServerMethod method, string name, TimeSpan? timeout)
    {
        using var callCancellation = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, stopping.Token);
        call.CallCancelled = callCancellation.Token;
        DateTime? deadline = timeout is { } t ? DateTime.UtcNow + t : null;
        var context = new ServerCallContext(http, name, deadline, callCancellation.Token);

        Task<(StatusCode, string?)> handler = RunHandlerAsync(call, method, context, http.RequestAborted, stopping.Token);
        if (timeout is { } limit)
        {
            using var timerCancellation = new CancellationTokenSource();
            Task expiry = Task.Delay(limit, timerCancellation.Token);
            if (await Task.WhenAny(handler, expiry) == expiry)
            {
                // The deadline ends the call now, whatever the handler does; the handler is
                // cancelled and awaited so it never touches a recycled HttpContext.
                callCancellation.Cancel();
                await call.CompleteAsync(StatusCode.DeadlineExceeded, "Deadline exceeded");
                await handler;
                await call.EndReadsAsync();
                return;
            }
            timerCancellation.Cancel();
        }
        (StatusCode status, string? detail) = await handler;
        await call.CompleteAsync(status, detail);

        // A read the handler left behind is cancelled and waited for before Kestrel reuses the stream.
        callCancellation.Cancel();
        await call.EndReadsAsync();
    }

    private static async Task<(StatusCode, string?)> RunHandlerAsync(
        ServerCall call, ServerMethod method, ServerCallContext context, CancellationToken aborted, CancellationToken stopping)
    {
        try
        {
            await method.RunAsync(call, context);
            return (StatusCode.OK, null);
        }
        catch (RpcException e)
        {
            // OK would end a unary call without its response; only returning means success.
            return e.Status == StatusCode.OK ? (StatusCode.Unknown, "The handler threw an RpcException with status OK") : (e.Status, e.Detail);
        }
        catch (Exception) when (aborted.IsCancellationRequested)
        {
            return (StatusCode.Cancelled, "The client cancelled the call");
        }
        catch (Exception) when (stopping.IsCancellationRequested)
        {
            return (StatusCode.Unavailable, "The server is shutting down");
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            return (StatusCode.DeadlineExceeded, "Deadline exceeded");
        }
        catch (Exception e)
        {
            // The handler's exception text may hold host details; only its type is sent. The
            // operator sees the whole exception on the server's standard error.
            Console.Error.WriteLine($"emu serve: a handler failed: {e}");
            return (StatusCode.Unknown, $"Exception was thrown by handler: {e.GetType().Name}");
        }
    }
}
