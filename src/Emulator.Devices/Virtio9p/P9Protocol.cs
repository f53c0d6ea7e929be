namespace Emulator.Devices.Virtio9p;

/// <summary>
/// 9P2000.L message types (the Linux client's net/9p/protocol and include/net/9p/9p.h): each
/// T-message's reply is the next number. The 9P2000 messages Linux still sends on a .L mount
/// (version, attach, walk, read, write, clunk, remove, flush) keep their 9P2000 numbers.
/// </summary>
public static class P9Type
{
    public const byte Rlerror = 7;
    public const byte Tstatfs = 8;
    public const byte Tlopen = 12;
    public const byte Tlcreate = 14;
    public const byte Tsymlink = 16;
    public const byte Tmknod = 18;
    public const byte Trename = 20;
    public const byte Treadlink = 22;
    public const byte Tgetattr = 24;
    public const byte Tsetattr = 26;
    public const byte Txattrwalk = 30;
    public const byte Txattrcreate = 32;
    public const byte Treaddir = 40;
    public const byte Tfsync = 50;
    public const byte Tlock = 52;
    public const byte Tgetlock = 54;
    public const byte Tlink = 70;
    public const byte Tmkdir = 72;
    public const byte Trenameat = 74;
    public const byte Tunlinkat = 76;
    public const byte Tversion = 100;
    public const byte Tauth = 102;
    public const byte Tattach = 104;
    public const byte Tflush = 108;
    public const byte Twalk = 110;
    public const byte Tread = 116;
    public const byte Twrite = 118;
    public const byte Tclunk = 120;
    public const byte Tremove = 122;

    /// <summary>size[4] type[1] tag[2]: every message starts with it.</summary>
    public const int HeaderSize = 7;

    /// <summary>The tag of Tversion, which has none (NOTAG).</summary>
    public const ushort NoTag = 0xffff;

    /// <summary>The afid of an attach without authentication (NOFID).</summary>
    public const uint NoFid = 0xffff_ffff;

    /// <summary>qid.type bits.</summary>
    public const byte QidDirectory = 0x80;
    public const byte QidSymlink = 0x02;
    public const byte QidFile = 0x00;

    /// <summary>The version this server speaks; any other is answered "unknown" (the 9P version negotiation).</summary>
    public const string Version = "9P2000.L";
}

/// <summary>Linux errno values, as Rlerror carries them (asm-generic/errno-base.h, errno.h).</summary>
public static class P9Errno
{
    public const uint EPERM = 1;
    public const uint ENOENT = 2;
    public const uint EIO = 5;
    public const uint EBADF = 9;
    public const uint EAGAIN = 11;
    public const uint ENOMEM = 12;
    public const uint EACCES = 13;
    public const uint EBUSY = 16;
    public const uint EEXIST = 17;
    public const uint EXDEV = 18;
    public const uint ENOTDIR = 20;
    public const uint EISDIR = 21;
    public const uint EINVAL = 22;
    public const uint EMFILE = 24;
    public const uint EFBIG = 27;
    public const uint ENOSPC = 28;
    public const uint EROFS = 30;
    public const uint ERANGE = 34;
    public const uint ENAMETOOLONG = 36;
    public const uint ENOSYS = 38;
    public const uint ENOTEMPTY = 39;
    public const uint ELOOP = 40;
    public const uint EPROTO = 71;
    public const uint EBADMSG = 74;
    public const uint EILSEQ = 84;
    public const uint EOPNOTSUPP = 95;
    public const uint ESTALE = 116;
}

/// <summary>A message that does not parse: too short, a string past its end, bad UTF-8. Answered with Rlerror.</summary>
public sealed class P9FormatException(string message, uint errno = P9Errno.EBADMSG) : Exception(message)
{
    public uint Errno { get; } = errno;
}
