using System.Runtime.InteropServices;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Emulator.Service.Tests;

/// <summary>
/// A request's kernel, initrd and disk paths are confined to the allowed directories by the file
/// they open, not by their names: a symbolic or hard link inside that leads outside is
/// PERMISSION_DENIED, a symbolic link given as the allowed directory allows what lies where it
/// leads, and a relative path is INVALID_ARGUMENT. The files are not kernels: a request whose paths
/// pass fails later, as INVALID_ARGUMENT naming the kernel's format.
/// </summary>
public sealed partial class ConfinementTests : IAsyncLifetime
{
    private readonly DirectoryInfo root = Directory.CreateTempSubdirectory("emu-confinement-");
    private ControlPlaneHost server = null!;
    private GrpcChannel channel = null!;
    private V1.MachineService.MachineServiceClient client = null!;

    /// <summary>The directory the server allows, as given to it: a symbolic link to <see cref="Real"/>.</summary>
    private string Allowed => Path.Combine(root.FullName, "allowed");

    private string Real => Path.Combine(root.FullName, "real");

    private string Outside => Path.Combine(root.FullName, "outside");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Real);
        Directory.CreateDirectory(Outside);
        Directory.CreateSymbolicLink(Allowed, Real);
        File.WriteAllBytes(Path.Combine(Real, "kernel"), new byte[4096]);
        File.WriteAllBytes(Path.Combine(Outside, "secret"), new byte[4096]);

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

    private async Task<RpcException> Create(string kernel, string? disk = null)
    {
        var request = new CreateMachineRequest { Id = "confined", Vcpus = 1, MemoryMib = 64, Kernel = kernel };
        if (disk is not null)
        {
            request.Disks.Add(new Disk { Path = disk });
        }

        return await Assert.ThrowsAsync<RpcException>(() => client.CreateMachineAsync(request).ResponseAsync);
    }

    /// <summary>Asserts the request's paths passed confinement and it failed on the kernel's contents.</summary>
    private static void AssertPassedConfinement(RpcException e)
    {
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.DoesNotContain("outside", e.Status.Detail);
        Assert.DoesNotContain("absolute", e.Status.Detail);
    }

    [Fact]
    public async Task AFileInTheDirectoryASymbolicLinkAllowsPassesByEitherName()
    {
        AssertPassedConfinement(await Create(Path.Combine(Allowed, "kernel")));
        AssertPassedConfinement(await Create(Path.Combine(Real, "kernel")));
    }

    [Fact]
    public async Task ASymbolicLinkInsideToAFileOutsideIsPermissionDenied()
    {
        File.CreateSymbolicLink(Path.Combine(Real, "escape"), Path.Combine(Outside, "secret"));

        var e = await Create(Path.Combine(Allowed, "escape"));

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
    }

    [Fact]
    public async Task ADiskThatIsASymbolicLinkToAFileOutsideIsPermissionDenied()
    {
        File.CreateSymbolicLink(Path.Combine(Real, "disk"), Path.Combine(Outside, "secret"));

        var e = await Create(Path.Combine(Allowed, "kernel"), disk: Path.Combine(Allowed, "disk"));

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
    }

    /// <summary>A FIFO where a kernel or a disk should be: refused at once (opening it for reading would wait for a writer forever).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AFifoAsKernelOrDiskIsRefusedWithoutHangingTheCall(bool asDisk)
    {
        string fifo = Path.Combine(Real, "fifo");
        Assert.True(mkfifo(fifo, 0x1b6) == 0, $"mkfifo(3) failed: {Marshal.GetLastPInvokeErrorMessage()}");

        var e = await Create(asDisk ? Path.Combine(Allowed, "kernel") : fifo, disk: asDisk ? fifo : null).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("not a regular file", e.Status.Detail);
    }

    [Fact]
    public async Task AHardLinkInsideToAFileOutsideIsPermissionDenied()
    {
        string inside = Path.Combine(Real, "linked");
        Assert.True(link(Path.Combine(Outside, "secret"), inside) == 0, $"link(2) failed: {Marshal.GetLastPInvokeErrorMessage()}");

        var e = await Create(inside);

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("hard links", e.Status.Detail);
    }

    [Theory]
    [InlineData("kernel")]
    [InlineData("allowed/kernel")]
    [InlineData("../kernel")]
    public async Task ARelativePathIsInvalidArgumentNotResolvedAgainstTheServersWorkingDirectory(string relative)
    {
        var e = await Create(relative);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("must be absolute", e.Status.Detail);
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int link(string existing, string created);

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int mkfifo(string path, uint mode);
}
