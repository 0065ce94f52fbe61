#!/usr/bin/env bash
# sluice beside HAProxy and nginx on the HTTP/1 workloads of ../shared/bench/anchors.sh,
# in one run (same origin, same clients, rotating rounds). Until TLS exists in sluice
# the shared compare.sh (whose config has a TLS frontend) cannot start it; this wrapper
# gives anchors.sh the HTTP/1 half of that configuration instead.
#
#   perf/bench/compare-h1.sh                       # 5 rounds of 8 s, h1_small h1_16k h1_close
#   ROUNDS=7 WORKLOADS=h1_small perf/bench/compare-h1.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
shared=${SHARED:-$top/../shared}
if [[ -z "${SLUICE:-}" ]]; then
  (cd "$top" && cargo build --release -q --bin sluice)
  SLUICE=${CARGO_TARGET_DIR:-$top/target}/release/sluice
fi
export EXTRA_TARGET_NAME=sluice
export EXTRA_TARGET_CMD="$SLUICE -db -q -f \"\$ANCHOR_CONF\""
export EXTRA_TARGET_CONF=$here/sluice-h1.cfg.in
export EXTRA_PORT=${EXTRA_PORT:-18083}
export EXTRA_TLS_PORT=
export TARGETS=${TARGETS:-"origin haproxy nginx"}
export WORKLOADS=${WORKLOADS:-"h1_small h1_16k h1_close"}
export ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-8}
exec "$shared/bench/anchors.sh"
