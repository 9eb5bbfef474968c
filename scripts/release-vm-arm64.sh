#!/usr/bin/env bash
# Usage: scripts/release-vm-arm64.sh PAYLOAD_DIR [TIMEOUT_SECONDS]
# Boots a throwaway arm64 Debian 12 system under qemu-system-aarch64 (TCG: the arm64 Bun runtime does
# not start under qemu-user) and runs PAYLOAD_DIR/run.sh in it as root, with PAYLOAD_DIR at /payload,
# /proc, /sys, /dev and a tmpfs /tmp mounted. Prints what run.sh printed and exits with its status.
#
# The system lives entirely in an initramfs, so the stock Debian kernel needs no modules (no disk, no 9p):
#   - base: mmdebstrap --variant=minbase --include=ostree --arch=arm64 bookworm (through qemu-user
#     binfmt; ostree for the native crate's commit test), trimmed, as a newc cpio; the kernel Image from
#     linux-image-arm64. Both cached in /var/cache/apt-ostree-tests/ (APT_OSTREE_VM_CACHE), built once
#     (~3-4 min); the base's name says what it holds, so a changed package set makes a new one.
#   - per run: a second cpio with /init (a shell script: no systemd) and /payload, appended to the base.
# run.sh's output travels over the serial console between two markers; init powers the machine off.
set -euo pipefail
cd "$(dirname "$0")/.."

payload=${1:?usage: release-vm-arm64.sh PAYLOAD_DIR [TIMEOUT_SECONDS]}
timeout_s=${2:-1500}
[ -f "$payload/run.sh" ] || { echo "release-vm-arm64: $payload/run.sh missing" >&2; exit 2; }
cache=${APT_OSTREE_VM_CACHE:-/var/cache/apt-ostree-tests}
mkdir -p "$cache"
base=$cache/arm64-bookworm-base-ostree.cpio
kernel=$cache/arm64-vmlinuz

if [ ! -s "$kernel" ]; then
  echo "release-vm-arm64: fetching the arm64 kernel" >&2
  tmp=$(mktemp -d "$cache/kernel.XXXXXX")
  pkg=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-/ { print $2; exit }')
  (cd "$tmp" && apt-get download -q "$pkg" 2>/dev/null)
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  cp "$tmp"/x/boot/vmlinuz-* "$kernel.tmp"
  mv "$kernel.tmp" "$kernel"
  rm -rf "$tmp"
fi

if [ ! -s "$base" ]; then
  echo "release-vm-arm64: creating the arm64 base system (mmdebstrap under qemu-user, a few minutes)" >&2
  root=$cache/arm64-bookworm-root-ostree
  if [ ! -e "$root/.complete" ]; then
    rm -rf "$root"
    mmdebstrap --quiet --variant=minbase --include=ostree --arch=arm64 bookworm "$root" >&2
    touch "$root/.complete"
  fi
  # The VM needs no documentation, locales or package lists.
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/* \
    "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old
  (cd "$root" && find . -path ./.complete -prune -o -print | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$base.tmp"
  mv "$base.tmp" "$base"
  rm -rf "$root"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/apt-ostree-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root"
cp -a "$payload" "$work/root/payload"
cat >"$work/root/init" <<'INIT'
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
echo "@@APT-OSTREE-VM-BEGIN@@"
cd /payload && sh ./run.sh </dev/null 2>&1
echo "@@APT-OSTREE-VM-END rc=$?@@"
sync
echo o >/proc/sysrq-trigger
sleep 30
INIT
chmod +x "$work/root/init"
(cd "$work/root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$work/payload.cpio"
cat "$base" "$work/payload.cpio" >"$work/initrd.cpio"
rm -rf "$work/root" "$work/payload.cpio"

# -m: the initramfs (base ~250 MB plus the payload) is unpacked into RAM, and /tmp is RAM too.
set +e
timeout "$timeout_s" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -smp "${APT_OSTREE_VM_CPUS:-2}" \
  -m "${APT_OSTREE_VM_MEMORY:-3072}" -nic none -display none -monitor none -serial "file:$work/console.log" -no-reboot \
  -kernel "$kernel" -initrd "$work/initrd.cpio" \
  -append "console=ttyAMA0 rdinit=/init panic=-1 quiet loglevel=3"
qemu_status=$?
set -e
tr -d '\r' <"$work/console.log" >"$work/console.txt"
if ! grep -q '^@@APT-OSTREE-VM-END rc=' "$work/console.txt"; then
  echo "release-vm-arm64: run.sh did not finish (qemu status $qemu_status); console:" >&2
  tail -n 60 "$work/console.txt" >&2
  exit 1
fi
sed -n '/^@@APT-OSTREE-VM-BEGIN@@$/,/^@@APT-OSTREE-VM-END rc=/p' "$work/console.txt" | sed '1d;$d'
rc=$(sed -n 's/^@@APT-OSTREE-VM-END rc=\([0-9]*\)@@$/\1/p' "$work/console.txt")
exit "$rc"
