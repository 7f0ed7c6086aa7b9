#!/usr/bin/env bash
# The at-least-once window of delivery, measured: how long a recipient sits between the remote
# MX's 250 and the commit of its `delivered` outcome (a kill -9 inside that window makes the
# restarted node send it again), and how many recipients kills at arbitrary moments actually
# resend. Runs the ignored test `crash_window_measurement` of bin/hikyaku/tests/kill9_delivery.rs
# (the real binary, release build, against the testkit's sink on 127.0.0.1) on SQLite and, when
# a PostgreSQL server answers, on PostgreSQL, REPEAT times each.
#
#   bench/delivery-crash-window.sh [-n MESSAGES] [-c CONNECTIONS] [-l SINK_LATENCY_MS] [-k KILLS]
#                                  [-R REPEAT] [-o RAW_DIR]
#   defaults: 3000 messages (one recipient each), 16 connections, 0 ms, 10 kills, 1 round
#
# Phase 1 prints median, p99 and max of: remote 250 -> committed (the window), split into
# 250 -> outcome taken (the event's `at`, a millisecond clock) and outcome taken -> committed.
# The commit is seen by polling the database (the resolution is printed), so the window is
# over-estimated by up to one poll. Phase 2 prints the recipients resent after each kill, split
# into those whose 250 was out before the kill and those the remote accepted after (it had the
# final dot; our end had died). -o keeps the per-recipient figures of phase 1 in RAW_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=3000 CONNECTIONS=16 LATENCY=0 KILLS=10 REPEAT=1 RAW=
while getopts 'n:c:l:k:R:o:' o; do
  case $o in
    n) MESSAGES=$OPTARG;; c) CONNECTIONS=$OPTARG;; l) LATENCY=$OPTARG;; k) KILLS=$OPTARG;;
    R) REPEAT=$OPTARG;; o) RAW=$OPTARG;; *) exit 1;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hikyaku-target}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export WINDOW_MESSAGES=$MESSAGES WINDOW_CONNECTIONS=$CONNECTIONS WINDOW_LATENCY_MS=$LATENCY
export WINDOW_KILLS=$KILLS
[ -n "$RAW" ] && mkdir -p "$RAW"

backends=(sqlite)
if command -v pg_isready >/dev/null && pg_isready -q -d "$TEST_DATABASE_URL"; then
  backends+=(postgres)
else
  echo "PostgreSQL at $TEST_DATABASE_URL does not answer: SQLite only"
fi

cargo test --release --quiet -p hikyaku --test kill9_delivery --no-run
out=$(mktemp); trap 'rm -f "$out"' EXIT
for ((i = 1; i <= REPEAT; i++)); do
  for backend in "${backends[@]}"; do
    echo "== round $i: $backend"
    if ! WINDOW_DATABASE=$backend WINDOW_RAW=${RAW:+$RAW/window-$backend-$i.txt} \
      cargo test --release --quiet -p hikyaku --test kill9_delivery crash_window_measurement \
      -- --ignored --nocapture --test-threads 1 >"$out" 2>&1; then
      tail -40 "$out"
      echo "measurement failed"
      exit 1
    fi
    grep -E '^(backend|phase|  )' "$out"
  done
done
