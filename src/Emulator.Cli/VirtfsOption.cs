using Emulator.Machine.SharedFolders;

namespace Emulator.Cli;

/// <summary>QEMU's -virtfs: a host folder shared with the guest over virtio-9p.</summary>
public static class VirtfsOption
{
    public const string Help = "a host folder on virtio-9p: local,path=DIR,mount_tag=TAG,security_model=none[,readonly=on] (QEMU's spelling; repeatable); the guest runs mount -t 9p -o trans=virtio TAG /mnt";

    /// <summary>
    /// Parses -virtfs local,path=DIR,mount_tag=TAG,security_model=none[,readonly=on][,id=ID]. Only
    /// the "local" driver and security_model=none (files keep the host's owners and modes) are
    /// supported: mapped-xattr, mapped-file and passthrough are refused by name. A comma inside
    /// the path is written twice, as in QEMU. Returns an error message, or null with the share.
    /// </summary>
    public static string? Parse(string text, out SharedFolderConfig share)
    {
        share = null!;
        string? path = null, tag = null, model = null;
        bool readOnly = false;
        var parts = MachineOptions.SplitOptionList(text);
        if (parts.Count == 0 || parts[0] != "local")
        {
            return $"-virtfs '{text}': the first field is the driver, and emu has 'local' (example: -virtfs local,path=/srv/share,mount_tag=host0,security_model=none)";
        }

        foreach (string part in parts.Skip(1))
        {
            int eq = part.IndexOf('=');
            string key = eq < 0 ? part : part[..eq], value = eq < 0 ? "" : part[(eq + 1)..];
            switch (key)
            {
                case "path": path = value; break;
                case "mount_tag": tag = value; break;
                case "security_model": model = value; break;
                case "readonly" when value is "on" or "true" or "yes" or "": readOnly = true; break;
                case "readonly" when value is "off" or "false" or "no": readOnly = false; break;
                case "id": break;
                default: return $"-virtfs: unsupported option '{part}' (emu takes path, mount_tag, security_model=none, readonly and id)";
            }
        }

        if (string.IsNullOrEmpty(path) || string.IsNullOrEmpty(tag))
        {
            return $"-virtfs '{text}' needs path=DIR and mount_tag=TAG";
        }

        if (model is null)
        {
            return "-virtfs needs security_model= (emu supports security_model=none: files keep the host's owners and modes)";
        }

        if (model != "none")
        {
            return $"-virtfs security_model={model} is not supported: emu supports security_model=none only (no mapped-xattr, mapped-file or passthrough)";
        }

        if (SharedFolderConfig.CheckTag(tag) is { } bad)
        {
            return $"-virtfs: {bad}";
        }

        if (!Directory.Exists(path))
        {
            return $"-virtfs path={path} is not a directory";
        }

        share = new SharedFolderConfig(Path.GetFullPath(path), tag, readOnly);
        return null;
    }
}
