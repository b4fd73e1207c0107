#!/usr/bin/env bash
# Installs the machine tools the local cluster and the mesh use (iptables, iproute2, curl, conntrack, tcpdump,
# nsenter, and runc for the real nodes' containerd), and headless Chromium with a font for the dashboard's browser
# tests, with apt-get when they are missing; scripts/images.sh installs its own (buildah, mmdebstrap). Needs root;
# prints what it installs. Used by `npm run demo`, `npm test` and CI, so a fresh machine needs nothing installed by
# hand.
set -euo pipefail
need=()
for pair in iptables:iptables iptables-restore:iptables ip:iproute2 curl:curl conntrack:conntrack tcpdump:tcpdump nsenter:util-linux unshare:util-linux runc:runc chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing tools (${need[*]}): run as root, or install them with apt-get" >&2
  exit 1
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
