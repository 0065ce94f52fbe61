#!/usr/bin/env bash
# Does `show stat` under load disturb traffic? sluice with one origin (nginx), wrk
# driving HTTP/1 keep-alive traffic, run twice per round: alone, and with a CLI
# poller sending `show stat` 10 times a second to the stats socket. Rounds alternate
# the order (alone first, then polled first) so drift does not favour one side.
# Prints requests/s of each run, the medians and the ratio polled / alone (1.00 means
# no visible cost).
#
#   perf/bench/cli-poller.sh                         # 5 rounds of 5 s
#   ROUNDS=7 DURATION=8 THREADS=2 perf/bench/cli-poller.sh
#
# Needs: wrk, nginx, python3 (the poller). Traffic stays on 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5} CONNS=${CONNS:-50} THREADS=${THREADS:-1}
RATE=${RATE:-10}
FE_PORT=${FE_PORT:-18093} ORIGIN_PORT=${ORIGIN_PORT:-18094}
if [[ -z "${SLUICE:-}" ]]; then
  (cd "$top" && cargo build --release -q --bin sluice)
  SLUICE=${CARGO_TARGET_DIR:-$top/target}/release/sluice
fi
tmp=$(mktemp -d /tmp/sluice-cli-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 not listening" >&2; return 1
}

cat > "$tmp/nginx.conf" <<CFG
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    location / { return 200 "ok\n"; }
  }
}
CFG
nginx -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)
wait_port "$ORIGIN_PORT"

cat > "$tmp/sluice.cfg" <<CFG
global
  nbthread $THREADS
  maxconn 8000
  stats socket $tmp/admin.sock level admin
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:$FE_PORT
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:$ORIGIN_PORT
CFG
"$SLUICE" -db -q -f "$tmp/sluice.cfg" &
pids+=($!)
wait_port "$FE_PORT"
for _ in $(seq 100); do [[ -S $tmp/admin.sock ]] && break; sleep 0.05; done

# The poller: `show stat` RATE times a second for SECONDS; prints the answers count.
cat > "$tmp/poller.py" <<'PY'
import socket, sys, time
path, rate, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
n, start = 0, time.monotonic()
nxt = start
while time.monotonic() - start < secs:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"show stat\n")
    while s.recv(65536):
        pass
    s.close()
    n += 1
    nxt += 1 / rate
    time.sleep(max(0, nxt - time.monotonic()))
print(n)
PY

run_wrk() { # prints requests/s
  wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$FE_PORT/" \
    | awk '/^Requests\/sec/ { printf "%.0f\n", $2 }'
}
alone() { run_wrk; }
polled() {
  python3 "$tmp/poller.py" "$tmp/admin.sock" "$RATE" "$DURATION" >"$tmp/polls" &
  local pp=$!
  local r; r=$(run_wrk)
  wait "$pp" || true
  echo "$r $(cat "$tmp/polls")"
}

run_wrk >/dev/null # warm-up
printf '%-6s %12s %12s %8s\n' round alone polled polls
a_all=() p_all=()
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then a=$(alone); read -r p n <<<"$(polled)"
  else read -r p n <<<"$(polled)"; a=$(alone); fi
  a_all+=("$a"); p_all+=("$p")
  printf '%-6s %12s %12s %8s\n' "$r" "$a" "$p" "$n"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END { print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'; }
ma=$(median "${a_all[@]}"); mp=$(median "${p_all[@]}")
printf '%-6s %12s %12s\n' median "$ma" "$mp"
awk -v a="$ma" -v p="$mp" 'BEGIN { printf "ratio polled/alone: %.3f\n", p / a }'
