#!/usr/bin/env bash
# Builds the default x86-64 guest image from Debian packages:
#   vmlinuz            the bzImage shipped in the current linux-image-*-amd64 package
#   vmlinux            the uncompressed ELF kernel extracted from that bzImage
#   initramfs.cpio.gz  busybox-static, a few config files, the modules a virtio-blk ext4 root
#                      needs, and an /init script that mounts proc, sysfs and devtmpfs and starts
#                      a shell on the serial console (or, given root=/dev/vda, switches to it)
#   rootfs.ext4        an ext4 image of the same busybox tree, for root=/dev/vda
#   manifest.txt       package versions, sha256 of the .deb files and of every output
#
# The packages are fetched with `apt-get download` into a temporary directory and unpacked
# with `dpkg-deb -x`; they are never installed on the host. Outputs go outside the repository,
# to ${EMU_IMAGE_DIR:-$HOME/.cache/emu/images}/<kernel-package-version>/, and a build that is
# already complete for the current package versions is reused. See images/README.md.
#
# Progress goes to stderr; the output directory is printed on stdout (last line), so
#   dir=$(images/build-guest.sh --quiet)
# gives a caller the directory to boot from.
set -euo pipefail

readonly MANIFEST_FORMAT=1
readonly META_PACKAGE=linux-image-amd64
readonly BUSYBOX_PACKAGE=busybox-static
# The serial console the image is made for; the QEMU check and the emulator use the same.
readonly RECOMMENDED_CMDLINE="console=ttyS0"
# Modules loaded by /init when root= is given (virtio-mmio for the emulator's microVM machine,
# virtio-pci for QEMU's pc machine); their dependencies are added from modules.dep.
# ext4 finds crc32c through the crypto API, not as a symbol dependency, so it is listed.
readonly ROOT_MODULES=(virtio_mmio virtio_pci virtio_blk crc32c_generic ext4)
# Modules shipped in the image but loaded only on demand (modprobe): host folders over virtio-9p
# and networking over virtio-net (AF_PACKET, which busybox udhcpc opens, is built in).
readonly EXTRA_MODULES=(9p 9pnet_virtio virtio_net)
# Size of the (sparse) ext4 root image.
readonly ROOTFS_MB=64
readonly ROOTFS_UUID=3d1c6b5e-6e75-4f0a-9d7e-656d75726f6f
readonly STEPS=7

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
readonly SCRIPT_PATH

orig_args=("$@")
out_dir=""
force=0
quiet=0

usage() {
    cat <<'EOF'
Usage: images/build-guest.sh [--out DIR] [--force] [--quiet]

Builds the default guest image (vmlinuz, vmlinux, initramfs.cpio.gz, rootfs.ext4,
manifest.txt) from the current Debian linux-image-amd64 and busybox-static packages.

  --out DIR   write the image to DIR instead of
              ${EMU_IMAGE_DIR:-$HOME/.cache/emu/images}/<kernel-package-version>/
  --force     rebuild even if a complete build for the current versions exists
  --quiet     print no progress, only errors and the output directory
  -h, --help  show this help

The output directory is printed on stdout when the script succeeds.
EOF
}

while (($# > 0)); do
    case "$1" in
        --out)
            (($# >= 2)) || { echo "build-guest.sh: --out needs a directory" >&2; exit 2; }
            out_dir=$2
            shift 2
            ;;
        --out=*) out_dir=${1#--out=}; shift ;;
        --force) force=1; shift ;;
        --quiet | -q) quiet=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "build-guest.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

# ---------------------------------------------------------------------------------------------
# Messages

step_no=0
progress() { ((quiet)) || printf '%s\n' "$*" >&2; }
step() {
    step_no=$((step_no + 1))
    progress "[$step_no/$STEPS] $*"
}
warn() { printf 'build-guest.sh: warning: %s\n' "$*" >&2; }
die() { printf 'build-guest.sh: error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# Bytes as "NN MB" (one decimal below 10 MB) for progress lines.
human_size() {
    awk -v b="$1" 'BEGIN { m = b / 1048576; if (m < 10) printf "%.1f MB", m; else printf "%d MB", m + 0.5 }'
}

# ---------------------------------------------------------------------------------------------
# Temporary files: one temp dir for everything, and output files are written as .NAME.tmp in
# the output directory then renamed, so an interrupted build never looks complete.

tmp_dir=""
pending_outputs=()
cleanup() {
    local f
    for f in "${pending_outputs[@]+"${pending_outputs[@]}"}"; do
        rm -f -- "$f"
    done
    if [[ -n $tmp_dir && -d $tmp_dir ]]; then
        rm -rf -- "$tmp_dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Host tools

apt_updated=0
apt_update_once() {
    ((apt_updated)) && return 0
    apt_updated=1
    progress "      apt-get update (package lists missing or stale)"
    apt-get -q update >"${tmp_dir:-/tmp}/apt-update.log" 2>&1 ||
        { cat "${tmp_dir:-/tmp}/apt-update.log" >&2; die "apt-get update failed"; }
}

# need_cmd COMMAND APT-PACKAGE: make sure COMMAND exists; as root install APT-PACKAGE if not.
need_cmd() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if ! is_root; then
        die "'$cmd' is missing: install the Debian package '$pkg' (apt-get install $pkg) or run this script as root"
    fi
    progress "      installing $pkg (provides $cmd)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "$pkg" \
        >"${tmp_dir:-/tmp}/apt-install.log" 2>&1; then
        apt_update_once
        DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "$pkg" \
            >"${tmp_dir:-/tmp}/apt-install.log" 2>&1 ||
            { cat "${tmp_dir:-/tmp}/apt-install.log" >&2; die "could not install $pkg"; }
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "installed $pkg but '$cmd' is still missing"
}

# apt/dpkg/coreutils are on every Debian machine, but say so clearly where they are not.
for c in apt-get apt-cache dpkg-deb; do
    command -v "$c" >/dev/null 2>&1 ||
        die "'$c' is missing: this script needs a Debian (or derived) host with apt and dpkg"
done

tmp_dir=$(mktemp -d "${TMPDIR:-/tmp}/emu-guest-build.XXXXXXXX")

need_cmd sha256sum coreutils
need_cmd od coreutils
need_cmd grep grep
need_cmd awk mawk
need_cmd gzip gzip
need_cmd cpio cpio
need_cmd flock util-linux
need_cmd mkfs.ext4 e2fsprogs
is_root || need_cmd debugfs e2fsprogs

# ---------------------------------------------------------------------------------------------
# Package resolution

# One apt-cache call (it takes ~0.5 s to load its cache) for the candidate versions of the
# metapackage and busybox-static; prints "PACKAGE<TAB>FIELD<TAB>VALUE" lines.
apt_candidates() {
    apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
        /^Package: / { p = $2 }
        /^(Version|Depends|Size): / { f = $1; sub(/:$/, "", f); v = $0; sub(/^[^:]*: /, "", v); print p "\t" f "\t" v }'
}

field_of() { # field_of PACKAGE FIELD < apt_candidates output
    awk -F '\t' -v p="$1" -v f="$2" '$1 == p && $2 == f { print $3; exit }'
}

kernel_pkg=""
kernel_ver=""
busybox_ver=""
resolve_packages() {
    local info dep
    info=$(apt_candidates "$META_PACKAGE" "$BUSYBOX_PACKAGE") || true
    # The metapackage depends on exactly one versioned image package of its own version, signed
    # (linux-image-6.1.0-56-amd64 (= 6.1.192-2)) or in some archives linux-image-*-amd64-unsigned.
    dep=$(field_of "$META_PACKAGE" Depends <<<"$info" | tr ',|' '\n\n' | sed -e 's/^ *//' |
        grep -E '^linux-image-[0-9][^ ]*-amd64(-unsigned)?( |$)' | head -n1) || true
    [[ -n $dep ]] || return 1
    kernel_pkg=${dep%% *}
    if [[ $dep =~ \(=\ *([^\)]+)\) ]]; then
        kernel_ver=${BASH_REMATCH[1]}
    else
        kernel_ver=$(apt_candidates "$kernel_pkg" | field_of "$kernel_pkg" Version)
    fi
    busybox_ver=$(field_of "$BUSYBOX_PACKAGE" Version <<<"$info")
    [[ -n $kernel_ver && -n $busybox_ver ]]
}

# ---------------------------------------------------------------------------------------------
# Manifest checks

# manifest_get FILE KEY: the value of KEY=... in a manifest ("" if absent).
manifest_get() {
    awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$1"
}

builder_sha=$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)
readonly OUTPUTS=(vmlinuz vmlinux initramfs.cpio.gz rootfs.ext4)

# build_complete DIR [check-versions]: true if DIR has a manifest whose output checksums match
# (and, with check-versions, whose package versions and builder match the current ones).
build_complete() {
    local dir=$1 check_versions=${2:-}
    local m="$dir/manifest.txt" f want have
    [[ -f $m ]] || return 1
    [[ $(manifest_get "$m" format) == "$MANIFEST_FORMAT" ]] || return 1
    if [[ -n $check_versions ]]; then
        [[ $(manifest_get "$m" kernel_package) == "$kernel_pkg" ]] || return 1
        [[ $(manifest_get "$m" kernel_package_version) == "$kernel_ver" ]] || return 1
        [[ $(manifest_get "$m" busybox_package_version) == "$busybox_ver" ]] || return 1
        [[ $(manifest_get "$m" builder_sha256) == "$builder_sha" ]] || return 1
    fi
    for f in "${OUTPUTS[@]}"; do
        want=$(manifest_get "$m" "sha256.$f")
        [[ -n $want && -f $dir/$f ]] || return 1
        have=$(sha256sum "$dir/$f" | cut -d' ' -f1)
        [[ $have == "$want" ]] || return 1
    done
}

image_root=${EMU_IMAGE_DIR:-$HOME/.cache/emu/images}

if ! resolve_packages; then
    if is_root; then
        apt_update_once
        resolve_packages || die "apt-cache cannot find $META_PACKAGE and $BUSYBOX_PACKAGE even after apt-get update (is this an amd64 Debian host with the main component enabled?)"
    elif [[ -z $out_dir ]] && build_complete "$image_root/current"; then
        # Offline or without root to refresh the lists: the last complete build is still usable.
        warn "apt-cache cannot resolve $META_PACKAGE (run 'apt-get update' as root); using the last build"
        progress "up to date (unverified versions): $(readlink -f "$image_root/current")"
        readlink -f "$image_root/current"
        exit 0
    else
        die "apt-cache cannot find $META_PACKAGE or $BUSYBOX_PACKAGE: run 'apt-get update' as root first"
    fi
fi

if [[ -z $out_dir ]]; then
    out_dir="$image_root/${kernel_ver//:/_}"
fi
mkdir -p -- "$out_dir"
out_dir=$(cd -- "$out_dir" && pwd -P)

# One build per output directory at a time.
exec 9>"$out_dir/.lock"
flock -n 9 || { progress "waiting for another build of $out_dir"; flock 9; }

if ((!force)) && build_complete "$out_dir" check-versions; then
    progress "up to date: $out_dir ($kernel_pkg $kernel_ver, $BUSYBOX_PACKAGE $busybox_ver); --force rebuilds"
    printf '%s\n' "$out_dir"
    exit 0
fi

start_s=$(date +%s)

# ---------------------------------------------------------------------------------------------
# Download

dl_dir="$tmp_dir/debs"
mkdir -p "$dl_dir"
# As root apt drops privileges to _apt for downloads; let it write to the temp dir.
if is_root && id _apt >/dev/null 2>&1; then
    chmod 0755 "$tmp_dir"
    chown _apt "$dl_dir"
fi

download() {
    local pkg=$1 ver=$2 size
    size=$(apt_candidates "$pkg=$ver" | field_of "$pkg" Size)
    step "downloading $pkg $ver (${size:+$(human_size "$size")})"
    if ! (cd "$dl_dir" && apt-get -q download "$pkg=$ver") >"$tmp_dir/apt-download.log" 2>&1; then
        cat "$tmp_dir/apt-download.log" >&2
        # Stale package lists name versions the archive no longer has: refresh them once and
        # start again, since the current versions (and so the output directory) may change.
        if is_root && [[ -z ${EMU_GUEST_APT_UPDATED:-} ]]; then
            apt_update_once
            progress "      download failed; package lists updated, starting again"
            cleanup
            exec env EMU_GUEST_APT_UPDATED=1 "$SCRIPT_PATH" "${orig_args[@]+"${orig_args[@]}"}"
        fi
        die "apt-get download $pkg=$ver failed (stale package lists? run 'apt-get update' as root)"
    fi
}

download "$kernel_pkg" "$kernel_ver"
download "$BUSYBOX_PACKAGE" "$busybox_ver"

# apt-get download names files PKG_VER_ARCH.deb with ':' escaped as %3a.
find_deb() {
    local f
    f=$(find "$dl_dir" -maxdepth 1 -name "${1}_*.deb" | head -n1)
    [[ -n $f ]] || die "apt-get download did not produce ${1}_*.deb"
    printf '%s\n' "$f"
}
kernel_deb=$(find_deb "$kernel_pkg")
busybox_deb=$(find_deb "$BUSYBOX_PACKAGE")

# ---------------------------------------------------------------------------------------------
# Unpack

step "extracting packages"
kroot="$tmp_dir/kernel"
broot="$tmp_dir/busybox"
dpkg-deb -x "$kernel_deb" "$kroot"
dpkg-deb -x "$busybox_deb" "$broot"

# The kernel release `uname -r` reports is the name of the package's module directory.
kmod_base="$kroot/lib/modules"
[[ -d $kmod_base ]] || kmod_base="$kroot/usr/lib/modules"
[[ -d $kmod_base ]] || die "$kernel_pkg has no /lib/modules directory"
mapfile -t releases < <(find "$kmod_base" -mindepth 1 -maxdepth 1 -type d -printf '%f\n')
((${#releases[@]} == 1)) || die "expected one directory in /lib/modules of $kernel_pkg, found ${#releases[@]}"
kernel_release=${releases[0]}
bzimage="$kroot/boot/vmlinuz-$kernel_release"
[[ -f $bzimage ]] || die "$kernel_pkg has no /boot/vmlinuz-$kernel_release"
kconfig="$kroot/boot/config-$kernel_release"
busybox_bin="$broot/bin/busybox"
[[ -x $busybox_bin ]] || die "$BUSYBOX_PACKAGE has no executable /bin/busybox"

# ---------------------------------------------------------------------------------------------
# vmlinux extraction (same idea as the kernel's scripts/extract-vmlinux, written anew): look for
# each compressor's magic in the bzImage and decompress from every hit until the result is an
# ELF file. The x86 boot protocol header, when present, gives the payload's place and the
# uncompressed size (the last 4 bytes of the payload), which the result must match.

le_u() { # le_u FILE OFFSET BYTES -> unsigned little-endian integer
    od -An -tu"$3" -j "$2" -N "$3" --endian=little "$1" | tr -d ' \n'
}

payload_start=""
payload_size=""
read_boot_header() {
    local f=$1 setup_sects version poff plen
    # "HdrS" at 0x202 marks a boot protocol 2.x header (Documentation/x86/boot.rst).
    [[ $(od -An -c -j $((0x202)) -N4 "$f" | tr -d ' \n') == "HdrS" ]] || return 0
    version=$(le_u "$f" $((0x206)) 2)
    ((version >= 0x208)) || return 0 # payload_offset/payload_length exist from 2.08 on
    setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$f" | tr -d ' ')
    ((setup_sects == 0)) && setup_sects=4
    poff=$(le_u "$f" $((0x248)) 4)
    plen=$(le_u "$f" $((0x24c)) 4)
    payload_start=$(((setup_sects + 1) * 512 + poff))
    # The build appends the uncompressed size as a little-endian u32 to every compressed payload.
    payload_size=$(le_u "$f" $((payload_start + plen - 4)) 4)
}

# name | grep -P byte pattern | decompress command (reads stdin, writes stdout) | apt package
readonly COMPRESSORS=(
    'gzip|\x1f\x8b\x08|gzip -dc|gzip'
    'xz|\xfd\x37\x7a\x58\x5a\x00|xz -dc --single-stream|xz-utils'
    'zstd|\x28\xb5\x2f\xfd|zstd -dcq|zstd'
    'lzma|\x5d\x00\x00\x00|xz -dc --format=lzma --single-stream|xz-utils'
    'lz4|\x02\x21\x4c\x18|lz4 -dcq|lz4'
    'bzip2|\x42\x5a\x68|bzip2 -dcq|bzip2'
)

# Make sure the decompressor for the kernel's configured compression exists (installing it as
# root); the others are tried only if present.
ensure_kernel_decompressor() {
    local comp
    [[ -f $kconfig ]] || return 0
    comp=$(grep -E '^CONFIG_KERNEL_(GZIP|XZ|ZSTD|LZMA|LZ4|BZIP2|LZO)=y' "$kconfig" | head -n1 |
        sed -E 's/^CONFIG_KERNEL_([A-Z0-9]+)=y/\1/')
    case "$comp" in
        GZIP) need_cmd gzip gzip ;;
        XZ | LZMA) need_cmd xz xz-utils ;;
        ZSTD) need_cmd zstd zstd ;;
        LZ4) need_cmd lz4 lz4 ;;
        BZIP2) need_cmd bzip2 bzip2 ;;
        LZO) die "the kernel is LZO-compressed, which this script does not extract" ;;
        *) ;;
    esac
}

is_elf64() { [[ $(od -An -tx1 -N5 "$1" | tr -d ' \n') == "7f454c4602" ]]; }

extract_vmlinux() {
    local img=$1 out=$2 entry name magic cmd pkg off size tried=0
    read_boot_header "$img"
    for entry in "${COMPRESSORS[@]}"; do
        IFS='|' read -r name magic cmd pkg <<<"$entry"
        command -v "${cmd%% *}" >/dev/null 2>&1 || continue
        while read -r off; do
            [[ -n $off ]] || continue
            tried=$((tried + 1))
            # A false hit just fails to decompress; a real one may end with "trailing garbage"
            # complaints from the decompressor, so its exit status is not what decides.
            tail -c +"$((off + 1))" "$img" | $cmd >"$out" 2>/dev/null || true
            [[ -s $out ]] && is_elf64 "$out" || continue
            size=$(stat -c %s "$out")
            if [[ -n $payload_size && $size -ne $payload_size ]]; then
                continue
            fi
            extract_info="$name payload at offset $off"
            if [[ -n $payload_start && $off -ne $payload_start ]]; then
                extract_info+=" (boot header says $payload_start)"
            fi
            return 0
        done < <(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1)
    done
    rm -f -- "$out"
    die "no compressed ELF payload found in $img ($tried candidate offsets tried; is the decompressor for its CONFIG_KERNEL_* compression installed?)"
}

ensure_kernel_decompressor
step "extracting vmlinux from vmlinuz-$kernel_release"
extract_info=""
extract_vmlinux "$bzimage" "$tmp_dir/vmlinux"
progress "      $extract_info, $(human_size "$(stat -c %s "$tmp_dir/vmlinux")") ELF"

# ---------------------------------------------------------------------------------------------
# initramfs

step "building initramfs"
rootfs="$tmp_dir/rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc,run,mnt}
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"
install -m 0755 "$busybox_bin" "$rootfs/bin/busybox"

# busybox-static is a static x86-64 binary, so it runs here to list its own applets.
applets=0
while read -r applet; do
    [[ -n $applet && $applet != bin/busybox ]] || continue
    mkdir -p "$rootfs/$(dirname "$applet")"
    [[ -e $rootfs/$applet ]] || { ln -s /bin/busybox "$rootfs/$applet"; applets=$((applets + 1)); }
done < <("$busybox_bin" --list-full)
((applets > 0)) || die "busybox --list-full listed no applets"

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
EOF
echo emu-guest >"$rootfs/etc/hostname"
ln -s /proc/mounts "$rootfs/etc/mtab"

cat >"$rootfs/etc/profile" <<'EOF'
# Login shell profile of the emu guest.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root
# The prompt the QEMU check and the emulator's tests wait for: "emu-guest:~# ".
export PS1='emu-guest:\w\$ '
cd "$HOME"
EOF

# busybox init runs the shell, respawns it when it exits and handles poweroff/reboot/halt
# (a plain shell as PID 1 would ignore the signals those applets send).
cat >"$rootfs/etc/inittab" <<'EOF'
# cttyhack opens the real console device (ttyS0 with console=ttyS0) as the controlling
# terminal, so job control and Ctrl-C work; /dev/console cannot be one.
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
EOF

cat >"$rootfs/init" <<'EOF'
#!/bin/sh
# /init of the emu guest initramfs: mount the kernel filesystems, say hello on the console and
# hand over to busybox init, which runs a login shell on the console from /etc/inittab.
# With root=/dev/vda (or another block device) on the kernel command line it first loads the
# modules in /etc/emu-root-modules, mounts that ext4 device (read-only unless "rw" is given,
# as the kernel does) and switches root to it.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
# Debian's kernel has CONFIG_DEVTMPFS but not CONFIG_DEVTMPFS_MOUNT for the initramfs.
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts -o nosuid,noexec,gid=5,mode=0620 devpts /dev/pts
hostname -F /etc/hostname

echo "emu-guest: init started (kernel $(uname -r), $(grep -c '^processor' /proc/cpuinfo) cpu)"

root=""
rootmode=ro
direct_shell=0
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        root=/dev/*) root=${arg#root=} ;;
        rw) rootmode=rw ;;
        ro) rootmode=ro ;;
        # emu.init=sh skips busybox init and runs the shell directly as PID 1.
        emu.init=sh) direct_shell=1 ;;
    esac
done

if [ -n "$root" ]; then
    for m in $(cat /etc/emu-root-modules); do
        modprobe "$m" || echo "emu-guest: modprobe $m failed"
    done
    # devtmpfs creates the node once the driver has probed the disk; wait up to 10 s.
    i=0
    while [ ! -b "$root" ] && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -b "$root" ] && mount -t ext4 -o "$rootmode" "$root" /newroot; then
        mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /newroot/tmp
        mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /newroot/run
        # switch_root does not carry mounts over; move them (with /dev/pts under /dev).
        for d in dev proc sys; do
            mount --move "/$d" "/newroot/$d"
        done
        echo "emu-guest: switching root to $root ($rootmode)"
        if [ "$direct_shell" = 1 ]; then
            exec switch_root /newroot /bin/sh -c 'exec setsid cttyhack sh -l'
        fi
        exec switch_root /newroot /sbin/init
    fi
    echo "emu-guest: cannot mount $root as ext4; staying in the initramfs"
fi

if [ "$direct_shell" = 1 ]; then
    exec setsid cttyhack sh -l
fi
exec /sbin/init
EOF
chmod 0755 "$rootfs/init"

# The modules for an ext4 root on virtio-blk, with their dependencies. The package has no
# modules.dep (depmod runs when it is installed), so busybox's depmod makes one here; it lists
# each module's dependencies transitively.
kmod_dir="$kmod_base/$kernel_release"
"$busybox_bin" depmod -b "$(dirname "$(dirname "$kmod_base")")" "$kernel_release" ||
    die "busybox depmod failed on the modules of $kernel_pkg"
mod_paths=()
for m in "${ROOT_MODULES[@]}" "${EXTRA_MODULES[@]}"; do
    # modules.dep lines are "kernel/path/name.ko: dep.ko ..."; '-' and '_' are the same in names.
    line=$(awk -v m="$m" '{ p = $1; sub(/:$/, "", p); n = p; sub(/.*\//, "", n)
        sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); if (n == m) { print; exit } }' \
        "$kmod_dir/modules.dep")
    [[ -n $line ]] || die "module $m is not in $kernel_pkg (if it is built in now, drop it from ROOT_MODULES or EXTRA_MODULES)"
    for p in $line; do
        mod_paths+=("${p%:}")
    done
done
mapfile -t mod_paths < <(printf '%s\n' "${mod_paths[@]}" | LC_ALL=C sort -u)
for p in "${mod_paths[@]}"; do
    install -D -m 0644 "$kmod_dir/$p" "$rootfs/lib/modules/$kernel_release/$p"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
    if [[ -f $kmod_dir/$f ]]; then
        install -m 0644 "$kmod_dir/$f" "$rootfs/lib/modules/$kernel_release/$f"
    fi
done
"$busybox_bin" depmod -b "$rootfs" "$kernel_release" || die "busybox depmod failed on the initramfs tree"
printf '%s\n' "${ROOT_MODULES[@]}" >"$rootfs/etc/emu-root-modules"
mkdir -p "$rootfs/newroot"

# Fixed timestamps make the archive reproducible for the same packages.
find "$rootfs" -exec touch -h -d @0 {} +

# newc_entry NAME MODE RDEVMAJOR RDEVMINOR: one header-only cpio "newc" entry (no data).
# /dev/console cannot be created with mknod without root, so it is written by hand and
# appended as a second archive; the kernel unpacks concatenated archives in order. The kernel
# opens /dev/console for /init's stdin/stdout before devtmpfs is mounted.
newc_entry() {
    local name=$1 mode=$2 rmaj=$3 rmin=$4 ino=$5 namesize pad
    namesize=$((${#name} + 1))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$ino" "$mode" 0 0 1 0 0 0 0 "$rmaj" "$rmin" "$namesize" 0
    printf '%s\0' "$name"
    # Header (110 bytes) plus name is padded to a multiple of 4.
    pad=$(((4 - (110 + namesize) % 4) % 4))
    head -c "$pad" /dev/zero
}

initramfs_tmp="$out_dir/.initramfs.cpio.gz.tmp"
pending_outputs+=("$initramfs_tmp")
{
    (cd "$rootfs" && find . -mindepth 1 | LC_ALL=C sort |
        cpio --quiet -o -H newc --owner=0:0 --reproducible)
    {
        newc_entry dev $((0040755)) 0 0 1
        newc_entry dev/console $((0020600)) 5 1 2
        newc_entry 'TRAILER!!!' 0 0 0 0
    }
} | gzip -n -9 >"$initramfs_tmp"
progress "      $applets busybox applets, ${#mod_paths[@]} modules, $(human_size "$(stat -c %s "$initramfs_tmp")")"

# ---------------------------------------------------------------------------------------------
# ext4 root filesystem image of the same tree

step "building rootfs.ext4 ($ROOTFS_MB MB, sparse)"
rootfs_img_tmp="$out_dir/.rootfs.ext4.tmp"
pending_outputs+=("$rootfs_img_tmp")
rm -f -- "$rootfs_img_tmp"
truncate -s "${ROOTFS_MB}M" "$rootfs_img_tmp"
# A fixed UUID and hash seed keep the image stable across rebuilds of the same packages.
if ! mkfs.ext4 -q -F -L emu-root -U "$ROOTFS_UUID" -E "root_owner=0:0,hash_seed=$ROOTFS_UUID" \
    -d "$rootfs" "$rootfs_img_tmp" >"$tmp_dir/mkfs.log" 2>&1; then
    cat "$tmp_dir/mkfs.log" >&2
    die "mkfs.ext4 -d failed"
fi
if ! is_root; then
    # mkfs.ext4 -d copies each file's owner, which is not root here; set them all to 0:0.
    (cd "$rootfs" && find . -mindepth 1) | sed 's|^\.||' |
        awk '{ print "sif " $0 " uid 0"; print "sif " $0 " gid 0" }' >"$tmp_dir/debugfs.cmds"
    if ! debugfs -w -f "$tmp_dir/debugfs.cmds" "$rootfs_img_tmp" >"$tmp_dir/debugfs.log" 2>&1; then
        cat "$tmp_dir/debugfs.log" >&2
        die "debugfs could not set the owners in rootfs.ext4"
    fi
fi

# ---------------------------------------------------------------------------------------------
# Outputs and manifest

step "writing outputs and manifest"
# The manifest goes first so a half-replaced directory is never taken as complete.
rm -f -- "$out_dir/manifest.txt"
vmlinuz_tmp="$out_dir/.vmlinuz.tmp"
vmlinux_tmp="$out_dir/.vmlinux.tmp"
pending_outputs+=("$vmlinuz_tmp" "$vmlinux_tmp")
cp -- "$bzimage" "$vmlinuz_tmp"
mv -- "$tmp_dir/vmlinux" "$vmlinux_tmp" 2>/dev/null || cp -- "$tmp_dir/vmlinux" "$vmlinux_tmp"
chmod 0644 "$vmlinuz_tmp" "$vmlinux_tmp" "$initramfs_tmp" "$rootfs_img_tmp"
mv -f -- "$vmlinuz_tmp" "$out_dir/vmlinuz"
mv -f -- "$vmlinux_tmp" "$out_dir/vmlinux"
mv -f -- "$initramfs_tmp" "$out_dir/initramfs.cpio.gz"
mv -f -- "$rootfs_img_tmp" "$out_dir/rootfs.ext4"

sha() { sha256sum "$1" | cut -d' ' -f1; }
manifest_tmp="$out_dir/.manifest.txt.tmp"
pending_outputs+=("$manifest_tmp")
{
    echo "# emu guest image manifest: KEY=VALUE lines; written last, so the build is complete"
    echo "# only if this file exists and the sha256.* values match the files beside it."
    echo "format=$MANIFEST_FORMAT"
    echo "build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "builder_sha256=$builder_sha"
    echo "kernel_package=$kernel_pkg"
    echo "kernel_package_version=$kernel_ver"
    echo "kernel_deb=$(basename "$kernel_deb")"
    echo "kernel_deb_sha256=$(sha "$kernel_deb")"
    echo "kernel_release=$kernel_release"
    echo "kernel_compression=${extract_info%% *}"
    echo "busybox_package=$BUSYBOX_PACKAGE"
    echo "busybox_package_version=$busybox_ver"
    echo "busybox_deb=$(basename "$busybox_deb")"
    echo "busybox_deb_sha256=$(sha "$busybox_deb")"
    echo "busybox_applets=$applets"
    echo "root_modules=${ROOT_MODULES[*]}"
    echo "cmdline=$RECOMMENDED_CMDLINE"
    echo "cmdline_rootfs=$RECOMMENDED_CMDLINE root=/dev/vda"
    for f in "${OUTPUTS[@]}"; do
        echo "size.$f=$(stat -c %s "$out_dir/$f")"
        echo "sha256.$f=$(sha "$out_dir/$f")"
    done
} >"$manifest_tmp"
mv -f -- "$manifest_tmp" "$out_dir/manifest.txt"

# "current" points at the newest default build, for callers that do not run apt-cache.
if [[ $(dirname "$out_dir") == "$(cd -- "$image_root" 2>/dev/null && pwd -P)" ]]; then
    ln -sfn -- "$(basename "$out_dir")" "$image_root/current"
fi

progress "done in $(($(date +%s) - start_s)) s: $out_dir"
for f in "${OUTPUTS[@]}"; do
    progress "      $(printf '%-18s %s' "$f" "$(human_size "$(stat -c %s "$out_dir/$f")")")"
done
printf '%s\n' "$out_dir"
