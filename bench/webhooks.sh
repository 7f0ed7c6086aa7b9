#!/usr/bin/env bash
# Webhook benchmark, two parts in one sitting, against a fast local receiver
# (bench/webhook-receiver.py: answers 204, counts events once per webhook-id, verifies the
# signatures with the `standardwebhooks` package, every request by default):
#
# 1. Throughput: W messages go through `hikyaku serve` (webhooks sender off) to Postfix's
#    smtp-sink, leaving their `accepted` and `delivered` events (2W) in the outbox of one
#    endpoint subscribed to everything; then the node is restarted with the sender on and the
#    receiver times the drain, first request to last event: events per second, once for a
#    batching endpoint (the default batching) and once for a one-event-per-request endpoint.
# 2. Cost on mail: the relay benchmark (../shared/bench/relay_bench.sh: smtp-source -> hikyaku
#    serve -> smtp-sink, N messages of SIZE bytes over C sessions) with webhooks off (the
#    contract has no endpoint) and on (an endpoint subscribed to every event, posting to the
#    receiver while the mail flows), alternating, REPEAT rounds each; medians, the ratio on/off
#    and the cost in percent (the target: under 10 %).
#
#   bench/webhooks.sh [-n N] [-w W] [-s SIZE] [-c C] [-R REPEAT] [-v VERIFY_EVERY]
#                                             defaults: 20000 5000 2k 30 3 1
#
# The receiver also checks that each message's events arrive in order and how long after its
# oldest event each request arrives (lag_ms: p50 / p99 / max), both printed for the "on" runs.
#
# Needs: postfix (smtp-source, smtp-sink), python3 with standardwebhooks, curl; a release build
# (built here if missing, or HIKYAKU_BIN=/path/to/hikyaku).
set -euo pipefail
cd "$(dirname "$0")/.."
N=20000 W=5000 SIZE=2k CONC=30 REPEAT=3 VERIFY_EVERY=1
while getopts 'n:w:s:c:R:v:' o; do
  case $o in n) N=$OPTARG;; w) W=$OPTARG;; s) SIZE=$OPTARG;; c) CONC=$OPTARG;; R) REPEAT=$OPTARG;;
    v) VERIFY_EVERY=$OPTARG;; *) exit 1;; esac
done
PATH=$PATH:/usr/sbin:/sbin
for tool in smtp-source smtp-sink curl python3 ss; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install postfix curl iproute2)" >&2; exit 1; }
done
python3 -c 'import standardwebhooks' 2>/dev/null || { echo "pip install standardwebhooks" >&2; exit 1; }
HARNESS=${HARNESS:-../shared/bench/relay_bench.sh}
[ -x "$HARNESS" ] || HARNESS="bash $HARNESS"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hikyaku-target}"
if [ -z "${HIKYAKU_BIN:-}" ]; then
  cargo build --release --quiet -p hikyaku
  HIKYAKU_BIN="$CARGO_TARGET_DIR/release/hikyaku"
fi
export HIKYAKU_BIN

# Ports of their own, so that this runs beside bench/relay.sh.
RELAY_PORT=${RELAY_PORT:-30226} SINK_PORT=${SINK_PORT:-30225} WH_PORT=${WH_PORT:-30228}
export WH_PORT
T=$(mktemp -d "${BENCH_TMP:-/var/tmp}/webhooks_bench.XXXXXX")
export SECRET_FILE=$T/secret
: > "$SECRET_FILE"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
wait_listen() { for _ in $(seq 400); do listening "$1" && return 0; sleep 0.05; done; return 1; }
for port in "$RELAY_PORT" "$SINK_PORT" "$WH_PORT"; do
  listening "$port" && { echo "port $port is already in use (a server left from an earlier run?)" >&2; exit 1; }
done

python3 bench/webhook-receiver.py "$WH_PORT" "$SECRET_FILE" "$VERIFY_EVERY" > "$T/receiver.out" 2> "$T/receiver.err" &
pids+=($!)
wait_listen "$WH_PORT" || { cat "$T/receiver.err" >&2; exit 1; }
stats() { curl -sf "http://127.0.0.1:$WH_PORT/${1:-stats}"; }
# stat JSON FIELD: one counter of a /stats answer.
stat() { python3 -c 'import json,sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print(json.dumps(v) if isinstance(v, dict) else v)' "$1" "$2"; }

# ---- 1. throughput ---------------------------------------------------------------------------
# config DIR WEBHOOKS_ENABLED: a node relaying everything to the sink.
config() {
  cat > "$1/hikyaku.toml" <<TOML
data_dir = "$1/data"
[relay]
listen = "127.0.0.1:$RELAY_PORT"
hostname = "relay.bench.test"
[http]
listen = "127.0.0.1:0"
[delivery]
resolver = "static"
route = [{ domain = "*", host = "127.0.0.1:$SINK_PORT" }]
destination = [{ match = "*", max_connections = 50 }]
[webhooks]
enabled = $2
allow_private_endpoints = true
[log]
level = "warn"
TOML
}
sink_count() {  # smtp-sink -c writes "sess=A quit=B mesg=C\r" after each event
  local t; t=$(tail -c 256 "$T/sink.out" 2>/dev/null); t=${t%$'\r'*}; t=${t##*$'\r'}; t=${t##*mesg=}
  [[ $t =~ ^[0-9]+$ ]] && echo "$t" || echo 0
}
throughput() {  # name webhook-add-options...
  local name=$1 D id secret serve expected s deadline
  shift
  D=$T/$name; mkdir -p "$D"
  config "$D" false
  H() { "$HIKYAKU_BIN" --config "$D/hikyaku.toml" "$@"; }
  id=$(H contract create --name bench --json | sed -E 's/.*"customer_id": *"([a-z0-9]+)".*/\1/')
  H allowed-ip add "$id" 127.0.0.1/32 >/dev/null
  secret=$(H webhook add "$id" --url "http://127.0.0.1:$WH_PORT/hook" "$@" --json |
           sed -E 's/.*"secret": *"(whsec_[A-Za-z0-9+\/=]+)".*/\1/')
  printf '%s\n' "$secret" > "$SECRET_FILE"
  local u=(); [ "$(id -u)" = 0 ] && u=(-u nobody)
  smtp-sink -4 -c -m 1024 "${u[@]}" "127.0.0.1:$SINK_PORT" 1024 > "$T/sink.out" 2> "$T/sink.err" &
  local sink=$!
  wait_listen "$SINK_PORT" || { cat "$T/sink.err" >&2; exit 1; }
  # The fill: mail flows, events pile up in the outbox (no sender on this node).
  "$HIKYAKU_BIN" --config "$D/hikyaku.toml" serve > "$D/serve.log" 2>&1 &
  serve=$!
  wait_listen "$RELAY_PORT" || { cat "$D/serve.log" >&2; exit 1; }
  smtp-source -4 -s "$CONC" -l "$BYTES" -m "$W" -f sender@bench.test -t rcpt@bench.test \
    -M client.bench.test -S bench "127.0.0.1:$RELAY_PORT" > /dev/null
  deadline=$((SECONDS + 600))
  until [ "$(sink_count)" -ge "$W" ]; do [ $SECONDS -lt $deadline ] || { echo "fill timed out" >&2; exit 1; }; sleep 0.1; done
  kill -TERM "$serve"; wait "$serve" || true
  kill "$sink"; wait "$sink" 2>/dev/null || true
  # The drain: the same node with its sender on; the receiver times it.
  expected=$((2 * W))
  stats reset > /dev/null
  config "$D" true
  "$HIKYAKU_BIN" --config "$D/hikyaku.toml" serve >> "$D/serve.log" 2>&1 &
  serve=$!
  deadline=$((SECONDS + 900))
  while s=$(stats); [ "$(stat "$s" events)" -lt "$expected" ]; do
    [ $SECONDS -lt $deadline ] || { echo "$name: drain timed out: $s" >&2; break; }
    sleep 0.2
  done
  kill -TERM "$serve"; wait "$serve" || true
  python3 - "$name" "$s" "$expected" <<'PY'
import json, sys
name, s, expected = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
secs = (s["last"] - s["first"]) if s["first"] is not None else 0
rate = s["events"] / secs if secs > 0 else float("nan")
print(f"{name:<16} events={s['events']}/{expected} secs={secs:.2f} events_per_s={rate:.0f} "
      f"requests_per_s={s['unique_requests'] / secs if secs > 0 else float('nan'):.0f} "
      f"events_per_request={s['events'] / max(s['unique_requests'], 1):.1f} max_batch={s['max_batch']} "
      f"verified={s['verified']} bad={s['bad']} retried={s['requests'] - s['unique_requests'] - s['bad']} "
      f"out_of_order={s['out_of_order']} "
      f"kinds={json.dumps(s['kinds'], sort_keys=True, separators=(',', ':'))}")
PY
}
case $SIZE in *[kK]) BYTES=$(( ${SIZE%[kK]} * 1024 ));; *) BYTES=$SIZE;; esac
echo "== webhook throughput: the events of $W messages drained from the outbox"
throughput batched | tee "$T/tp.batched"
throughput one-per-request --one-per-request | tee "$T/tp.single"

# ---- 2. cost on mail -------------------------------------------------------------------------
# Started by the harness with RELAY_PORT, SINK_PORT and BENCH_DIR set; WEBHOOKS=on gives the
# contract an endpoint subscribed to every event, posting to the receiver.
RELAY_CMD='
cat > "$BENCH_DIR/hikyaku.toml" <<TOML
data_dir = "$BENCH_DIR/data"
[relay]
listen = "127.0.0.1:$RELAY_PORT"
hostname = "relay.bench.test"
[http]
listen = "127.0.0.1:0"
[delivery]
resolver = "static"
route = [{ domain = "*", host = "127.0.0.1:$SINK_PORT" }]
destination = [{ match = "*", max_connections = 50 }]
[webhooks]
allow_private_endpoints = true
[log]
level = "warn"
TOML
H() { "$HIKYAKU_BIN" --config "$BENCH_DIR/hikyaku.toml" "$@"; }
id=$(H contract create --name bench --json | sed -E "s/.*\"customer_id\": *\"([a-z0-9]+)\".*/\\1/")
H allowed-ip add "$id" 127.0.0.1/32 >/dev/null
if [ "$WEBHOOKS" = on ]; then
  H webhook add "$id" --url "http://127.0.0.1:$WH_PORT/hook" --json |
    sed -E "s/.*\"secret\": *\"(whsec_[A-Za-z0-9+\\/=]+)\".*/\\1/" > "$SECRET_FILE"
fi
exec "$HIKYAKU_BIN" --config "$BENCH_DIR/hikyaku.toml" serve'

echo
echo "== limit: smtp-source -> smtp-sink"
$HARNESS -n "$N" -s "$SIZE" -c "$CONC" -p "$RELAY_PORT" -P "$SINK_PORT" limit | tee "$T/limit" | sed 's/^/  /'
for ((i = 1; i <= REPEAT; i++)); do
  for mode in off on; do
    echo "== round $i: webhooks $mode"
    stats reset > /dev/null
    WEBHOOKS=$mode $HARNESS -n "$N" -s "$SIZE" -c "$CONC" -p "$RELAY_PORT" -P "$SINK_PORT" -t 600 -L \
      cmd -- "$RELAY_CMD" | tee "$T/run.$mode.$i" | sed 's/^/  /'
    if [ "$mode" = on ]; then
      s=$(stats)
      echo "  webhook events received while the mail flowed: $(stat "$s" events) of $((2 * N))" \
           "in $(stat "$s" unique_requests) requests (verified $(stat "$s" verified), bad $(stat "$s" bad));" \
           "out_of_order=$(stat "$s" out_of_order) lag_ms=$(stat "$s" lag_ms)" |
        tee -a "$T/run.$mode.$i"
    fi
  done
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "NA"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'; }
field() { cat "$T"/run.$1.* | sed -n "s/^accept_mps=.*$2=\\([0-9.NA]*\\).*/\\1/p; s/^$2=\\([0-9.NA]*\\).*/\\1/p" | grep -v NA | median; }
off_acc=$(field off accept_mps); on_acc=$(field on accept_mps)
off_e2e=$(field off e2e_mps); on_e2e=$(field on e2e_mps)
limit=$(sed -n 's/.*sink_limit_mps=\([0-9.]*\).*/\1/p' "$T/limit")
received=$(cat "$T"/run.on.* | sed -n 's/.*while the mail flowed: \([0-9]*\) of.*/\1/p' | median)
order=$(cat "$T"/run.on.* | sed -n 's/.*out_of_order=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
lags=$(cat "$T"/run.on.* | sed -n 's/.*lag_ms=\(.*\)/\1/p' | paste -sd' ')
echo
echo "webhook throughput (events of $W messages, drained from the outbox; receiver verifies 1 request in $VERIFY_EVERY):"
sed 's/^/  /' "$T/tp.batched" "$T/tp.single"
echo "relay with webhooks off and on: messages=$N size=$SIZE concurrency=$CONC rounds=$REPEAT (medians)"
echo "  limit smtp-source -> smtp-sink e2e_mps=$limit"
echo "  webhooks off accept_mps=$off_acc e2e_mps=$off_e2e"
echo "  webhooks on  accept_mps=$on_acc e2e_mps=$on_e2e events_received_during_run=$received of $((2 * N))"
echo "  events out of order per message (all rounds): $order; request lag behind its oldest event, ms, per round: $lags"
awk -v a="$on_acc" -v b="$off_acc" -v e="$on_e2e" -v f="$off_e2e" 'BEGIN {
  if (a > 0 && b > 0) printf "  ratio on/off accept = %.3f (cost %.1f %%)\n", a / b, 100 * (1 - a / b)
  if (e > 0 && f > 0) printf "  ratio on/off e2e    = %.3f (cost %.1f %%; target: under 10 %%)\n", e / f, 100 * (1 - e / f) }'
