using Grpc.Core;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Service.Health;

/// <summary>
/// The standard grpc.health.v1.Health service, per service: the server as a whole ("") and each
/// service the node maps are SERVING once it serves, NOT_SERVING while it drains. Ours rather than
/// Grpc.HealthCheck's HealthServiceImpl: a Watch must be sure to send NOT_SERVING before the drain
/// ends it (HealthServiceImpl's watchers may be ended first), and Grpc.AspNetCore.HealthChecks
/// learns statuses by polling on a timer.
/// </summary>
public sealed class HealthService : Grpc.Health.V1.Health.HealthBase
{
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

    /// <summary>Sets the server and every known service to <paramref name="status"/> (a drain).</summary>
    public void SetAll(ServingStatus status)
    {
        TaskCompletionSource signal;
        lock (gate)
        {
            foreach (string service in statuses.Keys.ToList())
            {
                statuses[service] = status;
            }

            signal = changed;
            changed = NewSignal();
        }

        signal.SetResult();
    }

    public ServingStatus? GetStatus(string service)
    {
        lock (gate)
        {
            return statuses.TryGetValue(service, out ServingStatus status) ? status : null;
        }
    }

    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
        GetStatus(request.Service) is { } status
            ? Task.FromResult(new HealthCheckResponse { Status = status })
            : throw new RpcException(new Status(StatusCode.NotFound, $"unknown service \"{request.Service}\""));

    public override async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responses, ServerCallContext context)
    {
        ServingStatus? last = null;
        while (true)
        {
            (ServingStatus current, Task next) = Current(request.Service);
            if (current != last)
            {
                await responses.WriteAsync(new HealthCheckResponse { Status = current }).ConfigureAwait(false);
                last = current;
            }

            try
            {
                await next.WaitAsync(context.CancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // A drain sets NOT_SERVING, then ends the streams: the watcher hears the former first.
                if (Current(request.Service).Status is var final && final != last)
                {
                    await responses.WriteAsync(new HealthCheckResponse { Status = final }).ConfigureAwait(false);
                }

                throw;
            }
        }
    }

    private (ServingStatus Status, Task Next) Current(string service)
    {
        lock (gate)
        {
            return (statuses.TryGetValue(service, out ServingStatus status) ? status : ServingStatus.ServiceUnknown, changed.Task);
        }
    }
}
