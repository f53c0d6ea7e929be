using Emulator.Service.V1;
using Grpc.Core;

namespace Emulator.Service.Tests;

/// <summary>
/// A call whose deadline passes stops and leaves nothing half-made. The service is held at its last
/// step before the result is kept (MachineService.BeforeCommit) until the call's token is cancelled,
/// so the deadline always passes there, however fast or slow the machine is: the outcome does not
/// depend on timing. A later call that needs the same lock runs after the held call has cleaned up.
/// </summary>
public sealed class DeadlineTests : IAsyncLifetime
{
    private TestServer server = null!;

    public async Task InitializeAsync() => server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await server.DisposeAsync();

    /// <summary>Holds calls of <paramref name="held"/> until their token is cancelled; others pass.</summary>
    private void Hold(string held) =>
        server.Host.Machines.BeforeCommit = (call, cancel) => call == held ? Task.Delay(Timeout.Infinite, cancel) : Task.CompletedTask;

    private static DateTime In50Milliseconds => DateTime.UtcNow.AddMilliseconds(50);

    [Fact]
    public async Task A_CreateMachine_past_its_deadline_is_DeadlineExceeded_and_leaves_no_machine()
    {
        using var channel = server.Channel();
        var machines = TestServer.Machines(channel);
        Hold("CreateMachine");
        var e = await Assert.ThrowsAsync<RpcException>(() => machines.CreateMachineAsync(server.Tiny("late"), deadline: In50Milliseconds).ResponseAsync);
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);

        Hold("nothing");
        await machines.CreateMachineAsync(server.Tiny("after")); // waits for the held call's lock
        var left = await machines.ListMachinesAsync(new ListMachinesRequest());
        Assert.Equal(["after"], left.Machines.Select(m => m.Id));
    }

    [Fact]
    public async Task A_CreateSnapshot_past_its_deadline_is_DeadlineExceeded_and_leaves_no_snapshot_file()
    {
        using var channel = server.Channel();
        var machines = TestServer.Machines(channel);
        await machines.CreateMachineAsync(server.Tiny("snapped"));
        await machines.StartMachineAsync(new MachineRef { Id = "snapped" });
        await machines.PauseMachineAsync(new MachineRef { Id = "snapped" });
        Hold("CreateSnapshot");
        var e = await Assert.ThrowsAsync<RpcException>(() => machines.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "snapped", SnapshotId = "late" }, deadline: In50Milliseconds).ResponseAsync);
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);

        Hold("nothing");
        await machines.ResumeMachineAsync(new MachineRef { Id = "snapped" }); // waits for the held call's lock on the machine
        Assert.Empty((await machines.ListSnapshotsAsync(new ListSnapshotsRequest())).Snapshots);
        Assert.Empty(Directory.EnumerateFiles(server.SnapshotDirectory, "*.emusnap"));

        // The same snapshot with time to finish is made and kept.
        var taken = await machines.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "snapped", SnapshotId = "in-time" });
        Assert.Equal("in-time", taken.Id);
        await machines.StopMachineAsync(new MachineRef { Id = "snapped" });
    }

    [Fact]
    public async Task An_unexpected_failure_is_Unknown_without_its_message_and_leaves_no_machine()
    {
        using var channel = server.Channel();
        var machines = TestServer.Machines(channel);
        server.Host.Machines.BeforeCommit = (_, _) => throw new InvalidOperationException("secret host detail");
        var e = await Assert.ThrowsAsync<RpcException>(() => machines.CreateMachineAsync(server.Tiny("failing")).ResponseAsync);
        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.DoesNotContain("secret", e.Status.Detail);
        Hold("nothing");
        Assert.Empty((await machines.ListMachinesAsync(new ListMachinesRequest())).Machines);
    }

    [Fact]
    public async Task A_StartMachine_whose_client_has_gone_before_it_starts_leaves_the_machine_CREATED()
    {
        using var channel = server.Channel();
        var machines = TestServer.Machines(channel);
        await machines.CreateMachineAsync(server.Tiny("not-started"));
        using var gone = new CancellationTokenSource();
        gone.Cancel();
        var e = await Assert.ThrowsAsync<RpcException>(() => machines.StartMachineAsync(new MachineRef { Id = "not-started" }, cancellationToken: gone.Token).ResponseAsync);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.Equal(MachineState.Created, (await machines.GetMachineAsync(new MachineRef { Id = "not-started" })).State);
    }
}
