#!/usr/bin/env bash
# The base image for builds where no container registry is reachable: Debian minbase + python3, made
# with debootstrap from the host's Debian mirror and imported into the local engine.
#   deploy/docker/base-image.sh [IMAGE]        (default vast-base:bookworm)
# Fastest path first: the image is already there (0.1 s) > `docker load` of the cached tarball in
# $CACHE_DIR (seconds) > debootstrap + import, which then writes that tarball (1-2 min).
# `docker load` keeps the image ID, so the build cache of every image built FROM it stays valid;
# a fresh `docker import` would invalidate it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
IMAGE=${1:-vast-base:bookworm}
SUITE=${SUITE:-bookworm}
CACHE_DIR=${CACHE_DIR:-$HOME/.cache/vast}
DOCKER=${DOCKER:-/usr/bin/docker}
PACKAGES="python3,python3-venv,ca-certificates"
log() { echo "[base-image] $*" >&2; }

"$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 && exit 0
key=$(echo "$SUITE $PACKAGES" | sha256sum | cut -c1-12)
tarball=$CACHE_DIR/${IMAGE//[:\/]/_}-$key.tar.zst
"$here/../host-packages.sh" zstd
if [[ -s $tarball ]]; then
  log "loading $tarball"
  zstd -q -d -c "$tarball" | "$DOCKER" load -q >/dev/null && exit 0
  log "cached tarball unusable; building"
fi

"$here/../host-packages.sh" debootstrap
# the first Debian archive apt itself uses: one-line `deb URL ...` or deb822 `URIs: URL`, never a comment
# (Debian's images comment a snapshot URL above the real one, which may not be reachable)
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
         | grep -v -E '^[[:space:]]*#' | grep -o -E 'https?://[^ ]+/debian/?' | grep -v security | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$CACHE_DIR/debs"
rootfs=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
log "debootstrap --variant=minbase $SUITE from $mirror"
start=$SECONDS
nice debootstrap --variant=minbase --cache-dir="$CACHE_DIR/debs" --include="$PACKAGES" \
  "$SUITE" "$rootfs" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
  || { tail -20 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
log "debootstrap took $((SECONDS - start)) s"
# apt inside images built FROM this one (the redis and prometheus images) uses the same mirror
security=${mirror%/debian*}/debian-security
printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
  "$mirror" "$SUITE" "$mirror" "$SUITE" "$security" "$SUITE" >"$rootfs/etc/apt/sources.list"
# no docs, man pages, locales or .deb caches, now or in later apt-get layers
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/no-docs" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Install-Recommends "false";
CFG
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/man/* \
       "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log "$rootfs"/debootstrap
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
: >"$rootfs/etc/resolv.conf"
tar --numeric-owner -C "$rootfs" -c . | "$DOCKER" import \
  -c 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["/bin/bash"]' -m "debootstrap $SUITE minbase + $PACKAGES" - "$IMAGE" >/dev/null
"$DOCKER" save "$IMAGE" | zstd -q -T0 -3 >"$tarball.tmp" && mv "$tarball.tmp" "$tarball"
log "$IMAGE built in $((SECONDS - start)) s; cached as $tarball"
