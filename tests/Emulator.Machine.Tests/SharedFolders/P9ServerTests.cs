using System.Buffers.Binary;
using System.Text;
using Emulator.Devices.Virtio9p;
using Emulator.Machine.SharedFolders;
using Xunit;

namespace Emulator.Machine.Tests.SharedFolders;

/// <summary>
/// The 9P2000.L server at the message level, on a real temporary directory: the operations a
/// Linux client sends, and the ways a guest could try to leave the share. The share is
/// "outside/share"; "outside/secret.txt" is the host file no request may reach.
/// </summary>
public sealed class P9ServerTests : IDisposable
{
    private const uint Root = 1;
    private const string Secret = "host secret, not for the guest";
    private readonly string outside = Path.Combine(Path.GetTempPath(), $"emu-9p-{Guid.NewGuid():N}");
    private readonly string share;
    private readonly List<P9Server> servers = [];

    public P9ServerTests()
    {
        share = Path.Combine(outside, "share");
        Directory.CreateDirectory(share);
        File.WriteAllText(Path.Combine(outside, "secret.txt"), Secret);
        File.WriteAllText(Path.Combine(share, "hello.txt"), "written by the host\n");
        Directory.CreateDirectory(Path.Combine(share, "dir"));
        File.WriteAllText(Path.Combine(share, "dir", "inner.txt"), "inner");
    }

    public void Dispose()
    {
        servers.ForEach(s => s.Dispose());
        Directory.Delete(outside, recursive: true);
    }

    private P9TestClient Connect(bool readOnly = false, P9ServerLimits? limits = null)
    {
        var server = new P9Server(share, readOnly, limits);
        servers.Add(server);
        var client = new P9TestClient(server);
        client.Version();
        client.Attach(Root);
        return client;
    }

    private string ReadFile(P9TestClient c, uint fid, params string[] path)
    {
        c.Walk(Root, fid, path);
        c.Open(fid, 0);
        var data = c.Read(fid, 0, 4096);
        c.Clunk(fid);
        return Encoding.UTF8.GetString(data);
    }

    [Fact]
    public void VersionAgreesOnTheSmallerMsizeAndRefusesOtherVersions()
    {
        var client = new P9TestClient(new P9Server(share, false, new P9ServerLimits { MaxMsize = 8192 }));
        servers.Add(client.Server);
        Assert.Equal(8192u, client.Version(512 * 1024));
        Assert.Equal(8192u, client.Version(65536, "9P2000.u")); // answered "unknown"
        var fresh = new P9TestClient(new P9Server(share, false));
        servers.Add(fresh.Server);
        Assert.Equal(6000u, fresh.Version(6000));
    }

    [Fact]
    public void MessagesBeforeVersionAreRefused()
    {
        var client = new P9TestClient(new P9Server(share, false));
        servers.Add(client.Server);
        client.Fails(P9Errno.EPROTO, P9Type.Tattach, w => w.U32(Root).U32(P9Type.NoFid).Str("").Str("").U32(0));
    }

    [Fact]
    public void ReadsWritesListsRenamesAndDeletes()
    {
        var c = Connect();
        Assert.Equal("written by the host\n", ReadFile(c, 2, "hello.txt"));
        Assert.Equal("inner", ReadFile(c, 2, "dir", "inner.txt"));

        // Create a file in dir and write it: the host reads it.
        c.Walk(Root, 3, "dir");
        c.Create(3, "new.txt");
        Assert.Equal(9u, c.Write(3, 0, Encoding.UTF8.GetBytes("from 9p!\n")));
        c.Clunk(3);
        Assert.Equal("from 9p!\n", File.ReadAllText(Path.Combine(share, "dir", "new.txt")));

        // List the directory.
        c.Walk(Root, 4, "dir");
        c.Open(4, 0x10000);
        var names = c.ReadDir(4, 64); // small pieces: several Treaddir with offsets
        c.Clunk(4);
        Assert.Equal(["inner.txt", "new.txt"], names.Where(n => n is not ("." or "..")).Order());

        // mkdir, renameat, rename, unlinkat.
        c.Ok(P9Type.Tmkdir, w => w.U32(Root).Str("made").U32(0x1ed).U32(0));
        Assert.True(Directory.Exists(Path.Combine(share, "made")));
        c.Walk(Root, 5, "made");
        c.Ok(P9Type.Trenameat, w => w.U32(Root).Str("hello.txt").U32(5).Str("moved.txt"));
        Assert.Equal("written by the host\n", File.ReadAllText(Path.Combine(share, "made", "moved.txt")));
        c.Walk(5, 6, "moved.txt");
        c.Ok(P9Type.Trename, w => w.U32(6).U32(Root).Str("back.txt"));
        Assert.True(File.Exists(Path.Combine(share, "back.txt")));
        c.Ok(P9Type.Tunlinkat, w => w.U32(Root).Str("back.txt").U32(0));
        Assert.False(File.Exists(Path.Combine(share, "back.txt")));
        c.Ok(P9Type.Tunlinkat, w => w.U32(Root).Str("made").U32(0x200));
        Assert.False(Directory.Exists(Path.Combine(share, "made")));

        // getattr of a file: size and regular-file mode.
        c.Walk(Root, 7, "dir", "inner.txt");
        var attr = c.Ok(P9Type.Tgetattr, w => w.U32(7).U64(0x7ff));
        Assert.Equal(0x8000u, BinaryPrimitives.ReadUInt32LittleEndian(attr.AsSpan(8 + 13)) & 0xf000);
        Assert.Equal(5ul, BinaryPrimitives.ReadUInt64LittleEndian(attr.AsSpan(8 + 13 + 12 + 16)));

        // setattr truncates; statfs and fsync answer.
        c.Ok(P9Type.Tsetattr, w => w.U32(7).U32(0x8).U32(0).U32(0).U32(0).U64(2).U64(0).U64(0).U64(0).U64(0));
        Assert.Equal("in", File.ReadAllText(Path.Combine(share, "dir", "inner.txt")));
        c.Ok(P9Type.Tstatfs, w => w.U32(Root));
        c.Ok(P9Type.Tfsync, w => w.U32(7).U32(0));
    }

    [Fact]
    public void DotDotAtTheRootStaysAtTheRoot()
    {
        var c = Connect();
        var rootQid = c.Attach(9);
        var qids = c.Walk(Root, 2, "..", "..", "..");
        Assert.All(qids, q => Assert.Equal(rootQid, q));
        Assert.Equal(P9Errno.ENOENT, c.WalkError(2, 3, "secret.txt"));

        // ".." from a subdirectory goes to its parent in the share, and no further.
        var dirThenUp = c.Walk(Root, 4, "dir", "..", "..", "hello.txt");
        Assert.Equal(rootQid, dirThenUp[1]);
        Assert.Equal(rootQid, dirThenUp[2]);
        c.Open(4, 0);
        Assert.Equal("written by the host\n", Encoding.UTF8.GetString(c.Read(4, 0, 100)));
    }

    [Theory]
    [InlineData("../secret.txt")]
    [InlineData("dir/inner.txt")]
    [InlineData("/etc")]
    [InlineData("a\0b")]
    [InlineData(".")]
    [InlineData("")]
    public void NamesThatAreNotOneEntryAreRefused(string name)
    {
        var c = Connect();
        Assert.Equal(P9Errno.EINVAL, c.WalkError(Root, 2, name));
        c.Fails(P9Errno.EINVAL, P9Type.Tlcreate, w => w.U32(Root).Str(name).U32(0x42).U32(0x1a4).U32(0));
        c.Fails(P9Errno.EINVAL, P9Type.Tmkdir, w => w.U32(Root).Str(name).U32(0x1ed).U32(0));
        c.Fails(P9Errno.EINVAL, P9Type.Tunlinkat, w => w.U32(Root).Str(name).U32(0));
        c.Fails(P9Errno.EINVAL, P9Type.Trenameat, w => w.U32(Root).Str("hello.txt").U32(Root).Str(name));
        Assert.True(File.Exists(Path.Combine(share, "hello.txt")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SymlinksOutAreReturnedToTheGuestNeverFollowed(bool absolute)
    {
        string target = absolute ? outside : "..";
        File.CreateSymbolicLink(Path.Combine(share, "out"), target);
        File.CreateSymbolicLink(Path.Combine(share, "secretlink"), absolute ? Path.Combine(outside, "secret.txt") : "../secret.txt");
        var c = Connect();

        // Walking reaches the link itself (a symlink qid); walking through it fails.
        var qids = c.Walk(Root, 2, "out");
        Assert.Equal(P9Type.QidSymlink, qids[0].Type);
        var partial = c.Send(P9Type.Twalk, w => w.U32(Root).U32(3).U16(2).Str("out").Str("secret.txt"), out uint errno);
        Assert.Equal(0u, errno);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(partial)); // only "out": newfid is not made
        c.Fails(P9Errno.EBADF, P9Type.Tgetattr, w => w.U32(3).U64(0x7ff));

        // The guest reads the link's text and resolves it itself.
        var link = c.Ok(P9Type.Treadlink, w => w.U32(2));
        Assert.Equal(target, P9TestClient.ReadStr(link, 0));

        // Opening a link, creating through it, or changing its target's mode fail.
        c.Walk(Root, 4, "secretlink");
        c.Fails(P9Errno.ELOOP, P9Type.Tlopen, w => w.U32(4).U32(0));
        c.Fails(P9Errno.ELOOP, P9Type.Tlopen, w => w.U32(4).U32(2));
        c.Fails(P9Errno.EOPNOTSUPP, P9Type.Tsetattr, w => w.U32(4).U32(0x9).U32(0x1ff).U32(0).U32(0).U64(0).U64(0).U64(0).U64(0).U64(0));
        c.Send(P9Type.Tlcreate, w => w.U32(2).Str("x").U32(0x42).U32(0x1a4).U32(0), out uint createErrno);
        Assert.NotEqual(0u, createErrno);
        c.Send(P9Type.Tlcreate, w => w.U32(Root).Str("secretlink").U32(0x242).U32(0x1a4).U32(0), out uint overErrno);
        Assert.NotEqual(0u, overErrno);
        c.Fails(P9Errno.EPERM, P9Type.Tlink, w => w.U32(Root).U32(4).Str("hard"));

        Assert.Equal(Secret, File.ReadAllText(Path.Combine(outside, "secret.txt")));
        Assert.False(File.Exists(Path.Combine(outside, "x")));
        Assert.Equal(["secret.txt", "share"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void SymlinksTheGuestMakesAreNeverFollowedByTheHost()
    {
        var c = Connect();
        c.Ok(P9Type.Tsymlink, w => w.U32(Root).Str("etc").Str("/etc").U32(0));
        c.Ok(P9Type.Tsymlink, w => w.U32(Root).Str("up").Str("../..").U32(0));
        Assert.Equal("/etc", new FileInfo(Path.Combine(share, "etc")).LinkTarget);
        Assert.Equal(0u, c.WalkError(Root, 2, "etc"));
        Assert.Equal(P9Errno.ENOTDIR, c.WalkErrorAfter(Root, 3, "etc", "passwd"));
        Assert.Equal(P9Errno.ENOTDIR, c.WalkErrorAfter(Root, 4, "up", "secret.txt"));
        c.Fails(P9Errno.EBADF, P9Type.Tgetattr, w => w.U32(3).U64(0x7ff));
        c.Fails(P9Errno.ELOOP, P9Type.Tlopen, w => w.U32(2).U32(0));
    }

    [Fact]
    public async Task ARenameRacingALookupNeverLeadsOut()
    {
        // The host swaps "dir" between a real directory and a link to the directory that holds the
        // secret, as fast as it can, while the server walks dir/secret.txt and reads what it opens.
        File.WriteAllText(Path.Combine(share, "dir", "secret.txt"), "inside");
        var c = Connect();
        string dir = Path.Combine(share, "dir"), aside = Path.Combine(share, "aside"), link = Path.Combine(share, "swap");
        File.CreateSymbolicLink(link, outside);
        using var stop = new CancellationTokenSource();
        var swapper = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                // rename(2) itself: .NET's File.Move looks at what a link leads to first.
                Assert.Equal(0, Libc.Rename(dir, aside));
                Assert.Equal(0, Libc.Rename(link, dir));
                Assert.Equal(0, Libc.Rename(dir, link));
                Assert.Equal(0, Libc.Rename(aside, dir));
            }
        });

        try
        {
            for (int i = 0; i < 3000; i++)
            {
                var body = c.Send(P9Type.Twalk, w => w.U32(Root).U32(2).U16(2).Str("dir").Str("secret.txt"), out uint errno);
                if (errno != 0 || BinaryPrimitives.ReadUInt16LittleEndian(body) != 2)
                {
                    continue;
                }

                c.Send(P9Type.Tlopen, w => w.U32(2).U32(0), out uint openErrno);
                if (openErrno == 0)
                {
                    Assert.Equal("inside", Encoding.UTF8.GetString(c.Read(2, 0, 100)));
                }

                c.Clunk(2);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await swapper;
        }

        // Every round of the swapper put the directory back: the same walk now reaches it.
        Assert.Equal("inside", ReadFile(c, 2, "dir", "secret.txt"));
        Assert.Equal(Secret, File.ReadAllText(Path.Combine(outside, "secret.txt")));
    }

    [Fact]
    public void AReadOnlyShareRefusesEveryChange()
    {
        var c = Connect(readOnly: true);
        Assert.Equal("written by the host\n", ReadFile(c, 2, "hello.txt"));
        c.Walk(Root, 3, "hello.txt");
        c.Fails(P9Errno.EROFS, P9Type.Tlopen, w => w.U32(3).U32(1));
        c.Fails(P9Errno.EROFS, P9Type.Tlopen, w => w.U32(3).U32(2));
        c.Fails(P9Errno.EROFS, P9Type.Tlopen, w => w.U32(3).U32(0x200));
        c.Fails(P9Errno.EROFS, P9Type.Tsetattr, w => w.U32(3).U32(0x8).U32(0).U32(0).U32(0).U64(0).U64(0).U64(0).U64(0).U64(0));
        c.Fails(P9Errno.EROFS, P9Type.Tlcreate, w => w.U32(Root).Str("new").U32(0x42).U32(0x1a4).U32(0));
        c.Fails(P9Errno.EROFS, P9Type.Tmkdir, w => w.U32(Root).Str("new").U32(0x1ed).U32(0));
        c.Fails(P9Errno.EROFS, P9Type.Tsymlink, w => w.U32(Root).Str("new").Str("x").U32(0));
        c.Fails(P9Errno.EROFS, P9Type.Tlink, w => w.U32(Root).U32(3).Str("new"));
        c.Fails(P9Errno.EROFS, P9Type.Tmknod, w => w.U32(Root).Str("new").U32(0x11a4).U32(0).U32(0).U32(0));
        c.Fails(P9Errno.EROFS, P9Type.Tunlinkat, w => w.U32(Root).Str("hello.txt").U32(0));
        c.Fails(P9Errno.EROFS, P9Type.Trenameat, w => w.U32(Root).Str("hello.txt").U32(Root).Str("new"));
        c.Fails(P9Errno.EROFS, P9Type.Trename, w => w.U32(3).U32(Root).Str("new"));
        c.Fails(P9Errno.EROFS, P9Type.Tremove, w => w.U32(3));
        c.Open(Root, 0x10000); // reading the directory is allowed
        Assert.Equal(["dir", "hello.txt"], c.ReadDir(Root).Where(n => n is not ("." or "..")).Order());
        Assert.Equal("written by the host\n", File.ReadAllText(Path.Combine(share, "hello.txt")));
        Assert.Equal(["dir", "hello.txt"], Directory.GetFileSystemEntries(share).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void FidsAndOpenFilesAreBounded()
    {
        var c = Connect(limits: new P9ServerLimits { MaxFids = 4, MaxOpenFiles = 2 });
        c.Walk(Root, 2, "hello.txt");
        c.Walk(Root, 3, "hello.txt");
        c.Walk(Root, 4, "hello.txt");
        Assert.Equal(P9Errno.EMFILE, c.WalkError(Root, 5, "hello.txt"));
        c.Open(2, 0);
        c.Open(3, 0);
        c.Fails(P9Errno.EMFILE, P9Type.Tlopen, w => w.U32(4).U32(0));
        c.Clunk(2);
        c.Open(4, 0);
        c.Walk(Root, 5, "hello.txt");
        Assert.Equal(4, c.Server.FidCount);
        Assert.Equal(2, c.Server.OpenFileCount);
    }

    [Fact]
    public void MalformedMessagesGetRlerrorNeverAnException()
    {
        var c = Connect();
        long before = c.Server.Malformed;

        // Too short for a header.
        Assert.Equal(P9Type.Rlerror, c.Raw([3, 0, 0, 0, 100]).Type);

        // A string whose length runs past the end.
        var walk = new P9Writer(P9Type.Twalk, 7).U32(Root).U32(2).U16(1).U16(500).Bytes("abc"u8).Finish();
        var (type, tag, body) = c.Raw(walk);
        Assert.Equal((P9Type.Rlerror, (ushort)7, P9Errno.EBADMSG), (type, tag, BinaryPrimitives.ReadUInt32LittleEndian(body)));

        // Fields missing, unknown type, unknown fid, write count beyond the data, too many names, bad UTF-8.
        c.Fails(P9Errno.EBADMSG, P9Type.Tread, w => w.U32(Root));
        c.Fails(P9Errno.EOPNOTSUPP, 250, w => w.U32(1));
        c.Fails(P9Errno.EOPNOTSUPP, 126, w => w.U32(1)); // Twstat, 9P2000 only
        c.Fails(P9Errno.EBADF, P9Type.Tgetattr, w => w.U32(999).U64(0));
        c.Fails(P9Errno.EBADF, P9Type.Tclunk, w => w.U32(999));
        c.Walk(Root, 3, "hello.txt");
        c.Open(3, 2);
        c.Fails(P9Errno.EBADMSG, P9Type.Twrite, w => w.U32(3).U64(0).U32(1000).Bytes("short"u8));
        c.Fails(P9Errno.EINVAL, P9Type.Twalk, w => { w.U32(Root).U32(4).U16(17); for (int i = 0; i < 17; i++) { w.Str("dir"); } });
        c.Fails(P9Errno.EILSEQ, P9Type.Twalk, w => w.U32(Root).U32(4).U16(1).U16(2).Bytes([0xff, 0xfe]));
        c.Fails(P9Errno.EINVAL, P9Type.Tread, w => w.U32(3).U64(ulong.MaxValue).U32(10));
        c.Fails(P9Errno.EOPNOTSUPP, P9Type.Txattrwalk, w => w.U32(Root).U32(4).Str("user.x"));
        c.Fails(P9Errno.EOPNOTSUPP, P9Type.Txattrcreate, w => w.U32(Root).Str("user.x").U64(0).U32(0));

        // A read never answers more than the guest's buffers hold.
        File.WriteAllBytes(Path.Combine(share, "big"), new byte[100_000]);
        c.Walk(Root, 5, "big");
        c.Open(5, 0);
        var small = c.Ok(P9Type.Tread, w => w.U32(5).U64(0).U32(100_000), capacity: 1000);
        Assert.Equal(1000 - 11, small.Length - 4);
        Assert.True(c.Server.Malformed > before);
    }

    [Fact]
    public void ASavedSessionIsReopenedByPathAndVanishedPathsGoStale()
    {
        var c = Connect();
        c.Walk(Root, 2, "dir");
        c.Walk(2, 3, "inner.txt");
        c.Open(3, 0);
        c.Walk(Root, 4, "hello.txt");
        c.Walk(Root, 5, "dir");
        c.Ok(P9Type.Trenameat, w => w.U32(Root).Str("dir").U32(Root).Str("renamed"));
        var session = c.Server.Save();
        Assert.Contains(new P9SavedFid(3, "renamed/inner.txt", 0), session.Fids);
        Assert.Contains(new P9SavedFid(Root, "", -1), session.Fids);

        File.Delete(Path.Combine(share, "hello.txt"));
        var restored = new P9Server(share, false);
        servers.Add(restored);
        Assert.Equal(1, restored.Restore(session));
        var r = new P9TestClient(restored);
        Assert.Equal("inner", Encoding.UTF8.GetString(r.Read(3, 0, 100)));
        r.Fails(P9Errno.ESTALE, P9Type.Tgetattr, w => w.U32(4).U64(0x7ff));
        r.Clunk(4);
        r.Walk(5, 6, "inner.txt");

        // A saved path that would leave the share is never opened.
        var hostile = new P9Session(65536, [new P9SavedFid(1, "../secret.txt", -1), new P9SavedFid(2, "renamed/../../secret.txt", 0)]);
        var other = new P9Server(share, false);
        servers.Add(other);
        Assert.Equal(2, other.Restore(hostile));
    }
}

internal static partial class Libc
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "rename", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Rename(string from, string to);
}
