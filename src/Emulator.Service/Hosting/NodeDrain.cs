using Emulator.Service.Health;
using Microsoft.Extensions.Hosting;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Service.Hosting;

/// <summary>
/// How a node stops (SIGTERM, Ctrl-C, <see cref="ControlPlaneHost.StopAsync"/>): first health
/// reports NOT_SERVING for the server and every service while calls are still answered (for
/// <see cref="ControlPlaneOptions.DrainDelay"/>), then the long streams (WatchMachine, AttachConsole,
/// Health.Watch) end with UNAVAILABLE, then Kestrel stops taking calls and waits for those under way.
/// A lifecycle service's StoppingAsync runs before any hosted service's StopAsync, so before Kestrel's.
/// </summary>
internal sealed class NodeDrain(HealthService health, ControlPlaneOptions options) : IHostedLifecycleService
{
    private readonly CancellationTokenSource streams = new();

    /// <summary>Cancelled when streams must end.</summary>
    public CancellationToken Streams => streams.Token;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        health.SetAll(ServingStatus.NotServing);
        if (options.DrainDelay > TimeSpan.Zero)
        {
            await Task.Delay(options.DrainDelay, cancellationToken).ConfigureAwait(false);
        }

        await streams.CancelAsync().ConfigureAwait(false);
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
