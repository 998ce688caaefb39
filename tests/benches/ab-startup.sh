#!/bin/bash
# A/B of how long two (or more) builds of the `waypost` host take from launch to
# `Serving` for the demo app (spin.toml, the local runtime config), interleaved so both
# see the same machine. Each build gets a cache directory of its own, filled by one
# cold start first; then each round starts each build in turn on a fresh state dir.
# Prints the cold start, every warm start, the median of each build, and the ratio of
# each median to the first build's.
#
#   tests/benches/ab-startup.sh OLD NEW...        (ROUNDS=5 by default)
#
# OLD and NEW are each a `waypost` binary, optionally followed by `up` flags in the same
# argument (`"target/release/waypost --disable-cache"`). The components must be built
# (`waypost build`, or `cargo build --target wasm32-wasip2 --release`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd); ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf $WORK' EXIT

# Milliseconds from launching build $1 (binary and flags) with cache dir $2 to its
# `Serving` line.
start_ms() {
  local bin flags state; read -r bin flags <<< "$1"; state=$(mktemp -d -p $WORK)
  local t0; t0=$(date +%s%N)
  # shellcheck disable=SC2086
  (cd "$ROOT" && exec $bin up --listen 127.0.0.1:0 --state-dir $state --cache-dir $2 \
    --runtime-config-file infra/regions/local/runtime-config.toml $flags) 2>$state/err >/dev/null &
  local pid=$!
  until grep -q Serving $state/err 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "$1 stopped: $(cat $state/err)" >&2; exit 1; }
    sleep 0.005
  done
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
  kill $pid; wait $pid 2>/dev/null || true
}

i=0
for build in "$@"; do
  echo "$(basename "${build%% *}")${build#"${build%% *}"}: cold $(start_ms "$build" $WORK/cache$i) ms"
  i=$((i + 1))
done
declare -A warm
for round in $(seq "$ROUNDS"); do
  i=0
  for build in "$@"; do
    warm[$i]="${warm[$i]:-} $(start_ms "$build" $WORK/cache$i)"
    i=$((i + 1))
  done
done
i=0; base=
for build in "$@"; do
  median=$(tr ' ' '\n' <<< "${warm[$i]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
  base=${base:-$median}
  echo "$(basename "${build%% *}")${build#"${build%% *}"}: warm${warm[$i]} ms, median $median ms, $(awk -v m="$median" -v b="$base" 'BEGIN {printf "%.2f", m / b}')x the first"
  i=$((i + 1))
done
