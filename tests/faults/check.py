#!/usr/bin/env python3
"""The fault harness's invariant checker (tests/faults/run). Judges one
scenario from what was gathered outside the daemons, in DIR:

  sent.jsonl       the requests the broker acknowledged (faultgen)
  results.jsonl    every result received for them (faultgen)
  events.jsonl     the engine's own events about the harness's containers
  executions.json  the executor's ledger rows of those requests
  approvals.json   wingman-approval's rows of those requests
  dlq.jsonl        what wingman.dlq holds about them (nothing should be there)
  audit_verify.rc  0 when `wingman audit verify` passed
  receipts.txt     `ID ok|bad`: a sample of receipts and their verification
  faults           how many faults were injected
  harness_starts   how many starts of the second container the harness made
  containers       the harness's three containers, one a line

Prints one Markdown table row; writes DIR/violations (one line each) when an
invariant does not hold, and exits 1 then.

    check.py --header
    check.py --scenario NAME DIR
"""
import json
import os
import sys

COLUMNS = ["scenario", "faults", "sent", "answered", "executed", "rejected", "expired",
           "invalid", "failed", "interrupted", "other", "conflicting", "double exec",
           "lost", "unapproved", "stuck", "audit", "receipts"]

# What each kind of request may end as. An approved or auto request may end
# `failed` (a dependency was down: it says so) or `interrupted` (a crash
# after the claim) when a fault hit it; never rejected, expired or invalid.
ALLOWED = {
    "auto": {"executed", "failed", "interrupted"},
    "approve": {"executed", "failed", "interrupted"},
    "reject": {"rejected"},
    "expire": {"expired"},
    "race": {"executed", "expired", "failed", "interrupted"},
    "invalid": {"invalid"},
}
# In the scenario without faults, nothing but the plain outcome.
STRICT = {"auto": {"executed"}, "approve": {"executed"}, "reject": {"rejected"},
          "expire": {"expired"}, "race": {"executed", "expired"}, "invalid": {"invalid"}}

# The harness's containers (DIR/containers): restart on the first,
# stop/start on the second, exec on the third.
C1, C2, C3 = "wingman-test-fault-1", "wingman-test-fault-2", "wingman-test-fault-3"


def jsonl(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def outcome(r):
    code = (r.get("reason") or "").split(":", 1)[0]
    cmds = tuple((c.get("cmd"), c.get("status"), c.get("exit_code"))
                 for c in r.get("commands") or [])
    return json.dumps([r.get("status"), code, cmds])


def engine_counts(events):
    """The engine's count of each acting call on our containers."""
    n = {"restart": 0, "stop": 0, "start": 0, "exec": 0}
    for e in events:
        name = e.get("Actor", {}).get("Attributes", {}).get("name")
        act = e.get("Action", "")
        if name == C1 and act == "restart":
            n["restart"] += 1
        elif name == C2 and act == "stop":
            n["stop"] += 1
        elif name == C2 and act == "start":
            n["start"] += 1
        elif name == C3 and act.startswith("exec_start"):
            n["exec"] += 1
    return n


def command_key(cmd):
    w = cmd.split()
    if len(w) >= 2 and w[1] == "restart" and w[-1] == C1:
        return "restart"
    if len(w) >= 2 and w[1] == "stop" and w[-1] == C2:
        return "stop"
    if len(w) >= 2 and w[1] == "start" and w[-1] == C2:
        return "start"
    if len(w) >= 3 and w[1] == "exec" and w[2] == C3:
        return "exec"
    return None


def check(name, d):
    global C1, C2, C3
    cpath = os.path.join(d, "containers")
    if os.path.exists(cpath):
        C1, C2, C3 = open(cpath).read().split()
    v = []
    sent = {r["id"]: r for r in jsonl(os.path.join(d, "sent.jsonl"))}
    results = {}
    for r in jsonl(os.path.join(d, "results.jsonl")):
        if r.get("request_id") in sent:
            results.setdefault(r["request_id"], []).append(r)
        else:
            v.append("a result for a request never sent: %s" % r.get("request_id"))
    with open(os.path.join(d, "executions.json")) as f:
        ledger = json.load(f) or []
    with open(os.path.join(d, "approvals.json")) as f:
        approvals = json.load(f) or []
    events = jsonl(os.path.join(d, "events.jsonl"))
    allowed = STRICT if name == "baseline" else ALLOWED

    by_status = {}
    conflicting = lost = unapproved = stuck = 0
    # Per acting call: what the results say ran, and what may have.
    ran = {"restart": 0, "stop": 0, "start": 0, "exec": 0}
    maybe = dict(ran)
    final = {}
    for rid, req in sent.items():
        rs = results.get(rid, [])
        if not rs:
            lost += 1
            v.append("%s: no result (lost)" % rid)
            continue
        # The same outcome: status, the reason's code and, per command, its
        # status and exit code (a redelivery answers from the ledger).
        outcomes = {outcome(r) for r in rs}
        if len(outcomes) > 1:
            conflicting += 1
            v.append("%s: different results %s" % (rid, sorted(outcomes)))
        r = rs[0]
        st = r.get("status")
        final[rid] = st
        by_status[st] = by_status.get(st, 0) + 1
        if st not in allowed[req["kind"]]:
            v.append("%s: %s (%s), a %s request may end %s" % (
                rid, st, r.get("reason", ""), req["kind"], sorted(allowed[req["kind"]])))
        if st == "executed" and req["kind"] not in ("auto", "approve", "race"):
            unapproved += 1
            v.append("%s: executed but it was a %s request" % (rid, req["kind"]))
        cmds = r.get("commands") or []
        for c in cmds:
            k = command_key(c.get("cmd", ""))
            if k is None:
                continue
            if c.get("status") == "ok":
                ran[k] += 1
            elif c.get("status") not in ("skipped", "error"):
                maybe[k] += 1
        if st in ("interrupted", "failed") and not cmds:
            for c in req["commands"]:
                k = command_key(c)
                if k is not None:
                    maybe[k] += 1

    # Nothing ran twice (the engine counts), nothing said to run that did not.
    eng = engine_counts(events)
    # Starts of the second container the harness itself made (after a
    # restarted engine stopped it): no request's.
    hpath = os.path.join(d, "harness_starts")
    if os.path.exists(hpath):
        eng["start"] -= int(open(hpath).read().strip() or 0)
    # Stops a restarted engine made of it while restoring, before anyone
    # could call it (tests/faults/run, engine_stops): no request's either.
    spath = os.path.join(d, "engine_stops")
    if os.path.exists(spath):
        eng["stop"] -= int(open(spath).read().strip() or 0)
    double = 0
    for k in ran:
        if eng[k] > ran[k] + maybe[k]:
            double += eng[k] - ran[k] - maybe[k]
            v.append("engine %s events: %d, results say %d ran and %d may have" % (
                k, eng[k], ran[k], maybe[k]))
        # A stop of a stopped container makes no event: only restart and
        # exec always do.
        if k in ("restart", "exec") and eng[k] < ran[k]:
            v.append("engine %s events: %d, fewer than the %d results say ran" % (
                k, eng[k], ran[k]))

    # The ledger: only approved or auto requests, and nothing left half done.
    for row in ledger:
        rid = row["request_id"]
        kind = sent.get(rid, {}).get("kind")
        if kind not in ("auto", "approve", "race") or (kind == "race" and final.get(rid) == "expired"):
            unapproved += 1
            v.append("%s: a ledger row (%s) for a %s request" % (rid, row["cmd"], kind))
        if row["state"] == "running" and final.get(rid) != "interrupted":
            stuck += 1
            v.append("%s: ledger row %s claimed, never finished, and no interrupted result"
                     % (rid, row["jti"]))
    for a in approvals:
        if a["state"] == "pending" and a["past_expiry"]:
            stuck += 1
            v.append("%s: pending past its expiry" % a["request_id"])
        # Nothing approved silently dropped: an approved request has a result
        # that says what happened to it.
        if a["state"] == "approved" and a["request_id"] not in final:
            v.append("%s: approved, no result" % a["request_id"])

    for m in jsonl(os.path.join(d, "dlq.jsonl")):
        v.append("dead-lettered: %s" % json.dumps(m)[:300])

    with open(os.path.join(d, "audit_verify.rc")) as f:
        audit_ok = f.read().strip() == "0"
    if not audit_ok:
        v.append("wingman audit verify failed")
    receipts = [l.split() for l in open(os.path.join(d, "receipts.txt")) if l.strip()]
    bad = [r[0] for r in receipts if r[1] != "ok"]
    for rid in bad:
        v.append("%s: the receipt is missing or does not verify" % rid)
    faults = open(os.path.join(d, "faults")).read().strip() if os.path.exists(
        os.path.join(d, "faults")) else "?"
    if os.path.exists(os.path.join(d, "skipped")):
        faults = "skipped"

    main = ("executed", "rejected", "expired", "invalid", "failed", "interrupted")
    row = [name, faults, len(sent), len(final)] + [by_status.get(s, 0) for s in main] + [
        sum(n for s, n in by_status.items() if s not in main), conflicting, double, lost,
        unapproved, stuck, "yes" if audit_ok else "NO",
        "%d/%d" % (len(receipts) - len(bad), len(receipts))]
    vpath = os.path.join(d, "violations")
    if v:
        with open(vpath, "w") as f:
            for line in v:
                f.write("%s: %s\n" % (name, line))
    elif os.path.exists(vpath):
        os.unlink(vpath)
    print("| " + " | ".join(str(c) for c in row) + " |")
    return 1 if v else 0


def main():
    if sys.argv[1:] == ["--header"]:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        return 0
    if len(sys.argv) != 4 or sys.argv[1] != "--scenario":
        print(__doc__, file=sys.stderr)
        return 2
    return check(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    sys.exit(main())
