#!/usr/bin/env bash
# Debian's nginx binary for the waypoint benchmark's reverse-proxy peer, without installing it on the machine:
# `apt-get download` of Debian's `nginx` package (it holds the binary; nginx-light is a metapackage in bookworm) into
# $AMBIT_CACHE/nginx/, then `dpkg-deb -x` there. A second run only checks the binary is there. Never touches the system.
#
#   AMBIT_CACHE   cache root (default /var/cache/ambit)
#   NGINX_PACKAGE the Debian package holding usr/sbin/nginx (default nginx)
#
# Prints the binary's path on its last line; exits non-zero with the reason on stderr when it cannot be had.
set -euo pipefail
cache=${AMBIT_CACHE:-/var/cache/ambit}/nginx
pkg=${NGINX_PACKAGE:-nginx}
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { echo "nginx: apt-get and dpkg-deb are needed (not a Debian machine?)" >&2; exit 1; }
version=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1=="Candidate:"{print $2; exit}')
[ -n "$version" ] && [ "$version" != "(none)" ] || { echo "nginx: the apt sources offer no $pkg (try apt-get update)" >&2; exit 1; }
dir="$cache/$pkg-$version"
bin="$dir/root/usr/sbin/nginx"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$dir.tmp"
(cd "$dir.tmp" && apt-get download -qq "$pkg=$version" >/dev/null 2>"$dir.tmp/apt.err") || { echo "nginx: apt-get download $pkg=$version failed: $(tail -1 "$dir.tmp/apt.err")" >&2; rm -rf "$dir.tmp"; exit 1; }
dpkg-deb -x "$dir.tmp"/*.deb "$dir.tmp/root"
[ -x "$dir.tmp/root/usr/sbin/nginx" ] || { echo "nginx: $pkg $version has no usr/sbin/nginx" >&2; rm -rf "$dir.tmp"; exit 1; }
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "fetched $pkg $version into $dir" >&2
echo "$bin"
