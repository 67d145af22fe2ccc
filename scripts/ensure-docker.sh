#!/usr/bin/env bash
# Make sure a Docker engine answers, and that an air-gapped host can build the base image.
# On a Debian host without a running engine (as root): install docker.io, start dockerd in
# the background, wait for it. Installs debootstrap too (the base image comes from it when
# no registry can be reached). Package sources are whatever apt is configured with.
set -euo pipefail

log() { echo "[ensure-docker] $*" >&2; }

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)

if docker info >/dev/null 2>&1 && [ ${#need_apt[@]} -eq 0 ]; then
  exit 0
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    if docker info >/dev/null 2>&1; then exit 0; fi
    log "no Docker engine answers, and this is not a Debian host where I can install one (root + apt)."
    log "start Docker yourself (e.g. systemctl start docker), then run this again."
    exit 3
  fi
  log "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then exit 0; fi

log "starting dockerd in the background (log: /var/log/faultdrill-dockerd.log)"
nohup dockerd >/var/log/faultdrill-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then log "Docker engine is up"; exit 0; fi
  sleep 1
done
log "dockerd did not come up in 60 s; last log lines:"
tail -n 20 /var/log/faultdrill-dockerd.log >&2 || true
exit 3
