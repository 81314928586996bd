#!/usr/bin/env bash
# npm run bench -- NAME [args]: runs bench/NAME.ts; its last stdout line is one JSON object.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
if [ -z "$name" ] || [ ! -f "bench/$name.ts" ]; then
  echo "usage: npm run bench -- NAME [args]; NAME is one of: $(ls bench/*.ts 2>/dev/null | xargs -n1 basename 2>/dev/null | sed 's/\.ts$//' | tr '\n' ' ')" >&2
  exit 2
fi
shift
bash scripts/setup.sh
exec node --import tsx "bench/$name.ts" "$@"
