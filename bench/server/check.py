#!/usr/bin/env python3
"""bench/server/check.py PORT IDS_DIR - every id the client got a 202 for must
be in the server's job list exactly once and in a final state (completed,
failed with a reason, or cancelled); prints lost=N duplicated=N and more."""
import glob
import json
import sys
import urllib.request

port, ids_dir = sys.argv[1], sys.argv[2]
client = []
for f in glob.glob(ids_dir + "/ids.*"):
    client += [l.strip() for l in open(f) if l.strip()]
server, after = {}, None
dup_server = 0
while True:
    url = "http://127.0.0.1:%s/v1/jobs?limit=10000" % port + ("&after=" + after if after else "")
    page = json.load(urllib.request.urlopen(url))
    for j in page["data"]:
        dup_server += j["id"] in server
        server[j["id"]] = j
    if not page["has_more"] or not page["data"]:
        break
    after = page["data"][-1]["id"]
final = {"completed", "cancelled"}
lost = 0
states = {}
for i in set(client):
    j = server.get(i)
    ok = j is not None and (j["status"] in final or (j["status"] == "failed" and j["error"]))
    lost += not ok
    if j:
        states[j["status"]] = states.get(j["status"], 0) + 1
dup = len(client) - len(set(client)) + dup_server
# A job that ran more steps than asked would be a step run twice.
dup += sum(1 for j in server.values() if j["progress"]["steps_done"] > j["progress"]["steps_total"])
print("client_ids=%d server_jobs=%d states=%s" % (len(client), len(server),
      json.dumps(states, sort_keys=True)))
print("lost=%d duplicated=%d" % (lost, dup))
