#!/usr/bin/env bash
# Idempotent setup shared by the README's two commands: npm packages, nats-server, prometheus,
# chromium (for the report test). Fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

# 1. Node.js >= 20
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  say "Node.js >= 20 is required (found $(node --version 2>/dev/null || echo none)). Install it from https://nodejs.org and re-run."
  exit 1
fi

# 2. npm packages: (re)install when node_modules is missing or older than the lockfile.
stamp=node_modules/.gantry-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  say "installing npm packages (npm ci)"
  # tfjs-node(-gpu) are optional: their download of libtensorflow may fail offline, which is fine.
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi

# 3. System packages from apt, when missing.
need=()
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || need+=(prometheus)
if [ "${GANTRY_SETUP_BROWSER:-1}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing ${need[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq "${need[@]}" >&2
  elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
    say "installing ${need[*]} (sudo apt-get)"
    sudo apt-get update -qq >&2 || true
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  else
    say "missing: ${need[*]}. Install them with your package manager (Debian/Ubuntu: apt-get install ${need[*]});"
    say "nats-server is needed for distributed runs and their tests, prometheus and promtool for --prometheus and the monitoring tests, chromium for the report test."
    exit 1
  fi
fi
