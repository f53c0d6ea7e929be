using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Google.Protobuf;

namespace Emulator.Service.Rpc;

/// <summary>Per-call settings of <see cref="GrpcClient"/>.</summary>
public readonly record struct CallOptions(
    TimeSpan? Timeout = null,
    CancellationToken CancellationToken = default,
    IReadOnlyDictionary<string, string>? Headers = null);

public sealed class GrpcClientOptions
{
    /// <summary>Sent as "authorization: Bearer &lt;token&gt;" when set.</summary>
    public string? BearerToken { get; set; }

    public int MaxReceiveMessageSize { get; set; } = GrpcProtocol.DefaultMaxReceiveMessageSize;
}

/// <summary>
/// A small gRPC client over cleartext HTTP/2 ("prior knowledge": the first bytes are the
/// HTTP/2 preface). Unary, server-streaming, client-streaming and bidirectional calls; a status other than OK is thrown as
/// <see cref="RpcException"/>.
/// </summary>
public sealed class GrpcClient : IDisposable
{
    private readonly Uri address;
    private readonly GrpcClientOptions options;
    private readonly HttpClient http;

    public GrpcClient(Uri address, GrpcClientOptions? options = null)
    {
        this.address = address;
        this.options = options ?? new GrpcClientOptions();
        http = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public void Dispose() => http.Dispose();

    /// <param name="method">"package.Service/Method".</param>
    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(string method, TRequest request, CallOptions callOptions = default)
        where TRequest : IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new()
    {
        TResponse? response = null;
        await foreach (TResponse message in CallAsync<TResponse>(method, request, callOptions))
        {
            if (response is not null)
                throw new RpcException(StatusCode.Unimplemented, "A unary call returned more than one response");
            response = message;
        }
        return response ?? throw new RpcException(StatusCode.Unimplemented, "A unary call returned no response");
    }

    public IAsyncEnumerable<TResponse> ServerStreamingAsync<TRequest, TResponse>(string method, TRequest request, CallOptions callOptions = default)
        where TRequest : IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new() =>
        CallAsync<TResponse>(method, request, callOptions);

    /// <summary>
    /// Starts a bidirectional call: write requests and read responses at the same time;
    /// <see cref="StreamingCall{TRequest, TResponse}.CompleteAsync"/> half-closes.
    /// </summary>
    public StreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(string method, CallOptions callOptions = default)
        where TRequest : IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new() =>
        new(this, method, callOptions);

    /// <summary>Starts a client-streaming call: write requests, complete, then await <see cref="StreamingCall{TRequest, TResponse}.ResponseAsync"/>.</summary>
    public StreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(string method, CallOptions callOptions = default)
        where TRequest : IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new() =>
        new(this, method, callOptions);

    private async IAsyncEnumerable<TResponse> CallAsync<TResponse>(string method, IMessage request, CallOptions callOptions)
        where TResponse : class, IMessage<TResponse>, new()
    {
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(callOptions.CancellationToken);
        if (callOptions.Timeout is { } timeout)
            cancellation.CancelAfter(timeout);
        var content = new ByteArrayContent(GrpcProtocol.Frame(request));
        using HttpRequestMessage message = CreateRequest(method, content, callOptions);
        Task<HttpResponseMessage> sending = Send(message, cancellation.Token);
        await foreach (TResponse response in ReadResponsesAsync<TResponse>(sending, callOptions, cancellation.Token))
            yield return response;
    }

    internal HttpRequestMessage CreateRequest(string method, HttpContent content, CallOptions callOptions)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, new Uri(address, "/" + method))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        content.Headers.ContentType = new MediaTypeHeaderValue(GrpcProtocol.ContentType);
        message.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        if (callOptions.Timeout is { } sent)
            message.Headers.Add(GrpcProtocol.TimeoutHeader, GrpcProtocol.FormatTimeout(sent));
        if (!string.IsNullOrEmpty(options.BearerToken))
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.BearerToken);
        foreach ((string name, string value) in callOptions.Headers ?? new Dictionary<string, string>())
            message.Headers.TryAddWithoutValidation(name, value);
        return message;
    }

    internal Task<HttpResponseMessage> Send(HttpRequestMessage message, CancellationToken token) =>
        http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token);

    /// <summary>Reads the framed responses, then the status (Trailers-Only headers or trailers).</summary>
    internal async IAsyncEnumerable<TResponse> ReadResponsesAsync<TResponse>(
        Task<HttpResponseMessage> sending, CallOptions callOptions, [EnumeratorCancellation] CancellationToken token)
        where TResponse : class, IMessage<TResponse>, new()
    {
        var parser = new MessageParser<TResponse>(() => new TResponse());
        HttpResponseMessage? response = null;
        Stream? body = null;
        try
        {
            response = await Guard(() => sending, callOptions);
            if (response.StatusCode != HttpStatusCode.OK)
                throw new RpcException(FromHttpStatus(response.StatusCode), $"HTTP status {(int)response.StatusCode}");
            if (ReadStatus(response.Headers) is { } trailersOnly)
            {
                ThrowIfError(trailersOnly);
                yield break;
            }
            body = await Guard(() => response.Content.ReadAsStreamAsync(token), callOptions);
            byte[] header = new byte[GrpcProtocol.FrameHeaderSize];
            while (true)
            {
                int read = await Guard(() => body.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, token).AsTask(), callOptions);
                if (read == 0)
                    break;
                if (read < header.Length)
                    throw new RpcException(StatusCode.Internal, "The response ended inside a frame header");
                if (header[0] != 0)
                    throw new RpcException(StatusCode.Internal, "Compressed response without negotiated compression");
                uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1));
                if (length > (uint)options.MaxReceiveMessageSize)
                    throw new RpcException(StatusCode.ResourceExhausted, $"Received message larger than max ({length} vs. {options.MaxReceiveMessageSize})");
                byte[] payload = new byte[length];
                await Guard(async () => { await body.ReadExactlyAsync(payload, token); return 0; }, callOptions);
                TResponse parsed;
                try
                {
                    parsed = parser.ParseFrom(payload);
                }
                catch (InvalidProtocolBufferException e)
                {
                    throw new RpcException(StatusCode.Internal, "Failed to deserialize response message: " + e.Message);
                }
                yield return parsed;
            }
            (StatusCode, string)? status = ReadStatus(response.TrailingHeaders)
                ?? throw new RpcException(StatusCode.Internal, "The response carried no grpc-status");
            ThrowIfError(status.Value);
        }
        finally
        {
            if (body is not null)
                await body.DisposeAsync();
            response?.Dispose();
        }
    }

    /// <summary>Maps transport failures and cancellation to the status a gRPC client reports.</summary>
    internal static async Task<T> Guard<T>(Func<Task<T>> operation, CallOptions callOptions)
    {
        try
        {
            return await operation();
        }
        catch (OperationCanceledException) when (callOptions.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(StatusCode.Cancelled, "The call was cancelled");
        }
        catch (OperationCanceledException)
        {
            throw new RpcException(StatusCode.DeadlineExceeded, "Deadline exceeded");
        }
        catch (HttpRequestException e)
        {
            throw new RpcException(StatusCode.Unavailable, e.Message);
        }
        catch (IOException e)
        {
            throw new RpcException(StatusCode.Unavailable, e.Message);
        }
    }

    private static (StatusCode, string)? ReadStatus(HttpHeaders headers)
    {
        if (!headers.TryGetValues(GrpcProtocol.StatusHeader, out IEnumerable<string>? values))
            return null;
        string raw = values.FirstOrDefault() ?? "";
        StatusCode code = int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? (StatusCode)value
            : StatusCode.Unknown;
        string detail = headers.TryGetValues(GrpcProtocol.MessageHeader, out IEnumerable<string>? messages)
            ? GrpcProtocol.DecodeMessage(messages.FirstOrDefault())
            : "";
        return (code, detail);
    }

    private static void ThrowIfError((StatusCode Code, string Detail) status)
    {
        if (status.Code != StatusCode.OK)
            throw new RpcException(status.Code, status.Detail);
    }

    /// <summary>grpc/doc/http-grpc-status-mapping.md.</summary>
    private static StatusCode FromHttpStatus(HttpStatusCode status) => (int)status switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };
}
