"""The store's disk filling up: writes are refused with a clear error, the daemon
stays up, nothing acknowledged is lost, and it writes again once there is room."""

import re
import time

from conftest import Daemon, grow_disk, small_disk, wait_for

START = "2027-01-11T09:00:00Z"


def open_args(i):
    return {"merchant": "M-SE", "order": f"O-{i}", "amount": "499.00", "currency": "SEK",
            "reason": "faulty", "id": f"D-{i}"}


def stored_ids(d):
    return {x["id"] for x in d.ctl("list").json["disputes"]}


def test_a_full_store_disk_refuses_writes_clearly_and_loses_nothing_acknowledged(workdir):
    with small_disk(workdir / "lib", "1m") as lib:
        d = Daemon(workdir, args=["--simulated-clock", START])
        d.start()
        d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
              "--timezone", "Europe/Stockholm")
        acknowledged, refused = [], None
        for i in range(1000):
            response = d.request("dispute.open", open_args(i), request_id=f"open-{i}")
            if not response["ok"]:
                refused = (i, response["error"])
                break
            acknowledged.append(f"D-{i}")
        assert refused is not None, "1 MiB should not hold 1,000 disputes"
        i, error = refused
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
