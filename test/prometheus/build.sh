#!/usr/bin/env bash
# Builds the Prometheus add-on's server and promtool from the Go module proxy (the version go.mod pins), because
# Debian's prometheus package is built without Kubernetes service discovery and the add-on's scrape config needs
# it. Output goes to a cache outside the work tree keyed by version, go.sum and this script (the tags); a second
# run only checks that both binaries are there.
#
#   bash test/prometheus/build.sh         build (or reuse) prometheus and promtool; prints their directory last
#   bash test/prometheus/build.sh --dir   print the directory a build writes for the current inputs (builds nothing)
#   AMBIT_CACHE   cache root (default /var/cache/ambit)
#
# Build tags: remove_all_sd drops every service discovery but file and http; enable_kubernetes_sd keeps Kubernetes',
# the only one the add-on uses. No builtinassets: the React UI is not in the Go module (upstream builds it with
# npm before `go build`), so this binary serves the HTTP API (/api/v1/*, /metrics, /-/ready) and answers the UI's
# pages with an error; nothing in the mesh needs them (ambit dashboard and Kiali read the API).
# Go runs at nice 19: the build shares the machine with running clusters. Prints the bin directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${AMBIT_CACHE:-/var/cache/ambit}
module=github.com/prometheus/prometheus
mod_version=$(awk -v m="$module" '$1==m{print $2; exit}' "$here/go.mod")
[ -n "$mod_version" ] || { echo "test/prometheus/build.sh: no $module in $here/go.mod" >&2; exit 1; }
# The module's v0.MMMPP.x is Prometheus MM.PP.x (v0.316.0 is 3.16.0): the version `prometheus --version` prints.
minor=${mod_version#v0.}; patch=${minor#*.}; minor=${minor%%.*}
version="$((10#$minor / 100)).$((10#$minor % 100)).${patch}"
key="prometheus-${mod_version}-$(cat "$here/go.sum" "$0" | sha256sum | cut -c1-12)"
bin="$cache/bin/$key"
progs=(prometheus promtool)
tags="remove_all_sd enable_kubernetes_sd"

case ${1:-} in
  '') ;;
  --dir) echo "$bin"; exit 0 ;;
  *) echo "test/prometheus/build.sh: unknown argument '$1' (no argument builds; --dir prints the output directory)" >&2; exit 2 ;;
esac
have_all() { for p in "${progs[@]}"; do [ -x "$bin/$p" ] || return 1; done; }
if have_all; then echo "$bin"; exit 0; fi
command -v go >/dev/null 2>&1 || { echo "test/prometheus/build.sh: go is not on PATH (Go 1.26 builds Prometheus $version)" >&2; exit 1; }

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
cv=github.com/prometheus/common/version
ldflags="-s -w -X $cv.Version=$version -X $cv.Revision=$mod_version -X $cv.Branch=$mod_version -X $cv.BuildUser=ambit -X $cv.BuildDate=module-proxy"
mkdir -p "$bin.tmp"
start=$(date +%s)
(
  cd "$here"
  for p in "${progs[@]}"; do
    [ -x "$bin.tmp/$p" ] || nice -n 19 go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$bin.tmp/$p" "$module/cmd/$p"
    echo "built $p $version ($(( $(date +%s) - start ))s)" >&2
  done
)
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "$bin"
