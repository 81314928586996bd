#!/usr/bin/env bash
# The test command: setup, typecheck, then every test file (unit, integration, e2e) with
# node's test runner. Files are passed explicitly (Node 20's --test does not expand globs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[test] typecheck" >&2
npx tsc --noEmit -p .
mapfile -t files < <(find test -name '*.test.ts' | sort)
echo "[test] ${#files[@]} test files" >&2
# Files run in parallel, two at a time (2 cores); each file starts its own servers on free ports.
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec "$@" "${files[@]}"
