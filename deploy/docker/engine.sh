#!/usr/bin/env bash
# A Docker engine on this machine, started by hand (no systemd here), idempotently:
#   deploy/docker/engine.sh           install docker.io if missing, start dockerd unless one answers
#   deploy/docker/engine.sh --stop    stop the dockerd whose pid file this script wrote
# Prints "started" or "running" on stdout (so a caller knows whether it owns the daemon).
#
# The daemon keeps containers off the outside world: no NAT, no forwarding, no iptables rules, and
# published ports bind to 127.0.0.1 only. Containers reach each other and the host, nothing beyond.
# Builds that need a package index run with `--network=host` (deploy/docker/build.sh).
#
# Env: DOCKERD_DATA_ROOT (/var/lib/docker), DOCKERD_LOG (/var/log/vast-dockerd.log),
#      DOCKERD_DEADLINE (60 s per storage driver), DOCKERD_DRIVERS ("overlay2 fuse-overlayfs vfs").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DATA_ROOT=${DOCKERD_DATA_ROOT:-/var/lib/docker}
LOG=${DOCKERD_LOG:-/var/log/vast-dockerd.log}
DEADLINE=${DOCKERD_DEADLINE:-60}
DRIVERS=${DOCKERD_DRIVERS:-"overlay2 fuse-overlayfs vfs"}
PIDFILE=/var/run/docker.pid
SOCK=/var/run/docker.sock
# Debian's CLI has BuildKit built in; another `docker` earlier on PATH may lack buildx.
DOCKER=${DOCKER:-/usr/bin/docker}
export DOCKER_HOST=unix://$SOCK
log() { echo "[engine] $*" >&2; }
answers() { timeout 10 "$DOCKER" info >/dev/null 2>&1; }

if [[ ${1:-} == --stop ]]; then
  if [[ -f $PIDFILE ]] && pid=$(cat "$PIDFILE") && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.25; done
    log "dockerd $pid did not stop within 30 s"; exit 1
  fi
  exit 0
fi

"$here/../host-packages.sh" docker.io
if answers; then echo running; exit 0; fi
if [[ -f $PIDFILE ]] && pid=$(cat "$PIDFILE") && kill -0 "$pid" 2>/dev/null; then
  log "dockerd $pid exists but does not answer yet; waiting"
  end=$((SECONDS + DEADLINE))
  while ((SECONDS < end)); do answers && { echo running; exit 0; }; sleep 0.5; done
  log "dockerd $pid does not answer: stop it first (deploy/docker/engine.sh --stop)"; exit 1
fi
rm -f "$PIDFILE"
mkdir -p "$DATA_ROOT" "$(dirname "$LOG")"
# images live per storage driver: try the one this data root used last time first
if [[ -f $DATA_ROOT/.vast-driver ]]; then
  last=$(cat "$DATA_ROOT/.vast-driver"); DRIVERS="$last ${DRIVERS//$last/}"
fi
for driver in $DRIVERS; do
  [[ $driver != fuse-overlayfs ]] || command -v fuse-overlayfs >/dev/null || continue
  log "starting dockerd (storage driver $driver, data root $DATA_ROOT, log $LOG)"
  # setsid: its own session, so it outlives the shell that started it
  setsid nice -n 10 dockerd --data-root="$DATA_ROOT" --storage-driver="$driver" \
    --host="unix://$SOCK" --pidfile="$PIDFILE" --exec-opt native.cgroupdriver=cgroupfs \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --ip=127.0.0.1 \
    --log-driver=json-file --log-opt max-size=10m >>"$LOG" 2>&1 </dev/null &
  pid=$!
  end=$((SECONDS + DEADLINE))
  while ((SECONDS < end)) && kill -0 "$pid" 2>/dev/null; do
    if answers; then echo "$driver" >"$DATA_ROOT/.vast-driver"; log "ready: pid $pid"; echo started; exit 0; fi
    sleep 0.3
  done
  log "storage driver $driver failed; last log lines:"; tail -3 "$LOG" >&2 || true
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  # a failed start can leave dockerd's bind mount of the data root behind
  mountpoint -q "$DATA_ROOT" && umount "$DATA_ROOT" || true
  rm -f "$PIDFILE"
done
log "could not start dockerd with any of: $DRIVERS (see $LOG)"; exit 1
