#!/usr/bin/env bash
# Relay benchmark: Postfix's smtp-source sends N messages of SIZE bytes at concurrency C to a
# relay that forwards everything to Postfix's smtp-sink, for Postfix and for Hikyaku
# alternately, REPEAT times each, through the shared harness (../shared/bench/relay_bench.sh).
# Prints each run; the medians of the accept rate (messages/s until smtp-source finished) and the
# end-to-end rate (until smtp-sink had them all), peak memory, the ceiling of this machine
# (smtp-source straight into smtp-sink), and Hikyaku's ratios to Postfix. Hikyaku's peak resident
# size is also split into what the process allocated (anonymous: heap, thread stacks) and the
# file pages it maps (mostly its own machine code: shared, clean, reclaimable, and as large as
# the kernel's fault-around makes it when the binary is in the page cache).
#
#   bench/relay.sh [-n N] [-s SIZE] [-c C] [-R REPEAT]      defaults: 20000 2k 30 3
#
# Needs: postfix (smtp-source, smtp-sink), a release build (built here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
N=20000 SIZE=2k CONC=30 REPEAT=3
while getopts 'n:s:c:R:' o; do case $o in n) N=$OPTARG;; s) SIZE=$OPTARG;; c) CONC=$OPTARG;; R) REPEAT=$OPTARG;; *) exit 1;; esac; done
HARNESS=${HARNESS:-../shared/bench/relay_bench.sh}
[ -x "$HARNESS" ] || HARNESS="bash $HARNESS"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hikyaku-target}"
# HIKYAKU_BIN=/path/to/hikyaku benchmarks that binary instead (e.g. to compare two builds).
if [ -z "${HIKYAKU_BIN:-}" ]; then
  cargo build --release --quiet -p hikyaku
  HIKYAKU_BIN="$CARGO_TARGET_DIR/release/hikyaku"
fi
export HIKYAKU_BIN

# Started by the harness with RELAY_PORT, SINK_PORT and BENCH_DIR set: writes a config, creates
# a contract allowed to relay from 127.0.0.1, then becomes the relay.
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
[log]
level = "warn"
TOML
H() { "$HIKYAKU_BIN" --config "$BENCH_DIR/hikyaku.toml" "$@"; }
id=$(H contract create --name bench --json | sed -E "s/.*\"customer_id\": *\"([a-z0-9]+)\".*/\\1/")
H allowed-ip add "$id" 127.0.0.1/32 >/dev/null
exec "$HIKYAKU_BIN" --config "$BENCH_DIR/hikyaku.toml" serve'

out=$(mktemp); trap 'rm -f "$out" "$out".*' EXIT
# Samples the `hikyaku serve` of the current run twice a second, from outside the harness's
# process tree (so that its own peak RSS is not changed): the largest anonymous and file-backed
# resident sizes seen, and the kernel's peak resident size (VmHWM) at the last sample.
watch_memory() {  # outfile
  local pid= anon=0 file=0 hwm=0 a f h
  while :; do
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || pid=$(pgrep -n -f -- 'hikyaku\.toml serve$' || true)
    if [ -n "$pid" ] && read -r a f h < <(awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
        /^VmHWM:/ { h = $2 } END { print a + 0, f + 0, h + 0 }' "/proc/$pid/status" 2>/dev/null); then
      ((a > anon)) && anon=$a; ((f > file)) && file=$f; ((h > hwm)) && hwm=$h
      echo "peak_anon_kb=$anon peak_file_kb=$file vmhwm_kb=$hwm" > "$1"
    fi
    sleep 0.5
  done
}
for ((i = 1; i <= REPEAT; i++)); do
  echo "== round $i: postfix"
  $HARNESS -n "$N" -s "$SIZE" -c "$CONC" -t 600 postfix | tee "$out.pf.$i" | sed 's/^/  /'
  echo "== round $i: hikyaku"
  watch_memory "$out.mem.$i" & watcher=$!
  $HARNESS -n "$N" -s "$SIZE" -c "$CONC" -t 600 -L cmd -- "$RELAY_CMD" | tee "$out.hk.$i" | sed 's/^/  /'
  kill "$watcher"; wait "$watcher" 2>/dev/null || true
  sed 's/^/  hikyaku /' "$out.mem.$i" 2>/dev/null || echo "  hikyaku memory: not sampled"
done
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "NA"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'; }
field() { cat "$out".$1.* | sed -n "s/^accept_mps=.*$2=\\([0-9.NA]*\\).*/\\1/p; s/^$2=\\([0-9.NA]*\\).*/\\1/p" | grep -v NA | median; }
pf=$(field pf accept_mps); hk=$(field hk accept_mps)
pf_e2e=$(field pf e2e_mps); hk_e2e=$(field hk e2e_mps); limit=$(field pf sink_limit_mps)
hk_rss=$(cat "$out".hk.* | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | median)
pf_rss=$(cat "$out".pf.* | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | median)
hk_anon=$(cat "$out".mem.* 2>/dev/null | sed -n 's/.*peak_anon_kb=\([0-9]*\).*/\1/p' | median)
hk_file=$(cat "$out".mem.* 2>/dev/null | sed -n 's/.*peak_file_kb=\([0-9]*\).*/\1/p' | median)
echo
echo "messages=$N size=$SIZE concurrency=$CONC rounds=$REPEAT"
echo "limit   smtp-source -> smtp-sink e2e_mps=$limit"
echo "postfix accept_mps=$pf e2e_mps=$pf_e2e peak_rss_kb=$pf_rss"
echo "hikyaku accept_mps=$hk e2e_mps=$hk_e2e peak_rss_kb=$hk_rss (peak anonymous ${hk_anon} kB, file-backed ${hk_file} kB)"
awk -v h="$hk" -v p="$pf" -v he="$hk_e2e" -v pe="$pf_e2e" 'BEGIN {
  if (p > 0 && h > 0) printf "ratio hikyaku/postfix accept = %.2f\n", h / p; else print "ratio accept: NA"
  if (pe > 0 && he > 0) printf "ratio hikyaku/postfix e2e    = %.2f\n", he / pe; else print "ratio e2e: NA" }'
