#!/usr/bin/env python3
"""A fast webhook receiver for bench/webhooks.sh: answers every POST with 204 and counts it.

    webhook-receiver.py PORT SECRET_FILE [VERIFY_EVERY]

Listens on 127.0.0.1:PORT (0: any free port) and prints the port on its first line. Every
VERIFY_EVERY-th request (default 1: each one) is verified with the `standardwebhooks` package
(PyPI: an implementation we did not write) against the `whsec_...` secret in SECRET_FILE, read
again whenever the file changes (the benchmark adds a new endpoint, with a new secret, per run).
A request that fails verification is answered 401 and counted as bad, so the sender retries it
and the benchmark reports it.

Events are counted once per `webhook-id` (a retry is not a new delivery). `GET /stats` answers
the counters as JSON; `GET /reset` zeroes them. Times are `time.monotonic()` seconds, from the
first request to the last one counted.

Two promises of the README are checked on the way: each message's events arrive in order (an
event older than one already received for the same message counts in `out_of_order`), and a
request leaves about `batch_window` after its oldest event (`lag_ms`: the wall-clock time of
arrival minus the oldest event's time, as p50 / p99 / max over the requests).
"""
import json
import os
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

PORT, SECRET_FILE = int(sys.argv[1]), sys.argv[2]
VERIFY_EVERY = int(sys.argv[3]) if len(sys.argv) > 3 else 1

lock = threading.Lock()
secret = {"mtime": None, "hook": None}


def fresh():
    return {"requests": 0, "unique_requests": 0, "events": 0, "verified": 0, "bad": 0,
            "kinds": {}, "first": None, "last": None, "max_batch": 0, "out_of_order": 0,
            "lags": []}


stats = fresh()
seen = set()
latest = {}  # message ID -> (time, kind) of its newest event received


def millis(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def hook():
    """The verifier for the secret in SECRET_FILE, re-made when the file changes."""
    try:
        mtime = os.stat(SECRET_FILE).st_mtime_ns
    except FileNotFoundError:
        return None
    if mtime != secret["mtime"]:
        with open(SECRET_FILE) as f:
            text = f.read().strip()
        secret["hook"] = Webhook(text) if text else None
        secret["mtime"] = mtime
    return secret["hook"]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        global stats, seen
        with lock:
            if self.path == "/reset":
                stats, seen = fresh(), set()
            if self.path == "/reset":
                latest.clear()
            lags = sorted(stats["lags"])
            shown = dict(stats, lags=None, lag_ms={
                "p50": lags[len(lags) // 2] if lags else None,
                "p99": lags[min(len(lags) - 1, len(lags) * 99 // 100)] if lags else None,
                "max": lags[-1] if lags else None})
            body = json.dumps(shown).encode()
        self.answer(200, body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.monotonic()
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            stats["requests"] += 1
            check = stats["requests"] % VERIFY_EVERY == 0 or stats["requests"] == 1
            verifier = hook() if check else None
        if check:
            try:
                if verifier is None:
                    raise ValueError("no secret yet")
                verifier.verify(body, headers)
            except Exception:
                with lock:
                    stats["bad"] += 1
                return self.answer(401)
        events = json.loads(body)["data"]
        arrived_ms = time.time() * 1000
        with lock:
            if check:
                stats["verified"] += 1
            if stats["first"] is None:
                stats["first"] = now
            webhook_id = headers.get("webhook-id")
            if webhook_id not in seen:
                seen.add(webhook_id)
                stats["unique_requests"] += 1
                stats["events"] += len(events)
                stats["max_batch"] = max(stats["max_batch"], len(events))
                if events:
                    stats["lags"].append(round(arrived_ms - min(millis(e["time"]) for e in events)))
                for event in events:
                    kind = event.get("kind", "?")
                    stats["kinds"][kind] = stats["kinds"].get(kind, 0) + 1
                    message = event.get("message_id")
                    if message:
                        mark = (event["time"], kind)
                        before = latest.get(message)
                        if before is not None and millis(before[0]) > millis(mark[0]):
                            stats["out_of_order"] += 1
                        if before is None or millis(before[0]) <= millis(mark[0]):
                            latest[message] = mark
                stats["last"] = time.monotonic()
        self.answer(204)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
