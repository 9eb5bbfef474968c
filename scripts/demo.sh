#!/usr/bin/env bash
# `npm run demo`: the main job end to end, on defaults that need nothing from the user.
#   1. compose a small Debian bookworm system (minbase, systemd as init and a kernel) with mmdebstrap and
#      commit it to a new local OSTree repository (apt-ostree compose base);
#   2. export the commit as a bootc-labelled OCI image (apt-ostree oci build);
#   3. check it with the real consumers (skopeo inspect, oci-image-tool validate, umoci unpack);
#   4. push it to a throwaway local registry and pull it back (apt-ostree oci push / pull).
# Everything lands in $DEMO_DIR (default /var/tmp/apt-ostree-demo), which is recreated each run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build >/dev/null
bin=$PWD/dist/apt-ostree-linux-x64
demo=${DEMO_DIR:-/var/tmp/apt-ostree-demo}
rm -rf "$demo" && mkdir -p "$demo"
step() { printf '\n== %s\n' "$*" >&2; }

step "compose: bookworm minbase with systemd and a kernel into $demo/repo (ref demo/bookworm)"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
"$bin" compose base --release bookworm --variant minbase --include "systemd,systemd-sysv,linux-image-$(dpkg --print-architecture)" \
  --repo "$demo/repo" --ref demo/bookworm

step "oci build: the commit as a bootc-labelled OCI image layout"
"$bin" oci build --source demo/bookworm --repo "$demo/repo" --output "oci:$demo/image:latest" --bootc --json | tee "$demo/build.json"

step "validate: skopeo inspect, oci-image-tool validate, umoci unpack"
skopeo inspect "oci:$demo/image:latest" | head -30
oci-image-tool validate --type image --ref name=latest "$demo/image"
umoci unpack --image "$demo/image:latest" "$demo/bundle" >/dev/null
test -f "$demo/bundle/rootfs/etc/os-release" && grep PRETTY_NAME "$demo/bundle/rootfs/etc/os-release"
du -sh "$demo/bundle/rootfs"

step "push to a local registry on 127.0.0.1 and pull back"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$demo/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $demo/registry-data
http:
  addr: 127.0.0.1:$port
log:
  level: error
YML
docker-registry serve "$demo/registry.yml" >"$demo/registry.log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
pushed=$("$bin" oci push "oci:$demo/image:latest" "docker://127.0.0.1:$port/demo/bookworm:latest")
echo "pushed: $pushed"
"$bin" oci pull "docker://127.0.0.1:$port/demo/bookworm:latest" "oci:$demo/pulled:latest" >/dev/null
built=$(node -p "require('$demo/build.json').digest")
[ "$pushed" = "$built" ] || { echo "demo: pushed digest $pushed differs from built $built" >&2; exit 1; }
echo "digest round trip ok: $built"
step "done: image at $demo/image, registry copy verified"
