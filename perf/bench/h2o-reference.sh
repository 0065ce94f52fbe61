#!/usr/bin/env bash
# The reference point the HTTP/2 benchmark goal was calibrated on: h2o (Debian's
# package) as a TLS + HTTP/2 reverse proxy in front of the same origin, against
# HAProxy, in the harness compare.sh uses (../shared/bench/anchors.sh: same origin,
# same h2load client, interleaved rounds, proxy CPU-µs per request from /proc).
# sluice is not run here: run compare.sh for it in the same sitting.
#
#   perf/bench/h2o-reference.sh                      # h2tls_small, 5 rounds, unpinned
#   PIN_MODES="0 1" perf/bench/h2o-reference.sh      # also proxy pinned to CPU 0
#
# Needs (installed if missing, as root): h2o haproxy nginx nghttp2-client wrk curl.
# Traffic stays on 127.0.0.1; h2o runs in the foreground and is stopped by its PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
anchors=${ANCHORS:-$(cd "$here/../../.." && pwd)/shared/bench/anchors.sh}
[[ -x "$anchors" ]] || { echo "anchors.sh not found at $anchors (set ANCHORS=)" >&2; exit 2; }
need=()
for t in h2o haproxy nginx wrk h2load curl; do command -v "$t" >/dev/null || need+=("$t"); done
if ((${#need[@]})); then
  pkgs=$(printf '%s\n' "${need[@]}" | sed 's/^h2load$/nghttp2-client/' | sort -u | tr '\n' ' ')
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
fi
export EXTRA_TARGET_NAME=h2o
export EXTRA_TARGET_CMD='h2o -c "$ANCHOR_CONF"'
export EXTRA_TARGET_CONF=$here/h2o.conf.in
export EXTRA_PORT=${EXTRA_PORT:-18083} EXTRA_TLS_PORT=${EXTRA_TLS_PORT:-18447}
export TARGETS=${TARGETS:-haproxy} WORKLOADS=${WORKLOADS:-h2tls_small}
export ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-6}
exec "$anchors"
