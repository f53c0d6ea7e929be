#!/usr/bin/env bash
# Boots the guest image built by images/build-guest.sh under QEMU (the reference machine), waits
# for the shell prompt on the serial console, runs `uname -r` and counts the CPUs, powers the
# guest off and checks that QEMU exits. Prints the boot time from QEMU's start to the prompt.
#
# No terminal is needed: QEMU's serial console (-nographic) is driven through pipes by a small
# python3 script. The last line on stdout is machine-readable for benchmarks:
#   boot_to_prompt_s=3.21 boot_to_init_s=2.80 total_s=3.90 smp=1 kernel=vmlinuz
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: images/check-with-qemu.sh [--dir DIR] [--smp N] [--kernel vmlinuz|vmlinux]
                                 [--accel tcg|kvm] [--timeout SECONDS] [--append ARGS]
                                 [--rootfs] [--log FILE] [--qemu-arg ARG]...

  --dir DIR        image directory (default: the one images/build-guest.sh prints; it is run
                   first, which is quick when the image is up to date)
  --smp N          number of vCPUs (default 1)
  --kernel FILE    vmlinuz (bzImage, default) or vmlinux (ELF, booted through its PVH note)
  --accel A        QEMU accelerator (default tcg, the emulator's reference)
  --timeout S      give up after S seconds (default 180)
  --append ARGS    extra kernel command line arguments, after "console=ttyS0 panic=-1"
  --rootfs         attach rootfs.ext4 as a virtio disk (snapshot=on: the image is not
                   changed) and boot with root=/dev/vda; checks / is /dev/vda
  --log FILE       keep the full serial console output in FILE
  --qemu-arg ARG   pass ARG to QEMU (repeatable)
EOF
}

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
dir=""
smp=1
kernel=vmlinuz
accel=tcg
timeout_s=180
extra_append=""
log_file=""
qemu_extra=()
rootfs=0

while (($# > 0)); do
    case "$1" in
        --dir) dir=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --kernel) kernel=$2; shift 2 ;;
        --accel) accel=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --append) extra_append=$2; shift 2 ;;
        --log) log_file=$2; shift 2 ;;
        --rootfs) rootfs=1; shift ;;
        --qemu-arg) qemu_extra+=("$2"); shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "check-with-qemu.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

die() { printf 'check-with-qemu.sh: error: %s\n' "$*" >&2; exit 1; }

need() { # need COMMAND APT-PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ $(id -u) -eq 0 ]]; then
        echo "installing $2 (provides $1)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "$2" >/dev/null ||
            { apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "$2" >/dev/null; } ||
            die "could not install $2"
    else
        die "'$1' is missing: install the Debian package '$2' (apt-get install $2)"
    fi
}
need qemu-system-x86_64 qemu-system-x86
need python3 python3

if [[ -z $dir ]]; then
    dir=$("$here/build-guest.sh" --quiet)
fi
[[ -f $dir/manifest.txt ]] || die "$dir has no manifest.txt: build the image with images/build-guest.sh"
[[ -f $dir/$kernel ]] || die "$dir/$kernel is missing"
release=$(awk -F= '$1 == "kernel_release" { print $2; exit }' "$dir/manifest.txt")

# panic=-1 reboots at once on a panic, and -no-reboot turns that reboot into QEMU exiting,
# so a failed boot ends the run instead of hanging it.
append="console=ttyS0 panic=-1"
if ((rootfs)); then
    [[ -f $dir/rootfs.ext4 ]] || die "$dir/rootfs.ext4 is missing"
    append+=" root=/dev/vda"
    qemu_extra+=(-drive "file=$dir/rootfs.ext4,format=raw,if=virtio,snapshot=on")
fi
append+="${extra_append:+ $extra_append}"
qemu=(qemu-system-x86_64 -accel "$accel" -m 512 -smp "$smp" -nographic -no-reboot
    -kernel "$dir/$kernel" -initrd "$dir/initramfs.cpio.gz" -append "$append"
    "${qemu_extra[@]+"${qemu_extra[@]}"}")

echo "kernel command line: $append" >&2
echo "running: ${qemu[*]}" >&2

python3 - "$timeout_s" "$smp" "$release" "$kernel" "${log_file:-}" "$rootfs" "${qemu[@]}" <<'PY'
import os, re, select, subprocess, sys, time

timeout_s, smp, release, kernel_name, log_path = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
want_rootfs = sys.argv[6] == "1"
cmd = sys.argv[7:]

PROMPT = b"emu-guest:~# "
INIT_LINE = b"emu-guest: init started"
# The marker is split in the typed command so the terminal's echo of it cannot match.
COMMAND = (b'echo "RES""ULT:$(uname -r):$(grep -c processor /proc/cpuinfo):'
           b'$(grep -c \'^/dev/vda / ext4\' /proc/mounts):END"; poweroff -f\n')
RESULT = re.compile(rb"RESULT:([^:\s]+):(\d+):(\d+):END")

start = time.monotonic()
proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out = bytearray()
t_init = t_prompt = None
sent = False
fd = proc.stdout.fileno()
os.set_blocking(fd, False)
log = open(log_path, "wb") if log_path else None

def fail(msg):
    sys.stderr.write("check-with-qemu: FAIL: %s\n--- last console output ---\n" % msg)
    sys.stderr.write(out[-3000:].decode("utf-8", "replace") + "\n")
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    sys.exit(1)

while True:
    now = time.monotonic()
    if now - start > timeout_s:
        fail("timed out after %.0f s (%s)" % (timeout_s, "no prompt" if t_prompt is None else "QEMU did not exit after poweroff"))
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = b""
        if not chunk:
            break  # EOF: QEMU exited
        out += chunk
        if log:
            log.write(chunk)
            log.flush()
        now = time.monotonic()
        if t_init is None and INIT_LINE in out:
            t_init = now - start
        if t_prompt is None and PROMPT in out:
            t_prompt = now - start
        if t_prompt is not None and not sent:
            proc.stdin.write(COMMAND)
            proc.stdin.flush()
            sent = True
    elif proc.poll() is not None:
        break

try:
    rc = proc.wait(timeout=max(1.0, timeout_s - (time.monotonic() - start)))
except subprocess.TimeoutExpired:
    fail("QEMU did not exit")
total = time.monotonic() - start

if t_prompt is None:
    fail("QEMU exited (status %d) before the shell prompt" % rc)
m = RESULT.search(out)
if not m:
    fail("no result line after the command")
got_release, got_cpus = m.group(1).decode(), int(m.group(2))
if release and got_release != release:
    fail("uname -r says %s, the manifest says %s" % (got_release, release))
if got_cpus != smp:
    fail("guest sees %d CPUs, expected %d" % (got_cpus, smp))
root_on_vda = int(m.group(3)) > 0
if root_on_vda != want_rootfs:
    fail("/ is %s, expected %s" % ("/dev/vda" if root_on_vda else "the initramfs",
                                    "/dev/vda" if want_rootfs else "the initramfs"))
if rc != 0:
    fail("QEMU exit status %d" % rc)

print("uname -r: %s, CPUs: %d, root: %s, QEMU exited with status 0 after poweroff -f"
      % (got_release, got_cpus, "/dev/vda (ext4)" if root_on_vda else "initramfs"), file=sys.stderr)
print("boot_to_prompt_s=%.2f boot_to_init_s=%.2f total_s=%.2f smp=%d kernel=%s root=%s"
      % (t_prompt, t_init if t_init is not None else -1, total, smp, kernel_name,
         "vda" if root_on_vda else "initramfs"))
PY
