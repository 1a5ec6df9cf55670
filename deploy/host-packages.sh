#!/usr/bin/env bash
# Install the Debian packages given as arguments, only those missing (idempotent, ~0.1 s when all are
# present). Used by the deploy tests and scripts on a fresh machine: docker.io, debootstrap, prometheus...
#   deploy/host-packages.sh docker.io debootstrap zstd
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) != 0 ]]; then
  echo "host-packages: need root to install: ${missing[*]}" >&2
  exit 1
fi
# refresh the package lists once a day at most
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1) ]]; then
  apt-get update -qq
fi
echo "host-packages: apt-get install ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
