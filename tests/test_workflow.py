"""Every path of the dispute state diagram, end to end: the real daemon on a
simulated clock, driven by the real disputectl."""

import json
import re
import shutil
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT, Daemon, config_text, wait_for

START = "2027-01-11T09:00:00Z"  # Monday, 10:00 in Stockholm


@pytest.fixture
def sim(workdir):
    d = Daemon(workdir, args=["--simulated-clock", START])
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa Handel AB", "--email", "tvist@asa.example",
          "--country", "SE", "--timezone", "Europe/Stockholm", "--locale", "sv")
    d.ctl("merchant", "upsert", "--id", "M-DE", "--name", "Müller GmbH", "--email", "streit@mueller.example",
          "--country", "DE", "--timezone", "Europe/Berlin", "--locale", "de", "--portal")
    yield d
    d.kill()


def open_dispute(d, id, merchant="M-SE", order=None, amount="499.00", currency="SEK", reason="faulty", *extra):
    return d.ctl("open", "--merchant", merchant, "--order", order or f"O-{id}", "--amount", amount,
                 "--order-amount", "899.00", "--currency", currency, "--reason", reason, "--id", id,
                 "--invoice-due", "2027-01-31", *extra).json["dispute"]


def show(d, id):
    return d.ctl("show", id).json


def notices(d, id):
    return [n["kind"] for n in show(d, id)["notices"]]


def test_unanswered_dispute_is_charged_back_when_the_deadline_lapses(sim):
    opened = open_dispute(sim, "D-1")
    assert opened["state"] == "awaitingMerchant" and opened["invoice"] == "paused"
    assert opened["nextDeadline"] == "2027-01-29T23:00:00Z"
    sim.ctl("clock", "advance", "18d")          # 2027-01-29T09:00Z: the day before the deadline ends
    assert show(sim, "D-1")["state"] == "awaitingMerchant"
    sim.ctl("clock", "advance", "14h")          # 23:00Z: local midnight, the deadline
    d = show(sim, "D-1")
    assert (d["state"], d["outcome"], d["invoice"]) == ("closed", "customerFavour", "chargedBack")
    assert notices(sim, "D-1") == ["disputeOpened", "responseReminder", "responseReminder", "chargebackIssued"]


def test_deadline_never_fires_a_second_early(sim):
    open_dispute(sim, "D-1")
    sim.ctl("clock", "advance", "18d13h59m59s")
    assert show(sim, "D-1")["state"] == "awaitingMerchant"
    sim.ctl("clock", "advance", "1s")
    assert show(sim, "D-1")["state"] == "closed"


def test_a_deadline_that_could_not_commit_fires_once_the_store_takes_writes_again(sim, workdir):
    open_dispute(sim, "D-1")
    # Another process (an operator's sqlite3) holds the store's write lock while
    # the deadlines fall due: firing them cannot commit.
    lock = sqlite3.connect(workdir / "lib" / "disputed.sqlite", isolation_level=None, timeout=10)
    lock.execute("BEGIN IMMEDIATE")
    try:
        advanced = sim.request("clock.advance", {"seconds": 19 * 86400}, request_id="advance")
        assert not advanced["ok"] and "locked" in advanced["error"]["message"], advanced
        assert show(sim, "D-1")["state"] == "awaitingMerchant"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    # No further clock.advance: the tick loop fires the overdue timers by itself,
    # without a restart, each once, in due order.
    until = time.monotonic() + 30
    while show(sim, "D-1")["state"] != "closed" and time.monotonic() < until:
        time.sleep(0.2)
    d = show(sim, "D-1")
    assert (d["state"], d["outcome"], d["invoice"]) == ("closed", "customerFavour", "chargedBack")
    assert notices(sim, "D-1") == ["disputeOpened", "responseReminder", "responseReminder", "chargebackIssued"]
    assert sim.ctl("status").json["pendingTimers"] == 0


def test_a_deadline_whose_calendar_is_gone_waits_for_it_while_the_others_fire(workdir):
    calendars = workdir / "calendars"
    shutil.copytree(ROOT / "config" / "calendars", calendars)
    d = Daemon(workdir, args=["--simulated-clock", START], config=config_text(workdir, calendars=str(calendars)))
    d.start()
    try:
        for merchant, country, zone in (("M-SE", "SE", "Europe/Stockholm"), ("M-DE", "DE", "Europe/Berlin")):
            d.ctl("merchant", "upsert", "--id", merchant, "--name", "Shop", "--email", "x@shop.example",
                  "--country", country, "--timezone", zone)
        open_dispute(d, "D-SE")
        open_dispute(d, "D-DE", merchant="M-DE", currency="EUR")
        d.stop(timeout=30)
        # Restarted without the Swedish calendar: the Swedish dispute's timers
        # cannot be worked out, the German ones fire as usual.
        (calendars / "SE.toml").rename(workdir / "SE.toml")
        d.start()
        d.ctl("clock", "advance", "19d")
        assert show(d, "D-DE")["state"] == "closed"
        assert show(d, "D-SE")["state"] == "awaitingMerchant"
        assert "timer cannot fire yet" in d.log_text() and "no calendar for market SE" in d.log_text()
        # Ops see the held deadlines in status, with the reason.
        status = d.ctl("status").json
        assert status["heldTimers"] == 3 and "no calendar for market SE" in status["heldTimersReason"], status
        human = d.ctl("status", json_output=False).stdout
        assert "3 overdue held back, retried every minute and at a reload: " in human and "no calendar for market SE" in human, human
        # The calendar back and reloaded: they fire at the next tick, once each,
        # without waiting out the retry delay (a minute of a clock that here
        # moves only with clock advance).
        (workdir / "SE.toml").rename(calendars / "SE.toml")
        assert d.reload() is True
        assert wait_for(lambda: show(d, "D-SE")["state"] == "closed", 5)
        se = show(d, "D-SE")
        assert (se["state"], se["outcome"]) == ("closed", "customerFavour")
        assert notices(d, "D-SE") == ["disputeOpened", "responseReminder", "responseReminder", "chargebackIssued"]
        status = d.ctl("status").json
        assert (status["heldTimers"], status.get("heldTimersReason")) == (0, None), status
    finally:
        d.kill()


def test_an_unreadable_timer_row_is_named_and_holds_back_no_other_deadline(sim, workdir):
    open_dispute(sim, "D-1")
    open_dispute(sim, "D-2")
    store = workdir / "lib" / "disputed.sqlite"
    # A deadline row damaged by hand: a kind this version does not know.
    with sqlite3.connect(store) as db:
        db.execute("UPDATE timers SET kind = 'fromTheFuture' WHERE dispute_id = 'D-1' AND kind = 'responseDeadline'")
        (timer_id,) = db.execute("SELECT id FROM timers WHERE kind = 'fromTheFuture'").fetchone()
    sim.ctl("clock", "advance", "19d")
    assert show(sim, "D-2")["state"] == "closed"
    states = {x["id"]: x["state"] for x in sim.ctl("list").json["disputes"]}
    assert states == {"D-1": "awaitingMerchant", "D-2": "closed"}
    shown = sim.ctl("show", "D-1", check=False)
    assert shown.returncode != 0 and "unknown timer kind 'fromTheFuture'" in shown.stdout, shown.stdout
    assert f"timers row '{timer_id}' cannot be read: unknown timer kind 'fromTheFuture'" in sim.log_text()
    # Repaired: the next retry fires it, once.
    with sqlite3.connect(store) as db:
        db.execute("UPDATE timers SET kind = 'responseDeadline' WHERE id = ?", (timer_id,))
    sim.ctl("clock", "advance", "1m")
    d = show(sim, "D-1")
    assert (d["state"], d["outcome"]) == ("closed", "customerFavour")
    assert notices(sim, "D-1") == ["disputeOpened", "responseReminder", "responseReminder", "chargebackIssued"]


def test_resolved_by_agreement_with_partial_refund(sim):
    open_dispute(sim, "D-1")
    sim.ctl("respond", "D-1")
    d = sim.ctl("resolve", "D-1", "--refund", "100.00").json["dispute"]
    assert (d["state"], d["outcome"], d["refund"]["minorUnits"]) == ("closed", "resolvedByAgreement", 10000)
    assert notices(sim, "D-1")[-1] == "disputeClosed"
    # Reminders were cancelled by the response and never fire.
    sim.ctl("clock", "advance", "30d")
    assert "responseReminder" not in notices(sim, "D-1")


def test_escalated_then_invalid_statement_decides_for_the_merchant(sim):
    open_dispute(sim, "D-1")
    sim.ctl("respond", "D-1")
    sim.ctl("clock", "advance", "19d")
    assert show(sim, "D-1")["state"] == "escalated"
    d = sim.ctl("statement", "D-1", "--invalid").json["dispute"]
    assert (d["outcome"], d["invoice"]) == ("merchantFavour", "active")
    assert d["invoiceDueDate"] > "2027-01-31"   # moved later by the days paused
    assert notices(sim, "D-1") == ["disputeOpened", "disputeEscalated", "decisionMerchantFavour"]


def test_escalated_without_statement_decides_for_the_merchant(sim):
    open_dispute(sim, "D-1")
    sim.ctl("respond", "D-1")
    sim.ctl("clock", "advance", "40d")
    d = show(sim, "D-1")
    assert d["outcome"] == "merchantFavour"
    assert [t["event"] for t in d["timeline"]].count("deadlineLapsed") == 2


def test_valid_statement_evidence_and_review_both_ways(sim):
    for id, party in (("D-1", "customer"), ("D-2", "merchant")):
        open_dispute(sim, id)
        sim.ctl("respond", id)
    sim.ctl("clock", "advance", "19d")
    for id, party in (("D-1", "customer"), ("D-2", "merchant")):
        assert sim.ctl("statement", id, "--valid").json["dispute"]["state"] == "awaitingEvidence"
        assert sim.ctl("evidence", id, "--note", "tracking 123").json["dispute"]["state"] == "underReview"
        d = sim.ctl("decide", id, "--for", party).json["dispute"]
        assert d["outcome"] == f"{party}Favour"
    assert notices(sim, "D-1")[-1] == "decisionCustomerFavour"
    assert notices(sim, "D-2")[-1] == "decisionMerchantFavour"
    assert show(sim, "D-1")["invoice"] == "chargedBack"


def test_lapsed_evidence_deadline_decides_for_the_customer(sim):
    open_dispute(sim, "D-1")
    sim.ctl("respond", "D-1")
    sim.ctl("clock", "advance", "19d")
    sim.ctl("statement", "D-1", "--valid")
    sim.ctl("clock", "advance", "30d")
    d = show(sim, "D-1")
    assert (d["outcome"], d["invoice"]) == ("customerFavour", "chargedBack")
    assert "evidenceReminder" in notices(sim, "D-1")
    assert notices(sim, "D-1")[-1] == "decisionCustomerFavour"


def test_withdrawn_refunded_and_cancelled_end_the_dispute(sim):
    open_dispute(sim, "D-1")
    open_dispute(sim, "D-2")
    open_dispute(sim, "D-3", "M-SE", "O-3", "10.00", "SEK", "faulty", "--not-captured")
    assert sim.ctl("withdraw", "D-1").json["dispute"]["outcome"] == "withdrawn"
    refunded = sim.ctl("refunded", "O-D-2").json["disputes"][0]
    assert (refunded["outcome"], refunded["invoice"]) == ("refunded", "refunded")
    cancelled = sim.ctl("cancelled", "O-3").json["disputes"][0]
    assert cancelled["invoice"] == "cancelled"


def test_an_order_reference_two_merchants_share_needs_the_merchant_named(sim):
    # Order references are the shops' own: both have an order "1001".
    open_dispute(sim, "D-SE", "M-SE", "1001", "10.00", "SEK")
    open_dispute(sim, "D-DE", "M-DE", "1001", "10.00", "EUR")
    r = sim.ctl("refunded", "1001", check=False)
    assert r.returncode == 1 and r.json["code"] == "conflict", r.json
    assert "merchants M-DE, M-SE" in r.json["message"] and "--merchant" in r.json["message"]
    assert show(sim, "D-SE")["state"] == show(sim, "D-DE")["state"] == "awaitingMerchant"
    refunded = sim.ctl("refunded", "1001", "--merchant", "M-SE").json["disputes"]
    assert [d["id"] for d in refunded] == ["D-SE"]
    assert show(sim, "D-SE")["outcome"] == "refunded" and show(sim, "D-DE")["state"] == "awaitingMerchant"
    # Now unambiguous again: only M-DE has an open dispute on 1001.
    assert [d["id"] for d in sim.ctl("refunded", "1001").json["disputes"]] == ["D-DE"]
    r = sim.ctl("refunded", "1001", "--merchant", "M-SE", check=False)
    assert r.json["code"] == "not_found" and "of merchant M-SE" in r.json["message"]
    text = sim.ctl("cancelled", "O-X", check=False, json_output=False)
    assert "no open dispute on order O-X" in text.stderr


def test_open_disputes_of_one_order_claim_at_most_the_order_even_when_opened_at_once(sim):
    # A customer disputes two parts of one order; together the open disputes
    # may claim the order amount, not more, however the opens are grouped.
    open_dispute(sim, "D-1", order="O-9")  # 499.00 of 899.00
    def open_part(i):
        return sim.ctl("open", "--merchant", "M-SE", "--order", "O-9", "--amount", "100.00", "--currency", "SEK",
                       "--reason", "faulty", "--id", f"D-P{i}", check=False)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(open_part, range(8)))
    opened = [a.json["dispute"] for a in answers if a.returncode == 0]
    refused = [a.json for a in answers if a.returncode != 0]
    assert len(opened) == 4 and len(refused) == 4, answers
    # Without --order-amount each part took the order's 899.00 from D-1.
    assert all(d["orderAmount"]["amount"] == "899.00" for d in opened)
    assert all(r["code"] == "conflict" and "899.00 SEK disputed in its open disputes" in r["message"] for r in refused)
    listed = sim.ctl("list", "--order", "O-9").json["disputes"]
    assert sorted(d["id"] for d in listed) == sorted(["D-1"] + [d["id"] for d in opened])
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O-9", "--amount", "1.00", "--order-amount", "1000.00",
                "--currency", "SEK", "--reason", "faulty", check=False)
    assert r.json["code"] == "conflict" and "is 899.00 SEK in its open dispute D-1, not 1000.00 SEK" in r.json["message"]
    # Once D-1 is withdrawn its 499.00 is free again.
    sim.ctl("withdraw", "D-1")
    assert open_part(9).returncode == 0


def test_captured_order_cannot_be_cancelled(sim):
    open_dispute(sim, "D-1")
    r = sim.ctl("cancelled", "O-D-1", check=False)
    assert r.returncode == 1
    assert r.json["code"] == "conflict" and "captured" in r.json["message"]
    assert show(sim, "D-1")["state"] == "awaitingMerchant"


def test_portal_merchant_is_notified_in_the_portal_but_chargeback_is_emailed(sim):
    open_dispute(sim, "D-1", "M-DE", "O-9", "20.00", "EUR")
    sim.ctl("clock", "advance", "40d")
    channels = [(n["kind"], n["channel"]) for n in show(sim, "D-1")["notices"]]
    assert channels[0] == ("disputeOpened", "portal")
    assert channels[-1] == ("chargebackIssued", "email")


def test_wrong_state_and_closed_disputes_are_refused_and_nothing_changes(sim):
    open_dispute(sim, "D-1")
    sim.wait_spooled()  # the spooler changes the notice's state otherwise
    before = show(sim, "D-1")
    r = sim.ctl("evidence", "D-1", check=False)
    assert r.returncode == 1 and r.json["code"] == "conflict"
    assert "awaitingEvidence" in r.json["message"]
    assert show(sim, "D-1") == before
    sim.ctl("withdraw", "D-1")
    r = sim.ctl("respond", "D-1", check=False)
    assert r.returncode == 1 and "never reopened" in r.json["message"]


def test_bad_amounts_and_unknown_disputes_are_refused(sim):
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O", "--amount", "900.01", "--order-amount", "899.00",
                "--currency", "SEK", "--reason", "faulty", check=False)
    assert r.returncode == 1 and "above the order amount" in r.json["message"]
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O", "--amount", "1", "--currency", "XXX", "--reason", "faulty", check=False)
    assert r.returncode == 1 and "unknown currency 'XXX'" in r.json["message"]
    # The refusal lists what is accepted: KWD is ISO 4217, but not a currency the daemon keeps.
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O", "--amount", "1", "--currency", "KWD", "--reason", "faulty", check=False)
    assert r.returncode == 1 and "kept in AUD, CAD, CHF" in r.json["message"] and "SEK" in r.json["message"]
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O", "--amount", "1", "--currency", "SEK", "--reason", "faulty",
                "--invoice-due", "2027-02-30", check=False)
    assert r.returncode == 1 and "'invoiceDueDate' is \"2027-02-30\", not a calendar date" in r.json["message"]
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O", "--amount", "1", "--currency", "SEK", "--reason", "faulty",
                "--id", "D-Å", check=False)
    assert r.returncode == 1 and "ASCII letters" in r.json["message"]
    assert sim.ctl("list", "--json").json["disputes"] == []  # nothing of the refused opens is stored
    open_dispute(sim, "D-1234")
    r = sim.ctl("show", "D-123", check=False)
    assert r.json["code"] == "not_found" and "did you mean D-1234" in r.json["message"]


def test_same_request_id_returns_the_first_result_and_different_content_is_refused(sim):
    first = sim.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "1.00", "--currency", "SEK",
                    "--reason", "faulty", "--request-id", "req-1").json
    again = sim.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "1.00", "--currency", "SEK",
                    "--reason", "faulty", "--request-id", "req-1").json
    assert first == again
    assert len(sim.ctl("list").json["disputes"]) == 1
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "2.00", "--currency", "SEK",
                "--reason", "faulty", "--request-id", "req-1", check=False)
    assert r.returncode == 1 and r.json["code"] == "duplicate_mismatch"


def test_a_request_id_is_remembered_for_the_retention_and_then_forgotten(workdir):
    cfg = config_text(workdir).replace('log_level = "debug"', 'log_level = "debug"\nrequest_retention_days = 1')
    d = Daemon(workdir, args=["--simulated-clock", START], config=cfg)
    d.start()
    try:
        def upsert(name, request_id):
            return d.ctl("merchant", "upsert", "--id", "M-SE", "--name", name, "--email", "x@shop.example", "--country", "SE",
                         "--timezone", "Europe/Stockholm", "--request-id", request_id, check=False)
        assert upsert("Shop A", "req-1").returncode == 0
        assert upsert("Shop B", "req-1").json["code"] == "duplicate_mismatch"
        d.ctl("clock", "advance", "2d")
        # A later write forgets the records older than a day...
        assert upsert("Shop C", "req-2").returncode == 0
        # ... so the old id is a new request now, and no longer held against different content.
        assert upsert("Shop B", "req-1").returncode == 0
        assert d.ctl("merchant", "show", "M-SE").json["name"] == "Shop B"
        with sqlite3.connect(workdir / "lib" / "disputed.sqlite") as db:
            assert [r[0] for r in db.execute("SELECT id FROM requests ORDER BY rowid")] == ["req-2", "req-1"]
    finally:
        d.kill()


def test_opening_a_dispute_id_already_stored_is_refused_and_nothing_changes(sim):
    open_dispute(sim, "D-1")
    sim.wait_spooled()  # the spooler changes the notice's state otherwise
    before = show(sim, "D-1")
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O-other", "--amount", "5.00", "--currency", "SEK",
                "--reason", "faulty", "--id", "D-1", "--request-id", "req-again", check=False)
    assert r.returncode == 1 and r.json["code"] == "conflict" and "D-1 already exists" in r.json["message"]
    assert show(sim, "D-1") == before
    assert len(sim.ctl("list").json["disputes"]) == 1


def test_clock_advance_is_forbidden_on_a_real_clock(daemon):
    daemon.start()
    r = daemon.ctl("clock", "advance", "1d", check=False)
    assert r.returncode == 1 and r.json["code"] == "forbidden"


def start_with_two_disputes(workdir):
    """A daemon on the simulated clock with D-1 unanswered and D-2 answered."""
    d = Daemon(workdir, args=["--simulated-clock", START])
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "A", "--email", "a@a.example", "--country", "SE", "--timezone", "Europe/Stockholm")
    open_dispute(d, "D-1")
    open_dispute(d, "D-2")
    d.ctl("respond", "D-2")
    return d


def test_timers_due_during_downtime_fire_once_after_restart(workdir):
    d = start_with_two_disputes(workdir)
    d.kill()  # SIGKILL: nothing but the store survives
    # Back 25 days later: the reminders and the deadline fell due while it was down.
    later = Daemon(workdir, args=["--simulated-clock", "2027-02-05T09:00:00Z"])
    later.start()
    status = later.ctl("status").json
    assert status["recovery"]["timersFired"] >= 4
    assert show(later, "D-1")["outcome"] == "customerFavour"
    assert show(later, "D-2")["state"] == "escalated"
    assert later.stop() == 0
    # A third start fires nothing again.
    third = Daemon(workdir, args=["--simulated-clock", "2027-02-05T09:00:00Z"])
    third.start()
    assert third.ctl("status").json["recovery"]["timersFired"] == 0
    db = sqlite3.connect(workdir / "lib" / "disputed.sqlite")
    assert db.execute("SELECT COUNT(*) FROM timers WHERE dispute_id = 'D-1' AND kind = 'responseDeadline' AND state = 'fired'").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE dispute_id = 'D-1' AND kind = 'chargebackIssued'").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM timers WHERE fired_at IS NOT NULL AND fired_at < due_at").fetchone()[0] == 0
    third.stop()


def test_clock_jumping_back_hours_and_forward_days_fires_nothing_twice_or_early(workdir):
    d = start_with_two_disputes(workdir)
    d.ctl("clock", "advance", "18d14h")            # D-1's deadline lapses, D-2 escalates
    assert show(d, "D-1")["outcome"] == "customerFavour"
    assert d.stop() == 0
    # The clock is six hours behind now (a wall clock stepped back): nothing fires again.
    back = Daemon(workdir, args=["--simulated-clock", "2027-01-29T17:00:00Z"])
    back.start()
    assert back.ctl("status").json["recovery"]["timersFired"] == 0
    back.ctl("clock", "advance", "6h")
    assert back.ctl("clock", "advance", "1s").json["timersFired"] == 0
    # Days forward at once: D-2's statement deadline (7 business days) fires once, at or after its instant.
    fired = back.ctl("clock", "advance", "14d").json["timersFired"]
    assert fired == 1
    assert show(back, "D-2")["outcome"] == "merchantFavour"
    back.stop()
    db = sqlite3.connect(workdir / "lib" / "disputed.sqlite")
    assert db.execute("SELECT COUNT(*) FROM timers WHERE state = 'fired' AND fired_at < due_at").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM timeline WHERE dispute_id = 'D-1' AND event = 'deadlineLapsed'").fetchone()[0] == 1


def test_one_jump_over_a_chain_of_deadlines_fires_each_once_in_due_order(workdir):
    """Due timers fire in groups (one transaction for many): a timer later in a
    group sees what the earlier ones did, and one that a group schedules already
    due fires in its turn, before the timers due after it."""
    d = start_with_two_disputes(workdir)
    d.ctl("clock", "advance", "10d")
    for i in range(3, 40):                       # deadlines just after D-2's statement deadline
        open_dispute(d, f"D-{i}")
    fired = d.ctl("clock", "advance", "60d").json["timersFired"]
    assert show(d, "D-1")["outcome"] == "customerFavour"
    # D-2: the response deadline escalates it, and the statement deadline that
    # sets falls inside the same jump and decides for the merchant.
    assert show(d, "D-2")["outcome"] == "merchantFavour"
    d.stop()
    db = sqlite3.connect(workdir / "lib" / "disputed.sqlite")
    assert db.execute("SELECT COUNT(*) FROM timers WHERE state = 'fired'").fetchone()[0] == fired
    assert db.execute("SELECT COUNT(*) FROM timers WHERE state = 'pending'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM timers WHERE state = 'fired' AND fired_at < due_at").fetchone()[0] == 0
    # Everything happened in due order, across disputes too.
    instants = [at for (at,) in db.execute("SELECT at FROM timeline ORDER BY id")]
    assert instants == sorted(instants)
    created = [at for (at,) in db.execute("SELECT created_at FROM outbox ORDER BY rowid")]
    assert created == sorted(created)
    for (dispute,) in db.execute("SELECT id FROM disputes"):
        assert db.execute("SELECT COUNT(*) FROM outbox WHERE dispute_id = ? AND kind IN ('chargebackIssued', 'decisionMerchantFavour')",
                          (dispute,)).fetchone()[0] == 1, dispute


def test_deadlines_lists_each_upcoming_deadline_with_its_kind(sim):
    open_dispute(sim, "D-1")
    out = sim.ctl("deadlines", "--within", "30d", json_output=False).stdout.splitlines()
    assert out[0].split() == ["DISPUTE", "MERCHANT", "KIND", "DEADLINE", "ENDS", "(LOCAL)", "LEFT"]
    assert out[1].split()[:4] == ["D-1", "M-SE", "responseDeadline", "2027-01-29T23:00:00Z"]
    assert sim.ctl("deadlines", "--within", "1d", json_output=False).stdout.strip() == "(none within 1d)"


def test_listings_stop_at_their_limit_say_so_and_list_deadlines_soonest_first(sim):
    open_dispute(sim, "D-1", reason="notReceived")   # 21 business days
    open_dispute(sim, "D-2")                         # 14: due first, opened second
    open_dispute(sim, "D-3", reason="returned")      # 21
    out = sim.ctl("deadlines", "--within", "60d", json_output=False)
    assert [line.split()[0] for line in out.stdout.splitlines()[1:]] == ["D-2", "D-1", "D-3"]
    assert out.stderr == ""
    out = sim.ctl("deadlines", "--within", "60d", "--limit", "1", json_output=False)
    assert [line.split()[0] for line in out.stdout.splitlines()[1:]] == ["D-2"]
    assert "the first 1 shown; more match (raise --limit or narrow the filters)" in out.stderr
    out = sim.ctl("list", "--limit", "2", json_output=False)
    assert [line.split()[0] for line in out.stdout.splitlines()[1:]] == ["D-1", "D-2"]
    assert "the first 2 shown; more match" in out.stderr
    assert sim.ctl("list", "--limit", "2").json["more"] is True
    full = sim.ctl("list", "--limit", "3")
    assert full.json["more"] is False and [d["id"] for d in full.json["disputes"]] == ["D-1", "D-2", "D-3"]
    assert sim.ctl("list", "--limit", "3", json_output=False).stderr == ""
    r = sim.ctl("list", "--limit", "0", json_output=False, check=False)
    assert r.returncode == 64 and "--limit 0 must be from 1 to 100000" in r.stderr, (r.returncode, r.stderr)
    shown = sim.ctl("merchant", "show", "M-SE")
    assert [d["id"] for d in shown.json["disputes"]] == ["D-1", "D-2", "D-3"] and shown.json["more"] is False


def test_merchant_show_says_when_the_merchant_has_more_disputes_than_it_lists(sim):
    open_dispute(sim, "D-0")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sim.socket))
        s.settimeout(60)
        reader = s.makefile("rb")
        for i in range(1, 1001):
            s.sendall((json.dumps({"v": 1, "id": f"r{i}", "op": "dispute.open", "args": {
                "merchant": "M-SE", "order": f"O-{i}", "amount": "1.00", "currency": "SEK", "reason": "faulty",
                "id": f"D-{i:04}"}}) + "\n").encode())
            assert json.loads(reader.readline())["ok"]
    shown = sim.ctl("merchant", "show", "M-SE", json_output=False)
    assert len(shown.stdout.splitlines()) > 1000
    assert "the first 1000 disputes shown; more exist (disputectl list --merchant M-SE --limit N)" in shown.stderr
    assert sim.ctl("merchant", "show", "M-SE").json["more"] is True


def test_list_finds_the_disputes_of_an_order(sim):
    open_dispute(sim, "D-1", order="1001")
    open_dispute(sim, "D-2", order="1002")
    open_dispute(sim, "D-3", order="1001", amount="10.00")
    assert [d["id"] for d in sim.ctl("list", "--order", "1001").json["disputes"]] == ["D-1", "D-3"]
    assert [d["id"] for d in sim.ctl("list", "--order", "1001", "--merchant", "M-SE").json["disputes"]] == ["D-1", "D-3"]
    assert sim.ctl("list", "--order", "9999").json["disputes"] == []


def test_show_says_where_each_deadline_stands(sim):
    open_dispute(sim, "D-1")
    open_dispute(sim, "D-2")
    assert [(x["kind"], x["status"]) for x in show(sim, "D-1")["deadlines"]] == [("responseDeadline", "running")]
    sim.ctl("refunded", "O-D-2")
    sim.ctl("clock", "advance", "18d14h")       # exactly when the deadline ends
    lapsed = show(sim, "D-1")["deadlines"][0]
    assert (lapsed["status"], lapsed["lapsedAt"]) == ("lapsed", "2027-01-29T23:00:00Z")
    assert show(sim, "D-2")["deadlines"][0]["status"] == "stopped"
    human = sim.ctl("show", "D-1", json_output=False).stdout
    assert "Deadline responseDeadline (lapsed, acted on at 2027-01-29T23:00:00Z): 14 business days" in human, human
    human = sim.ctl("show", "D-2", json_output=False).stdout
    assert "Deadline responseDeadline (stopped: the dispute moved on before it ended): 14 business days" in human, human


def test_show_explains_each_skipped_day_with_its_reason_and_market(workdir):
    d = Daemon(workdir, args=["--simulated-clock", "2026-12-18T09:00:00Z"])
    d.start()
    try:
        d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Shop", "--email", "x@shop.example", "--country", "SE",
              "--timezone", "Europe/Stockholm")
        d.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "1.00", "--currency", "SEK", "--reason", "faulty",
              "--id", "D-XMAS")
        lines = d.ctl("show", "D-XMAS", json_output=False).stdout.splitlines()
        for expected in ("  2026-12-24 skipped: Julafton (SE)", "  2026-12-25 skipped: Juldagen (SE)",
                         "  2026-12-19 skipped: Saturday (SE)"):
            assert expected in lines, (expected, lines)
    finally:
        d.kill()


def test_disputectl_without_json_says_in_one_line_what_each_command_did(sim):
    # Admins read these; every other test uses --json. Each line names the
    # dispute, what was done and where the dispute stands now.
    def human(*args):
        r = sim.ctl(*args, json_output=False)
        assert r.stderr == "", (args, r.stderr)
        return r.stdout

    assert human("merchant", "upsert", "--id", "M-NO", "--name", "Ola AS", "--email", "tvist@ola.example", "--country", "NO",
                 "--timezone", "Europe/Oslo", "--locale", "nb") == "Merchant M-NO saved.\n"
    merchants = human("merchant", "list").splitlines()
    assert merchants[0].split() == ["MERCHANT", "MARKET", "LOCALE", "CHANNEL", "E-MAIL"]
    assert ["M-DE", "DE", "de", "portal", "streit@mueller.example"] in [l.split() for l in merchants[1:]], merchants
    opened = human("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "499.00", "--currency", "SEK", "--reason", "faulty",
                   "--id", "D-1")
    assert opened == "Opened D-1: 499.00 SEK on order O-1; merchant must answer by 2027-01-29T23:00:00Z.\n"
    for id in ("D-2", "D-3", "D-4"):
        sim.ctl("open", "--merchant", "M-SE", "--order", f"O-{id}", "--amount", "10.00", "--currency", "SEK", "--reason", "faulty", "--id", id)
    assert human("respond", "D-1") == "D-1: merchant response recorded; now awaitingMerchant.\n"
    assert human("withdraw", "D-2") == "D-2: withdrawn; now closed (withdrawn).\n"
    assert human("resolve", "D-3", "--refund", "5.00") == "D-3: resolved by agreement; now closed (resolvedByAgreement).\n"
    assert human("refunded", "O-D-4") == "D-4: order refunded; now closed (refunded).\n"
    # D-1 answered, so its reminders were dropped: only its deadline fires (singular).
    assert human("clock", "advance", "19d") == "Clock now 2027-01-30T09:00:00Z; 1 timer fired.\n"
    assert human("clock", "advance", "1h") == "Clock now 2027-01-30T10:00:00Z; 0 timers fired.\n"
    assert human("statement", "D-1", "--valid") == "D-1: statement recorded; now awaitingEvidence.\n"
    assert human("evidence", "D-1", "--note", "tracking 123\nsent 2027-01-20") == "D-1: evidence recorded; now underReview.\n"
    # A note of several lines stays on its row of the timeline.
    rows = [l for l in human("show", "D-1").splitlines() if "evidenceSubmitted" in l]
    assert len(rows) == 1 and rows[0].endswith("  tracking 123\\nsent 2027-01-20"), rows
    assert human("decide", "D-1", "--for", "merchant") == "D-1: decided for the merchant; now closed (merchantFavour).\n"
    sim.wait_spooled()
    first = sim.ctl("show", "D-1").json["notices"][0]["id"]
    assert human("notice", "resend", first) == f"{first}: e-mailed again as a new notice; 'disputectl show D-1' lists it.\n"

    calendars = str(ROOT / "config" / "calendars")
    explained = human("calendar", "deadline", "--calendars", calendars, "--calendar", "SE", "--from", "2026-12-21T10:00:00Z",
                      "--business-days", "14").splitlines()
    # "Label   value" lines, then the skipped days indented under "Skipped:".
    fields = dict(re.split(r"\s{2,}", l, maxsplit=1) for l in explained if l and not l.startswith(" ") and l != "Skipped:")
    assert fields["Calendar"].startswith("SE ("), explained
    assert fields["Notified"] == "2026-12-21T10:00:00Z = 2026-12-21T11:00:00+01:00 Europe/Stockholm", explained
    assert fields["Counting from"] == "2026-12-21" and fields["Last day"] == "2027-01-15 (business day 14)", explained
    assert fields["Deadline"] == "2027-01-15T23:00:00Z = 2027-01-16T00:00:00+01:00 local", explained
    assert "Skipped:" in explained and "  2026-12-24  Julafton" in explained, explained
    holidays = human("calendar", "holidays", "--calendars", calendars, "--calendar", "SE", "--year", "2027").splitlines()
    assert "2027-01-06  Wed  Trettondedag jul" in holidays, holidays
