"""Spooled notices are correct mail, written atomically, exactly once."""

import email
import email.policy
import json
import os
import socket
import sqlite3
import threading
import time

import pytest

from conftest import Daemon, config_text, grow_disk, read_line, small_disk, wait_for

START = "2027-01-11T09:00:00Z"
REQUIRED = ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Auto-Submitted", "X-Dispute-Id", "X-Dispute-Notice-Kind"]
MERCHANTS = {
    "M-SE": ("Åsa Handel AB", "SE", "Europe/Stockholm", "sv", "SEK"),
    "M-DE": ("Müller & Söhne GmbH", "DE", "Europe/Berlin", "de", "EUR"),
    "M-GB": ("Brown \"Quoted\" Ltd", "GB", "Europe/London", "en", "GBP"),
    "M-NO": ("Fjord Handel AS", "NO", "Europe/Oslo", "nb", "NOK"),
    "M-DK": ("Østergaard ApS", "DK", "Europe/Copenhagen", "da", "DKK"),
    "M-FI": ("Mäkelä Oy", "FI", "Europe/Helsinki", "fi", "EUR"),
    "M-NL": ("De Vries B.V.", "NL", "Europe/Amsterdam", "nl", "EUR"),
    "M-FR": ("Lefèvre & Fils SARL", "FR", "Europe/Paris", "fr", "EUR"),
    "M-IT": ("Rossi S.r.l.", "IT", "Europe/Rome", "it", "EUR"),
    "M-ES": ("García y Núñez S.L.", "ES", "Europe/Madrid", "es", "EUR"),
    "M-PL": ("Kowalski sp. z o.o.", "PL", "Europe/Warsaw", "pl", "PLN"),
}


def spool_files(base):
    new = base / "spool" / "outgoing" / "new"
    return sorted(new.glob("*.eml"))


def check_message(path, merchant_names):
    raw = path.read_bytes()
    assert b"\r" not in raw, f"{path.name}: bare CR"
    lines = raw.split(b"\n")
    assert all(len(l) <= 998 for l in lines), f"{path.name}: line over 998 octets"
    head = raw.split(b"\n\n", 1)[0]
    assert all(b < 0x80 for b in head), f"{path.name}: 8-bit header"
    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    for part in msg.walk():
        assert not part.defects, f"{path.name}: {part.defects}"
    for h in REQUIRED:
        assert msg[h], f"{path.name}: missing {h}"
    assert msg["MIME-Version"] == "1.0" and msg["Auto-Submitted"] == "auto-generated"
    notice_id = path.name[:-4]
    assert msg["Message-ID"] == f"<{notice_id}@disputes.test.invalid>"
    assert msg["X-Dispute-Id"] == notice_id.split(".")[0]
    assert msg["X-Dispute-Notice-Kind"] == notice_id.split(".")[2]
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p for p in msg.iter_parts()]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for p in parts:
        assert p["Content-Transfer-Encoding"] == "quoted-printable"
        assert p.get_content_charset() == "utf-8"
        body = p.get_content()
        assert "{{" not in body and notice_id.split(".")[0] in body
    # The encoded display name decodes to the merchant's name exactly.
    to = msg["To"]
    assert to.addresses[0].display_name in merchant_names
    return msg


@pytest.fixture
def sim(workdir):
    d = Daemon(workdir, args=["--simulated-clock", START])
    d.start()
    for id, (name, country, tz, locale, _) in MERCHANTS.items():
        d.ctl("merchant", "upsert", "--id", id, "--name", name, "--email", f"{id.lower()}@shop.example",
              "--country", country, "--timezone", tz, "--locale", locale)
    yield d
    d.kill()


def test_every_notice_kind_in_every_shipped_language_is_valid_mail(sim):
    n = 0
    for mid, (_, _, _, _, cur) in MERCHANTS.items():
        for path in ("answered", "unanswered", "evidence", "review", "withdrawn", "refunded", "invalid"):
            id = f"D-{mid[2:]}-{path}"
            sim.ctl("open", "--merchant", mid, "--order", f"O-{id}", "--amount", "12.50", "--order-amount", "99.00",
                    "--currency", cur, "--reason", "notAsDescribed", "--id", id)
            n += 1
            if path in ("answered", "evidence", "review", "invalid"):
                sim.ctl("respond", id)
            if path == "answered":
                sim.ctl("resolve", id, "--refund", "2.50")
            if path == "withdrawn":
                sim.ctl("withdraw", id)
            if path == "refunded":
                sim.ctl("refunded", f"O-{id}")
    sim.ctl("clock", "advance", "19d")
    for mid in MERCHANTS:
        sim.ctl("statement", f"D-{mid[2:]}-invalid", "--invalid")
        sim.ctl("statement", f"D-{mid[2:]}-evidence", "--valid")
        sim.ctl("statement", f"D-{mid[2:]}-review", "--valid")
        sim.ctl("evidence", f"D-{mid[2:]}-review")
        sim.ctl("decide", f"D-{mid[2:]}-review", "--for", "customer")
    sim.ctl("clock", "advance", "40d")
    sim.wait_spooled()
    files = spool_files(sim.base)
    kinds = set()
    ids = set()
    names = {m[0] for m in MERCHANTS.values()}
    for f in files:
        msg = check_message(f, names)
        kinds.add((msg["X-Dispute-Notice-Kind"], msg["X-Dispute-Id"].split("-")[1]))
        ids.add(msg["Message-ID"])
    assert len(ids) == len(files)
    all_kinds = {"disputeOpened", "responseReminder", "chargebackIssued", "disputeEscalated", "evidenceRequested",
                 "evidenceReminder", "decisionMerchantFavour", "decisionCustomerFavour", "disputeClosed"}
    for mid in MERCHANTS:
        assert {k for k, m in kinds if m == mid[2:]} == all_kinds, mid
    assert sim.ctl("status").json["outboxPending"] == 0
    # Swedish text with Swedish formatting of money and dates.
    se = email.message_from_bytes((sim.base / "spool/outgoing/new/D-SE-unanswered.1.disputeOpened.eml").read_bytes(), policy=email.policy.default)
    text = se.get_body(("plain",)).get_content()
    assert "12,50" in text and "kr" in text and "januari 2027" in text
    # Each in its merchant's language (the subject of the first notice), not English.
    subjects = {mid: email.message_from_bytes((sim.base / f"spool/outgoing/new/D-{mid[2:]}-unanswered.1.disputeOpened.eml").read_bytes(),
                                              policy=email.policy.default)["Subject"] for mid in MERCHANTS}
    assert subjects["M-NO"].startswith("Tvist D-NO-unanswered om ordre") and subjects["M-DK"].endswith(": svar venligst")
    assert subjects["M-FI"].startswith("Riita ") and subjects["M-NL"].startswith("Geschil ") and subjects["M-FR"].startswith("Litige ")
    assert subjects["M-IT"].startswith("Contestazione ") and subjects["M-ES"].startswith("Disputa ") and subjects["M-PL"].startswith("Spór ")


def test_header_injection_in_merchant_data_never_creates_a_header(sim):
    r = sim.ctl("merchant", "upsert", "--id", "M-X", "--name", "Evil\r\nBcc: victim@example.com", "--email",
                "x@shop.example", "--country", "SE", "--timezone", "Europe/Stockholm", check=False)
    assert r.returncode == 1 and "control characters" in r.json["message"]
    r = sim.ctl("merchant", "upsert", "--id", "M-X", "--name", "X", "--email", "x@shop.example\nBcc: v@example.com",
                "--country", "SE", "--timezone", "Europe/Stockholm", check=False)
    assert r.returncode == 1 and "'email'" in r.json["message"]
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O\nBcc: v@example.com", "--amount", "1", "--currency", "SEK",
                "--reason", "faulty", check=False)
    assert r.returncode == 1
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "1", "--currency", "SEK", "--reason", "faulty",
                "--id", "../../etc/x", check=False)
    assert r.returncode == 1 and "dispute id" in r.json["message"]
    # A display name with quotes and non-ASCII goes through encoded words.
    sim.ctl("open", "--merchant", "M-GB", "--order", "O-2", "--amount", "1", "--currency", "GBP", "--reason", "faulty", "--id", "D-Q")
    sim.wait_spooled()
    msg = check_message(sim.base / "spool/outgoing/new/D-Q.1.disputeOpened.eml", {m[0] for m in MERCHANTS.values()})
    assert msg["To"].addresses[0].display_name == 'Brown "Quoted" Ltd'
    assert "Bcc" not in msg


def test_a_concurrent_reader_never_sees_a_partial_file(sim):
    new = sim.base / "spool/outgoing/new"
    cur = sim.base / "spool/outgoing/cur"
    seen, bad, stop = [], [], threading.Event()

    def reader():
        while not stop.is_set() or any(new.iterdir()):
            for f in list(new.glob("*.eml")):
                try:
                    os.rename(f, cur / f.name)
                except FileNotFoundError:
                    continue
                data = (cur / f.name).read_bytes()
                if not data.rstrip().endswith(b"--") or b"text/html" not in data:
                    bad.append(f.name)
                seen.append(f.name)
            time.sleep(0.001)

    t = threading.Thread(target=reader)
    t.start()
    count = 1500
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sim.socket))
        for i in range(count):
            req = {"v": 1, "id": f"bulk-{i}", "op": "dispute.open",
                   "args": {"merchant": "M-SE", "order": f"B-{i}", "amount": "1.00", "currency": "SEK", "reason": "faulty", "id": f"B-{i}"}}
            s.sendall((json.dumps(req) + "\n").encode())
            assert json.loads(read_line(s))["ok"]
    sim.wait_spooled(timeout=120)
    stop.set()
    t.join(timeout=60)
    assert not bad
    assert len(seen) == count
    assert len(set(seen)) == count


def open_one(d, id, merchant="M-SE"):
    name, country, tz, locale, currency = MERCHANTS[merchant]
    d.ctl("open", "--merchant", merchant, "--order", f"O-{id}", "--amount", "10.00", "--currency", currency,
          "--reason", "faulty", "--id", id)


def unmounted_spool(workdir):
    """A spool path whose parent is a regular file: it cannot be made (as with a spool
    file system not mounted yet) until the file is removed. Returns (blocker, spool)."""
    blocker = workdir / "spool-not-mounted"
    blocker.write_text("")
    return blocker, blocker / "outgoing"


def started_on_unmounted_spool(workdir):
    """A daemon started on a simulated clock with an `unmounted_spool`. Returns (daemon, blocker, spool)."""
    blocker, spool = unmounted_spool(workdir)
    d = Daemon(workdir, args=["--simulated-clock", START], config=config_text(workdir, spool=str(spool)))
    d.start()
    return d, blocker, spool


def open_d1(d):
    """Registers M-SE and opens D-1 on it: one e-mail notice, D-1.1.disputeOpened.eml."""
    name, country, tz, locale, _ = MERCHANTS["M-SE"]
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", name, "--email", "m-se@shop.example", "--country", country,
          "--timezone", tz, "--locale", locale)
    open_one(d, "D-1")


def test_a_notice_is_emailed_again_as_a_copy_with_its_own_id_to_the_address_of_now(sim):
    open_one(sim, "D-1")
    sim.wait_spooled()
    [first] = spool_files(sim.base)
    assert first.name == "D-1.1.disputeOpened.eml"
    # The merchant says the e-mail never came, and gives another address.
    name, country, tz, locale, _ = MERCHANTS["M-SE"]
    sim.ctl("merchant", "upsert", "--id", "M-SE", "--name", name, "--email", "disputes@shop.example", "--country", country,
            "--timezone", tz, "--locale", locale)
    assert sim.ctl("notice", "resend", "D-1.1.disputeOpened").json["resent"] == "D-1.1.disputeOpened"
    sim.wait_spooled()
    copy = [f for f in spool_files(sim.base) if f != first]
    assert [f.name for f in copy] == ["D-1.2.disputeOpened.eml"]
    names = [m[0] for m in MERCHANTS.values()]
    original, again = check_message(first, names), check_message(copy[0], names)
    assert again["To"].addresses[0].addr_spec == "disputes@shop.example"
    assert original["Message-ID"] != again["Message-ID"]
    # The same notice: subject and both bodies as first written.
    assert again["Subject"] == original["Subject"]
    assert [p.get_content() for p in again.iter_parts()] == [p.get_content() for p in original.iter_parts()]
    shown = sim.ctl("show", "D-1").json
    assert [(n["id"], n["channel"], n["state"]) for n in shown["notices"]] == [
        ("D-1.1.disputeOpened", "email", "spooled"), ("D-1.2.disputeOpened", "email", "spooled")]
    assert [(l["event"], l["by"]) for l in shown["timeline"]][-1] == ("noticeResent", "root (uid 0)")
    # Wrong ids are named.
    r = sim.ctl("notice", "resend", "D-1.7.disputeOpened", check=False)
    assert r.json["code"] == "not_found" and "has no notice D-1.7.disputeOpened" in r.json["message"]
    r = sim.ctl("notice", "resend", "D-9.1.disputeOpened", check=False)
    assert r.json["code"] == "not_found" and "no dispute D-9" in r.json["message"]
    r = sim.ctl("notice", "resend", "D-1", check=False)
    assert r.json["code"] == "bad_request" and "not a notice id" in r.json["message"]
    assert len(spool_files(sim.base)) == 2


def test_notice_prints_the_message_exactly_as_it_was_spooled(sim):
    open_one(sim, "D-1", merchant="M-DE")
    sim.wait_spooled()
    [spooled] = spool_files(sim.base)
    shown = sim.ctl("notice", "show", spooled.name[:-4], json_output=False)
    assert shown.returncode == 0 and shown.stdout.encode() == spooled.read_bytes()
    meta = sim.ctl("notice", "show", "D-1.1.disputeOpened").json["notice"]
    assert (meta["kind"], meta["channel"], meta["state"], meta["createdAt"]) == ("disputeOpened", "email", "spooled", START)
    r = sim.ctl("notice", "show", "D-1.2.disputeOpened", check=False)
    assert r.returncode == 1 and r.json["code"] == "not_found"


def test_a_notice_not_yet_spooled_is_not_sent_again(workdir):
    d, _, _ = started_on_unmounted_spool(workdir)
    try:
        open_d1(d)
        r = d.ctl("notice", "resend", "D-1.1.disputeOpened", check=False)
        assert r.returncode == 1 and r.json["code"] == "conflict" and "not spooled yet" in r.json["message"]
        assert [n["id"] for n in d.ctl("show", "D-1").json["notices"]] == ["D-1.1.disputeOpened"]
    finally:
        d.kill()


def test_a_reload_that_moves_the_spool_creates_it_or_is_rejected(sim, workdir):
    open_one(sim, "D-1")
    assert wait_for(lambda: len(spool_files(workdir)) == 1)
    # Moved to a directory that does not exist yet: made at the reload, used at once.
    moved = workdir / "relay" / "outgoing"
    sim.config.write_text(config_text(workdir, spool=str(moved)))
    assert sim.reload() is True
    open_one(sim, "D-2")
    assert wait_for(lambda: [p.name for p in (moved / "new").glob("*.eml")] == ["D-2.1.disputeOpened.eml"])
    assert sim.ctl("status").json.get("lastSpoolError") is None
    # Moved under a regular file: cannot be made, the reload is rejected and the spool stays.
    blocker = workdir / "not-a-directory"
    blocker.write_text("")
    sim.config.write_text(config_text(workdir, spool=str(blocker / "outgoing")))
    assert sim.reload() is False
    assert "cannot be used" in sim.log_text()
    open_one(sim, "D-3")
    assert wait_for(lambda: sorted(p.name for p in (moved / "new").glob("*.eml")) == ["D-2.1.disputeOpened.eml", "D-3.1.disputeOpened.eml"])
    assert sim.ctl("status").json.get("lastSpoolError") is None


def test_a_spool_that_cannot_be_made_at_start_holds_notices_back_until_it_can(workdir):
    # The spool's parent is a regular file: the directory cannot be made (as with a
    # spool file system not mounted yet). The daemon still starts and acknowledges;
    # the notices wait in the outbox and go out once the spool can be made.
    d, blocker, spool = started_on_unmounted_spool(workdir)
    try:
        open_d1(d)
        status = d.ctl("status").json
        assert status["outboxPending"] == 1
        assert str(blocker) in status["lastSpoolError"], status
        # How far behind the spool is: the oldest waiting notice's commit, on the daemon's clock.
        assert status["outboxOldest"] == START, status
        d.ctl("clock", "advance", "90m")
        text = d.ctl("status", json_output=False).stdout
        assert f"1 e-mail notices not yet spooled, the oldest committed at {START} (1h 30m ago); last spool error" in text, text
        # For monitoring: both problems named, exit 2 (the status still printed).
        checked = d.ctl("status", "--check", json_output=False, check=False)
        assert checked.returncode == 2 and "Outbox" in checked.stdout, checked
        assert f"check failed: the spool fails: " in checked.stderr and str(blocker) in checked.stderr, checked.stderr
        assert f"check failed: 1 e-mail notices wait for the spool, the oldest since {START} (over 15m 0s)" in checked.stderr
        assert d.ctl("status", "--check", "--backlog-age", "2h", check=False).returncode == 2  # the spool error alone
        blocker.unlink()
        assert wait_for((spool / "new" / "D-1.1.disputeOpened.eml").exists, seconds=30)
        status = d.ctl("status").json
        assert status["outboxPending"] == 0 and status.get("outboxOldest") is None, status
        checked = d.ctl("status", "--check", json_output=False, check=False)
        assert checked.returncode == 0 and checked.stderr == "", checked
        # The spool it made is locked like one that existed at start.
        (workdir / "other").mkdir()
        other = Daemon(workdir / "other", args=["--simulated-clock", START], config=config_text(workdir / "other", spool=str(spool)))
        other.start(wait=False)
        assert other.proc.wait(timeout=10) == 1
        assert f"the spool {spool} is in use by another disputed (pid {d.proc.pid})" in other.log_text()
    finally:
        d.kill()


def test_a_backlog_left_by_a_spool_that_failed_before_ready_is_retried_without_a_new_notice(workdir):
    d = Daemon(workdir, args=["--simulated-clock", START])
    d.start()
    open_d1(d)
    d.stop()
    # Committed, not written, and at the next start the spool cannot be made.
    with sqlite3.connect(workdir / "lib" / "disputed.sqlite") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL WHERE channel = 'email'")
    blocker, spool = unmounted_spool(workdir)
    d.config.write_text(config_text(workdir, spool=str(spool)))
    d.start()
    try:
        assert d.ctl("status").json["outboxPending"] == 1
        blocker.unlink()
        # No request comes in: the retries alone write it once the spool can be made.
        assert wait_for((spool / "new" / "D-1.1.disputeOpened.eml").exists, seconds=30)
        assert d.ctl("status").json["outboxPending"] == 0
    finally:
        d.kill()


def test_a_reload_retries_a_failing_spool_at_once_instead_of_after_its_back_off(workdir):
    d, blocker, spool = started_on_unmounted_spool(workdir)
    try:
        open_d1(d)
        # The back-off doubles from 1 s; wait until the next retry is 16 s away.
        deadline = time.monotonic() + 40
        while "retryInSeconds=16" not in d.log_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "retryInSeconds=16" in d.log_text(), d.log_text()[-2000:]
        # Ops mend the spool and reload: it is tried again within a second or two, not 16 s later.
        blocker.unlink()
        assert d.reload() is True
        assert wait_for((spool / "new" / "D-1.1.disputeOpened.eml").exists, seconds=5)
        assert d.ctl("status").json.get("lastSpoolError") is None
    finally:
        d.kill()


def test_full_disk_keeps_notices_pending_and_delivers_them_when_space_returns(workdir):
    with small_disk(workdir / "small", "48k") as spool:
        d = Daemon(workdir, args=["--simulated-clock", START], config=config_text(workdir, spool=str(spool / "outgoing")))
        d.start()
        d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE", "--timezone", "Europe/Stockholm")
        for i in range(40):
            d.ctl("open", "--merchant", "M-SE", "--order", f"O-{i}", "--amount", "1.00", "--currency", "SEK", "--reason", "faulty", "--id", f"D-{i}")
        deadline = time.monotonic() + 10
        while "No space left on device" not in (d.ctl("status").json.get("lastSpoolError") or "") and time.monotonic() < deadline:
            time.sleep(0.1)
        status = d.ctl("status").json
        assert status["outboxPending"] > 0
        assert "No space left on device" in status["lastSpoolError"]
        assert len(d.ctl("list").json["disputes"]) == 40  # every acknowledged dispute is stored
        # Nothing half-written is visible to the relay.
        for f in (spool / "outgoing/new").glob("*.eml"):
            assert f.read_bytes().rstrip().endswith(b"--")
        # A failed write removes its own file from tmp/. The spooler retries
        # meanwhile (1 s, then 2 s, ...), and a retry's file is in tmp/ for the
        # moment its write takes to fail; a file left behind would stay.
        def tmp_files():
            found = {}
            for f in (spool / "outgoing/tmp").iterdir():
                try:
                    found[f.name] = f.stat().st_ino
                except FileNotFoundError:  # a retry's file, gone as its write failed
                    pass
            return found
        before = tmp_files()
        time.sleep(0.5)
        assert not set(before.items()) & set(tmp_files().items()), "a file stayed in tmp/ after its write failed"
        grow_disk(spool, "8m")
        deadline = time.monotonic() + 60
        while d.ctl("status").json["outboxPending"] and time.monotonic() < deadline:
            time.sleep(0.5)
        status = d.ctl("status").json
        assert status["outboxPending"] == 0 and status.get("lastSpoolError") is None
        assert len(list((spool / "outgoing/new").glob("*.eml"))) == 40
        assert not list((spool / "outgoing/tmp").iterdir())
        d.stop()
