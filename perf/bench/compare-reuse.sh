#!/usr/bin/env bash
# Backend reuse through sluice and HAProxy, same origin, same client, one run
# (rounds interleaved): HTTP/1 keep-alive servers and HTTP/2 (`proto h2`) servers,
# with clients that keep their connection (`ka`) or open one per request (`new`).
# Prints requests/s, proxy CPU-µs per request (and the ratio to HAProxy), and the
# reuse ratio: 1 - (connections the origin accepted / requests served).
#
#   perf/bench/compare-reuse.sh                     # 5 rounds of 5 s, every workload
#   ROUNDS=3 WORKLOADS="h2_new" perf/bench/compare-reuse.sh
#
# The origin is nginx (HTTP/1 on one port, clear HTTP/2 on another, `stub_status`
# for its accepted-connection count). Each proxy runs one thread on CPU 0, nginx on
# CPU 1, the client (wrk) on CPU 1. Needs nginx, haproxy, wrk, taskset. Traffic
# stays on 127.0.0.1; every run is bounded by DURATION.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5}
WORKLOADS=${WORKLOADS:-"h1_ka h1_new h2_ka h2_new"}
if [[ -z "${SLUICE:-}" ]]; then
  (cd "$top" && cargo build --release -q --bin sluice)
  SLUICE=${CARGO_TARGET_DIR:-$top/target}/release/sluice
fi
HAPROXY=${HAPROXY:-$(command -v haproxy)}
for t in nginx wrk taskset; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }; done
tmp=$(mktemp -d /tmp/sluice-reuse-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)
O1=18191 O2=18192 OS=18193   # origin: HTTP/1, HTTP/2 (h2c), stub_status
P_S=18194 P_H=18195          # proxies' first port (HTTP/1 servers); +10 for HTTP/2 servers

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 not listening" >&2; return 1
}
accepted() { curl -s "http://127.0.0.1:$OS/" | awk 'NR==3 {print $1}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

mkdir -p "$tmp/logs"
cat > "$tmp/nginx.conf" <<CFG
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  http2_max_requests 1000000;
  http2_max_concurrent_streams 128;
  server { listen 127.0.0.1:$O1; location / { return 200 "small response\n"; } }
  server { listen 127.0.0.1:$O2 http2; location / { return 200 "small response\n"; } }
  server { listen 127.0.0.1:$OS; location / { stub_status; } }
}
CFG
taskset -c 1 nginx -p "$tmp" -c "$tmp/nginx.conf"
wait_port $O1; wait_port $O2; wait_port $OS

proxy_cfg() { # port
  cat <<CFG
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  option http-keep-alive
frontend h1srv
  bind 127.0.0.1:$1
  default_backend h1
frontend h2srv
  bind 127.0.0.1:$(($1 + 10))
  default_backend h2
backend h1
  http-reuse always
  server s1 127.0.0.1:$O1
backend h2
  http-reuse always
  server s1 127.0.0.1:$O2 proto h2
CFG
}
proxy_cfg $P_S > "$tmp/sluice.cfg"
proxy_cfg $P_H > "$tmp/haproxy.cfg"
taskset -c 0 "$SLUICE" -db -q -f "$tmp/sluice.cfg" & pids+=($!); spid=$!
taskset -c 0 "$HAPROXY" -db -q -f "$tmp/haproxy.cfg" & pids+=($!); hpid=$!
wait_port $P_S; wait_port $P_H

# One measurement: prints "rps cpu_us_per_req reuse".
measure() { # pid port mode(ka|new)
  local hdr=() a0 a1 t0 t1 out reqs secs
  [[ $3 == new ]] && hdr=(-H "Connection: close")
  a0=$(accepted); t0=$(cpu_ticks "$1")
  out=$(taskset -c 1 timeout $((DURATION + 10)) wrk -t1 -c32 -d"${DURATION}s" "${hdr[@]}" \
        "http://127.0.0.1:$2/r" 2>/dev/null)
  t1=$(cpu_ticks "$1"); a1=$(accepted)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  secs=$(awk '/requests in/ {gsub("s,","",$4); print $4}' <<<"$out")
  # stub_status counts its own request as an accepted connection.
  awk -v r="$reqs" -v s="$secs" -v c="$((t1 - t0))" -v hz="$tck" -v a="$((a1 - a0 - 1))" \
    'BEGIN { if (r > 0) printf "%.0f %.2f %.4f\n", r / s, c * 1e6 / hz / r, 1 - a / r; else print "0 0 0" }'
}

printf '%s\n' "date: $(date -Is)  rounds: $ROUNDS x ${DURATION}s  sluice: $SLUICE  haproxy: $($HAPROXY -v | head -1)"
declare -A res
for wl in $WORKLOADS; do
  port_off=0; [[ $wl == h2_* ]] && port_off=10
  mode=${wl#*_}
  for r in $(seq "$ROUNDS"); do
    for who in sluice haproxy; do
      if [[ $who == sluice ]]; then pid=$spid port=$((P_S + port_off)); else pid=$hpid port=$((P_H + port_off)); fi
      m=$(measure "$pid" "$port" "$mode")
      echo "  $wl r$r $who: $m (req/s, cpu-us/req, reuse)"
      res[$wl,$who]+="$m"$'\n'
    done
  done
done
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo
echo "| workload | target | req/s | CPU-µs/req | vs HAProxy | reuse |"
echo "|---|---|---:|---:|---:|---:|"
for wl in $WORKLOADS; do
  h_cpu=$(cut -d' ' -f2 <<<"${res[$wl,haproxy]}" | sed '/^$/d' | median)
  for who in haproxy sluice; do
    d=${res[$wl,$who]}
    rps=$(cut -d' ' -f1 <<<"$d" | sed '/^$/d' | median)
    cpu=$(cut -d' ' -f2 <<<"$d" | sed '/^$/d' | median)
    reuse=$(cut -d' ' -f3 <<<"$d" | sed '/^$/d' | median)
    ratio=$(awk -v a="$cpu" -v b="$h_cpu" 'BEGIN { printf "%.2f", a / b }')
    echo "| $wl | $who | $rps | $cpu | $ratio | $reuse |"
  done
done
