#!/usr/bin/env bash
# Builds the local cluster's control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kube-proxy) and CoreDNS from the Go module proxy, into a cache outside the work tree keyed by
# version. A second run with the cache present only checks that every binary is there.
#
#   AMBIT_CACHE   cache root (default /var/cache/ambit)
#
# Prints the bin directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${AMBIT_CACHE:-/var/cache/ambit}
k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")
coredns_version=$(awk '$1=="github.com/coredns/coredns"{print $2; exit}' "$here/../coredns/go.mod")
key="k8s-${k8s_version}-coredns-${coredns_version}-$(cat "$here/go.sum" "$here/../coredns/go.sum" | sha256sum | cut -c1-12)"
bin="$cache/bin/$key"
progs=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kube-proxy kubelet coredns)

have_all() { for p in "${progs[@]}"; do [ -x "$bin/$p" ] || return 1; done; }
if have_all; then echo "$bin"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
mkdir -p "$bin.tmp"
minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${k8s_version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"
start=$(date +%s)
(
  cd "$here"
  for p in kube-apiserver kube-controller-manager kube-scheduler kubectl kube-proxy kubelet; do
    [ -x "$bin.tmp/$p" ] || go build -trimpath -ldflags "$ldflags" -o "$bin.tmp/$p" "k8s.io/kubernetes/cmd/$p"
    echo "built $p ($(( $(date +%s) - start ))s)" >&2
  done
  [ -x "$bin.tmp/etcd" ] || go build -trimpath -ldflags "-s -w" -o "$bin.tmp/etcd" go.etcd.io/etcd/server/v3
  echo "built etcd ($(( $(date +%s) - start ))s)" >&2
)
(
  cd "$here/../coredns"
  [ -x "$bin.tmp/coredns" ] || go build -trimpath -ldflags "-s -w" -o "$bin.tmp/coredns" github.com/coredns/coredns
  echo "built coredns ($(( $(date +%s) - start ))s)" >&2
)
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "$bin"
