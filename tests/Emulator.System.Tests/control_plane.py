"""The control plane driven by the real gRPC client (Python grpcio) against the default guest.

Run by PythonControlPlaneTests with the stubs generated from protos/ on PYTHONPATH:
    control_plane.py TARGET SCENARIO IMAGE_DIR PROMPT DISK [TOKEN]
SCENARIO is "lifecycle" or "bad_input". Each checked fact is printed on one line; the C# test
asserts those lines. Any unexpected error ends the script with a traceback (exit code 1).
"""
import hashlib
import os
import re
import sys
import tempfile
import threading
import time

import grpc
import guest_console
import health_pb2
import health_pb2_grpc
from emulator.v1 import machine_pb2 as pb
from emulator.v1 import machine_pb2_grpc

TARGET, SCENARIO, IMAGE_DIR, PROMPT, DISK = sys.argv[1:6]
TOKEN = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else None
AUTH = [("authorization", "Bearer " + TOKEN)] if TOKEN else None
BOOT_SECONDS = 300
COMMAND_SECONDS = 60
SERVICE = "/emulator.v1.MachineService/"

channel = grpc.insecure_channel(TARGET)
machines = machine_pb2_grpc.MachineServiceStub(channel)
health = health_pb2_grpc.HealthStub(channel)


def fact(*words):
    print(*words, flush=True)


def state(value):
    return pb.MachineState.Name(value).removeprefix("MACHINE_STATE_")


def status(call):
    """The status code's name of a call that is expected to fail (or OK)."""
    try:
        call()
        return "OK"
    except grpc.RpcError as err:
        return err.code().name


def guest_request(machine_id, **changes):
    """CreateMachine for the default guest: vmlinux + initramfs, 1 vCPU, 512 MiB, console=ttyS0."""
    fields = dict(
        id=machine_id,
        vcpus=1,
        memory_mib=512,
        kernel=os.path.join(IMAGE_DIR, "vmlinux"),
        initrd=os.path.join(IMAGE_DIR, "initramfs.cpio.gz"),
        command_line="console=ttyS0 panic=-1",
    )
    fields.update(changes)
    return pb.CreateMachineRequest(**fields)


def GuestConsole(machine_id, metadata=AUTH):
    return guest_console.GuestConsole(machines, machine_id, metadata)


class Watch:
    """WatchMachine on a thread: the states seen, in order, and how the stream ended."""

    def __init__(self, machine_id):
        self._changed = threading.Condition()
        self.states = []
        self.ended = None
        self._call = machines.WatchMachine(pb.MachineRef(id=machine_id), metadata=AUTH)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for event in self._call:
                with self._changed:
                    self.states.append(state(event.state))
                    self._changed.notify_all()
            end = "OK"
        except grpc.RpcError as err:
            end = err.code().name
        with self._changed:
            self.ended = end
            self._changed.notify_all()

    def distinct(self):
        """The states with repeats folded: a stop is published by the call and by the machine's exit."""
        return [s for i, s in enumerate(self.states) if i == 0 or self.states[i - 1] != s]

    def wait_for(self, states, seconds=COMMAND_SECONDS):
        with self._changed:
            self._changed.wait_for(lambda: self.distinct()[:len(states)] == states or self.ended is not None, seconds)
            return ",".join(self.distinct())

    def wait_ended(self, seconds=COMMAND_SECONDS):
        with self._changed:
            self._changed.wait_for(lambda: self.ended is not None, seconds)
            return self.ended


def guest_uptime(console):
    """The guest's clock: the first field of /proc/uptime, in seconds."""
    return float(console.run("echo up-$(cat /proc/uptime)-end", r"up-(\d+\.\d+) ").group(1))


# --- lifecycle -------------------------------------------------------------------------------

def create_and_boot(machine_id, **changes):
    created = machines.CreateMachine(guest_request(machine_id, **changes), metadata=AUTH, timeout=60)
    fact("created", created.id, state(created.state), created.spec.vcpus, created.spec.memory_mib)
    return created


def start_and_reach_shell(machine_id):
    started = machines.StartMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=60)
    fact("started", state(started.state))
    console = GuestConsole(machine_id)
    console.wait_for(re.escape(PROMPT), BOOT_SECONDS)
    fact("prompt seen")
    fact("echo", console.run("echo $((6*7))-ok", r"(\d+)-ok").group(1))
    return console


def pause(machine_id, console):
    """Reads the guest's clock, then pauses; returns (guest clock, wall clock) at the pause."""
    before = guest_uptime(console)
    wall_start = time.monotonic()
    paused = machines.PauseMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=60)
    fact("paused", state(paused.state))
    return before, wall_start


def resume_and_check_clock(machine_id, console, before, wall_start):
    """Guest time must not advance while the machine is paused (machine.proto PauseMachine):
    prints the guest's and the wall's elapsed seconds since the pause for the test to compare."""
    resumed = machines.ResumeMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=60)
    fact("resumed", state(resumed.state))
    after = guest_uptime(console)
    wall = time.monotonic() - wall_start
    fact(f"clock guest_seconds={after - before:.2f} wall_seconds={wall:.2f}")


def stop_and_delete(machine_id, console, watch):
    stopped = machines.StopMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=60)
    fact("stopped", state(stopped.state))
    fact("console ended", console.wait_ended())
    console.close()
    machines.DeleteMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=60)
    fact("deleted")
    fact("GetMachine after delete", status(lambda: machines.GetMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=10)))
    fact("watch ended", watch.wait_ended(), "after", ",".join(watch.distinct()))


# A workload with a known answer: the SHA-256 of 128 MiB of zeroes, computed by the guest
# (a few seconds on tier 1). It says when it starts, and the snapshot is taken then: a fixed
# wait instead let a faster tier finish it before the snapshot. The echoed command line
# matches neither WORKLOAD_STARTED nor DIGEST_LINE.
WORKLOAD_MIB = 128
WORKLOAD = f"(echo work-started-$((5*5)); dd if=/dev/zero bs=1M count={WORKLOAD_MIB} 2>/dev/null | sha256sum; echo work-done) &"
WORKLOAD_STARTED = "work-started-25"
# Kernel messages may land between the two lines, so anything may come between them.
DIGEST_LINE = r"([0-9a-f]{64})  -[\s\S]*?work-done"


def snapshot_while_working(machine_id, console):
    """Takes a snapshot of a RUNNING machine while the workload runs; returns the snapshot."""
    # The disk (a raw image, /dev/vda) gets a marker before the snapshot and another after it.
    console.run("for m in $(cat /etc/emu-root-modules); do modprobe $m; done; while [ ! -b /dev/vda ]; do sleep 0.1; done; "
                "printf disk-before > /dev/vda; sync; echo marked-$((1+1))", "marked-2")
    console.run(WORKLOAD, WORKLOAD_STARTED)
    snap = machines.CreateSnapshot(pb.CreateSnapshotRequest(machine_id=machine_id, snapshot_id="py-snap"), metadata=AUTH, timeout=300)
    # The capture happened before the call returned: no digest yet means the workload was running then.
    fact("workload running at the snapshot:", re.search(DIGEST_LINE, console._text) is None)
    fact("snapshot", snap.id, "of", snap.machine_id, "vcpus", snap.vcpus, "memory", snap.memory_mib)
    fact("snapshot reports size and time:", snap.size_bytes > 0 and snap.duration_nanos > 0 and 0 < snap.downtime_nanos <= snap.duration_nanos
         and 0 < snap.memory_pages_saved < snap.memory_pages)
    print(f"snapshot figures: {snap.size_bytes} bytes, {snap.duration_nanos / 1e9:.2f} s, guest stopped {snap.downtime_nanos / 1e6:.0f} ms, "
          f"{snap.memory_pages_saved} of {snap.memory_pages} pages", file=sys.stderr, flush=True)
    fact("machine after the snapshot:", state(machines.GetMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=10).state))
    console.run("printf disk-after! > /dev/vda; sync; echo marked-$((2+1))", "marked-3")
    listed = machines.ListSnapshots(pb.ListSnapshotsRequest(machine_id=machine_id), metadata=AUTH, timeout=10).snapshots
    fact("listed:", ",".join(x.id for x in listed))
    return snap


def restore_and_finish(snapshot_id, original_digest):
    """Restores into a new machine; the workload there finishes with the same, correct digest."""
    restored = machines.RestoreSnapshot(pb.RestoreSnapshotRequest(snapshot_id=snapshot_id, machine_id="py-restored"), metadata=AUTH, timeout=300)
    fact("restored", restored.id, state(restored.state))
    console = GuestConsole(restored.id)
    fact("resumed restored", state(machines.ResumeMachine(pb.MachineRef(id=restored.id), metadata=AUTH, timeout=60).state))
    digest = console.wait_for(DIGEST_LINE, BOOT_SECONDS).group(1)
    expected = hashlib.sha256(bytes(WORKLOAD_MIB << 20)).hexdigest()
    fact("restored workload digest correct:", digest == expected, "same as the original:", digest == original_digest)
    # One empty line first, as after boot: busybox's line editor may still be waiting for the
    # answer to its cursor-position query (ESC[6n) of the prompt printed before the snapshot.
    console.type("\n")
    time.sleep(1)
    fact("restored shell", console.run("echo $((8*9))-ok", r"(\d+)-ok").group(1))
    # disk$((1)) is echoed as typed and answered as disk1: the pattern cannot match the echoed line.
    marker = console.run("echo 3 > /proc/sys/vm/drop_caches; echo disk$((1))=$(head -c 11 /dev/vda)=", r"disk1=(.*)=").group(1)
    fact("restored disk holds what was written before the snapshot:", marker)
    machines.StopMachine(pb.MachineRef(id=restored.id), metadata=AUTH, timeout=60)
    console.wait_ended()
    console.close()
    machines.DeleteMachine(pb.MachineRef(id=restored.id), metadata=AUTH, timeout=60)
    machines.DeleteSnapshot(pb.SnapshotRef(id=snapshot_id), metadata=AUTH, timeout=60)
    fact("snapshot deleted; RestoreSnapshot now:", status(lambda: machines.RestoreSnapshot(
        pb.RestoreSnapshotRequest(snapshot_id=snapshot_id), metadata=AUTH, timeout=60)))


def lifecycle():
    machine_id = "py-vm"
    create_and_boot(machine_id, disks=[pb.Disk(path=DISK)])
    # Started before StartMachine, so every change is on the stream; its first event is the
    # state at the time of the call.
    watch = Watch(machine_id)
    fact("watch", watch.wait_for(["CREATED"]))
    console = start_and_reach_shell(machine_id)
    before, wall_start = pause(machine_id, console)
    time.sleep(3)
    resume_and_check_clock(machine_id, console, before, wall_start)
    snap = snapshot_while_working(machine_id, console)
    original_digest = console.wait_for(DIGEST_LINE, BOOT_SECONDS).group(1)
    fact("watch", watch.wait_for(["CREATED", "RUNNING", "PAUSED", "RUNNING"]))
    stop_and_delete(machine_id, console, watch)
    restore_and_finish(snap.id, original_digest)


# --- bad input while a machine runs ----------------------------------------------------------

def bad_creates():
    create = lambda request: status(lambda: machines.CreateMachine(request, metadata=AUTH, timeout=60))
    fact("memory_mib 0:", create(guest_request("bad-zero", memory_mib=0)))
    fact("memory_mib 2^40:", create(guest_request("bad-huge", memory_mib=1 << 40)))
    fact("no kernel:", create(guest_request("bad-no-kernel", kernel="")))
    outside = os.path.join(tempfile.gettempdir(), "outside-the-allowed-directories")
    fact("kernel outside the allowed directories:", create(guest_request("bad-outside", kernel=outside)))
    fact("kernel that does not exist:", create(guest_request("bad-missing", kernel=os.path.join(IMAGE_DIR, "no-such-kernel"))))


def bad_ids_and_states(machine_id):
    nobody = pb.MachineRef(id="nobody")
    fact("GetMachine unknown id:", status(lambda: machines.GetMachine(nobody, metadata=AUTH, timeout=10)))
    fact("StartMachine unknown id:", status(lambda: machines.StartMachine(nobody, metadata=AUTH, timeout=10)))
    fact("WatchMachine unknown id:", status(lambda: list(machines.WatchMachine(nobody, metadata=AUTH, timeout=10))))
    running = pb.MachineRef(id=machine_id)
    fact("StartMachine running:", status(lambda: machines.StartMachine(running, metadata=AUTH, timeout=10)))
    fact("ResumeMachine running:", status(lambda: machines.ResumeMachine(running, metadata=AUTH, timeout=10)))
    fact("DeleteMachine running:", status(lambda: machines.DeleteMachine(running, metadata=AUTH, timeout=10)))
    second = GuestConsole(machine_id)
    fact("second AttachConsole:", second.wait_ended())
    second.close()


def bad_bodies():
    # Identity serializers: the bytes go on the wire as they are. 0x0a is field 1 (length-
    # delimited) and the varint after it is a length of 2^32-1: not a valid message.
    malformed = b"\x0a\xff\xff\xff\xff\x0f"
    for method in ["GetMachine", "CreateMachine"]:
        raw = channel.unary_unary(SERVICE + method)
        fact(f"malformed {method} body:", status(lambda: raw(malformed, metadata=AUTH, timeout=10)))
    # Larger than the server's max receive size (4 MiB); grpcio sends it (no send limit).
    big = guest_request("bad-big", command_line="x" * (5 * 1024 * 1024))
    fact("oversized CreateMachine (5 MiB):", status(lambda: machines.CreateMachine(big, metadata=AUTH, timeout=60)))


def bad_snapshots(machine_id):
    snapshot = lambda **f: status(lambda: machines.CreateSnapshot(pb.CreateSnapshotRequest(**f), metadata=AUTH, timeout=60))
    restore = lambda **f: status(lambda: machines.RestoreSnapshot(pb.RestoreSnapshotRequest(**f), metadata=AUTH, timeout=60))
    fact("CreateSnapshot unknown machine:", snapshot(machine_id="nobody"))
    fact("CreateSnapshot id with a path:", snapshot(machine_id=machine_id, snapshot_id="../escape"))
    fact("RestoreSnapshot unknown id:", restore(snapshot_id="nobody"))
    fact("RestoreSnapshot damaged file:", restore(snapshot_id="damaged"))
    fact("DeleteSnapshot unknown id:", status(lambda: machines.DeleteSnapshot(pb.SnapshotRef(id="nobody"), metadata=AUTH, timeout=10)))


def bad_tokens(machine_id):
    get = lambda metadata: status(lambda: machines.GetMachine(pb.MachineRef(id=machine_id), metadata=metadata, timeout=10))
    fact("no token:", get(None))
    fact("wrong token:", get([("authorization", "Bearer wrong-" + TOKEN)]))
    fact("right token:", get(AUTH))
    fact("WatchMachine without token:", status(lambda: list(machines.WatchMachine(pb.MachineRef(id=machine_id), timeout=10))))


def bad_input():
    machine_id = "py-target"
    create_and_boot(machine_id)
    console = start_and_reach_shell(machine_id)
    bad_creates()
    bad_ids_and_states(machine_id)
    bad_bodies()
    bad_snapshots(machine_id)
    bad_tokens(machine_id)
    fact("still answers:", console.run("echo $((7*8))-ok", r"(\d+)-ok").group(1))
    fact("GetMachine:", state(machines.GetMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=10).state))
    serving = health.Check(health_pb2.HealthCheckRequest(), metadata=AUTH, timeout=10).status
    fact("health:", health_pb2.HealthCheckResponse.ServingStatus.Name(serving))
    machines.StopMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=60)
    console.close()
    machines.DeleteMachine(pb.MachineRef(id=machine_id), metadata=AUTH, timeout=60)
    names = [m.id for m in machines.ListMachines(pb.ListMachinesRequest(), metadata=AUTH, timeout=10).machines]
    fact("machines left:", len(names))


{"lifecycle": lifecycle, "bad_input": bad_input}[SCENARIO]()
