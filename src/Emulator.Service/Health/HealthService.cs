using Emulator.Service.Rpc;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Service.Health;

/// <summary>
/// The standard grpc.health.v1.Health service. The server as a whole ("") is SERVING
/// from the start; other services appear when their status is set.
/// </summary>
public sealed class HealthService
{
    public const string CheckMethod = "grpc.health.v1.Health/Check";
    public const string WatchMethod = "grpc.health.v1.Health/Watch";

    private readonly Lock gate = new();
    private readonly Dictionary<string, ServingStatus> statuses = new(StringComparer.Ordinal) { [""] = ServingStatus.Serving };
    private TaskCompletionSource changed = NewSignal();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void SetStatus(string service, ServingStatus status)
    {
        TaskCompletionSource signal;
        lock (gate)
        {
            statuses[service] = status;
            signal = changed;
            changed = NewSignal();
        }
        signal.SetResult();
    }

    public ServingStatus? GetStatus(string service)
    {
        lock (gate)
            return statuses.TryGetValue(service, out ServingStatus status) ? status : null;
    }

    /// <summary>Declares the Health service on the server and registers Check and Watch.</summary>
    public void MapTo(GrpcServer server)
    {
        server.AddServices(HealthReflection.Descriptor);
        server.MapUnary<HealthCheckRequest, HealthCheckResponse>(CheckMethod, CheckAsync);
        server.MapServerStreaming<HealthCheckRequest, HealthCheckResponse>(WatchMethod, WatchAsync);
    }

    private Task<HealthCheckResponse> CheckAsync(HealthCheckRequest request, ServerCallContext context) =>
        GetStatus(request.Service) is { } status
            ? Task.FromResult(new HealthCheckResponse { Status = status })
            : throw new RpcException(StatusCode.NotFound, $"Unknown service \"{request.Service}\"");

    private async Task WatchAsync(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responses, ServerCallContext context)
    {
        ServingStatus? last = null;
        while (true)
        {
            ServingStatus current;
            Task next;
            lock (gate)
            {
                current = statuses.TryGetValue(request.Service, out ServingStatus status) ? status : ServingStatus.ServiceUnknown;
                next = changed.Task;
            }
            if (current != last)
            {
                await responses.WriteAsync(new HealthCheckResponse { Status = current });
                last = current;
            }
            await next.WaitAsync(context.CancellationToken);
        }
    }
}
