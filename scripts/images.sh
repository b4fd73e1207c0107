#!/usr/bin/env bash
# `npm run images`: builds every image of the root Dockerfile into OCI archives without a container engine, so
# the real nodes' containerd can import them (`ctr -n k8s.io images import --index-name <name> <archive>`).
# buildah (chroot isolation, overlay storage of its own under the cache: vfs copies the whole file system per
# layer, measured 7x slower and 8x the disk for three targets here) builds the targets on a base made here
# from Debian's packages (mmdebstrap) and the Node binary of the npm package `node`. The archives go to
# ${AMBIT_CACHE:-/var/cache/ambit}/images/<key>/, where <key> hashes every input, so a second run is instant.
# The one Go program among them, the Prometheus add-on's server, is compiled on the host by
# test/prometheus/build.sh (cached the same way) and handed to its Dockerfile target as the prometheus-build stage.
#
#   scripts/images.sh [build]        build (or reuse) every image; the last line printed is the archives' directory
#   scripts/images.sh key            print the directory `build` writes for the current inputs (builds nothing)
#   scripts/images.sh wrap-binary [--user UID] [--base debian] <binary> <image-ref> [args...]
#                                    wrap one local binary into an image (FROM scratch unless --base debian):
#                                    ENTRYPOINT ["/<binary name>", args...]; the last line printed is the archive
#
# Env: AMBIT_CACHE (default /var/cache/ambit), AMBIT_NPM_VERSION (npm in the node base, default below),
# AMBIT_DEBIAN_MIRROR and AMBIT_DEBIAN_SECURITY_MIRROR (default deb.debian.org), AMBIT_IMAGES_JOBS (parallel
# archive writes, default 2), AMBIT_IMAGES_STORAGE_GB (buildah's layer cache is pruned past it, default 12),
# NODE_EXTRA_CA_CERTS (a CA bundle npm needs inside the build, e.g. behind a proxy
# that re-signs TLS: passed as the build secret `extra-ca`, never stored in an image).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${AMBIT_CACHE:-/var/cache/ambit}
IMAGES_ROOT=$CACHE/images
NPM_VERSION=${AMBIT_NPM_VERSION:-11.19.1}
SUITE=bookworm
MIRROR=${AMBIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${AMBIT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
JOBS=${AMBIT_IMAGES_JOBS:-2}
NODE_BIN=$REPO/node_modules/node/bin/node
# The package files npm ci reads and everything the shipped packages compile from: the images' inputs.
KEY_PATHS=(Dockerfile .dockerignore package.json package-lock.json tsconfig.base.json tsconfig.json scripts/images.sh
  mesh-api ztunnel-runtime plugins waypoint-runtime controller samples test/cluster/package.json test/e2e/package.json
  test/prometheus)

WORK_DIRS=()
trap 'rm -rf "${WORK_DIRS[@]}"' EXIT
die() { echo "images: $*" >&2; exit 1; }
now() { date +%s.%N; }
# Seconds since $1, one decimal.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB", u); i = 1; while (b >= 1000 && i < 4) { b /= 1000; i++ } printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'; }

# buildah with a storage of its own: nothing shared with other users of buildah/podman on the machine.
bh() { buildah --root "$CACHE/buildah/storage" --runroot /run/ambit-buildah --storage-driver overlay "$@"; }

ensure_tools() {
  [ "$(id -u)" -eq 0 ] || die "building images needs root (buildah chroot isolation, mmdebstrap): run as root"
  local need=() pair
  for pair in buildah:buildah mmdebstrap:mmdebstrap git:git flock:util-linux strip:binutils readelf:binutils; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "installing ${need[*]} with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

node_version() {
  [ -x "$NODE_BIN" ] || die "$NODE_BIN is missing: run npm ci in $REPO first (the devDependency 'node' provides it)"
  "$NODE_BIN" --version | sed 's/^v//'
}

# VERSION of the ambit/* images: the one constant in controller/src/install/version.ts.
ambit_version() {
  sed -n "s/^export const VERSION = '\([^']*\)'.*/\1/p" "$REPO/controller/src/install/version.ts"
}

# Hash of every input file's content (working tree, tracked or not, ignored files excluded) and the tool versions.
input_key() {
  local files
  cd "$REPO"
  mapfile -d '' files < <(git ls-files -z -co --exclude-standard -- "${KEY_PATHS[@]}" | sort -zu)
  local present=() f
  for f in "${files[@]}"; do [ -f "$f" ] && present+=("$f"); done
  {
    printf 'node %s npm %s suite %s\n' "$(node_version)" "$NPM_VERSION" "$SUITE"
    paste -d ' ' <(printf '%s\n' "${present[@]}" | git hash-object --stdin-paths) <(printf '%s\n' "${present[@]}")
  } | sha256sum | cut -c1-16
}

# The base's own key: its recipe (the function below, not the whole script) and the versions it puts in.
base_key() {
  { printf 'node %s npm %s suite %s mirrors %s %s\n' "$(node_version)" "$NPM_VERSION" "$SUITE" "$MIRROR" "$SECURITY_MIRROR"
    declare -f build_base; } |
    sha256sum | cut -c1-16
}

label_of() { bh inspect --type image --format '{{index .ImageAnnotations "dev.ambit.base-key"}}{{index .OCIv1.Config.Labels "dev.ambit.base-key"}}' "$1" 2>/dev/null || true; }

# localhost/ambit/debian-base:bookworm (Debian minbase, ca-certificates, no docs/man/locales, merged /usr, so apt
# works in the stages that install packages) and localhost/ambit/node-base:<node version> on it (Node stripped of
# its debug symbols, npm, user node uid 1000 like the official node image).
build_base() {
  local key=$1 node_ver=$2 debian_ref=$3 node_ref=$4 work c
  if [ "$(label_of "$node_ref")" = "$key" ] && [ "$(label_of "$debian_ref")" = "$key" ]; then
    echo "base: $debian_ref and $node_ref are current"
    return 0
  fi
  work=$(mktemp -d /tmp/ambit-images.XXXXXX)
  WORK_DIRS+=("$work")
  echo "base: mmdebstrap $SUITE (minbase) from $MIRROR"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --aptopt='Acquire::Retries "3"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log "$1"/var/log/apt/*' \
    "$SUITE" "$work/rootfs.tar" "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY_MIRROR $SUITE-security main" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -20 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed (network to $MIRROR? set AMBIT_DEBIAN_MIRROR)"; }
  c=$(bh from --quiet scratch)
  bh add --quiet "$c" "$work/rootfs.tar" / >/dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd '["bash"]' \
    --label dev.ambit.base-key="$key" --created-by "mmdebstrap --variant=minbase $SUITE" "$c"
  bh commit --quiet --rm "$c" "$debian_ref" >/dev/null

  echo "base: node $node_ver (stripped) and npm $NPM_VERSION"
  local tgz=$IMAGES_ROOT/downloads/npm-$NPM_VERSION.tgz
  if [ ! -s "$tgz" ]; then
    mkdir -p "$IMAGES_ROOT/downloads"
    (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) || die "npm pack npm@$NPM_VERSION failed (registry reachable?)"
    mv "$work/npm-$NPM_VERSION.tgz" "$tgz"
  fi
  mkdir -p "$work/npm"
  tar -xzf "$tgz" -C "$work/npm" --strip-components=1
  strip -o "$work/node" "$NODE_BIN"
  c=$(bh from --quiet --pull-never "$debian_ref")
  bh copy --quiet "$c" "$work/node" /usr/local/bin/node
  bh copy --quiet "$c" "$work/npm" /usr/local/lib/node_modules/npm
  bh run --isolation chroot "$c" -- sh -ec '
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
    groupadd --gid 1000 node
    useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    node --version >/dev/null && npm --version >/dev/null'
  bh config --env NODE_VERSION="$node_ver" --cmd '["node"]' --label dev.ambit.base-key="$key" \
    --created-by "node $node_ver and npm $NPM_VERSION from npm packages" "$c"
  bh commit --quiet --rm "$c" "$node_ref" >/dev/null
}

# buildah 1.28's layer cache keys an `ENV X=${X}` step by its text, not by the ARG values: the reviews v2 and v3
# builds reuse v1's ENV layer. The Dockerfile's ENV is the build arg, so set it on the image when the cache lost it.
apply_arg_env() {
  local ref=$1 kv envs=() set=() have c
  shift
  have=$(bh inspect --type image --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$ref")
  for kv in "$@"; do
    grep -qxF "$kv" <<<"$have" || { envs+=(--env "$kv"); set+=("$kv"); }
  done
  [ ${#envs[@]} -eq 0 ] && return 0
  grep -q "^${1%%=*}=" <<<"$have" || die "$ref: build arg ${1%%=*} is not in the image's ENV at all; the Dockerfile changed?"
  echo "  $ref: buildah's layer cache reused an ENV step built with other build args; setting ENV ${set[*]}"
  c=$(bh from --quiet --pull-never "$ref")
  bh config "${envs[@]}" "$c"
  bh commit --quiet --rm "$c" "$ref" >/dev/null
}

# The name containerd's CRI looks an image up by: a manifest's `ambit/x:1` is `docker.io/ambit/x:1`.
normalized() {
  local ref=$1 first=${1%%/*}
  if [[ $ref != */* ]]; then echo "docker.io/library/$ref"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then echo "$ref"
  else echo "docker.io/$ref"; fi
}

# target|ref as the manifests ask for it|build args
targets() {
  local v=$1
  cat <<EOF
controller|ambit/controller:$v|
ztunnel|ambit/ztunnel:$v|
waypoint|ambit/waypoint:$v|
bookinfo-productpage|docker.io/istio/examples-bookinfo-productpage-v1:1.20.3|
bookinfo-details|docker.io/istio/examples-bookinfo-details-v1:1.20.3|
bookinfo-ratings|docker.io/istio/examples-bookinfo-ratings-v1:1.20.3|
bookinfo-reviews|docker.io/istio/examples-bookinfo-reviews-v1:1.20.3|SERVICE_VERSION=v1 ENABLE_RATINGS=false STAR_COLOR=black
bookinfo-reviews|docker.io/istio/examples-bookinfo-reviews-v2:1.20.3|SERVICE_VERSION=v2 ENABLE_RATINGS=true STAR_COLOR=black
bookinfo-reviews|docker.io/istio/examples-bookinfo-reviews-v3:1.20.3|SERVICE_VERSION=v3 ENABLE_RATINGS=true STAR_COLOR=red
curl|curlimages/curl:8.16.0|
test-tools|ambit/test-tools:$v|
prometheus|ambit/prometheus:$v|
EOF
}

# File name of an image's archive: its normalized ref with / and : made safe.
archive_name() { echo "$(normalized "$1" | sed 's#^docker\.io/##; s#[/:]#_#g').oci.tar"; }

print_table() {
  local manifest=$1
  "$NODE_BIN" -e '
    const list = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const mb = (b) => (b / 1e6).toFixed(1) + " MB";
    const rows = [["image", "target", "archive (gzip)", "unpacked"], ...list.map((i) => [i.ref, i.target, mb(i.sizeBytes), mb(i.unpackedBytes)])];
    const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    for (const r of rows) console.log(r.map((s, c) => (c >= 2 ? s.padStart(w[c]) : s.padEnd(w[c]))).join("  "));
    const sum = (k) => list.reduce((a, i) => a + i[k], 0);
    console.log(`${list.length} images, archives ${mb(sum("sizeBytes"))} in all`);
  ' "$manifest"
}

cmd_key() {
  echo "$IMAGES_ROOT/$(input_key)"
}

cmd_build() {
  ensure_tools
  # Builds share the machine: everything below (buildah, npm, tsc, gzip) runs at a lower priority.
  renice -n 10 -p $$ >/dev/null
  local t0 t key dir node_ver version debian_ref node_ref
  t0=$(now)
  mkdir -p "$IMAGES_ROOT"
  exec 9>"$IMAGES_ROOT/.lock"
  flock -n 9 || { echo "waiting for another images build (it holds $IMAGES_ROOT/.lock)"; flock 9; }
  t=$(now)
  key=$(input_key)
  dir=$IMAGES_ROOT/$key
  echo "phase inputs: key $key ($(since "$t") s)"
  if [ -s "$dir/images.json" ]; then
    print_table "$dir/images.json"
    echo "phase total: $(since "$t0") s (cached; load average $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "$dir"
    return 0
  fi
  node_ver=$(node_version)
  version=$(ambit_version)
  [ -n "$version" ] || die "no VERSION in controller/src/install/version.ts"
  debian_ref=localhost/ambit/debian-base:$SUITE
  node_ref=localhost/ambit/node-base:$node_ver

  t=$(now)
  build_base "$(base_key)" "$node_ver" "$debian_ref" "$node_ref"
  echo "phase base: $(since "$t") s"

  # Prometheus and promtool from the Go module proxy (about 3 minutes on 2 cores the first time, then cached).
  local prom_bin
  t=$(now)
  prom_bin=$(bash "$REPO/test/prometheus/build.sh" | tail -n 1) || die "test/prometheus/build.sh failed (above)"
  echo "phase prometheus: $(since "$t") s ($prom_bin)"

  local tmp=$dir.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp/logs"
  # Every target; --layers caches each step, so the shared manifests/build/runtime stages run once.
  local target ref args a bargs tt
  t=$(now)
  while IFS='|' read -r target ref args; do
    bargs=(--build-arg "NODE_IMAGE=$node_ref" --build-arg "DEBIAN_IMAGE=$debian_ref" --build-arg "VERSION=$version")
    if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
      bargs+=(--secret "id=extra-ca,src=$NODE_EXTRA_CA_CERTS" --build-arg NODE_EXTRA_CA_CERTS=/run/secrets/extra-ca)
    fi
    for a in $args; do bargs+=(--build-arg "$a"); done
    # The Dockerfile's prometheus-build stage (a Go build) is the directory built above.
    [ "$target" != prometheus ] || bargs+=(--build-context "prometheus-build=$prom_bin")
    tt=$(now)
    if ! bh bud --isolation chroot --layers --pull-never -f "$REPO/Dockerfile" --target "$target" \
      "${bargs[@]}" -t "$ref" "$REPO" >"$tmp/logs/$(archive_name "$ref").log" 2>&1; then
      tail -30 "$tmp/logs/$(archive_name "$ref").log" >&2
      die "buildah bud --target $target ($ref) failed; full log: $tmp/logs/$(archive_name "$ref").log"
    fi
    [ -z "$args" ] || apply_arg_env "$ref" $args
    echo "  built $ref (--target $target) in $(since "$tt") s"
  done < <(targets "$version")
  echo "phase build: $(since "$t") s"

  # Archives, $JOBS at a time (gzip is the cost); the bases too, so a node can run anything built FROM them.
  t=$(now)
  local refs=()
  while IFS='|' read -r target ref args; do refs+=("$ref"); done < <(targets "$version")
  refs+=("$debian_ref" "$node_ref")
  local r running=0 fail=0 id prev reused=0
  for r in "${refs[@]}"; do
    # The same image (same ID: same layers and config) in an earlier output directory: link its archive.
    id=$(bh inspect --type image --format '{{.FromImageID}}' "$r")
    prev=$(previous_archive "$id" "$(normalized "$r")")
    if [ -n "$prev" ] && ln -f "$prev" "$tmp/$(archive_name "$r")" 2>/dev/null; then
      reused=$((reused + 1))
      continue
    fi
    (bh push --quiet "$r" "oci-archive:$tmp/$(archive_name "$r"):$(normalized "$r")" >"$tmp/logs/push-$(archive_name "$r").log" 2>&1 ||
      { echo "images: writing the archive of $r failed: $tmp/logs/push-$(archive_name "$r").log" >&2; exit 1; }) &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n || fail=1; running=$((running - 1)); fi
  done
  while [ "$running" -gt 0 ]; do wait -n || fail=1; running=$((running - 1)); done
  [ "$fail" -eq 0 ] || die "some archives failed (above)"
  echo "phase archives: $(since "$t") s ($reused unchanged, linked from an earlier build)"

  # images.json: what each archive holds and the name to import it under.
  t=$(now)
  {
    echo "["
    local first=1 tgt size unpacked
    while IFS='|' read -r tgt ref; do
      size=$(stat -c %s "$tmp/$(archive_name "$ref")")
      unpacked=$(image_unpacked "$ref")
      [ $first -eq 1 ] || echo ","
      first=0
      printf '  { "ref": "%s", "name": "%s", "archive": "%s", "sizeBytes": %s, "unpackedBytes": %s, "target": "%s", "imageId": "%s" }' \
        "$ref" "$(normalized "$ref")" "$dir/$(archive_name "$ref")" "$size" "$unpacked" "$tgt" \
        "$(bh inspect --type image --format '{{.FromImageID}}' "$ref")"
    done < <(targets "$version" | cut -d'|' -f1,2; echo "base|$debian_ref"; echo "base|$node_ref")
    printf '\n]\n'
  } >"$tmp/images.json"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  prune_outputs "$key"
  echo "phase manifest: $(since "$t") s"
  t=$(now)
  prune_storage && echo "phase prune: $(since "$t") s"
  print_table "$dir/images.json"
  echo "phase total: $(since "$t0") s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "$dir"
}

# An archive of image $1 under name $2 in an earlier output directory (their images.json), if one is there.
previous_archive() {
  "$NODE_BIN" -e '
    const fs = require("fs");
    const [root, id, name] = process.argv.slice(1);
    for (const d of fs.readdirSync(root)) {
      let list;
      try { list = JSON.parse(fs.readFileSync(`${root}/${d}/images.json`, "utf8")); } catch { continue; }
      const hit = list.find((i) => i.imageId === id && i.name === name && fs.existsSync(i.archive));
      if (hit) { console.log(hit.archive); break; }
    }' "$IMAGES_ROOT" "$1" "$2"
}

# Keeps the newest three output directories (and $1): each holds about 1 GB, shared archives hard-linked.
prune_outputs() {
  local d keep=0
  while read -r d; do
    [ "$d" = "$1" ] && continue
    keep=$((keep + 1))
    [ "$keep" -lt 3 ] || rm -rf "${IMAGES_ROOT:?}/$d"
  done < <(cd "$IMAGES_ROOT" && ls -1t | grep -E '^[0-9a-f]{16}$')
  find "$IMAGES_ROOT" -maxdepth 1 -name '*.tmp.*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
}

# buildah keeps every earlier build's layers as its cache; past AMBIT_IMAGES_STORAGE_GB (default 12) the unnamed
# ones go (the next build then runs npm ci and tsc again, about a minute).
prune_storage() {
  local gb
  gb=$(du -s --block-size=1G "$CACHE/buildah/storage" 2>/dev/null | cut -f1)
  [ "${gb:-0}" -gt "${AMBIT_IMAGES_STORAGE_GB:-12}" ] || return 1
  echo "buildah storage holds ${gb} GB: removing the layers no tagged image uses"
  bh rmi --prune >/dev/null 2>&1 || true
}

# Bytes of an image's file system, unpacked: its layers' diff sizes, from buildah's own storage records.
image_unpacked() {
  local id
  id=$(bh inspect --type image --format '{{.FromImageID}}' "$1")
  "$NODE_BIN" -e '
    const fs = require("fs");
    const [root, id] = process.argv.slice(1);
    const images = JSON.parse(fs.readFileSync(`${root}/overlay-images/images.json`, "utf8"));
    const layers = new Map(JSON.parse(fs.readFileSync(`${root}/overlay-layers/layers.json`, "utf8")).map((l) => [l.id, l]));
    let total = 0;
    for (let l = layers.get(images.find((i) => i.id === id)?.layer); l; l = layers.get(l.parent)) total += l["diff-size"] ?? 0;
    console.log(total);
  ' "$CACHE/buildah/storage" "$id"
}

cmd_wrap_binary() {
  local user="" base=scratch
  while [ $# -gt 0 ]; do
    case $1 in
      --user) user=${2:?--user needs a uid}; shift 2 ;;
      --user=*) user=${1#--user=}; shift ;;
      --base) base=${2:?--base needs scratch or debian}; shift 2 ;;
      --base=*) base=${1#--base=}; shift ;;
      *) break ;;
    esac
  done
  [ $# -ge 2 ] || die "usage: images.sh wrap-binary [--user UID] [--base scratch|debian] <binary> <image-ref> [args...]"
  local bin=$1 ref=$2
  shift 2
  [ -f "$bin" ] && [ -x "$bin" ] || die "wrap-binary: $bin is not an executable file"
  [[ $ref =~ ^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?$ ]] || die "wrap-binary: '$ref' is not an image reference like example.local/pause:1"
  case $base in scratch | debian) ;; *) die "wrap-binary: --base is scratch or debian, not '$base'" ;; esac
  ensure_tools
  if [ "$base" = scratch ] && LC_ALL=C readelf -l "$bin" 2>/dev/null | grep -q 'program interpreter'; then
    die "wrap-binary: $bin is dynamically linked and a scratch image has no libc: build it static, or pass --base debian"
  fi
  local name entry key out c from
  name=$(basename "$bin")
  entry=$("$NODE_BIN" -e 'console.log(JSON.stringify(process.argv.slice(1)))' "/$name" "$@")
  key=$({ sha256sum <"$bin"; printf '%s\n' "$ref" "$entry" "$user" "$base"; [ "$base" = scratch ] || base_key; } | sha256sum | cut -c1-16)
  mkdir -p "$IMAGES_ROOT/wrapped"
  out=$IMAGES_ROOT/wrapped/$(archive_name "$ref" | sed 's/\.oci\.tar$//')-$key.oci.tar
  if [ ! -s "$out" ]; then
    exec 9>"$IMAGES_ROOT/.lock"
    flock 9
    if [ "$base" = debian ]; then
      from=localhost/ambit/debian-base:$SUITE
      [ "$(label_of localhost/ambit/node-base:"$(node_version)")" = "$(base_key)" ] ||
        build_base "$(base_key)" "$(node_version)" "$from" "localhost/ambit/node-base:$(node_version)"
      c=$(bh from --quiet --pull-never "$from")
    else
      c=$(bh from --quiet scratch)
    fi
    bh copy --quiet --chmod 0755 "$c" "$bin" "/$name"
    bh config --cmd '' "$c"
    bh config --entrypoint "$entry" ${user:+--user "$user"} --created-by "images.sh wrap-binary $name" "$c"
    bh commit --quiet --rm "$c" "$ref" >/dev/null
    bh push --quiet "$ref" "oci-archive:$out.tmp:$(normalized "$ref")"
    mv "$out.tmp" "$out"
  fi
  echo "$ref ($(normalized "$ref")): $(human "$(stat -c %s "$out")")"
  echo "$out"
}

case ${1:-build} in
  build) cmd_build ;;
  key) cmd_key ;;
  wrap-binary) shift; cmd_wrap_binary "$@" ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$1': use build, key or wrap-binary (see --help)" ;;
esac
