"""Three emu serve --cluster nodes driven by the real gRPC client (Python grpcio).

Run by ClusterTests with the stubs generated from protos/ on the path:
    cluster.py A B C PID_B IMAGE_DIR PROMPT TOKEN
A, B and C are the nodes' control-plane addresses (nodes a, b, c; a and b may host 1 GiB of
guests, c 256 MiB). Each checked fact is printed on one line; the C# test asserts those lines.
Figures that vary (rounds, downtime) go to stderr. Any unexpected error ends the script with a
traceback (exit code 1).
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

ADDRESSES = dict(zip("abc", sys.argv[1:4]))
PID_B = int(sys.argv[4])
IMAGE_DIR, PROMPT, TOKEN = sys.argv[5:8]
AUTH = [("authorization", "Bearer " + TOKEN)]
BOOT_SECONDS = 300
VM = "cl-vm"
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


# --- membership, placement, forwarding --------------------------------------------------------

wait_until("every node lists a, b and c", lambda: all(nodes_seen(s) == ["a", "b", "c"] for s in stubs.values()), 60)
fact("every node lists a,b,c")

request = pb.CreateMachineRequest(
    id=VM, vcpus=1, memory_mib=512,
    kernel=os.path.join(IMAGE_DIR, "vmlinux"), initrd=os.path.join(IMAGE_DIR, "initramfs.cpio.gz"),
    command_line="console=ttyS0 panic=-1")
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
fact("migrated to", moved.machine.node, state(moved.machine.state))
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
after.close()

# --- node b dies (SIGKILL): a and c keep answering; b leaves the cluster ---------------------------

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
# The machine ran on b. Nothing restarts it yet (the catalogue is not built): it is gone.
fact("the machine of b:", status(lambda: stubs["a"].GetMachine(pb.MachineRef(id=VM), metadata=AUTH, timeout=30)))
