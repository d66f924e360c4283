#!/usr/bin/env python3
"""Replays a fastr run to a PIM server the way fastr's pimreporter.py talks to it (requests, the
credentials in pim_host's URL, POST to /api/runs/ with the trailing slash, PUT batches with a 5 s
timeout, re-sending a batch that failed). Usage: replay_reporter.py PIM_HOST PAYLOAD.json [DELAY_S]
where PAYLOAD holds {"registration": {...}, "batches": [[...], ...]}."""
import json
import sys
import time

import requests

pim, payload_file = sys.argv[1], sys.argv[2]
delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
payload = json.load(open(payload_file))

info = requests.get(pim + "/api/info")
if info.status_code >= 300 or "version" not in info.json():
    sys.exit("PIM API v1 or unreachable: reporting disabled (%s)" % info.status_code)
if info.json()["version"] != 2:
    sys.exit("unsupported PIM API version %r" % info.json()["version"])

run = payload["registration"]
r = requests.post(pim + "/api/runs/", json=run)
if r.status_code not in (200, 201):
    sys.exit("registration refused: %s %s" % (r.status_code, r.text))
print("registered", r.status_code, flush=True)

for batch in payload["batches"]:
    time.sleep(delay)
    for attempt in range(5):
        try:
            r = requests.put("%s/api/runs/%s/jobs" % (pim, run["title"]), json=batch, timeout=5)
            if r.status_code < 300:
                break
            print("batch refused", r.status_code, r.text, file=sys.stderr, flush=True)
        except requests.RequestException as e:
            print("batch failed", e, file=sys.stderr, flush=True)
        time.sleep(1)
    else:
        sys.exit("could not deliver a batch")
    print("batch", r.status_code, r.text, flush=True)
