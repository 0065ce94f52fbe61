#!/usr/bin/env bash
# New TLS connections per second (full handshakes, no resumption) through sluice and
# HAProxy, same certificate, same client, one run. Each proxy runs one thread pinned
# to CPU 0 and answers locally (`http-request return`, no server); the client
# (`openssl s_time -new`, one handshake per connection) runs on CPU 1. Besides the
# client-side rate, the proxy's own CPU time is read from /proc, so the figure that
# matters — proxy CPU-µs per handshake — does not depend on the client keeping up.
#
#   perf/bench/tls-handshakes.sh                  # ec (P-256) and rsa (2048), 3 rounds of 5 s
#   KEYS=ec ROUNDS=5 DURATION=8 perf/bench/tls-handshakes.sh
#   TLS=-tls1_2 perf/bench/tls-handshakes.sh      # force TLS 1.2 on the client
#
# Needs: openssl, haproxy (skipped if missing), taskset. Traffic stays on 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
KEYS=${KEYS:-"ec rsa"} ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} TLS=${TLS:-}
SLUICE_PORT=${SLUICE_PORT:-18443} HAPROXY_PORT=${HAPROXY_PORT:-18444}
if [[ -z "${SLUICE:-}" ]]; then
  (cd "$top" && cargo build --release -q --bin sluice)
  SLUICE=${CARGO_TARGET_DIR:-$top/target}/release/sluice
fi
HAPROXY=${HAPROXY:-$(command -v haproxy || true)}
tmp=$(mktemp -d /tmp/sluice-tls-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
tck=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 not listening" >&2; return 1
}

config() { # port pem
  cat <<CFG
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend tls
  bind 127.0.0.1:$1 ssl crt $2 alpn http/1.1
  http-request return status 200 content-type text/plain string ok
CFG
}

# One measurement: prints "rate cpu_us_per_handshake".
measure() { # pid port
  local t0 t1 out n secs
  t0=$(cpu_ticks "$1")
  out=$(taskset -c 1 timeout $((DURATION + 10)) openssl s_time -connect "127.0.0.1:$2" -new \
        -time "$DURATION" $TLS 2>/dev/null | grep -m1 'connections in .* real seconds' || true)
  t1=$(cpu_ticks "$1")
  n=$(awk '{print $1}' <<<"$out"); secs=$(awk '{print $4}' <<<"$out")
  [[ -n "$n" && "$n" -gt 0 ]] || { echo "0 0"; return; }
  awk -v n="$n" -v s="$secs" -v c=$((t1 - t0)) -v tck="$tck" \
    'BEGIN { printf "%.0f %.1f\n", n / s, c / tck * 1e6 / n }'
}

printf '%-5s %-8s %10s %14s %8s\n' key proxy "hs/s" "cpu-us/hs" ratio
for key in $KEYS; do
  case $key in
    ec) openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
          -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
          -keyout "$tmp/$key.key" -out "$tmp/$key.crt" 2>/dev/null ;;
    rsa) openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
          -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
          -keyout "$tmp/$key.key" -out "$tmp/$key.crt" 2>/dev/null ;;
    *) echo "unknown key type $key" >&2; exit 2 ;;
  esac
  pem=$tmp/$key.pem
  cat "$tmp/$key.crt" "$tmp/$key.key" > "$pem"
  config "$SLUICE_PORT" "$pem" > "$tmp/sluice-$key.cfg"
  config "$HAPROXY_PORT" "$pem" > "$tmp/haproxy-$key.cfg"
  taskset -c 0 "$SLUICE" -db -q -f "$tmp/sluice-$key.cfg" > "$tmp/sluice.log" 2>&1 &
  spid=$!; pids+=("$spid")
  wait_port "$SLUICE_PORT"
  hpid=
  if [[ -n "$HAPROXY" ]]; then
    taskset -c 0 "$HAPROXY" -db -f "$tmp/haproxy-$key.cfg" > "$tmp/haproxy.log" 2>&1 &
    hpid=$!; pids+=("$hpid")
    wait_port "$HAPROXY_PORT"
  fi
  declare -A rate=() cpu=()
  for r in $(seq "$ROUNDS"); do
    # Rotate the order every round so neither proxy always goes first.
    order="sluice haproxy"; (( r % 2 == 0 )) && order="haproxy sluice"
    for who in $order; do
      if [[ $who == sluice ]]; then read -r a b < <(measure "$spid" "$SLUICE_PORT")
      elif [[ -n "$hpid" ]]; then read -r a b < <(measure "$hpid" "$HAPROXY_PORT")
      else continue; fi
      rate[$who]="${rate[$who]:-} $a"; cpu[$who]="${cpu[$who]:-} $b"
    done
  done
  median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
  hcpu=; [[ -n "$hpid" ]] && hcpu=$(median "${cpu[haproxy]}")
  for who in sluice haproxy; do
    [[ -z "${rate[$who]:-}" ]] && continue
    rt=$(median "${rate[$who]}"); c=$(median "${cpu[$who]}")
    ratio=-; [[ -n "$hcpu" ]] && ratio=$(awk -v a="$c" -v b="$hcpu" 'BEGIN { printf "%.2f", a / b }')
    printf '%-5s %-8s %10s %14s %8s\n' "$key" "$who" "$rt" "$c" "$ratio"
  done
  kill "$spid" ${hpid:+"$hpid"} 2>/dev/null || true
  wait "$spid" ${hpid:+"$hpid"} 2>/dev/null || true
  unset rate cpu
done
echo "(median of $ROUNDS rounds of ${DURATION}s; ratio = proxy CPU-us per handshake / HAProxy's;"
echo " client: openssl s_time -new $TLS on CPU 1, $(openssl version | cut -d' ' -f1-2); proxies on CPU 0, one thread)"
