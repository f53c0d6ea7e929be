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

/// <summary>
/// To a machine's sharded entity: may <see cref="Node"/> make a new machine by this id? Answer
/// <see cref="Reserved"/>. There is one entity per id in the cluster, so two nodes creating one
/// id at the same moment are answered in turn: the first is granted the id, the second is told who holds it.
/// </summary>
public sealed record Reserve(string MachineId, string Node);

/// <summary>Granted (the id is held for the asking node), or not: <see cref="Holder"/> runs the machine or holds the id.</summary>
public sealed record Reserved(string MachineId, bool Granted, string Holder);

/// <summary>To a machine's sharded entity: <see cref="Node"/> did not make the machine after all; the id is free again.</summary>
public sealed record Release(string MachineId, string Node);
