#!/usr/bin/env bash
# Istio's own istioctl, built from the Go module proxy at the version test/istioctl/go.mod pins, so the integration
# tests can run the real upstream CLI against Ambit. Cached under $AMBIT_CACHE/bin keyed by the wrapper module's
# go.sum: a second run only checks that the binary is there. Built at the lowest priority (nice 19) because it
# shares the machine with a running cluster.
#
#   AMBIT_CACHE   cache root (default /var/cache/ambit)
#
# Prints the binary's path on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/../test/istioctl" && pwd)
cache=${AMBIT_CACHE:-/var/cache/ambit}
istio_version=$(awk '$1=="istio.io/istio"{print $2; exit} $1=="require" && $2=="istio.io/istio"{print $3; exit}' "$here/go.mod")
[ -n "$istio_version" ] || { echo "istioctl: no istio.io/istio version in $here/go.mod" >&2; exit 1; }
key="istioctl-${istio_version}-$(cat "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -c1-12)"
bin="$cache/bin/$key"
if [ -x "$bin/istioctl" ]; then echo "$bin/istioctl"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
# Istio's release builds stamp pkg/version this way (common/scripts/report_build_info.sh); the version is the
# module's VERSION file (a pseudo-version carries no tag), the revision the commit the pseudo-version names.
dir=$(cd "$here" && go mod download -json istio.io/istio | awk -F'"' '$2=="Dir"{print $4; exit}')
[ -n "$dir" ] || { echo "istioctl: istio.io/istio ${istio_version} not found on the module proxy" >&2; exit 1; }
version="$(cat "$dir/VERSION")-dev"
revision=${istio_version##*-}
pv=istio.io/istio/pkg/version
ldflags="-s -w -X $pv.buildVersion=$version -X $pv.buildGitRevision=$revision -X $pv.buildStatus=Clean"
ldflags+=" -X $pv.buildTag=$istio_version -X $pv.buildHub=ambit.local -X $pv.buildOS=$(go env GOOS) -X $pv.buildArch=$(go env GOARCH)"
mkdir -p "$bin.tmp"
start=$(date +%s)
(cd "$here" && nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$bin.tmp/istioctl" istio.io/istio/istioctl/cmd/istioctl)
echo "built istioctl ${version} (${istio_version}) in $(( $(date +%s) - start ))s, $(du -h "$bin.tmp/istioctl" | cut -f1)" >&2
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "$bin/istioctl"
