#!/usr/bin/env bash
# Builds what a real node of the local cluster runs besides the kubelet (which test/k8s/build.sh builds with the
# control plane, from the same Kubernetes module): containerd v2 (daemon, runc shim, ctr) and the reference CNI
# plugins from the Go module proxy, and the pause program from Kubernetes' own C source in the module cache.
# runc comes from Debian (scripts/ensure-tools.sh). Output goes to a cache outside the work tree keyed by version;
# a second run only checks that every file is there.
#
#   AMBIT_CACHE   cache root (default /var/cache/ambit)
#
# Prints the bin directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${AMBIT_CACHE:-/var/cache/ambit}
# containerd 2.2 is an active release line and keeps cgroup v1 (these machines) until 2029; 1.6 (Debian's) is past
# its end of life and the kubelet flags it as losing support in 1.37.
containerd_version=v2.2.10
cni_version=v1.10.0
k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/../k8s/go.mod")
key="node-containerd-${containerd_version}-cni-${cni_version}-pause-${k8s_version}-$(sha256sum "$0" | cut -c1-8)"
bin="$cache/bin/$key"
progs=(containerd containerd-shim-runc-v2 ctr bridge host-local loopback portmap pause)

have_all() { for p in "${progs[@]}"; do [ -x "$bin/$p" ] || return 1; done; }
if have_all; then echo "$bin"; exit 0; fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
mkdir -p "$bin.tmp"
start=$(date +%s)
ctrd=github.com/containerd/containerd/v2
for p in containerd containerd-shim-runc-v2 ctr; do
  [ -x "$bin.tmp/$p" ] || GOBIN="$bin.tmp" go install -trimpath -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X $ctrd/version.Version=$containerd_version" "$ctrd/cmd/$p@$containerd_version"
  echo "built $p ($(( $(date +%s) - start ))s)" >&2
done
for p in main/bridge ipam/host-local main/loopback meta/portmap; do
  [ -x "$bin.tmp/${p#*/}" ] || GOBIN="$bin.tmp" go install -trimpath -ldflags "-s -w" \
    "github.com/containernetworking/plugins/plugins/$p@$cni_version"
done
echo "built CNI plugins ($(( $(date +%s) - start ))s)" >&2
# pause: the sandbox's PID 1, from the C source shipped in the Kubernetes module (registry.k8s.io is unreachable).
pause_src=$(cd "$here/../k8s" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
[ -x "$bin.tmp/pause" ] || cc -Os -static -DVERSION="$k8s_version" -o "$bin.tmp/pause" "$pause_src"
strip "$bin.tmp/pause" 2>/dev/null || true
echo "built pause ($(( $(date +%s) - start ))s)" >&2
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "$bin"
