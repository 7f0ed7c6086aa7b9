"""A client of the hosted service's API, written from its documentation with Python's
`requests`: it calls every endpoint with JSON, form and multipart bodies and checks the
documented answer shapes. Run by tests/hosted.rs against a real Hikyaku listener."""

import json
import os
import sys

import requests

BASE = os.environ["HOSTED_BASE"]
CREDS = {
    "api_user": os.environ["HOSTED_USER"],
    "api_key": os.environ["HOSTED_KEY"],
    "server_composition": os.environ["HOSTED_COMPOSITION"],
}
DATE = os.environ["HOSTED_DATE"]


def check(condition, what):
    if not condition:
        print("FAILED:", what)
        sys.exit(1)


def answer(response):
    check(response.status_code == 200, f"{response.request.url}: {response.status_code} {response.text}")
    return response.json()


def refusal(response):
    check(response.status_code != 200, f"refused: {response.text}")
    errors = response.json()["errors"]
    check(len(errors) == 1 and set(errors[0]) == {"code", "field", "message"}, response.text)
    return errors[0]["code"]


# Send: JSON.
sent = answer(requests.post(f"{BASE}/api/v2/emails/send.json", json={
    **CREDS,
    "from": {"name": "Python", "address": "py@shop.example"},
    "to": [{"name": "一郎", "address": "ichiro@example.jp"}],
    "subject": "JSON から",
    "text": "こんにちは",
    "headers": [{"name": "X-Api-Data", "value": "py-json"}],
}))
check(set(sent) == {"id"}, sent)

# Send: a form, structured fields JSON-encoded, as the documentation's curl examples do.
sent = answer(requests.post(f"{BASE}/api/v2/emails/send.json", data={
    **CREDS,
    "from": json.dumps({"name": "Python", "address": "py@shop.example"}),
    "to": json.dumps({"name": "", "address": "jiro@example.jp"}),
    "subject": "form",
    "text": "body",
    "charset": "ISO-2022-JP",
    "headers": json.dumps([{"name": "X-Api-Data", "value": "py-form"}]),
}))
check("id" in sent, sent)

# Send: multipart with files attachment1..2.
sent = answer(requests.post(f"{BASE}/api/v2/emails/send.json", data={
    **CREDS,
    "from": json.dumps({"name": "Python", "address": "py@shop.example"}),
    "to": "saburo@example.jp",
    "subject": "files",
    "text": "see attached",
    "attachments": "2",
}, files={
    "attachment1": ("請求書.pdf", b"%PDF-1.4", "application/pdf"),
    "attachment2": ("data.csv", b"a,b\n1,2\n", "text/csv"),
}))
check("id" in sent, sent)

# Bulk with merge fields.
sent = answer(requests.post(f"{BASE}/api/v2/emails/bulk.json", json={
    **CREDS,
    "from": {"name": "Python", "address": "py@shop.example"},
    "to": [
        {"name": "A", "address": "bulk-a@example.jp", "n": "1"},
        {"name": "B", "address": "bulk-b@example.jp", "n": "2"},
    ],
    "subject": "((#name#)) #((#n#))",
    "text": "hello ((#name#))",
}))
check("id" in sent and len(sent["ids"]) == 2, sent)

# Deliveries, as a form.
listed = answer(requests.post(f"{BASE}/transaction/v2/deliveries/list.json",
                              data={**CREDS, "date": DATE, "r": "100"}))
records = listed["deliveries"]
check(len(records) == 5, listed)
for record in records:
    check(set(record) == {"created", "returnPath", "from", "to", "messageId", "reason",
                          "senderIp", "sourceIp", "status", "subject", "apiData"}, record)
    check(record["status"] == "queued", record)
    check(len(record["created"]) == 19 and record["created"].startswith(DATE), record)
mine = answer(requests.post(f"{BASE}/transaction/v2/deliveries/list.json",
                            data={**CREDS, "date": DATE, "api_data": "py-form"}))["deliveries"]
check([r["to"] for r in mine] == ["jiro@example.jp"], mine)
check(mine[0]["subject"] == "form" and mine[0]["sourceIp"] == "127.0.0.1", mine)
merged = sorted(r["subject"] for r in records if r["to"].startswith("bulk-"))
check(merged == ["A #1", "B #2"], records)
page = answer(requests.post(f"{BASE}/transaction/v2/deliveries/list.json",
                            data={**CREDS, "date": DATE, "p": "2", "r": "2"}))["deliveries"]
check(len(page) == 1, page)

# Bounces, blocks, statistics.
bounces = answer(requests.post(f"{BASE}/transaction/v2/bounces/list.json", json={**CREDS}))
check(bounces == {"bounces": []}, bounces)
blocks = answer(requests.post(f"{BASE}/transaction/v2/blocks/list.json", data={**CREDS}))
check(blocks == {"blocks": []}, blocks)
stats = answer(requests.post(f"{BASE}/transaction/v2/statistics/list.json",
                             data={**CREDS, "year": DATE[:4], "month": DATE[5:7], "total": "true"}))
check(stats["statistics"][0]["date"] == "total" and stats["statistics"][0]["queued"] == 5, stats)

# Wrong credentials; another contract's composition.
check(refusal(requests.post(f"{BASE}/transaction/v2/deliveries/list.json",
                            data={**CREDS, "api_key": "hk_nope", "date": DATE})) == "01-003", "wrong key")
other = {**CREDS, "server_composition": os.environ["HOSTED_OTHER_COMPOSITION"], "date": DATE}
check(refusal(requests.post(f"{BASE}/transaction/v2/deliveries/list.json", data=other)) == "01-005",
      "other composition")

print("all checks passed")
