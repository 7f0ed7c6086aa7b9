#!/usr/bin/env bash
# Relay accept benchmark: Postfix's smtp-source sends N messages of SIZE bytes at concurrency C
# to Postfix and to Hikyaku, alternately, REPEAT times each, through the shared harness
# (../shared/bench/relay_bench.sh). Prints each run, the medians, peak memory, and the ratio of
# Hikyaku's accept rate to Postfix's.
#
#   bench/relay-accept.sh [-n N] [-s SIZE] [-c C] [-R REPEAT]      defaults: 20000 2k 30 3
#
# Needs: postfix (smtp-source, smtp-sink), a release build (built here if missing).
# Delivery is not measured here (its own benchmark comes with the delivery engine): Hikyaku's
# e2e column is NA until then, and the harness's exit status 2 for it is expected.
set -euo pipefail
cd "$(dirname "$0")/.."
N=20000 SIZE=2k CONC=30 REPEAT=3
while getopts 'n:s:c:R:' o; do case $o in n) N=$OPTARG;; s) SIZE=$OPTARG;; c) CONC=$OPTARG;; R) REPEAT=$OPTARG;; *) exit 1;; esac; done
HARNESS=${HARNESS:-../shared/bench/relay_bench.sh}
[ -x "$HARNESS" ] || HARNESS="bash $HARNESS"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hikyaku-target}"
cargo build --release --quiet -p hikyaku
BIN="$CARGO_TARGET_DIR/release/hikyaku"
export HIKYAKU_BIN=$BIN

# Started by the harness with RELAY_PORT, SINK_PORT and BENCH_DIR set: writes a config, creates
# a contract allowed to relay from 127.0.0.1, then becomes the relay.
RELAY_CMD='
cat > "$BENCH_DIR/hikyaku.toml" <<TOML
data_dir = "$BENCH_DIR/data"
[relay]
listen = "127.0.0.1:$RELAY_PORT"
hostname = "relay.bench.test"
max_connections = 60
[http]
listen = "127.0.0.1:0"
[log]
level = "warn"
TOML
H() { "$HIKYAKU_BIN" --config "$BENCH_DIR/hikyaku.toml" "$@"; }
id=$(H contract create --name bench --json | sed -E "s/.*\"customer_id\": *\"([a-z0-9]+)\".*/\\1/")
H allowed-ip add "$id" 127.0.0.1/32 >/dev/null
exec "$HIKYAKU_BIN" --config "$BENCH_DIR/hikyaku.toml" serve'

out=$(mktemp); trap 'rm -f "$out" "$out".*' EXIT
for ((i = 1; i <= REPEAT; i++)); do
  echo "== round $i: postfix"
  $HARNESS -n "$N" -s "$SIZE" -c "$CONC" -t 600 -L postfix | tee "$out.pf.$i" | sed 's/^/  /'
  echo "== round $i: hikyaku"
  $HARNESS -n "$N" -s "$SIZE" -c "$CONC" -t 1 -L cmd -- "$RELAY_CMD" | tee "$out.hk.$i" | sed 's/^/  /' || true
done
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "NA"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'; }
pf=$(cat "$out".pf.* | sed -n 's/^accept_mps=\([0-9.]*\).*/\1/p' | median)
hk=$(cat "$out".hk.* | sed -n 's/^accept_mps=\([0-9.]*\).*/\1/p' | median)
hk_rss=$(cat "$out".hk.* | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | median)
pf_rss=$(cat "$out".pf.* | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | median)
echo
echo "messages=$N size=$SIZE concurrency=$CONC rounds=$REPEAT"
echo "postfix accept_mps=$pf peak_rss_kb=$pf_rss"
echo "hikyaku accept_mps=$hk peak_rss_kb=$hk_rss"
awk -v h="$hk" -v p="$pf" 'BEGIN { if (p > 0 && h > 0) printf "ratio hikyaku/postfix accept = %.2f\n", h / p; else print "ratio: NA" }'
