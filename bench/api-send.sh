#!/usr/bin/env bash
# HTTP send benchmark: one `hikyaku serve` (release build) delivering to Postfix's smtp-sink,
# measured three ways in one sitting, each message of about SIZE bytes to one recipient:
#   smtp    Postfix's smtp-source, N messages over C sessions (one connection per message)
#   single  wrk, C connections posting POST /api/v1/messages for SECS seconds
#   batch   wrk, C connections posting POST /api/v1/messages/batch of 100 entries for SECS seconds
# Prints recipients per second for each, and wrk's p50/p99 request latency.
#
#   bench/api-send.sh [-n N] [-c C] [-d SECS] [-s SIZE]      defaults: 5000 16 10 2048
#
# Needs: postfix (smtp-source, smtp-sink), wrk; a release build (built here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
N=5000 CONC=16 SECS=10 SIZE=2048
while getopts 'n:c:d:s:' o; do case $o in n) N=$OPTARG;; c) CONC=$OPTARG;; d) SECS=$OPTARG;; s) SIZE=$OPTARG;; *) exit 1;; esac; done
for tool in smtp-source smtp-sink wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install postfix wrk curl)" >&2; exit 1; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hikyaku-target}"
if [ -z "${HIKYAKU_BIN:-}" ]; then
  cargo build --release --quiet -p hikyaku
  HIKYAKU_BIN="$CARGO_TARGET_DIR/release/hikyaku"
fi

W=$(mktemp -d)
RELAY_PORT=${RELAY_PORT:-30126} SINK_PORT=${SINK_PORT:-30125} HTTP_PORT=${HTTP_PORT:-30127}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

for port in "$RELAY_PORT" "$SINK_PORT" "$HTTP_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use (a server left from an earlier run?)" >&2; exit 1
  fi
done
u=(); [ "$(id -u)" = 0 ] && u=(-u nobody)   # smtp-sink refuses to run as root without -u
smtp-sink -4 -c -m 1024 "${u[@]}" "127.0.0.1:$SINK_PORT" 1024 > "$W/sink.out" 2> "$W/sink.err" &
pids+=($!)

cat > "$W/hikyaku.toml" <<TOML
data_dir = "$W/data"
[relay]
listen = "127.0.0.1:$RELAY_PORT"
hostname = "relay.bench.test"
max_recipients = 1000
[http]
listen = "127.0.0.1:$HTTP_PORT"
[api]
requests_per_second = 1000000
burst = 1000000
max_body_bytes = "64MiB"
[delivery]
resolver = "static"
route = [{ domain = "*", host = "127.0.0.1:$SINK_PORT" }]
destination = [{ match = "*", max_connections = 50 }]
[log]
level = "warn"
TOML
H() { "$HIKYAKU_BIN" --config "$W/hikyaku.toml" "$@"; }
customer=$(H contract create --name bench --json | sed -E 's/.*"customer_id": *"([a-z0-9]+)".*/\1/')
H allowed-ip add "$customer" 127.0.0.1/32 >/dev/null
key=$(H api-key create "$customer" --name bench --json | sed -E 's/.*"key": *"(hk_[A-Za-z0-9]+)".*/\1/')
# Started directly, not through H: the PID kept must be the server's own, or the cleanup would
# stop a subshell and leave the server running on the port for the next run to find.
"$HIKYAKU_BIN" --config "$W/hikyaku.toml" serve > "$W/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || { cat "$W/serve.log" >&2; exit 1; }

# The same text for both ways in: SIZE bytes of body.
text=$(head -c "$SIZE" /dev/zero | tr '\0' 'x' | fold -w 76)
text_json=$(printf '%s' "$text" | sed ':a;N;$!ba;s/\n/\\n/g')
single='{"from":"sender@bench.test","to":"rcpt@bench.test","subject":"bench","text":"'"$text_json"'"}'
entries=$(for i in $(seq 100); do printf '{"to":"rcpt%s@bench.test"},' "$i"; done)
batch='{"template":{"from":"sender@bench.test","subject":"bench","text":"'"$text_json"'"},"recipients":['"${entries%,}"']}'

status=$(curl -s -o "$W/check.json" -w '%{http_code}' -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d "$single" "http://127.0.0.1:$HTTP_PORT/api/v1/messages")
[ "$status" = 202 ] || { echo "a single send answered $status: $(cat "$W/check.json")" >&2; exit 1; }

now() { date +%s.%N; }
echo "== smtp: smtp-source, $N messages, $CONC sessions"
t0=$(now)
smtp-source -4 -s "$CONC" -l "$SIZE" -m "$N" -f sender@bench.test -t rcpt@bench.test \
  -M client.bench.test -S bench "127.0.0.1:$RELAY_PORT" > "$W/source.out" 2>&1
t1=$(now)
smtp_rps=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "   $smtp_rps recipients/s"

lua() {  # body file -> wrk script
  cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
local f = io.open("$1", "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("requests=%d errors=%d p50_ms=%.2f p99_ms=%.2f\n", summary.requests, errors,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
}
printf '%s' "$single" > "$W/single.json"; lua "$W/single.json" > "$W/single.lua"
printf '%s' "$batch" > "$W/batch.json"; lua "$W/batch.json" > "$W/batch.lua"

run_wrk() {  # name script recipients-per-request
  echo "== $1: wrk, $CONC connections, ${SECS}s"
  wrk -t2 -c "$CONC" -d "${SECS}s" -s "$2" "http://127.0.0.1:$HTTP_PORT/api/v1/messages${4:-}" > "$W/$1.out"
  local line; line=$(grep '^requests=' "$W/$1.out")
  local requests errors p50 p99
  requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line"); errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
  p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line"); p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
  local rps; rps=$(awk -v r="$requests" -v k="$3" -v s="$SECS" 'BEGIN { printf "%.0f", r * k / s }')
  echo "   $rps recipients/s ($requests requests, $errors errors), latency p50 ${p50} ms, p99 ${p99} ms"
  eval "${1}_rps=$rps ${1}_p50=$p50 ${1}_p99=$p99 ${1}_errors=$errors"
}
run_wrk single "$W/single.lua" 1
run_wrk batch "$W/batch.lua" 100 /batch

echo
echo "size=$SIZE concurrency=$CONC seconds=$SECS smtp_messages=$N"
printf '%-8s %12s %10s %10s\n' way recipients/s p50_ms p99_ms
printf '%-8s %12s %10s %10s\n' smtp "$smtp_rps" - -
printf '%-8s %12s %10s %10s\n' single "$single_rps" "$single_p50" "$single_p99"
printf '%-8s %12s %10s %10s\n' batch "$batch_rps" "$batch_p50" "$batch_p99"
awk -v b="$batch_rps" -v s="$smtp_rps" 'BEGIN { if (s > 0) printf "ratio batch/smtp = %.2f\n", b / s }'
[ "$single_errors" = 0 ] && [ "$batch_errors" = 0 ] || { echo "wrk saw errors" >&2; exit 1; }
