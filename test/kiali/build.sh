#!/usr/bin/env bash
# Builds Kiali (the server from the Go module proxy, the UI from npm) for a manual try against the local cluster;
# see docs/kiali.md for what it can and cannot show with Ambit. Not part of CI or npm test. Output goes to a cache
# outside the work tree keyed by version, go.sum and this script; a second run only checks that both are there.
#
#   bash test/kiali/build.sh          build (or reuse) the server and the UI; prints the output directory last
#   bash test/kiali/build.sh --dir    print that directory (builds nothing)
#   AMBIT_CACHE   cache root (default /var/cache/ambit)
#
# <dir>/kiali is the server; <dir>/console the UI (Kiali's server.static_content_root_directory). The UI is built
# from the module zip's frontend/ with yarn 1 (npx yarn@1; every package from the npm registry) in a scratch copy,
# because the module cache is read-only and the build writes node_modules and build/ beside the sources.
# Everything runs at nice 19: the machine's cluster shares the cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${AMBIT_CACHE:-/var/cache/ambit}
module=github.com/kiali/kiali
mod_version=$(awk -v m="$module" '$1==m{print $2; exit}' "$here/go.mod")
[ -n "$mod_version" ] || { echo "test/kiali/build.sh: no $module in $here/go.mod" >&2; exit 1; }
key="kiali-${mod_version}-$(cat "$here/go.sum" "$0" | sha256sum | cut -c1-12)"
out="$cache/bin/$key"

case ${1:-} in
  '') ;;
  --dir) echo "$out"; exit 0 ;;
  *) echo "test/kiali/build.sh: unknown argument '$1' (no argument builds; --dir prints the output directory)" >&2; exit 2 ;;
esac
if [ -x "$out/kiali" ] && [ -f "$out/console/index.html" ]; then echo "$out"; exit 0; fi
command -v go >/dev/null 2>&1 || { echo "test/kiali/build.sh: go is not on PATH (Go builds the Kiali server)" >&2; exit 1; }
command -v npx >/dev/null 2>&1 || { echo "test/kiali/build.sh: npx is not on PATH (Node >= 18 builds the Kiali UI)" >&2; exit 1; }

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
mkdir -p "$out.tmp"
start=$(date +%s)
if [ ! -x "$out.tmp/kiali" ]; then
  (cd "$here" && nice -n 19 go build -trimpath -ldflags "-s -w -X main.version=$mod_version -X main.commitHash=$mod_version -X main.goVersion=$(go env GOVERSION)" -o "$out.tmp/kiali" "$module")
fi
echo "built kiali server $mod_version ($(( $(date +%s) - start ))s)" >&2

if [ ! -f "$out.tmp/console/index.html" ]; then
  src=$(cd "$here" && go list -m -f '{{.Dir}}' "$module")
  [ -f "$src/frontend/package.json" ] || { echo "test/kiali/build.sh: $module@$mod_version has no frontend/ in its module zip" >&2; exit 1; }
  work="$out.tmp/frontend"
  rm -rf "$work" && cp -r "$src/frontend" "$work" && chmod -R u+w "$work"
  (
    cd "$work"
    # No Cypress binary (a download outside npm; only the UI's e2e tests use it), no git hooks (husky).
    export CYPRESS_INSTALL_BINARY=0 HUSKY=0 YARN_CACHE_FOLDER="$cache/yarn"
    nice -n 19 npx -y yarn@1 install --frozen-lockfile --network-timeout 600000
    # Kiali's `build:dev` is lint + `build:kiali` with .env.upstream; lint is skipped (it checks Kiali's sources,
    # not this build). `git rev-parse HEAD` in build:kiali fails outside a git checkout: the UI shows no commit.
    nice -n 19 sh -ac '. ./.env.upstream; npm run build:kiali'
  )
  rm -rf "$out.tmp/console" && mv "$work/build" "$out.tmp/console" && rm -rf "$work"
fi
echo "built kiali console $mod_version ($(( $(date +%s) - start ))s)" >&2
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
