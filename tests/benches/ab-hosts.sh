#!/bin/bash
# A/B of two (or more) builds of the `waypost` host on one scenario, interleaved so both
# see the same machine: each round starts each binary in turn, warms up 1 s, then runs
# `wrk -t1` for 3 s at 1 and at 16 connections and prints the request count, p50 and the
# host's CPU time per request (user + system from /proc/<pid>/stat).
#
#   tests/benches/ab-hosts.sh trivial|chain|kv|gateway|webhooks OLD NEW...
#
# OLD and NEW are each a `waypost` binary, optionally followed by `up` flags in the same
# argument: `"target/release/waypost --max-instance-reuse-count 1"` against
# `target/release/waypost` compares fresh instances with reuse in one build.
# trivial, chain and kv use tests/benches/host-bench.toml; gateway and webhooks use the
# gateways bench app: gateway is auth -> quota -> router (X-Api-Key) in front of an
# NGINX upstream on 127.0.0.1:3990, webhooks is DHL pushes to the webhook intake
# (gateways/webhooks.lua, 10% duplicates). Needs wrk (and nginx for gateway). Build a
# baseline with e.g. `git worktree add /tmp/base <commit> && cargo build --release -p waypost`.
set -euo pipefail
SCENARIO=$1; shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd); PORT=3997; HZ=$(getconf CLK_TCK)
KEY=bench_waypost-gateway-benchmark-key-0123456789
WORK=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; [ -f $WORK/nginx.pid ] && kill $(cat $WORK/nginx.pid); rm -rf $WORK' EXIT
HEADERS=(); SCRIPT=()
case $SCENARIO in
  trivial) URL=/trivial/x ;; chain) URL=/chain/x ;; kv) URL="/kv/bench?store=default&key=bench" ;;
  webhooks) URL=/webhooks/dhl/bench; SCRIPT=(-s "$ROOT/tests/benches/gateways/webhooks.lua")
    TOKEN=$(sed -n 's/^dhl_webhook_token = "\(.*\)"/\1/p' "$ROOT/infra/regions/local/runtime-config.toml")
    HEADERS=(-H "x-webhook-token: $TOKEN" -H "content-type: application/json")
    cp "$ROOT/tests/benches/gateways/gateway.toml" $WORK/gateway.toml ;;
  gateway) URL=/v1/carriers/bench/bench; HEADERS=(-H "x-api-key: $KEY")
    cat > $WORK/nginx.conf <<NGINX
worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx.log; daemon on;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:3990; location / { return 200 '{"ok":true}'; } } }
NGINX
    nginx -c $WORK/nginx.conf
    sed 's#http://bench-upstream.invalid#http://127.0.0.1:3990#' "$ROOT/tests/benches/gateways/gateway.toml" > $WORK/gateway.toml ;;
  *) echo "unknown scenario $SCENARIO (trivial, chain, kv, gateway, webhooks)" >&2; exit 2 ;;
esac
start() {
  local bin flags; read -r bin flags <<< "$1"
  rm -rf $WORK/state
  if [ $SCENARIO = gateway ] || [ $SCENARIO = webhooks ]; then
    SPIN_VARIABLE_ADMIN_TOKEN=ab-token $bin up -f "$ROOT/tests/benches/gateways/spin.toml" --listen 127.0.0.1:$PORT \
      --state-dir $WORK/state --cache-dir $WORK/cache --runtime-config-file "$ROOT/infra/regions/local/runtime-config.toml" \
      --variable bench_jwt_secret=0123456789abcdef0123456789abcdef $flags >/dev/null 2>&1 &
  else
    $bin up -f "$ROOT/tests/benches/host-bench.toml" --listen 127.0.0.1:$PORT --state-dir $WORK/state --cache-dir $WORK/cache $flags >/dev/null 2>&1 &
  fi
  PID=$!
  for _ in $(seq 300); do curl -s -o /dev/null "127.0.0.1:$PORT/.well-known/spin/health" && break; sleep 0.2; done
  if [ $SCENARIO = gateway ] || [ $SCENARIO = webhooks ]; then
    curl -sf -o /dev/null -X PUT -H "authorization: Bearer ab-token" -H "content-type: application/toml" \
      --data-binary @$WORK/gateway.toml "127.0.0.1:$PORT/admin/config"
  fi
  if [ $SCENARIO = webhooks ]; then
    curl -s -o /dev/null -w '%{http_code}' "${HEADERS[@]}" --data '{"shipments":[]}' "127.0.0.1:$PORT$URL" | grep -q '^[24]' || { echo "$1: $URL does not answer" >&2; exit 1; }
  else
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${HEADERS[@]}" "127.0.0.1:$PORT$URL")" = 200 ] || { echo "$1: $URL does not answer 200" >&2; exit 1; }
  fi
}
# The host's CPU time and its children's (`spin up` runs its trigger in a child process).
cpu() {
  local total=0 pid
  for pid in $PID $(pgrep -P $PID); do total=$((total + $(awk '{print $14+$15}' /proc/$pid/stat))); done
  echo $total
}
for round in 1 2 3; do for BIN in "$@"; do
  start "$BIN"; out="round $round $(basename "$BIN")"
  for c in 1 16; do
    # webhooks.lua takes a run id, so no run resends another's events.
    wrk -t1 -c$c -d1s "${SCRIPT[@]}" "${HEADERS[@]}" "http://127.0.0.1:$PORT$URL" -- "w$round$c$RANDOM" >/dev/null
    t0=$(cpu); wrk -t1 -c$c -d3s --latency "${SCRIPT[@]}" "${HEADERS[@]}" "http://127.0.0.1:$PORT$URL" -- "m$round$c$RANDOM" > $WORK/wrk.out; t1=$(cpu)
    n=$(awk '/requests in/{print $1}' $WORK/wrk.out)
    out="$out | c=$c requests=$n p50=$(awk '/ 50%/{print $2}' $WORK/wrk.out) cpu_us_per_req=$(( (t1-t0)*1000000/HZ/n ))"
  done
  echo "$out"; kill $PID; wait $PID 2>/dev/null || true
done; done
