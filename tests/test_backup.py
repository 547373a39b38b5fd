"""Backing up the store while the daemon runs, as the README tells ops to
(`sqlite3 disputed.sqlite "VACUUM INTO 'FILE'"`: one read transaction, so a
consistent snapshot however busy the writer is), and starting from the copy."""

import sqlite3
import threading
import time

from conftest import Daemon, config_text

START = "2027-01-11T09:00:00Z"


def test_a_backup_taken_under_load_is_a_whole_store_a_daemon_starts_from(workdir):
    live = workdir / "live"
    live.mkdir()
    d = Daemon(live, args=["--simulated-clock", START])
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm")
    acknowledged = []   # (id, monotonic time the acknowledgement arrived)
    stop = threading.Event()

    def load(worker):
        i = 0
        while not stop.is_set():
            rid = f"D-{worker}-{i}"
            r = d.request("dispute.open", {"merchant": "M-SE", "order": f"O-{rid}", "amount": "10.00", "currency": "SEK",
                                           "reason": "faulty", "id": rid}, request_id=f"r-{rid}")
            assert r["ok"], r
            acknowledged.append((rid, time.monotonic()))
            i += 1

    workers = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for w in workers:
        w.start()
    try:
        while len(acknowledged) < 200:
            time.sleep(0.01)
        backup = workdir / "backup.sqlite"
        taken = time.monotonic()
        src = sqlite3.connect(f"file:{live / 'lib' / 'disputed.sqlite'}?mode=ro", uri=True)
        src.execute("VACUUM INTO ?", (str(backup),))
        src.close()
        while len(acknowledged) < len([a for a in acknowledged if a[1] < taken]) + 100:
            time.sleep(0.01)   # the load went on during and after the backup
    finally:
        stop.set()
        for w in workers:
            w.join()
    before = {rid for rid, at in acknowledged if at < taken}
    d.stop(timeout=30)

    copy = sqlite3.connect(backup)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {row[0] for row in copy.execute("SELECT id FROM disputes")}
    # Every open acknowledged before the backup began is in it, each with its
    # three pending timers and its notice: whole disputes, never half of one.
    assert before <= stored, sorted(before - stored)[:5]
    per = dict(copy.execute("SELECT dispute_id, COUNT(*) FROM timers WHERE state = 'pending' GROUP BY dispute_id"))
    assert all(per.get(i) == 3 for i in stored), {i: per.get(i) for i in stored if per.get(i) != 3}
    notices = dict(copy.execute("SELECT dispute_id, COUNT(*) FROM outbox GROUP BY dispute_id"))
    assert all(notices.get(i) == 1 for i in stored)
    copy.close()

    # Restored: a daemon starts from the copy, loads its timers and takes writes.
    restored = workdir / "restored"
    (restored / "lib").mkdir(parents=True)
    backup.rename(restored / "lib" / "disputed.sqlite")
    r = Daemon(restored, args=["--simulated-clock", START], config=config_text(restored))
    r.start()
    try:
        status = r.ctl("status").json
        assert status["disputes"] == {"awaitingMerchant": len(stored)}
        assert status["recovery"]["timersLoaded"] == 3 * len(stored)
        r.ctl("open", "--merchant", "M-SE", "--order", "O-after", "--amount", "10.00", "--currency", "SEK",
              "--reason", "faulty", "--id", "D-after")
        r.ctl("clock", "advance", "19d")
        assert r.ctl("status").json["disputes"] == {"closed": len(stored) + 1}
    finally:
        r.stop(timeout=30)
