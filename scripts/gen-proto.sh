#!/usr/bin/env bash
# Regenerates the TypeScript types of proto/gantry/v1/ into services/wire/generated/ (committed).
# Usage: scripts/gen-proto.sh [OUT_DIR]   (OUT_DIR defaults to services/wire/generated)
#
# The flags must match LOADER_OPTIONS in services/wire/proto.ts (the runtime loadSync options):
# keepCase false (camelCase fields), longs Number (int64/uint64 become JS numbers: shapes and
# iterations stay far below 2^53), enums String, defaults true, oneofs true.
# proto-loader-gen-types writes extensionless relative imports; the project resolves modules as
# NodeNext, so the sed below appends ".ts" to each of them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${1:-services/wire/generated}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js \
  --longs=Number --enums=String --defaults --oneofs \
  --grpcLib=@grpc/grpc-js --includeComments \
  -I proto -O "$tmp" \
  gantry/v1/generator.proto gantry/v1/discriminator.proto gantry/v1/collective.proto gantry/v1/worker.proto

find "$tmp" -name '*.ts' -print0 |
  xargs -0 sed -i -E "s#(from '\.\.?/[^']*)';#\1.ts';#"

rm -rf "$out"
mkdir -p "$out"
cp -r "$tmp"/. "$out"/
