using System.Text;
using System.Text.RegularExpressions;
using Emulator.Cli.Terminal;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>
/// A guest with a host folder mounted, files open in it and its working directory inside it, is
/// snapshotted through the control plane and restored into a new machine after the original is
/// gone: the guest's open file reads on, its working directory still works, a file the host
/// deleted meanwhile fails in the guest (ESTALE) instead of failing the restore.
/// </summary>
public sealed class SharedFolderSnapshotTests : IAsyncLifetime
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private readonly DirectoryInfo snapshots = Directory.CreateTempSubdirectory("emu-9p-snapshots-");
    private readonly DirectoryInfo allowed = Directory.CreateTempSubdirectory("emu-9p-allowed-");
    private ControlPlaneHost server = null!;
    private GrpcChannel channel = null!;
    private Emulator.Service.V1.MachineService.MachineServiceClient client = null!;

    private string Share => Path.Combine(allowed.FullName, "share");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Share, "sub"));
        File.WriteAllText(Path.Combine(Share, "kept.txt"), "kept-content\n");
        File.WriteAllText(Path.Combine(Share, "gone.txt"), "gone-content\n");
        File.WriteAllText(Path.Combine(Share, "sub", "inner.txt"), "inner-content\n");
        server = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
        {
            Machines = new MachineServiceOptions
            {
                AllowedDirectories = [DefaultGuest.ImageDirectory, allowed.FullName],
                MaxMemoryMibPerNode = 2048,
                SnapshotDirectory = snapshots.FullName,
            },
        });
        channel = ControlPlaneChannel.Open(server.Address);
        client = new(channel);
    }

    public async Task DisposeAsync()
    {
        channel.Dispose();
        await server.DisposeAsync();
        snapshots.Delete(recursive: true);
        allowed.Delete(recursive: true);
    }

    [Fact]
    public async Task OpenFilesAndTheWorkingDirectoryInAHostFolderSurviveARestore()
    {
        var request = new CreateMachineRequest
        {
            Id = "share",
            Vcpus = 1,
            MemoryMib = 512,
            Kernel = DefaultGuest.Kernel,
            Initrd = DefaultGuest.Initrd,
            CommandLine = "console=ttyS0 panic=-1",
        };
        request.SharedFolders.Add(new SharedFolder { Path = Share, MountTag = "host0" });
        await client.CreateMachineAsync(request);
        await client.StartMachineAsync(new MachineRef { Id = "share" });
        using (var console = client.AttachConsole())
        {
            await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "share" });
            var reader = new ConsoleReader(console.ResponseStream.ReadAllAsync().GetAsyncEnumerator());
            await reader.WaitFor(Regex.Escape(ConsoleSession.Prompt));
            await Type(console, "\nmodprobe virtio_mmio; mount -t 9p -o trans=virtio host0 /mnt && exec 3< /mnt/kept.txt 4< /mnt/gone.txt && cd /mnt/sub && echo mounted-$((40+2))\n");
            await reader.WaitFor("mounted-42");
            var snap = await client.CreateSnapshotAsync(new CreateSnapshotRequest { MachineId = "share", SnapshotId = "share-snap" });
            Assert.Equal("share-snap", snap.Id);
            await client.StopMachineAsync(new MachineRef { Id = "share" });
        }

        await client.DeleteMachineAsync(new MachineRef { Id = "share" });
        File.Delete(Path.Combine(Share, "gone.txt"));

        await client.RestoreSnapshotAsync(new RestoreSnapshotRequest { SnapshotId = "share-snap", MachineId = "share-restored" });
        using (var console = client.AttachConsole())
        {
            await console.RequestStream.WriteAsync(new ConsoleInput { MachineId = "share-restored" });
            var reader = new ConsoleReader(console.ResponseStream.ReadAllAsync().GetAsyncEnumerator());
            await client.ResumeMachineAsync(new MachineRef { Id = "share-restored" });
            await Type(console, "cat <&3; cat <&4 2>/dev/null; echo gone-status-$?-; cat inner.txt; echo made > made.txt; echo done-$((1+1))\n");
            string output = (await reader.WaitFor("kept-content[\\s\\S]*?done-2")).Value;
            Assert.Contains("inner-content", output);
            Assert.DoesNotContain("gone-content", output);
            Assert.Matches("gone-status-[1-9][0-9]*-", output);
            Assert.Equal("made\n", File.ReadAllText(Path.Combine(Share, "sub", "made.txt")));
            await client.StopMachineAsync(new MachineRef { Id = "share-restored" });
        }

        await client.DeleteMachineAsync(new MachineRef { Id = "share-restored" });
        await client.DeleteSnapshotAsync(new SnapshotRef { Id = "share-snap" });
    }

    private static Task Type(AsyncDuplexStreamingCall<ConsoleInput, ConsoleOutput> console, string text) =>
        console.RequestStream.WriteAsync(new ConsoleInput { Data = ByteString.CopyFromUtf8(text) });

    /// <summary>Reads the console until a pattern matches what arrived since the last match.</summary>
    private sealed class ConsoleReader(IAsyncEnumerator<ConsoleOutput> output)
    {
        private readonly StringBuilder seen = new();
        private int from;

        public async Task<Match> WaitFor(string pattern)
        {
            using var timeout = new CancellationTokenSource(Boot);
            var regex = new Regex(pattern);
            while (true)
            {
                var m = regex.Match(seen.ToString(), from);
                if (m.Success)
                {
                    from = m.Index + m.Length;
                    return m;
                }

                Assert.True(await output.MoveNextAsync().AsTask().WaitAsync(timeout.Token), $"console ended before '{pattern}': {seen}");
                seen.Append(output.Current.Data.ToStringUtf8());
            }
        }
    }
}
