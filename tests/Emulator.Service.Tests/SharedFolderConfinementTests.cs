using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Emulator.Service.Tests;

/// <summary>
/// CreateMachine's shared folders are confined as its disks are: a directory outside the allowed
/// directories, or a link inside that leads out, is PERMISSION_DENIED; a relative path, a missing
/// directory or a bad mount tag is INVALID_ARGUMENT. The kernel is not a kernel: a request whose
/// folders pass fails later, on the kernel's format.
/// </summary>
public sealed class SharedFolderConfinementTests : IAsyncLifetime
{
    private readonly DirectoryInfo root = Directory.CreateTempSubdirectory("emu-9p-confinement-");
    private ControlPlaneHost server = null!;
    private GrpcChannel channel = null!;
    private V1.MachineService.MachineServiceClient client = null!;

    private string Allowed => Path.Combine(root.FullName, "allowed");

    private string Outside => Path.Combine(root.FullName, "outside");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Allowed, "share"));
        Directory.CreateDirectory(Outside);
        Directory.CreateSymbolicLink(Path.Combine(Allowed, "link-out"), Outside);
        File.WriteAllBytes(Path.Combine(Allowed, "kernel"), new byte[4096]);
        server = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
        {
            Machines = new MachineServiceOptions { AllowedDirectories = [Allowed], SnapshotDirectory = Path.Combine(root.FullName, "snapshots") },
        });
        channel = ControlPlaneChannel.Open(server.Address);
        client = new(channel);
    }

    public async Task DisposeAsync()
    {
        channel.Dispose();
        await server.DisposeAsync();
        root.Delete(recursive: true);
    }

    private async Task<RpcException> Create(string path, string tag = "host0")
    {
        var request = new CreateMachineRequest { Id = "shared", Vcpus = 1, MemoryMib = 64, Kernel = Path.Combine(Allowed, "kernel") };
        request.SharedFolders.Add(new SharedFolder { Path = path, MountTag = tag, ReadOnly = true });
        return await Assert.ThrowsAsync<RpcException>(() => client.CreateMachineAsync(request).ResponseAsync);
    }

    [Fact]
    public async Task AFolderInsidePassesAndTheAllowedDirectoryItselfMayBeShared()
    {
        foreach (string path in new[] { Path.Combine(Allowed, "share"), Allowed })
        {
            var e = await Create(path);
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.DoesNotContain("shared folder", e.Status.Detail);
        }
    }

    [Fact]
    public async Task AFolderOutsideOrALinkLeadingOutIsPermissionDenied()
    {
        Assert.Equal(StatusCode.PermissionDenied, (await Create(Outside)).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Create(Path.Combine(Allowed, "link-out"))).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Create(Path.Combine(Allowed, "..", "outside"))).StatusCode);
    }

    [Theory]
    [InlineData("relative/share", "host0", "absolute")]
    [InlineData("/no/such/directory/here", "host0", "not a directory")]
    [InlineData("SHARE", "", "mount tag")]
    [InlineData("SHARE", "a,b", "mount tag")]
    public async Task BadFoldersAreInvalidArgument(string path, string tag, string why)
    {
        var e = await Create(path == "SHARE" ? Path.Combine(Allowed, "share") : path, tag);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(why, e.Status.Detail);
    }
}
