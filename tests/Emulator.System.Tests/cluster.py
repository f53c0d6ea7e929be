"""Three emu serve --cluster nodes driven by the real gRPC client (Python grpcio).

Run by ClusterTests with the stubs generated from protos/ on the path:
    cluster.py A B C PID_B IMAGE_DIR PROMPT TOKEN
    cluster.py --after-restart A B C IMAGE_DIR PROMPT TOKEN
    cluster.py --after-cluster-restart A B C IMAGE_DIR PROMPT TOKEN
A, B and C are the nodes' control-plane addresses (nodes a, b, c; a and b may host 1 GiB of
guests, c 256 MiB). The nodes share one PostgreSQL catalogue and one snapshot directory. The
first run ends after node b was killed (SIGKILL) and its machines were taken over; the second,
after the test started b again under its name, checks that nothing came back twice; the third,
after the test stopped all three nodes (SIGTERM) and started them again, checks that the
catalogue is intact. Each checked
fact is printed on one line; the C# test asserts those lines. Figures that vary (rounds,
downtime) go to stderr. Any unexpected error ends the script with a traceback (exit code 1).
"""
import hashlib
import os
import re
import signal
import sys
import time

import grpc
from emulator.v1 import machine_pb2 as pb
from emulator.v1 import machine_pb2_grpc
from guest_console import GuestConsole

MODE = sys.argv[1] if sys.argv[1].startswith("--") else None
AFTER_RESTART = MODE == "--after-restart"
AFTER_CLUSTER_RESTART = MODE == "--after-cluster-restart"
if MODE:
    ADDRESSES = dict(zip("abc", sys.argv[2:5]))
    PID_B = 0
    IMAGE_DIR, PROMPT, TOKEN = sys.argv[5:8]
else:
    ADDRESSES = dict(zip("abc", sys.argv[1:4]))
    PID_B = int(sys.argv[4])
    IMAGE_DIR, PROMPT, TOKEN = sys.argv[5:8]
AUTH = [("authorization", "Bearer " + TOKEN)]
BOOT_SECONDS = 300
VM = "cl-vm"
NEVER = "cl-never"
BLOB_MIB = 8
BLOB_SHA256 = hashlib.sha256(b"a" * (BLOB_MIB << 20)).hexdigest()

stubs = {name: machine_pb2_grpc.MachineServiceStub(grpc.insecure_channel(address)) for name, address in ADDRESSES.items()}


def fact(*words):
    print(*words, flush=True)


def note(*words):
    print(*words, file=sys.stderr, flush=True)


def state(value):
    return pb.MachineState.Name(value).removeprefix("MACHINE_STATE_")


def status(call):
    try:
        call()
        return "OK"
    except grpc.RpcError as err:
        note("  ", err.code().name, err.details())
        return err.code().name


def nodes_seen(stub):
    return sorted(n.name for n in stub.ListNodes(pb.ListNodesRequest(), metadata=AUTH, timeout=10).nodes)


def wait_until(what, check, seconds):
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{seconds} s passed before {what}")
        time.sleep(0.5)


def migrate(through, target):
    """MigrateMachine called on one node; returns the last event (the machine on the target)."""
    last = None
    for event in stubs[through].MigrateMachine(pb.MigrateMachineRequest(id=VM, target=target), metadata=AUTH, timeout=300):
        note(f"  round {event.round}: {event.pages_sent} pages, {event.dirty_pages} dirtied, final={event.final}")
        last = event
    note(f"  migrated in {last.total_nanos / 1e6:.0f} ms, {last.round} rounds, {last.bytes_sent >> 20} MiB, "
         f"guest stopped {last.downtime_nanos / 1e6:.1f} ms on the source")
    return last


def listed_everywhere(names="abc"):
    """ListMachines of each named node as {id: (node, state)}, and whether they all list the same."""
    lists = [{m.id: (m.node, state(m.state)) for m in stubs[n].ListMachines(pb.ListMachinesRequest(), metadata=AUTH, timeout=30).machines}
             for n in names]
    return lists[0], all(other == lists[0] for other in lists[1:])


def listing(machines):
    return ", ".join(f"{i} {n} {st}" for i, (n, st) in sorted(machines.items()))


def vm_running(codes=None):
    """Whether the machine runs, asked of c; UNAVAILABLE or NOT_FOUND (while it is brought back) is not yet, and noted in codes."""
    try:
        return stubs["c"].GetMachine(pb.MachineRef(id=VM), metadata=AUTH, timeout=10).state == pb.MACHINE_STATE_RUNNING
    except grpc.RpcError as err:
        note("  GetMachine through c:", err.code().name, err.details())
        if codes is not None:
            codes.add(err.code().name)
        if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND):
            raise
        return False


def kept_through_c(x, y):
    """The file written in the guest before its snapshot, and x*y as its shell computes it, at its console through c."""
    console = GuestConsole(stubs["c"], VM, AUTH)
    console.type("\n")
    console.wait_for(re.escape(PROMPT))
    kept = console.run(f"cat /tmp/kept; echo $(({x}*{y}))-ok", r"(kept-\d+)\s+(\d+)-ok")
    console.close()
    return kept.group(1), kept.group(2)


if AFTER_RESTART:
    # --- node b started again under its name: nothing comes back twice ------------------------------
    wait_until("every node lists a, b and c", lambda: all(nodes_seen(s) == ["a", "b", "c"] for s in stubs.values()), 60)
    fact("b is back: every node lists a,b,c")
    machines, same = listed_everywhere()
    fact("after b's restart every node lists the same:", same)
    fact("machines:", listing(machines))
    console = GuestConsole(stubs["b"], VM, AUTH)
    console.type("\n")
    console.wait_for(re.escape(PROMPT))
    fact("console through b:", console.run("echo $((9*9))-ok", r"(\d+)-ok").group(1))
    console.close()
    sys.exit(0)

if AFTER_CLUSTER_RESTART:
    # --- every node stopped (SIGTERM) and started again: the catalogue is intact ---------------------
    wait_until("every node lists a, b and c", lambda: all(nodes_seen(s) == ["a", "b", "c"] for s in stubs.values()), 60)
    fact("after the whole cluster restarted every node lists a,b,c")

    wait_until("the ALWAYS machine runs again", vm_running, 120)
    machines, same = listed_everywhere()
    fact("every node lists the same:", same, "and", listing(machines))
    vm = stubs["b"].GetMachine(pb.MachineRef(id=VM), metadata=AUTH, timeout=10)
    fact("the ALWAYS machine:", state(vm.state), "on", vm.node, pb.RestartPolicy.Name(vm.spec.restart_policy))
    fact("console through c:", *kept_through_c(9, 7))
    sys.exit(0)

# --- membership, placement, forwarding --------------------------------------------------------

wait_until("every node lists a, b and c", lambda: all(nodes_seen(s) == ["a", "b", "c"] for s in stubs.values()), 60)
fact("every node lists a,b,c")

# A machine of b that its restart policy does not bring back (NEVER); paused, so it costs no CPU.
# Asked of b: a and b have the same room, and the node called wins a tie.
never = stubs["b"].CreateMachine(pb.CreateMachineRequest(
    id=NEVER, vcpus=1, memory_mib=128, kernel=os.path.join(IMAGE_DIR, "vmlinux"),
    initrd=os.path.join(IMAGE_DIR, "initramfs.cpio.gz"), command_line="console=ttyS0 panic=-1",
    restart_policy=pb.RESTART_POLICY_NEVER), metadata=AUTH, timeout=60)
stubs["b"].StartMachine(pb.MachineRef(id=NEVER), metadata=AUTH, timeout=60)
stubs["b"].PauseMachine(pb.MachineRef(id=NEVER), metadata=AUTH, timeout=60)
fact("never machine on", never.node)

request = pb.CreateMachineRequest(
    id=VM, vcpus=1, memory_mib=512,
    kernel=os.path.join(IMAGE_DIR, "vmlinux"), initrd=os.path.join(IMAGE_DIR, "initramfs.cpio.gz"),
    command_line="console=ttyS0 panic=-1", restart_policy=pb.RESTART_POLICY_ALWAYS)
created = stubs["a"].CreateMachine(request, metadata=AUTH, timeout=60)
fact("created through a on", created.node, state(created.state))
fact("the same id through c:", status(lambda: stubs["c"].CreateMachine(request, metadata=AUTH, timeout=60)))
started = stubs["c"].StartMachine(pb.MachineRef(id=VM), metadata=AUTH, timeout=60)
fact("started through c:", state(started.state), "on", started.node)

console = GuestConsole(stubs["c"], VM, AUTH)
console.wait_for(re.escape(PROMPT), BOOT_SECONDS)
fact("console through c:", console.run("echo $((6*7))-ok", r"(\d+)-ok").group(1))

# Workloads across the migration: one rewrites 8 MiB of tmpfs pages without pause, one hashes a
# file of known content again and again.
console.run(f"dd if=/dev/zero bs=1M count={BLOB_MIB} 2>/dev/null | tr '\\0' a > /tmp/blob; echo blob-$((1+1))", r"blob-2")
console.run("(while :; do cat /tmp/blob > /tmp/copy; done) & W=$!; (while :; do sha256sum /tmp/blob; done > /tmp/sums) & S=$!; echo bg-$((2+2))", r"bg-4")
time.sleep(2)

# --- live migration, asked of a node that does not run the machine ------------------------------

moved = migrate("c", "b")
fact("migrated to", moved.machine.node, state(moved.machine.state), pb.RestartPolicy.Name(moved.machine.spec.restart_policy))
listed = {m.id: m.node for m in stubs["a"].ListMachines(pb.ListMachinesRequest(), metadata=AUTH, timeout=30).machines}
fact("listed through a on", listed.get(VM))
fact("console ended on the source:", console.wait_ended())

after = GuestConsole(stubs["c"], VM, AUTH)
after.type("\n")
after.wait_for(re.escape(PROMPT))
time.sleep(1)
sums = after.run("kill $W $S; sleep 1; echo n=$(sort -u /tmp/sums | wc -l) $(sort -u /tmp/sums | head -1)", r"n=(\d+) ([0-9a-f]{64})")
fact("hashes during the migration: distinct", sums.group(1), "right:", sums.group(2) == BLOB_SHA256)
fact("console through c after:", after.run("echo $((7*8))-ok", r"(\d+)-ok").group(1))

# --- bad input: each a documented status, nothing lost -------------------------------------------

fact("migrate to an unknown node:", status(lambda: migrate("a", "zz")))
fact("migrate to the node that runs it:", status(lambda: migrate("a", "b")))
fact("migrate to a node without room:", status(lambda: migrate("a", "c")))
big = pb.CreateMachineRequest(id="cl-big", vcpus=1, memory_mib=2048, kernel=os.path.join(IMAGE_DIR, "vmlinux"))
fact("create where no node has room:", status(lambda: stubs["b"].CreateMachine(big, metadata=AUTH, timeout=60)))
fact("machine after the refusals:", state(stubs["a"].GetMachine(pb.MachineRef(id=VM), metadata=AUTH, timeout=30).state))
fact("console after the refusals:", after.run("echo $((8*9))-ok", r"(\d+)-ok").group(1))

# --- node b dies (SIGKILL): its machines are taken over, and a and c keep answering ---------------

# The ALWAYS machine's latest snapshot, taken at rest at its prompt after a file was written in the guest.
after.run("echo kept-$((5*5)) > /tmp/kept; sync; echo wrote-$((2*3))", r"wrote-6")
after.close()
time.sleep(1)
snap = stubs["c"].CreateSnapshot(pb.CreateSnapshotRequest(machine_id=VM, snapshot_id="cl-snap"), metadata=AUTH, timeout=120)
fact("snapshot taken on", snap.node)

os.kill(PID_B, signal.SIGKILL)
answered, failed = 0, 0


def two_left():
    global answered, failed
    for name in "ac":
        try:
            stubs[name].ListMachines(pb.ListMachinesRequest(), metadata=AUTH, timeout=10)
            answered += 1
        except grpc.RpcError as err:
            note("  ListMachines through", name, err.code().name, err.details())
            failed += 1
    return all(nodes_seen(stubs[n]) == ["a", "c"] and not stubs[n].ListNodes(pb.ListNodesRequest(), metadata=AUTH, timeout=10).unreachable_nodes for n in "ac")


wait_until("a and c list only each other", two_left, 120)
fact("after b was killed: a and c list a,c; ListMachines failed", failed, "times")

# Meanwhile a call about the machine is answered (UNAVAILABLE while it is brought back, or by
# its new owner), never left to hang: every call below has a deadline and must end before it.
codes = set()
wait_until("the machine of b runs again", lambda: vm_running(codes), 120)
note("  codes seen while it came back:", sorted(codes))
machine = stubs["c"].GetMachine(pb.MachineRef(id=VM), metadata=AUTH, timeout=10)
fact("the machine of b:", state(machine.state), "on", machine.node, pb.RestartPolicy.Name(machine.spec.restart_policy))
lost = stubs["a"].GetMachine(pb.MachineRef(id=NEVER), metadata=AUTH, timeout=10)
fact("the NEVER machine of b:", state(lost.state), "on", lost.node, "because its restart policy is NEVER:", "its restart policy is NEVER" in lost.detail)
machines, same = listed_everywhere("ac")
fact("a and c list the same:", same, "and", listing(machines))

# It runs on from its snapshot: the file written before is there; the shell answers through c.
fact("console through c after the take-over:", *kept_through_c(8, 8))
