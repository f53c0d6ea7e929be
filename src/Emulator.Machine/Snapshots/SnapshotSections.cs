using System.Text.Json;
using Emulator.Machine.Block;

namespace Emulator.Machine.Snapshots;

/// <summary>A disk as a snapshot refers to it: the frozen image (never written again) and its identity then.</summary>
public sealed record SnapshotDisk
{
    /// <summary>The frozen top layer: a raw image or an overlay whose header names what is below it.</summary>
    public required string Path { get; init; }

    /// <summary>
    /// The frozen layer's format, as the machine had it open (machine section version 2; a
    /// version 1 section is read with <see cref="SnapshotMachineSection.AsOfVersion"/>).
    /// </summary>
    public BlockFormat Format { get; init; }

    public bool ReadOnly { get; init; }

    public BlockCacheMode Cache { get; init; }

    /// <summary>File size and last write time when frozen: a restore refuses a file that changed since.</summary>
    public long FileSize { get; init; }

    public long LastWriteUtcTicks { get; init; }
}

/// <summary>A network interface as a snapshot records it: the TAP, opened again by name on restore, and the MAC the guest knows.</summary>
public sealed record SnapshotNetworkInterface
{
    public required string Tap { get; init; }

    /// <summary>"52:54:00:12:34:56".</summary>
    public required string Mac { get; init; }
}

/// <summary>A shared folder as a snapshot records it (machine section version 3): its fids are in the virtio-9p device's state, by path in the folder.</summary>
public sealed record SnapshotSharedFolder
{
    public required string Path { get; init; }

    public required string MountTag { get; init; }

    public bool ReadOnly { get; init; }
}

/// <summary>Section "machine" (first in the file): what to build before the state is put in.</summary>
public sealed record SnapshotMachineSection
{
    /// <summary>1: the first version (every field below); 2: <see cref="SnapshotDisk.Format"/>; 3: <see cref="NetworkInterfaces"/> and <see cref="SharedFolders"/> (none before).</summary>
    public const int CurrentVersion = 3;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>The machine the snapshot was taken of (informational).</summary>
    public string SourceMachine { get; init; } = "";

    public ulong MemoryBytes { get; init; }

    public int Cpus { get; init; }

    public string CommandLine { get; init; } = "";

    public string KernelName { get; init; } = "";

    public string InitrdName { get; init; } = "";

    public bool NoReboot { get; init; }

    public IReadOnlyList<SnapshotDisk> Disks { get; init; } = [];

    /// <summary>Network interfaces, eth0 first (version 3).</summary>
    public IReadOnlyList<SnapshotNetworkInterface> NetworkInterfaces { get; init; } = [];

    /// <summary>Host folders on virtio-9p devices, after the disks (version 3; none before).</summary>
    public IReadOnlyList<SnapshotSharedFolder> SharedFolders { get; init; } = [];

    /// <summary>
    /// This section as read from a section of <paramref name="sectionVersion"/>, with what that
    /// version did not record filled in as it meant it. Version 1 had no disk format: a frozen
    /// layer was an overlay exactly when its name ends in .cow, the name every overlay was given.
    /// </summary>
    public SnapshotMachineSection AsOfVersion(int sectionVersion) => sectionVersion >= 2
        ? this
        : this with
        {
            Disks = [.. Disks.Select(d => d with
            {
                Format = d.Path.EndsWith(CowHeader.Extension, StringComparison.OrdinalIgnoreCase) ? BlockFormat.EmuCow : BlockFormat.Raw,
            })],
        };
}

/// <summary>Section "clock": guest time when the snapshot was taken, and the TSC rate the guest was told.</summary>
public sealed record SnapshotClockSection
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public long NowNanoseconds { get; init; }

    public ulong TscHz { get; init; }
}

/// <summary>Section names and the JSON encoding of the state records.</summary>
internal static class Sections
{
    public const string Machine = "machine";
    public const string Clock = "clock";
    public const string Ram = "ram";
    public const string CpuPrefix = "cpu/";
    public const string DevicePrefix = "device/";

    /// <summary>State records are saved as JSON: named fields, so a field added in a later version is simply absent in older files.</summary>
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static byte[] Encode(object state, Type type) => JsonSerializer.SerializeToUtf8Bytes(state, type, Json);

    public static object Decode(SnapshotReader reader, SnapshotSection section, Type type, int newestVersion)
    {
        if (section.Version < 1 || section.Version > newestVersion)
        {
            throw reader.Fail($"section '{section.Name}' has version {section.Version}; this build reads 1 to {newestVersion}");
        }

        try
        {
            return JsonSerializer.Deserialize(reader.ReadAll(section), type, Json) ?? throw reader.Fail($"section '{section.Name}' is empty");
        }
        catch (JsonException e)
        {
            throw reader.Fail($"section '{section.Name}' cannot be read: {e.Message}", e);
        }
    }
}
