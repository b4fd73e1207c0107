#!/usr/bin/env bash
# The images the Gateway API conformance manifests run, built here (no registry is reachable) from the Go module
# proxy under exactly the names the manifests use, as OCI archives for `npm run cluster:load`:
#   registry.k8s.io/gateway-api/echo-basic:*     gateway-api's echo server (conformance/echo-basic of the pinned
#                                               conformance module), FROM scratch like upstream's distroless image
#   registry.k8s.io/gateway-api/echo-advanced:*  Istio's echo app (server, and the client the mesh tests exec),
#                                               as upstream's Dockerfile.echo-advanced (FROM gcr.io/istio-release/app)
#   registry.k8s.io/coredns/coredns:*            the base manifests' DNS backend (UDPRoute tests), at the version
#                                               conformance/coredns/go.mod pins, which must be the one they name
# Binaries and archives are cached under $AMBIT_CACHE/conformance, keyed by the wrapper modules' go.sum.
# Prints the archives, one a line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${AMBIT_CACHE:-/var/cache/ambit}
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"

key=$(cat "$here/go.sum" "$here/echo/go.sum" "$here/coredns/go.sum" "$here/images.sh" | sha256sum | cut -c1-12)
bin=$cache/conformance/echo-$key
if [ ! -x "$bin/server" ] || [ ! -x "$bin/client" ] || [ ! -x "$bin/echo-basic" ] || [ ! -x "$bin/coredns" ]; then
  mkdir -p "$bin.tmp"
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp/echo-basic" sigs.k8s.io/gateway-api/conformance/echo-basic)
  (cd "$here/echo" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp/" istio.io/istio/pkg/test/echo/cmd/server istio.io/istio/pkg/test/echo/cmd/client)
  (cd "$here/coredns" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp/coredns" github.com/coredns/coredns)
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
fi

suite_dir=$(cd "$here" && go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api/conformance)
istio_dir=$(cd "$here/echo" && go list -m -f '{{.Dir}}' istio.io/istio)
# Every echo image any manifest of the suite names (base, mesh and the tests' own).
mapfile -t refs < <(grep -rhoE 'registry\.k8s\.io/(gateway-api/echo-(basic|advanced)|coredns/coredns):[A-Za-z0-9._-]+' "$suite_dir" --include='*.yaml' | sort -u)
coredns_version=$(awk '$1=="github.com/coredns/coredns"{print $2; exit}' "$here/coredns/go.mod")
[ ${#refs[@]} -gt 0 ] || { echo "conformance images: no echo image named in $suite_dir" >&2; exit 1; }

bh() { buildah --root "$cache/buildah/storage" --runroot /run/ambit-buildah --storage-driver overlay "$@"; }
out=$cache/conformance/images-$key
mkdir -p "$out"
for ref in "${refs[@]}"; do
  case $ref in
    */echo-basic:*)
      # The same wrapping the cluster's own pause and CoreDNS images get; uid 65532 is distroless' nonroot.
      bash "$repo/scripts/images.sh" wrap-binary --user 65532 "$bin/echo-basic" "$ref" | tail -n 1
      ;;
    */coredns/coredns:*)
      [ "${ref##*:}" = "$coredns_version" ] || { echo "conformance images: the suite runs $ref but conformance/coredns/go.mod pins $coredns_version: pin the same version" >&2; exit 1; }
      # Upstream's image runs as nonroot with a file capability (setcap cap_net_bind_service) to bind :53; a
      # buildah copy cannot set file capabilities, so this one runs as root, with the capabilities the manifest
      # leaves it (all dropped but NET_BIND_SERVICE).
      bash "$repo/scripts/images.sh" wrap-binary --user 0 "$bin/coredns" "$ref" | tail -n 1
      ;;
    */echo-advanced:*)
      archive=$out/$(echo "$ref" | sed 's#[/:]#_#g').oci.tar
      if [ ! -s "$archive" ]; then
        c=$(bh from --quiet scratch)
        bh copy --quiet --chmod 0755 "$c" "$bin/server" "$bin/client" /usr/local/bin/
        # Istio's Dockerfile.app: COPY dns/cert-chain.pem /cert.crt, dns/key.pem /cert.key (tests/testdata/certs).
        bh copy --quiet --chmod 0644 "$c" "$istio_dir/tests/testdata/certs/dns/cert-chain.pem" /cert.crt
        bh copy --quiet --chmod 0644 "$c" "$istio_dir/tests/testdata/certs/dns/key.pem" /cert.key
        bh config --cmd '' --env PATH=/usr/local/bin --entrypoint '["/usr/local/bin/server"]' --user 1338 \
          --created-by "conformance/images.sh echo-advanced" "$c"
        bh commit --quiet --rm "$c" "$ref" >/dev/null
        bh push --quiet "$ref" "oci-archive:$archive.tmp:$ref"
        mv "$archive.tmp" "$archive"
      fi
      echo "$archive"
      ;;
  esac
done
