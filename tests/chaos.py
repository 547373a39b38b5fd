#!/usr/bin/env python3
"""Crash consistency: the real daemon under load, killed with SIGKILL at random
moments and restarted, then checked against everything it acknowledged.

Usage: python3 tests/chaos.py [--kills 50] [--seed N] [--retention-days 90]   (make chaos)
The short version (5 kills) runs in make test (tests/test_chaos.py).
With --retention-days the daemon removes closed disputes that long after they
closed (daemon.closed_retention_days) while it is being killed.

Checks at the end, after one last clean start:
- every acknowledged dispute.open is in the store, every acknowledged
  dispute.respond left its mark;
- every e-mail outbox row is exactly one complete file in the spool and every
  file belongs to a row (no duplicates, no partial files, nothing in tmp/);
- no timer fired before its instant, none fired twice, and no dispute got a
  notice twice that it may get only once;
- with retention: an acknowledged dispute may be missing only if it was
  removed, then none of its rows is left, its closing notice is in the spool
  (a dispute goes only once its notices are out) and it was removed more than
  the retention after it closed (the notice's Date); without, nothing is removed.
"""

import argparse
import email.utils
import json
import random
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import Daemon, config_text, read_line  # noqa: E402

START = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)
CLOSING = {"chargebackIssued", "decisionMerchantFavour", "decisionCustomerFavour", "disputeClosed"}
ONCE_PER_DISPUTE = {"disputeOpened", "chargebackIssued", "disputeEscalated", "evidenceRequested",
                    "decisionMerchantFavour", "decisionCustomerFavour", "disputeClosed"}


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Load:
    """A client that opens disputes, answers some and moves the clock, recording what was acknowledged."""

    def __init__(self, daemon, rng, state):
        self.daemon, self.rng, self.state = daemon, rng, state
        self.stop = threading.Event()

    def run(self):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(10)
                s.connect(str(self.daemon.socket))
                while not self.stop.is_set():
                    self.one(s)
        except (OSError, ValueError, json.JSONDecodeError):
            pass  # the daemon was killed mid-request: that request is unacknowledged

    def call(self, s, op, args):
        self.state["seq"] += 1
        rid = f"chaos-{self.state['seq']}"
        s.sendall((json.dumps({"v": 1, "id": rid, "op": op, "args": args}) + "\n").encode())
        line = read_line(s)
        if not line:
            raise OSError("connection closed")
        return json.loads(line)

    def one(self, s):
        roll = self.rng.random()
        if roll < 0.6 or not self.state["opened"]:
            n = self.state["next"]
            self.state["next"] += 1
            did = f"C-{n}"
            reply = self.call(s, "dispute.open", {"merchant": self.rng.choice(["M-SE", "M-DE"]), "order": f"O-{n}",
                                                  "amount": "10.00", "currency": "SEK" if n % 2 else "EUR",
                                                  "reason": self.rng.choice(["faulty", "notReceived"]), "id": did})
            # The merchant choice and currency may not match; only acknowledged opens count.
            if reply["ok"]:
                self.state["opened"].append(did)
        elif roll < 0.85:
            did = self.rng.choice(self.state["opened"])
            reply = self.call(s, "dispute.respond", {"id": did})
            if reply["ok"]:
                self.state["responded"].add(did)
        else:
            seconds = self.rng.choice([3600, 6 * 3600, 86400, 3 * 86400])
            reply = self.call(s, "clock.advance", {"seconds": seconds})
            if reply["ok"]:
                self.state["clock"] = reply["result"]["now"]


def run_chaos(workdir: Path, kills: int, seed: int, log=print, retention_days=0):
    rng = random.Random(seed)
    state = {"seq": 0, "next": 0, "opened": [], "responded": set(), "clock": iso(START), "retentionDays": retention_days}
    config = config_text(workdir)
    if retention_days:
        # At least the request retention (the daemon refuses less): shorter runs lower both.
        config = config.replace('log_level = "debug"', f'log_level = "debug"\nclosed_retention_days = {retention_days}\n'
                                f'request_retention_days = {min(retention_days, 90)}')

    def daemon():
        return Daemon(workdir, args=["--simulated-clock", state["clock"]], config=config)

    setup = daemon()
    setup.start()
    setup.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa Handel AB", "--email", "se@shop.example",
              "--country", "SE", "--timezone", "Europe/Stockholm", "--locale", "sv")
    setup.ctl("merchant", "upsert", "--id", "M-DE", "--name", "Müller GmbH", "--email", "de@shop.example",
              "--country", "DE", "--timezone", "Europe/Berlin", "--locale", "de")
    setup.kill()
    for k in range(kills):
        d = daemon()
        d.start()
        load = Load(d, rng, state)
        threads = [threading.Thread(target=load.run) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.05, 0.8))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        load.stop.set()
        for t in threads:
            t.join(timeout=10)
        log(f"kill {k + 1}/{kills}: {len(state['opened'])} disputes acknowledged, clock {state['clock']}")
    final = daemon()
    final.start()
    final.ctl("status")
    problems = check(workdir, state)
    assert final.stop() == 0
    return state, problems


def check(workdir, state):
    problems = []
    db = sqlite3.connect(workdir / "lib" / "disputed.sqlite")
    stored = {row[0]: json.loads(row[1]) for row in db.execute("SELECT id, body FROM disputes")}
    removed = dict(db.execute("SELECT id, purged_at FROM purged_disputes"))
    for did in state["opened"]:
        if did not in stored and did not in removed:
            problems.append(f"acknowledged dispute {did} is missing")
    for did in state["responded"]:
        if did in stored and stored[did].get("merchantRespondedAt") is None:
            problems.append(f"acknowledged response to {did} is missing")
    if removed and not state["retentionDays"]:
        problems.append(f"{len(removed)} disputes removed without retention")
    for table in ("timeline", "timers", "outbox"):
        left = db.execute(f"SELECT COUNT(*) FROM {table} WHERE dispute_id IN (SELECT id FROM purged_disputes)").fetchone()[0]
        if left:
            problems.append(f"{left} {table} rows of removed disputes are left")
    early = db.execute("SELECT COUNT(*) FROM timers WHERE state = 'fired' AND fired_at < due_at").fetchone()[0]
    if early:
        problems.append(f"{early} timers fired before their instant")
    for did, kind, n in db.execute("SELECT dispute_id, kind, COUNT(*) FROM outbox GROUP BY dispute_id, kind"):
        if kind in ONCE_PER_DISPUTE and n > 1:
            problems.append(f"{did} got {kind} {n} times")
    for did, n in db.execute("SELECT dispute_id, COUNT(*) FROM timeline WHERE event = 'deadlineLapsed' GROUP BY dispute_id"):
        if n > 2:
            problems.append(f"{did} lapsed {n} deadlines (at most response and statement/evidence)")
    spool = workdir / "spool" / "outgoing"
    files = {p.name[:-4]: p for p in (spool / "new").glob("*.eml")}
    rows = {r[0]: r[1] for r in db.execute("SELECT id, state FROM outbox WHERE channel = 'email'")}
    for nid, st in rows.items():
        if nid not in files:
            problems.append(f"notice {nid} ({st}) has no spool file")
        elif st != "spooled":
            problems.append(f"notice {nid} is in the spool but its row is {st}")
    for nid, path in files.items():
        if nid not in rows and nid.split(".")[0] not in removed:
            problems.append(f"spool file {path.name} belongs to no notice")
        data = path.read_bytes()
        if not data.rstrip().endswith(b"--") or b"text/html" not in data:
            problems.append(f"spool file {path.name} is incomplete")
    # A removed dispute had its closing notice out, and closed more than the retention before it went.
    closings = {}
    for nid, path in files.items():
        did, _, kind = nid.split(".")
        if did in removed and kind in CLOSING:
            date = next(line for line in path.read_bytes().splitlines() if line.startswith(b"Date: "))
            closings[did] = email.utils.parsedate_to_datetime(date[6:].decode()).timestamp()
    for did, at in removed.items():
        if did not in closings:
            problems.append(f"removed dispute {did} has no closing notice in the spool")
        elif at - closings[did] <= state["retentionDays"] * 86400:
            problems.append(f"dispute {did} removed {(at - closings[did]) / 86400:.1f} days after it closed")
    state["removed"] = len(removed)
    leftovers = list((spool / "tmp").iterdir())
    if leftovers:
        problems.append(f"{len(leftovers)} files left in tmp/")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--retention-days", type=int, default=0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chaos-", dir="/tmp"))
    try:
        print(f"chaos: {args.kills} kills, seed {args.seed}, retention {args.retention_days or 'off'}, state in {workdir}")
        state, problems = run_chaos(workdir, args.kills, args.seed, retention_days=args.retention_days)
        db = sqlite3.connect(workdir / "lib" / "disputed.sqlite")
        fired = db.execute("SELECT COUNT(*) FROM timers WHERE state = 'fired'").fetchone()[0]
        notices = db.execute("SELECT COUNT(*) FROM outbox WHERE channel = 'email'").fetchone()[0]
        print(f"verdict: {args.kills} SIGKILLs; {len(state['opened'])} acknowledged opens, {len(state['responded'])} "
              f"acknowledged responses, {fired} timers fired, {notices} e-mail notices spooled"
              + (f", {state['removed']} closed disputes removed by retention" if args.retention_days else ""))
        if problems:
            print("FAILED:\n" + "\n".join(problems[:50]))
            sys.exit(1)
        print("passed: nothing acknowledged lost" + (" but what retention removed, each whole, in its time and after its notices"
                                                     if args.retention_days else "")
              + ", every notice exactly one complete file, no timer early or twice")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
