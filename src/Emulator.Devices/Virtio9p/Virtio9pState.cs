using System.Text.Json;
using Emulator.Devices.State;
using Emulator.Devices.Virtio;

namespace Emulator.Devices.Virtio9p;

public sealed partial class Virtio9p
{
    /// <summary>The most fids a saved session may name (above any per-machine bound a backend sets).</summary>
    public const int MaxSavedFids = 1 << 16;

    private P9Session session = new(0, []);

    /// <summary>
    /// Saved state, inside its transport's section (field Device). Version 1: the 9P session (the
    /// negotiated msize and the fid table by path relative to the share, JSON), fetched from the
    /// backend before the save; taken only with no message in flight (<see cref="InFlight"/> 0).
    /// On load the table is checked (fid numbers unique, each path made of plain names: no empty,
    /// "." or ".." component, no NUL) before the backend re-opens the fids, confined as walks are.
    /// </summary>
    public static StateDescription<Virtio9p> SavedState { get; } = new StateDescription<Virtio9p>("virtio-9p", version: 1)
        .BeforeSave(d => d.session = d.backend.Save())
        .Int("Msize", d => d.session.Msize, (d, v) => d.session = d.session with { Msize = v })
        .Bytes("Fids", d => JsonSerializer.SerializeToUtf8Bytes(d.session.Fids), (d, v) => d.session = d.session with { Fids = DecodeFids(v) ?? [] }, maxLength: 64 << 20)
        .Int("MalformedChains", d => d.MalformedChains, (d, v) => d.MalformedChains = v, StateRule.Within(0, long.MaxValue))
        .Check("Fids", (d, s) => DecodeFids(s.Get<byte[]>("Fids")) is null
            ? $"a JSON list of at most {MaxSavedFids} fids, each with a unique number, a path of plain names and open flags (-1 when not open)"
            : null)
        .AfterLoad(d => d.backend.Restore(d.session));

    IStateShape? IVirtioDevice.SavedState => SavedState;

    /// <summary>The fid table of a saved state, or null when it is not a valid one.</summary>
    private static List<P9SavedFid>? DecodeFids(byte[] json)
    {
        List<P9SavedFid>? fids;
        try
        {
            fids = JsonSerializer.Deserialize<List<P9SavedFid>>(json);
        }
        catch (JsonException)
        {
            return null;
        }

        if (fids is null || fids.Count > MaxSavedFids || fids.Any(f => f is null || f.Path is null || !IsPlainPath(f.Path) || f.OpenFlags < -1)
            || fids.Select(f => f.Fid).Distinct().Count() != fids.Count)
        {
            return null;
        }

        return fids;
    }

    private static bool IsPlainPath(string path) =>
        path.Length == 0 || path.Split('/').All(c => c.Length > 0 && c != "." && c != ".." && !c.Contains('\0', StringComparison.Ordinal));
}
