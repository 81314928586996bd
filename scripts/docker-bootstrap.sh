#!/usr/bin/env bash
# Makes a Docker engine, the Compose v2 plugin and the stack's base images available on a machine
# that can reach Debian's apt mirror but no image registry (see shared ENVIRONMENT.md,
# "Containers"). Idempotent and fast when everything is there: each step checks first.
#
#   1. engine:  `docker info` answers, or (root + apt) install docker.io and start dockerd
#   2. compose: `docker compose version` answers, or copy docker-compose 2.x out of a Debian 13 rootfs
#   3. images:  every base image the Dockerfile and compose files name exists locally, or a
#               stand-in built from Debian 13 packages with mmdebstrap is tagged with that name
#               (node 20, nats-server 2.10, prometheus 2.53). The files themselves keep the
#               upstream names, so they stay what a user builds and runs.
#
# Exit 0: ready. Exit 3: no engine can be had here (not root, no apt): the message says why, and
# the compose test reports that plainly instead of failing.
set -euo pipefail
shopt -s inherit_errexit # a failed step inside $(...) fails the script too
cd "$(dirname "$0")/.."

say() { printf '[docker-bootstrap] %s\n' "$*" >&2; }
STATE=${GANTRY_DOCKER_STATE:-/var/lib/gantry-docker-bootstrap}
# The names the Dockerfile and compose files use (deploy/.env holds the same tags).
NODE_IMAGE=node:20-bookworm-slim
NATS_IMAGE=nats:2.10-alpine
PROM_IMAGE=prom/prometheus:v2.53.3

# One bootstrap at a time: test files run in parallel and may all call this on a fresh machine.
# Children that outlive this script (dockerd) must not inherit the lock: see `9>&-` below.
exec 9>"${TMPDIR:-/tmp}/gantry-docker-bootstrap.lock"
flock -w 1200 9 || { say "another docker-bootstrap.sh held the lock for 20 minutes"; exit 1; }

can_root_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f "$STATE/apt-updated" ]; then
    apt-get update -qq >&2 || true
    mkdir -p "$STATE" && touch "$STATE/apt-updated"
  fi
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

# --- 1. engine ---------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if ! can_root_apt; then
    say "no Docker engine answers and this is not root on Debian/Ubuntu: install Docker (https://docs.docker.com/engine/install/) and re-run"
    exit 3
  fi
  command -v dockerd >/dev/null 2>&1 || { say "installing docker.io (apt-get)"; apt_install docker.io iptables; }
  command -v docker >/dev/null 2>&1 || { say "docker.io installed no docker client"; exit 3; }
  say "starting dockerd (log: /var/log/gantry-dockerd.log)"
  mkdir -p "$STATE"
  # setsid: the engine outlives this script and the test that called it; it is left running for
  # the next test run (starting it takes seconds, the images stay cached in /var/lib/docker).
  # 9>&-: dockerd must not hold the bootstrap lock, or every later bootstrap waits for it forever.
  setsid dockerd --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs >/var/log/gantry-dockerd.log 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/dockerd.pid"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { say "dockerd did not answer within 30 s; see /var/log/gantry-dockerd.log"; tail -5 /var/log/gantry-dockerd.log >&2; exit 3; }
fi

# A Debian 13 rootfs holds the newer packages (nodejs 20, nats-server 2.10, prometheus 2.53,
# docker-compose 2.26) that Debian 12 lacks. One tarball per package set in $STATE, removed once used.
mirror() { awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo http://deb.debian.org/debian; }
trixie_rootfs() { # NAME PACKAGES [CUSTOMIZE-HOOK]
  local out="$STATE/$1.tar"
  if [ ! -s "$out" ]; then
    command -v mmdebstrap >/dev/null 2>&1 || { say "installing mmdebstrap (apt-get)"; apt_install mmdebstrap; }
    say "building a Debian 13 rootfs with $2 (mmdebstrap)"
    local hook=()
    [ -n "${3:-}" ] && hook=(--customize-hook "$3")
    # The output's extension picks mmdebstrap's format: keep .tar on the partial file.
    rm -rf "$STATE/$1.partial.tar"
    mmdebstrap --quiet --variant=apt --include="$2" "${hook[@]}" trixie "$STATE/$1.partial.tar" "$(mirror)" >&2 || return 1
    mv "$STATE/$1.partial.tar" "$out"
  fi
  printf '%s' "$out"
}

# --- 2. Compose v2 and buildx (the Docker 23+ CLI builds with BuildKit only through buildx) -----
plugin_ok() { docker "$1" version >/dev/null 2>&1; }
if ! plugin_ok compose || ! plugin_ok buildx; then
  can_root_apt || { say "the Compose v2 or buildx plugin is missing: install docker-compose-plugin and docker-buildx-plugin"; exit 3; }
  tar=$(trixie_rootfs plugins docker-compose,docker-buildx)
  mkdir -p "$HOME/.docker/cli-plugins"
  for p in docker-compose docker-buildx; do
    plugin_ok "${p#docker-}" && continue
    tar -xOf "$tar" "./usr/libexec/docker/cli-plugins/$p" >"$HOME/.docker/cli-plugins/$p.partial"
    chmod +x "$HOME/.docker/cli-plugins/$p.partial"
    mv "$HOME/.docker/cli-plugins/$p.partial" "$HOME/.docker/cli-plugins/$p"
  done
  rm -f "$tar" # a rootfs is only a means to its files: hundreds of MB each
  say "$(docker compose version), $(docker buildx version)"
fi

# --- 3. base images ------------------------------------------------------------------------------
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
import_image() { # TAR NAME CHANGE...
  local tar=$1 name=$2
  shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  docker import "${changes[@]}" "$tar" "$name" >/dev/null
  rm -f "$tar"
  say "tagged a Debian 13 stand-in as $name"
}

if ! have_image "$NODE_IMAGE"; then
  # The official image has a `node` user (uid 1000) and npm; so does this one.
  tar=$(trixie_rootfs node 'nodejs,npm,ca-certificates' \
    'echo "node:x:1000:1000::/home/node:/bin/bash" >>"$1/etc/passwd" && echo "node:x:1000:" >>"$1/etc/group" && mkdir -p "$1/home/node" && chown 1000:1000 "$1/home/node"')
  import_image "$tar" "$NODE_IMAGE" 'CMD ["node"]' 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
fi
if ! have_image "$NATS_IMAGE"; then
  # Upstream: `nats-server` on PATH as the entrypoint (flags as the command), busybox wget.
  tar=$(trixie_rootfs nats 'nats-server,wget,ca-certificates')
  import_image "$tar" "$NATS_IMAGE" 'ENTRYPOINT ["nats-server"]' 'EXPOSE 4222 8222' 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
fi
if ! have_image "$PROM_IMAGE"; then
  # Upstream: /bin/prometheus as the entrypoint, runs as nobody, data in /prometheus.
  tar=$(trixie_rootfs prometheus 'prometheus,wget,ca-certificates' 'mkdir -p "$1/prometheus" "$1/etc/prometheus" && chown 65534:65534 "$1/prometheus"')
  import_image "$tar" "$PROM_IMAGE" 'ENTRYPOINT ["/bin/prometheus"]' \
    'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
    'USER nobody' 'WORKDIR /prometheus' 'EXPOSE 9090' 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
fi
say "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short 2>/dev/null || echo '?')"
