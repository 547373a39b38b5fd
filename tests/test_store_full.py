"""The store failing under a running daemon. Its disk filling up: writes are refused
with a clear error, the daemon stays up, nothing acknowledged is lost, and it writes
again once there is room. Due timers that cannot be committed (a full disk, a damaged
file) stay pending, are named by `status` and its `--check`, and fire once it mends."""

import re
import sqlite3
import time

from conftest import damage_table, grow_disk, small_disk, started_with_merchant, wait_for

START = "2027-01-11T09:00:00Z"


def open_args(i):
    return {"merchant": "M-SE", "order": f"O-{i}", "amount": "499.00", "currency": "SEK",
            "reason": "faulty", "id": f"D-{i}"}


def stored_ids(d):
    return {x["id"] for x in d.ctl("list").json["disputes"]}


def fill_with_opens(d):
    """Opens disputes until the store's disk refuses one: the acknowledged ids, and
    the refused one's number and error."""
    acknowledged = []
    for i in range(1000):
        response = d.request("dispute.open", open_args(i), request_id=f"open-{i}")
        if not response["ok"]:
            return acknowledged, (i, response["error"])
        acknowledged.append(f"D-{i}")
    raise AssertionError("1 MiB should not hold 1,000 disputes")


def test_a_full_store_disk_refuses_writes_clearly_and_loses_nothing_acknowledged(workdir):
    with small_disk(workdir / "lib", "1m") as lib:
        d = started_with_merchant(workdir, START)
        acknowledged, (i, error) = fill_with_opens(d)
        assert error["code"] == "unavailable", error
        assert "full" in error["message"] and "retry with the same request id" in error["message"], error
        assert d.proc.poll() is None, "the daemon must stay up on a full disk"
        # The journal tells the commit error, not an open that was not stored.
        # (logged when the engine lands the failed group, just after the refusal went out)
        assert wait_for(lambda: "group commit failed" in d.log_text()), d.log_text()[-2000:]
        log = d.log_text()
        assert re.search(rf"dispute=D-{i}\b", log) is None, log[-2000:]
        assert re.search(rf"dispute=D-{i - 1}\b.*dispute opened", log), log[-2000:]

        # Reads still work, every acknowledged dispute is there and the refused one is not.
        assert d.ctl("status").json["disputes"] == {"awaitingMerchant": len(acknowledged)}
        assert stored_ids(d) == set(acknowledged)

        # Still full: refused again, the same way, nothing changes.
        again = d.request("dispute.open", open_args(i), request_id=f"open-{i}")
        assert not again["ok"] and again["error"]["code"] == "unavailable"

        # Room again: the same request succeeds, stored once.
        grow_disk(lib, "64m")
        deadline = time.monotonic() + 10
        while True:
            retried = d.request("dispute.open", open_args(i), request_id=f"open-{i}")
            if retried["ok"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert retried["ok"], retried
        assert d.request("dispute.open", open_args(i), request_id=f"open-{i}") == retried  # idempotent
        d.stop(timeout=30)

        # After a restart: every acknowledged dispute and the retried one, once each.
        d.start()
        ids = stored_ids(d)
        assert set(acknowledged) | {f"D-{i}"} == ids
        d.stop(timeout=30)


def test_due_timers_on_a_full_disk_are_named_by_status_check_and_fire_once_there_is_room(workdir):
    with small_disk(workdir / "lib", "1m") as lib:
        d = started_with_merchant(workdir, START)
        acknowledged, _ = fill_with_opens(d)
        assert d.ctl("status", "--check", check=False).returncode == 0

        # Every response deadline lapses: the chargebacks need room the disk does not have.
        advanced = d.ctl("clock", "advance", "40d", json_output=False, check=False)
        assert advanced.returncode == 1, advanced.stdout + advanced.stderr
        assert "the clock is now 2027-02-20T09:00:00Z, but the timers due by then did not all fire" in advanced.stderr, advanced.stderr
        assert "full" in advanced.stderr and "advancing again would move the clock further" in advanced.stderr, advanced.stderr

        status = d.ctl("status").json
        assert "full" in status["timerFailure"] and status["timerFailureSince"] == "2027-02-20T09:00:00Z", status
        checked = d.ctl("status", "--check", json_output=False, check=False)
        assert checked.returncode == 2, checked.stdout + checked.stderr
        assert "check failed: due timers cannot fire since 2027-02-20T09:00:00Z: " in checked.stderr, checked.stderr
        assert "due ones cannot fire since 2027-02-20T09:00:00Z, retried every second" in checked.stdout, checked.stdout
        assert status["disputes"] == {"awaitingMerchant": len(acknowledged)}, "nothing fired, nothing half-fired"
        time.sleep(2.5)  # retried every second meanwhile

        # Room again: the tick loop fires them, each once, and the problem is gone.
        grow_disk(lib, "64m")
        assert wait_for(lambda: d.ctl("status").json.get("timerFailure") is None, seconds=15), d.log_text()[-2000:]
        assert wait_for(lambda: d.ctl("status").json["disputes"] == {"closed": len(acknowledged)}, seconds=30), \
            d.ctl("status").json
        assert d.ctl("status", "--check", check=False).returncode == 0
        for x in acknowledged[:5]:
            events = [e["event"] for e in d.ctl("show", x).json["timeline"]]
            assert (events.count("deadlineLapsed"), events.count("chargeback")) == (1, 1), (x, events)

        # The journal: the failure once (not at every retry), then that they fire again.
        log = d.log_text()
        assert log.count("firing due timers failed") == 1, log[-3000:]
        retries = int(re.search(r"retries=(\d+)\b.*due timers fire again", log).group(1))
        assert retries >= 2, log[-3000:]
        d.stop(timeout=30)


def restarted_with_a_damaged(workdir, table):
    """A daemon with three open disputes, stopped, one table or index of its store
    damaged (`damage_table`), and started again."""
    d = started_with_merchant(workdir, START)
    for i in range(3):
        assert d.request("dispute.open", open_args(i), request_id=f"open-{i}")["ok"]
    d.wait_spooled()
    assert d.stop() == 0
    damage_table(workdir / "lib" / "disputed.sqlite", table)
    d.start()
    return d


def test_a_store_damaged_under_a_running_daemon_is_named_and_its_timers_stay_pending(workdir):
    # The start reads pending timers from their index; firing reads the rows.
    d = restarted_with_a_damaged(workdir, "timers")

    advanced = d.ctl("clock", "advance", "40d", json_output=False, check=False)
    assert advanced.returncode == 1, advanced.stdout + advanced.stderr
    assert "the store is damaged (SQLite error 11: database disk image is malformed" in advanced.stderr, advanced.stderr
    assert "restore a backup (README: Backup and restore)" in advanced.stderr, advanced.stderr
    checked = d.ctl("status", "--check", json_output=False, check=False)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "check failed: due timers cannot fire since 2027-02-20T09:00:00Z: the store is damaged" in checked.stderr, checked.stderr
    time.sleep(2.5)  # no retry mends it
    status = d.ctl("status").json
    assert status["timerFailure"].startswith("the store is damaged"), status
    assert status["disputes"] == {"awaitingMerchant": 3}, status
    assert d.log_text().count("firing due timers failed") == 1, d.log_text()[-3000:]
    assert d.stop() == 0


def test_a_start_on_a_full_store_disk_says_how_much_room_is_left(workdir):
    with small_disk(workdir / "lib", "1m") as lib:
        d = started_with_merchant(workdir, START)
        assert d.stop() == 0
        # The last connection to close removes the WAL's files, which the start
        # must then make again; everything else the disk had is taken.
        db = sqlite3.connect(lib / "disputed.sqlite")
        db.execute("SELECT COUNT(*) FROM merchants").fetchone()
        db.close()
        assert sorted(p.name for p in lib.iterdir()) == ["disputed.lock", "disputed.sqlite"]
        with open(lib / "filler", "wb", buffering=0) as f:
            try:
                while f.write(b"\0" * 4096):
                    pass
            except OSError:
                pass
        d.start(wait=False)
        assert d.proc.wait(timeout=30) == 1, d.log_text()  # room may come back: the unit restarts it
        assert re.search(r"store \S+disputed\.sqlite: (disk I/O error|database or disk is full) \(its file system has 0 KiB free\)",
                         d.log_text()), d.log_text()[-2000:]
        (lib / "filler").unlink()
        d.start()
        assert d.ctl("merchant", "show", "M-SE").json["id"] == "M-SE"
        d.stop()


def test_status_on_a_store_it_cannot_count_names_the_damage_and_still_answers(workdir):
    # The index status counts disputes per state with; the disputes themselves are whole.
    d = restarted_with_a_damaged(workdir, "disputes_stage")
    status = d.ctl("status").json
    assert status["storeError"].startswith("the store is damaged (SQLite error 11"), status
    assert status["pid"] == d.proc.pid and status["pendingTimers"] == 9 and status["disputes"] == {}, status
    checked = d.ctl("status", "--check", json_output=False, check=False)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "check failed: the store cannot be read: the store is damaged" in checked.stderr, checked.stderr
    assert "Disputes   unknown (the store cannot be read)" in checked.stdout, checked.stdout
    assert [x["id"] for x in d.ctl("list").json["disputes"]] == ["D-0", "D-1", "D-2"]
    assert d.stop() == 0
