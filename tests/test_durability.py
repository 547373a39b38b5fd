"""Durability at the system-call level: the real daemon runs with an LD_PRELOAD
library (tests/sync_trace.c) that logs, in order, every successful
fsync/fdatasync (with the file's size), every rename and every write to a
stream socket. From that log:

- every answer to a write request is sent only after a sync of the store's
  write-ahead log that followed the previous answer (the commit that answer
  reports reached the disk first: nothing acknowledged is lost on power loss);
- every notice file in the spool was synced at its final size under tmp/,
  renamed into new/ afterwards, and new/ itself was synced after the rename.

A unit test checks the PRAGMA that asks SQLite for this; this checks what the
process really does, whatever the library in between decides."""

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import Daemon, read_line

START = "2027-01-11T09:00:00Z"
OPENS = 25


@pytest.fixture(scope="module")
def sync_trace(tmp_path_factory):
    """tests/sync_trace.c built as a shared library with the C compiler at hand
    (cc, or the clang that comes with the Swift toolchain)."""
    compiler = shutil.which("cc") or shutil.which("clang")
    assert compiler, "no C compiler (cc or the Swift toolchain's clang) on PATH"
    library = tmp_path_factory.mktemp("sync-trace") / "sync_trace.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(Path(__file__).parent / "sync_trace.c"),
                    "-ldl", "-lpthread"], check=True)
    return library


def traced_daemon(workdir, library):
    log = workdir / "sync-trace.log"
    d = Daemon(workdir, args=["--simulated-clock", START], env={"LD_PRELOAD": str(library), "SYNC_TRACE_LOG": str(log)})
    d.start()
    return d, log


def mark(log, text):
    with open(log, "a") as f:
        f.write(f"mark {text}\n")


def events_between(log, begin, end):
    lines = log.read_text().splitlines()
    first, last = lines.index(f"mark {begin}"), lines.index(f"mark {end}")
    return [line.split(" ", 3) if line.startswith("sync ") else line.split(" ") for line in lines[first + 1:last]]


def test_every_answer_to_a_write_follows_a_sync_of_the_write_ahead_log(workdir, sync_trace):
    d, log = traced_daemon(workdir, sync_trace)
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm")
    wal = str(workdir / "lib" / "disputed.sqlite-wal")
    answers = []
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(str(d.socket))
        mark(log, "opens")
        # One request at a time: the next is sent only after the answer to the one
        # before, so each needs a commit of its own, synced before its answer.
        for i in range(OPENS):
            s.sendall((json.dumps({"v": 1, "id": f"open-{i}", "op": "dispute.open", "args": {
                "merchant": "M-SE", "order": f"O-{i}", "amount": "10.00", "currency": "SEK", "reason": "faulty",
                "id": f"D-{i}"}}) + "\n").encode())
            answers.append(json.loads(read_line(s)))
        s.sendall(b'{"v":1,"id":"advance","op":"clock.advance","args":{"seconds":4320000}}\n')
        answers.append(json.loads(read_line(s)))
        mark(log, "done")
    assert all(a["ok"] for a in answers), [a for a in answers if not a["ok"]]
    events = events_between(log, "opens", "done")
    sends = [e for e in events if e[0] == "send"]
    assert len(sends) == OPENS + 1, events
    synced_since_answer = False
    for e in events:
        if e[0] == "sync" and e[3] == wal:
            synced_since_answer = True
        elif e[0] == "send":
            assert synced_since_answer, f"an answer was sent with no sync of {wal} since the answer before:\n{events}"
            synced_since_answer = False
    d.stop()


def test_every_spooled_notice_is_synced_whole_then_renamed_then_its_directory_synced(workdir, sync_trace):
    d, log = traced_daemon(workdir, sync_trace)
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm")
    mark(log, "opens")
    for i in range(OPENS):
        d.ctl("open", "--merchant", "M-SE", "--order", f"O-{i}", "--amount", "10.00", "--currency", "SEK",
              "--reason", "faulty", "--id", f"D-{i}")
    d.ctl("clock", "advance", "50d")
    d.wait_spooled()
    mark(log, "done")
    spool = workdir / "spool" / "outgoing"
    files = sorted((spool / "new").iterdir())
    # Each open's notice, two reminders each, and the chargeback after the deadline.
    assert len(files) >= 4 * OPENS, [f.name for f in files]
    events = events_between(log, "opens", "done")
    position = {}
    for n, e in enumerate(events):
        position.setdefault(tuple(e), n)
    new_dir = str(spool / "new")
    for f in files:
        tmp, final = str(spool / "tmp" / f.name), str(f)
        renamed = position.get(("rename", tmp, final))
        assert renamed is not None, f"{f.name} did not come into new/ by a rename from tmp/"
        synced = [n for n, e in enumerate(events[:renamed]) if e[0] == "sync" and e[3] == tmp]
        assert synced, f"{f.name} was renamed into new/ before it was synced"
        assert int(events[synced[-1]][2]) == f.stat().st_size, f"{f.name} was synced at another size than it has"
        assert any(e[0] == "sync" and e[3] == new_dir for e in events[renamed + 1:]), \
            f"new/ was not synced after {f.name} was renamed into it"
    d.stop()
