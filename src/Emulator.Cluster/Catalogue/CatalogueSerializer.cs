using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace Emulator.Cluster.Catalogue;

/// <summary>
/// The catalogue's events on disk: UTF-8 JSON of the event record under a manifest that names
/// the event and its version ("machine-recorded.v1"). Explicit, not Akka's default serializer
/// (which writes .NET type names): a row stays readable when the code is renamed, and a new field
/// is added with a default. A row that cannot be read does not stop the catalogue: it becomes a
/// <see cref="DamagedEvent"/>, and the machine it names is shown FAILED with the reason.
/// </summary>
public sealed class CatalogueSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        Converters = { new JsonStringEnumConverter() },
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    private static readonly Dictionary<string, Type> Types = new(StringComparer.Ordinal)
    {
        ["node-started.v1"] = typeof(NodeStarted),
        ["node-stopped.v1"] = typeof(NodeStopped),
        ["machine-recorded.v1"] = typeof(MachineRecorded),
        ["machine-state.v1"] = typeof(MachineStateChanged),
        ["machine-snapshot.v1"] = typeof(MachineSnapshotTaken),
        ["machine-removed.v1"] = typeof(MachineRemoved),
        ["machine-taken-over.v1"] = typeof(MachineTakenOver),
        ["damaged.v1"] = typeof(DamagedEvent),
    };

    private static readonly Dictionary<Type, string> Manifests = Types.ToDictionary(p => p.Value, p => p.Key);

    /// <summary>Akka's serializer id for this one (ids below 100 are Akka's own).</summary>
    public override int Identifier => 1101;

    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out string? manifest) ? manifest : throw new ArgumentException($"not a catalogue event: {o.GetType()}", nameof(o));

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Json);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!Types.TryGetValue(manifest, out var type))
        {
            return new DamagedEvent(MachineIdIn(bytes), $"an event of an unknown kind '{manifest}'");
        }

        try
        {
            var e = JsonSerializer.Deserialize(bytes, type, Json) as ICatalogueEvent;
            return e is not null && Whole(e) ? e : new DamagedEvent(MachineIdIn(bytes), $"a {manifest} event without its fields");
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or NotSupportedException)
        {
            return new DamagedEvent(MachineIdIn(bytes), $"a {manifest} event that is not valid: {ex.Message}");
        }
    }

    /// <summary>Every field the event's meaning needs is there (JSON that parsed may still lack them).</summary>
    private static bool Whole(ICatalogueEvent e) => e switch
    {
        MachineRecorded r => !string.IsNullOrEmpty(r.MachineId) && r.Spec is not null && r.Node is not null,
        MachineStateChanged s => !string.IsNullOrEmpty(s.MachineId) && !string.IsNullOrEmpty(s.State),
        MachineSnapshotTaken t => !string.IsNullOrEmpty(t.MachineId) && !string.IsNullOrEmpty(t.SnapshotId),
        MachineRemoved m => !string.IsNullOrEmpty(m.MachineId),
        MachineTakenOver t => !string.IsNullOrEmpty(t.MachineId) && !string.IsNullOrEmpty(t.By) && t.To is not null && !string.IsNullOrEmpty(t.Outcome),
        _ => true,
    };

    /// <summary>The machine a damaged event was about, when its machine_id can still be read.</summary>
    private static string? MachineIdIn(byte[] bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("machine_id", out var id)
                && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
