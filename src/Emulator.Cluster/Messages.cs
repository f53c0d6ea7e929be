namespace Emulator.Cluster;

// Messages between nodes. They cross Akka.Remote, serialized by Akka's default (JSON) serializer:
// plain records of strings and numbers only.

/// <summary>To a node's agent: answer with <see cref="NodeInfo"/>.</summary>
public sealed record GetNodeInfo
{
    public static readonly GetNodeInfo Instance = new();
}

/// <summary>To a node's agent: does it run the machine? Answer <see cref="HostsAnswer"/>.</summary>
public sealed record DoYouHost(string MachineId);

public sealed record HostsAnswer(string MachineId, bool Hosts, NodeInfo Node)
{
    /// <summary>Set when the node is bringing the machine back after its node was lost: what to tell a caller meanwhile.</summary>
    public string? Pending { get; init; }
}

/// <summary>To a machine's sharded entity: where does the machine run? Answer <see cref="Located"/>.</summary>
public sealed record Locate(string MachineId);

/// <summary>The entity's node runs the machine (<see cref="Owner"/> is it), or not (null: the entity is not where the machine is).</summary>
public sealed record Located(string MachineId, NodeInfo? Owner);
