using Emulator.Service.V1;
using Grpc.Core;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Emulator.Service.Tests;

/// <summary>A node that stops (SIGTERM) drains: health NOT_SERVING first, then streams end UNAVAILABLE, then nothing is served.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Health_is_SERVING_then_NOT_SERVING_while_the_node_drains_and_streams_end_Unavailable()
    {
        TestServer server = await TestServer.StartAsync();
        using var channel = server.Channel();
        var machines = TestServer.Machines(channel);
        await machines.CreateMachineAsync(server.Tiny("drained"));

        // Only a safety net for a server that never ends the stream; a cancelled call would end Cancelled.
        using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        using var health = new Grpc.Health.V1.Health.HealthClient(channel).Watch(new HealthCheckRequest { Service = "emulator.v1.MachineService" }, cancellationToken: safety.Token);
        using var watch = machines.WatchMachine(new MachineRef { Id = "drained" }, cancellationToken: safety.Token);
        Assert.True(await health.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.Serving, health.ResponseStream.Current.Status);
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));

        Task stopping = server.DisposeAsync().AsTask();
        Assert.True(await health.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(ServingStatus.NotServing, health.ResponseStream.Current.Status);
        var healthEnded = await Assert.ThrowsAsync<RpcException>(() => health.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Unavailable, healthEnded.StatusCode);
        Assert.Contains("shutting down", healthEnded.Status.Detail);
        var watchEnded = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Unavailable, watchEnded.StatusCode);
        await stopping;

        var refused = await Assert.ThrowsAsync<RpcException>(() => machines.ListMachinesAsync(new ListMachinesRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
    }
}
