namespace Emulator.Cluster;

/// <summary>One node as the others see it: its name, where its control plane answers, and what it hosts and can host.</summary>
public sealed record NodeInfo(
    string Name,
    string ControlPlaneAddress,
    string ClusterAddress,
    int Machines,
    int MaxMachines,
    int VcpusUsed,
    int VcpuCapacity,
    ulong MemoryMibUsed,
    ulong MemoryMibCapacity)
{
    /// <summary>Whether a machine of this size fits beside what the node runs.</summary>
    public bool Fits(int vcpus, ulong memoryMib) =>
        Machines < MaxMachines && VcpusUsed + vcpus <= VcpuCapacity && MemoryMibUsed + memoryMib <= MemoryMibCapacity;

    public string Room => $"{Name}: {MaxMachines - Machines} machines, {VcpuCapacity - VcpusUsed} vCPUs, {MemoryMibCapacity - MemoryMibUsed} MiB free";
}

/// <summary>What the node's machine service tells the cluster layer about itself.</summary>
public interface IMachineHost
{
    /// <summary>Whether this node runs the machine now.</summary>
    bool Hosts(string machineId);

    /// <summary>
    /// Null, or, while this node brings the machine back after its node was lost (RATIONALE.md,
    /// "Node failure"), what a caller is told meanwhile ("being restored on node X after node B was lost").
    /// </summary>
    string? Pending(string machineId);

    /// <summary>The machines, vCPUs and memory in use and their limits (ControlPlaneAddress and ClusterAddress are filled in by the cluster layer).</summary>
    NodeInfo Load();
}
