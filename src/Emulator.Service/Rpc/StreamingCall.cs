using System.Net;
using Google.Protobuf;

namespace Emulator.Service.Rpc;

/// <summary>
/// A client-streaming or bidirectional call in progress. Requests are written to the HTTP/2
/// request body as they come while responses are read from the response body: HttpClient
/// sends an HTTP/2 request body concurrently with receiving the response.
/// </summary>
public sealed class StreamingCall<TRequest, TResponse> : IAsyncDisposable
    where TRequest : IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>, new()
{
    private readonly CancellationTokenSource cancellation;
    private readonly RequestStreamContent content = new();
    private readonly HttpRequestMessage message;
    private readonly Task<HttpResponseMessage> sending;
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private bool completed;

    internal StreamingCall(GrpcClient client, string method, CallOptions callOptions)
    {
        cancellation = CancellationTokenSource.CreateLinkedTokenSource(callOptions.CancellationToken);
        if (callOptions.Timeout is { } timeout)
            cancellation.CancelAfter(timeout);
        message = client.CreateRequest(method, content, callOptions);
        sending = client.Send(message, cancellation.Token);
        ResponseStream = client.ReadResponsesAsync<TResponse>(sending, callOptions, cancellation.Token);
    }

    /// <summary>The responses; enumerate once. Ends by throwing <see cref="RpcException"/> unless the status is OK.</summary>
    public IAsyncEnumerable<TResponse> ResponseStream { get; }

    /// <summary>Sends one request. Fails with UNAVAILABLE once the call has ended; its status is in the responses.</summary>
    public async Task WriteAsync(TRequest request)
    {
        await writeLock.WaitAsync(cancellation.Token);
        try
        {
            if (completed)
                throw new InvalidOperationException("The request stream is already complete.");
            Stream body = await OpenAsync();
            try
            {
                await body.WriteAsync(GrpcProtocol.Frame(request), cancellation.Token);
                await body.FlushAsync(cancellation.Token);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or HttpRequestException or OperationCanceledException)
            {
                throw new RpcException(StatusCode.Unavailable, "The request stream is closed: " + e.Message);
            }
        }
        finally
        {
            writeLock.Release();
        }
    }

    /// <summary>Half-closes: tells the server no more requests come.</summary>
    public async Task CompleteAsync()
    {
        await writeLock.WaitAsync(cancellation.Token);
        try
        {
            completed = true;
            content.Complete();
        }
        finally
        {
            writeLock.Release();
        }
    }

    /// <summary>The single response of a client-streaming call.</summary>
    public async Task<TResponse> ResponseAsync()
    {
        TResponse? result = null;
        await foreach (TResponse response in ResponseStream)
        {
            if (result is not null)
                throw new RpcException(StatusCode.Unimplemented, "A client-streaming call returned more than one response");
            result = response;
        }
        return result ?? throw new RpcException(StatusCode.Unimplemented, "A client-streaming call returned no response");
    }

    /// <summary>Cancels the call if it is still running.</summary>
    public async ValueTask DisposeAsync()
    {
        content.Complete();
        await cancellation.CancelAsync();
        try
        {
            using HttpResponseMessage _ = await sending;
        }
        catch (Exception)
        {
            // The call's outcome was for the reader of the responses.
        }
        message.Dispose();
        cancellation.Dispose();
    }

    private async Task<Stream> OpenAsync()
    {
        Task<Stream> opened = content.Stream;
        if (await Task.WhenAny(opened, sending) == opened)
            return await opened;
        // The response headers came first. A Trailers-Only response (an error, or a
        // failed send) ends the call: the body will never open.
        if (!sending.IsCompletedSuccessfully || sending.Result.StatusCode != HttpStatusCode.OK ||
            sending.Result.Headers.Contains(GrpcProtocol.StatusHeader))
            throw new RpcException(StatusCode.Unavailable, "The call has ended; its status is in the responses");
        return await opened.WaitAsync(cancellation.Token);
    }

    private sealed class RequestStreamContent : HttpContent
    {
        private readonly TaskCompletionSource<Stream> stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<Stream> Stream => stream.Task;

        public void Complete() => done.TrySetResult();

        protected override Task SerializeToStreamAsync(Stream target, TransportContext? context) =>
            SerializeToStreamAsync(target, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream target, TransportContext? context, CancellationToken cancellationToken)
        {
            stream.TrySetResult(target);
            // Returning ends the request body (END_STREAM): the half-close.
            await done.Task.WaitAsync(cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
