#!/usr/bin/env bash
# Signing benchmark: the relay end to end (Postfix's smtp-source → Hikyaku → smtp-sink, through
# the shared harness ../shared/bench/relay_bench.sh) unsigned, with DKIM RSA-2048, Ed25519, dual
# (both) and S/MIME + DKIM RSA-2048, the modes alternating round by round so that they share the
# machine's drifts. Prints each run, the medians of the end-to-end rate and of the relay's CPU
# per message per mode, and each mode's ratio to unsigned.
#
#   bench/signing.sh [-n N] [-s SIZE] [-c C] [-R REPEAT] [-m "MODE …"]   defaults: 10000 4k 30 3
#   modes: unsigned rsa-2048 ed25519 dual smime+rsa-2048
#
# Needs: postfix (smtp-source, smtp-sink), openssl (the S/MIME test certificate), a release build
# (built here if missing). smtp-source writes `From: sender@bench.test`: that is the domain
# registered for DKIM and the address the S/MIME certificate names.
set -euo pipefail
cd "$(dirname "$0")/.."
N=10000 SIZE=4k CONC=30 REPEAT=3 MODES="unsigned rsa-2048 ed25519 dual smime+rsa-2048"
while getopts 'n:s:c:R:m:' o; do case $o in n) N=$OPTARG;; s) SIZE=$OPTARG;; c) CONC=$OPTARG;; R) REPEAT=$OPTARG;; m) MODES=$OPTARG;; *) exit 1;; esac; done
HARNESS=${HARNESS:-../shared/bench/relay_bench.sh}
[ -x "$HARNESS" ] || HARNESS="bash $HARNESS"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hikyaku-target}"
if [ -z "${HIKYAKU_BIN:-}" ]; then
  cargo build --release --quiet -p hikyaku
  HIKYAKU_BIN="$CARGO_TARGET_DIR/release/hikyaku"
fi
export HIKYAKU_BIN

# Started by the harness with RELAY_PORT, SINK_PORT, BENCH_DIR and SIGN_MODE set: writes a config,
# creates a contract allowed to relay from 127.0.0.1, registers what SIGN_MODE signs with, then
# becomes the relay.
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
case "$SIGN_MODE" in
  unsigned) ;;
  smime+*)
    c="$BENCH_DIR/cert"; mkdir -p "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$c/ca.key" -out "$c/ca.pem" -days 30 \
      -subj "/CN=Bench CA" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$c/key.pem" -out "$c/req.pem" \
      -subj "/CN=sender" 2>/dev/null
    printf "subjectAltName=email:sender@bench.test\nkeyUsage=digitalSignature\nextendedKeyUsage=emailProtection\n" > "$c/ext"
    openssl x509 -req -in "$c/req.pem" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
      -days 30 -extfile "$c/ext" -out "$c/cert.pem" 2>/dev/null
    H smime install "$id" --cert "$c/cert.pem" --key "$c/key.pem" >/dev/null
    H domain add "$id" bench.test --algorithm "${SIGN_MODE#smime+}" >/dev/null ;;
  *) H domain add "$id" bench.test --algorithm "$SIGN_MODE" >/dev/null ;;
esac
exec "$HIKYAKU_BIN" --config "$BENCH_DIR/hikyaku.toml" serve'

out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for ((i = 1; i <= REPEAT; i++)); do
  for mode in $MODES; do
    echo "== round $i: $mode"
    SIGN_MODE=$mode $HARNESS -n "$N" -s "$SIZE" -c "$CONC" -t 600 -L cmd -- "$RELAY_CMD" \
      | tee "$out/$mode.$i" | sed 's/^/  /'
  done
done
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "NA"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'; }
# The harness's summary lines: accept_mps=… e2e_mps=… and … cpu_ms_per_msg=… (the relay's own
# processes, user + system).
field() { cat "$out/$1".* | sed -n "s/.*[^a-z_]$2=\\([0-9.]*\\).*/\\1/p; s/^$2=\\([0-9.]*\\).*/\\1/p" | median; }
echo
echo "messages=$N size=$SIZE concurrency=$CONC rounds=$REPEAT"
base=$(field unsigned e2e_mps)
for mode in $MODES; do
  e2e=$(field "$mode" e2e_mps); cpu=$(field "$mode" cpu_ms_per_msg)
  awk -v m="$mode" -v e="$e2e" -v b="$base" -v c="$cpu" 'BEGIN {
    printf "%-16s e2e_mps=%-8s cpu_ms_per_msg=%s", m, e, c
    if (b != "NA" && b > 0 && e != "NA") printf " ratio_to_unsigned=%.2f", e / b
    printf "\n" }'
done
