#!/usr/bin/env bash
# Build the images of a deployment with the local Docker engine, where no registry is reachable:
#   vast-base:bookworm      Debian minbase + python3 (deploy/docker/base-image.sh, cached)
#   vast:cpu                the vast image, CPU variant (deploy/docker/Dockerfile)
#   vast-redis:local        Redis from Debian's redis-server package   } stand-ins for the public images,
#   vast-prometheus:local   Prometheus from Debian's prometheus package } used by deploy/compose/ci.yml
#   deploy/docker/build.sh [vast|services|all]   (default all)
# pip inside the build trusts $PIP_CERT (a build secret) and prefers the wheels in $PIP_FIND_LINKS
# (a data-only image bind-mounted into the pip step), exactly like pip on this host.
# Env: BASE (vast-base:bookworm; a public python image works where the registry is reachable),
#      VAST_TAG (vast:cpu), DOCKER (/usr/bin/docker).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
what=${1:-all}
DOCKER=${DOCKER:-/usr/bin/docker}
BASE=${BASE:-vast-base:bookworm}
VAST_TAG=${VAST_TAG:-vast:cpu}
export DOCKER_BUILDKIT=1
log() { echo "[build] $*" >&2; }
timed() { local name=$1 start=$SECONDS; shift; "$@"; log "$name: $((SECONDS - start)) s"; }

[[ $BASE != vast-base:* ]] || timed "base image $BASE" "$here/base-image.sh" "$BASE"

if [[ $what == all || $what == services ]]; then
  for service in redis prometheus; do
    # apt-get inside the build needs the mirror: --network=host (the engine has no NAT)
    timed "vast-$service:local" "$DOCKER" build -q --network=host --build-arg BASE="$BASE" \
      -t "vast-$service:local" "$here/$service" >/dev/null
  done
fi

if [[ $what == all || $what == vast ]]; then
  args=(--network=host --build-arg BASE="$BASE" --build-arg VARIANT=cpu)
  if [[ -n ${PIP_CERT:-} && -s $PIP_CERT ]]; then args+=(--secret "id=pipcert,src=$PIP_CERT"); fi
  wheels=(); for dir in ${PIP_FIND_LINKS:-}; do wheels+=("$dir"/*.whl); done
  if [[ ${#wheels[@]} -gt 0 && -e ${wheels[0]} ]]; then
    # the pip step sees only PIP_FIND_LINKS' wheels, through a scratch image: nothing lands in a layer
    context=$(mktemp -d); trap 'rm -rf "$context"' EXIT
    cp -l "${wheels[@]}" "$context/" 2>/dev/null || cp "${wheels[@]}" "$context/"
    printf 'FROM scratch\nCOPY . /\n' | "$DOCKER" build -q -t vast-wheels:local -f - "$context" >/dev/null
    args+=(--build-arg WHEELS=vast-wheels:local --build-arg TORCH_INDEX=)
  fi
  timed "$VAST_TAG" "$DOCKER" build -q "${args[@]}" -f "$here/Dockerfile" -t "$VAST_TAG" "$root" >/dev/null
fi
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^vast' >&2 || true
