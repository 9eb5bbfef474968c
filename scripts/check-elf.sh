#!/usr/bin/env bash
# Usage: scripts/check-elf.sh x64|arm64 FILE...
# Checks native code before it is embedded or shipped: each FILE is a 64-bit little-endian ELF for the
# given architecture (e_machine 62 = x86-64, 183 = AArch64) and needs no glibc symbol version newer than
# the floor, 2.31 (Debian 11), or APT_OSTREE_GLIBC_FLOOR.
set -euo pipefail

target=${1:?usage: scripts/check-elf.sh x64|arm64 FILE...}
shift
case "$target" in
  x64 | amd64 | x86_64) machine=62 name=x86-64 ;;
  arm64 | aarch64) machine=183 name=AArch64 ;;
  *) echo "check-elf: unknown target $target" >&2; exit 2 ;;
esac
floor=${APT_OSTREE_GLIBC_FLOOR:-2.31}
[ $# -gt 0 ] || { echo "check-elf: no files given" >&2; exit 2; }

status=0
for f in "$@"; do
  if [ ! -f "$f" ]; then
    echo "check-elf: $f: missing" >&2
    status=1
    continue
  fi
  magic=$(od -An -tx1 -N6 "$f" | tr -d ' \n')
  if [ "$magic" != 7f454c460201 ]; then
    echo "check-elf: $f: not a 64-bit little-endian ELF file" >&2
    status=1
    continue
  fi
  got=$(od -An -tu2 -j18 -N2 "$f" | tr -d ' ')
  if [ "$got" != "$machine" ]; then
    echo "check-elf: $f: ELF machine $got, expected $machine ($name)" >&2
    status=1
    continue
  fi
  # Highest GLIBC_x.y among the dynamic symbols it imports (definitions would not be GLIBC_ ones).
  newest=$(objdump -T "$f" | grep -F '*UND*' | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
  if [ -n "$newest" ] && [ "$(printf '%s\n%s\n' "$newest" "$floor" | sort -V | tail -n 1)" != "$floor" ]; then
    echo "check-elf: $f: needs glibc $newest, newer than the floor $floor:" >&2
    objdump -T "$f" | grep -F '*UND*' | sed -n 's/.*GLIBC_\([0-9][0-9.]*\)[) ].* \([^ ]*\)$/\1 \2/p' | sort -V |
      while read -r v sym; do
        [ "$(printf '%s\n%s\n' "$v" "$floor" | sort -V | tail -n 1)" = "$floor" ] || echo "  $sym (GLIBC_$v)"
      done >&2
    status=1
    continue
  fi
  echo "check-elf: $f: $name, glibc ${newest:-none} <= $floor" >&2
done
exit $status
