"""The control socket: roles from SO_PEERCRED with real users, and robustness
against anything a client sends."""

import json
import os
import pwd
import grp
import socket
import subprocess
import threading
import time

import pytest

from conftest import DISPUTECTL, ROOT, Daemon, config_text, read_line

SUFFIX = str(os.getpid() % 100000)
GROUPS = {"sock": f"dspsock{SUFFIX}", "admin": f"dspadm{SUFFIX}", "read": f"dspread{SUFFIX}"}
USERS = {"admin": f"dspa{SUFFIX}", "reader": f"dspr{SUFFIX}", "stranger": f"dsps{SUFFIX}"}


@pytest.fixture(scope="module")
def accounts():
    if os.geteuid() != 0:
        pytest.skip("creating test users needs root")
    for g in GROUPS.values():
        subprocess.run(["groupadd", g], check=True)
    member = {"admin": ["sock", "admin"], "reader": ["sock", "read"], "stranger": ["sock"]}
    for role, user in USERS.items():
        subprocess.run(["useradd", "-M", "-N", "-g", GROUPS["sock"], "-G", ",".join(GROUPS[g] for g in member[role]), user], check=True)
    yield USERS
    for user in USERS.values():
        subprocess.run(["userdel", user])
    for g in GROUPS.values():
        subprocess.run(["groupdel", g])


@pytest.fixture
def roles_daemon(workdir, accounts):
    cfg = config_text(workdir).replace('admin_group = ""', f'admin_group = "{GROUPS["admin"]}"') \
        .replace('reader_group = ""', f'reader_group = "{GROUPS["read"]}"\nsocket_group = "{GROUPS["sock"]}"')
    d = Daemon(workdir, args=["--simulated-clock", "2027-01-11T09:00:00Z"], config=cfg)
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "A", "--email", "a@shop.example", "--country", "SE", "--timezone", "Europe/Stockholm")
    yield d
    d.kill()


def test_socket_file_belongs_to_the_socket_group(roles_daemon):
    st = roles_daemon.socket.stat()
    assert grp.getgrgid(st.st_gid).gr_name == GROUPS["sock"]
    assert st.st_mode & 0o777 == 0o660


def test_admin_group_member_may_write(roles_daemon, accounts):
    r = roles_daemon.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "1", "--currency", "SEK", "--reason", "faulty",
                         "--id", "D-1", user=accounts["admin"])
    assert r.json["dispute"]["id"] == "D-1"


def test_the_timeline_names_the_user_who_made_each_line(roles_daemon, accounts):
    # An audit trail: the admin who opened the dispute, root who recorded the
    # merchant's answer, the daemon itself when the deadline lapsed.
    admin = accounts["admin"]
    roles_daemon.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "1", "--currency", "SEK", "--reason", "faulty",
                     "--id", "D-1", user=admin)
    roles_daemon.ctl("respond", "D-1")
    roles_daemon.ctl("clock", "advance", "30d")
    timeline = roles_daemon.ctl("show", "D-1").json["timeline"]
    by = {}
    for line in timeline:
        by.setdefault(line["event"], line["by"])  # the first line of each event
    assert by["opened"] == by["deadlineSet"] == f"{admin} (uid {pwd.getpwnam(admin).pw_uid})"
    assert by["merchantResponded"] == "root (uid 0)"
    # The lapse escalated the dispute; everything from it on is the daemon's.
    lapse = next(i for i, line in enumerate(timeline) if line["event"] == "deadlineLapsed")
    assert {line["by"] for line in timeline[lapse:]} == {"disputed"}
    # The reader sees who did what, in the table too.
    text = roles_daemon.ctl("show", "D-1", json_output=False, user=accounts["reader"]).stdout
    header = next(line for line in text.splitlines() if line.startswith("WHEN"))
    assert header.split() == ["WHEN", "EVENT", "BY", "DETAIL"]
    responded = next(line for line in text.splitlines() if "merchantResponded" in line)
    assert "root (uid 0)" in responded


def test_reader_group_member_may_read_but_not_write(roles_daemon, accounts):
    assert roles_daemon.ctl("list", user=accounts["reader"]).json["disputes"] == []
    # notice.show is a read: the reader is told there is no such notice, not refused.
    r = roles_daemon.ctl("notice", "show", "D-9.1.disputeOpened", user=accounts["reader"], check=False)
    assert r.json["code"] == "not_found", r.json
    r = roles_daemon.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "1", "--currency", "SEK",
                         "--reason", "faulty", user=accounts["reader"], check=False)
    assert r.returncode == 1 and r.json["code"] == "forbidden"
    assert "dispute.open" in r.json["message"]


def test_anyone_else_is_forbidden_and_the_attempt_is_logged(roles_daemon, accounts):
    r = roles_daemon.ctl("status", user=accounts["stranger"], check=False)
    assert r.returncode == 1 and r.json["code"] == "forbidden"
    uid = pwd.getpwnam(accounts["stranger"]).pw_uid
    deadline = time.monotonic() + 5
    while f"uid={uid}" not in roles_daemon.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "control request forbidden" in roles_daemon.log_text() and f"uid={uid}" in roles_daemon.log_text()


def test_root_may_do_everything(roles_daemon):
    assert roles_daemon.ctl("clock", "advance", "1h").json["timersFired"] == 0


def raw(daemon, payload: bytes):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(daemon.socket))
        s.sendall(payload)
        return json.loads(read_line(s))


@pytest.fixture
def sim(workdir):
    cfg = config_text(workdir).replace('reader_group = ""', 'reader_group = ""\nidle_timeout_seconds = 1')
    d = Daemon(workdir, args=["--simulated-clock", "2027-01-11T09:00:00Z"], config=cfg)
    d.start()
    yield d
    d.kill()


@pytest.mark.parametrize("payload, code, words", [
    (b'{"v":1,"id":"a","op":"dispute.show","args":{"id":5}}\n', "bad_request", "'id' must be a string"),
    (b'{"v":1,"id":"a","op":"dispute.show","args":{}}\n', "bad_request", "missing required argument 'id'"),
    (b'{"v":1,"id":"a","op":"dispute.list","args":{"state":"open"}}\n', "bad_request", "'state' is \"open\""),
    (b'{"v":1,"id":"a","op":"dispute.list","args":{"colour":1}}\n', "bad_request", "unknown argument 'colour'"),
    (b'{"v":1,"id":"a","op":"dispute.show","args":{"id":"nope"}}\n', "not_found", "no dispute nope"),
    (b'{"v":1,"id":"a","op":"explode"}\n', "bad_request", "unknown operation 'explode'"),
    (b'{"v":2,"id":"a","op":"status"}\n', "bad_request", "version"),
    (b'[1,2,3]\n', "bad_request", "must be a JSON object"),
    (b'{"v":1,"id":"a\\nb","op":"status"}\n', "bad_request", "'id' must be 1 to 200 bytes without control characters"),
    (b'{"v":1,"id":"' + b"r" * 201 + b'","op":"status"}\n', "bad_request", "'id' must be 1 to 200 bytes"),
    (b'{"v":1,"id":"a","op":"dispute.show","args":{"id":"D-1","id":"D-2"}}\n', "bad_request", 'repeated key "id" at byte'),
    (b'{"v":1,"id":"a","op":"status",}\n', "bad_request", "not valid JSON: expected a string key at byte 30"),
    (b'\xc3\x28\n', "bad_request", "not valid UTF-8"),
    (b'{"v":1,"id":"a","op":"merchant.upsert","args":{"id":"M","name":"x","email":"not-an-address","country":"SE","timezone":"Europe/Stockholm"}}\n',
     "bad_request", "'email'"),
])
def test_malformed_requests_get_a_named_error(sim, payload, code, words):
    reply = raw(sim, payload)
    assert reply["ok"] is False and reply["error"]["code"] == code
    assert words in reply["error"]["message"]


def test_text_with_control_characters_or_too_long_is_refused_by_name(sim):
    # Names and references head notices and rows of listings; a note may have
    # line breaks and tabs but no escape sequences for an admin's terminal.
    sim.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Shop", "--email", "a@shop.example", "--country", "SE",
            "--timezone", "Europe/Stockholm")
    opening = {"merchant": "M-SE", "order": "O-1", "amount": "10.00", "currency": "SEK", "reason": "faulty", "id": "D-1"}
    cases = [
        ("merchant.upsert", {"id": "M-X", "name": "Evil\r\nBcc: x@y.example", "email": "a@shop.example", "country": "SE",
                             "timezone": "Europe/Stockholm"}, "'name' must be at most 200 bytes without control characters"),
        ("dispute.open", dict(opening, order="O\u0000"), "'order' must be at most 100 bytes without control characters"),
        ("dispute.open", dict(opening, order="O" * 101), "'order' must be at most 100 bytes without control characters"),
        ("dispute.open", dict(opening, customer="C-1\nC-2"), "'customer' must be at most 100 bytes without control characters"),
        ("dispute.open", dict(opening, customer="C" * 101), "'customer' must be at most 100 bytes without control characters"),
    ]
    for i, (op, args, words) in enumerate(cases):
        reply = sim.request(op, args, request_id=f"bad-{i}")
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", (args, reply)
        assert words in reply["error"]["message"], (args, reply)
    assert sim.ctl("list").json["disputes"] == [] and [m["id"] for m in sim.ctl("merchant", "list").json["merchants"]] == ["M-SE"]
    # Evidence: line breaks and tabs are text; an escape sequence is not.
    assert sim.request("dispute.open", dict(opening, customer="C-42"), request_id="ok-1")["ok"]
    sim.ctl("respond", "D-1")
    sim.ctl("clock", "advance", "30d")
    sim.ctl("statement", "D-1", "--valid")
    refused = sim.request("dispute.evidence", {"id": "D-1", "note": "see \u001b[31mthis\u001b[0m"}, request_id="bad-note")
    assert refused["error"]["message"] == "'note' must be at most 2000 bytes without control characters other than line breaks and tabs"
    assert sim.ctl("show", "D-1").json["state"] == "awaitingEvidence"
    accepted = sim.request("dispute.evidence", {"id": "D-1", "note": "line one\r\n\tline two"}, request_id="ok-note")
    assert accepted["ok"] and accepted["result"]["dispute"]["state"] == "underReview", accepted


def test_numbers_out_of_range_are_refused_by_name_and_the_daemon_keeps_serving(sim):
    # Each of these once trapped on an arithmetic overflow and killed the daemon
    # (deadlines.upcoming and calendar.holidays are read operations: any reader could).
    big = 2 ** 63 - 1
    cases = [
        ("deadlines.upcoming", {"withinSeconds": big}, "the window must be from 0 seconds to 20 years"),
        ("deadlines.upcoming", {"withinSeconds": -1}, "the window must be from 0 seconds to 20 years"),
        ("calendar.holidays", {"calendar": "SE", "year": big}, f"the year {big} is outside it"),
        ("calendar.holidays", {"calendar": "SE", "year": -big}, f"the year {-big} is outside it"),
        ("calendar.holidays", {"calendar": "SE", "year": 2 ** 40}, f"the year {2 ** 40} is outside it"),
        ("clock.advance", {"seconds": big}, f"'seconds' is {big}; a simulated clock moves from 0 seconds to 20 years"),
        ("clock.advance", {"seconds": -1}, "'seconds' is -1; a simulated clock moves from 0 seconds to 20 years"),
        ("clock.advance", {}, "clock.advance needs 'seconds', an integer"),
        ("dispute.list", {"dueBefore": "tomorrow"}, "'dueBefore' is \"tomorrow\", not an ISO 8601 instant"),
        ("dispute.list", {"limit": -big}, "'limit' is"),
        ("dispute.list", {"limit": 0}, "it must be from 1 to 100000"),
    ]
    for op, args, words in cases:
        line = json.dumps({"v": 1, "id": "n", "op": op, "args": args}).encode() + b"\n"
        reply = raw(sim, line)
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", (op, args, reply)
        assert words in reply["error"]["message"], (op, args, reply)
    assert sim.ctl("status").json["pid"] == sim.proc.pid
    # disputectl refuses durations beyond 64 bits as durations instead of trapping.
    for argv in (["clock", "advance", "999999999999999w"], ["deadlines", "--within", "99999999999999999d"]):
        r = sim.ctl(*argv, json_output=False, check=False)
        assert r.returncode == 64, (argv, r.returncode, r.stderr)
        assert "is not a duration such as 90s" in r.stderr, r.stderr
    # ... and checks the daemon's limits and the instant's form itself, naming the option (exit 64, no request sent).
    for argv, words in ((["clock", "advance", "7400d"], "'7400d' is longer than the 20 years"),
                        (["deadlines", "--within", "1100w"], "--within '1100w' is longer than the 20 years"),
                        (["list", "--due-before", "tomorrow"], "--due-before 'tomorrow' is not an ISO 8601 instant"),
                        # A negative duration is named, not read as an unknown option "-3".
                        (["clock", "advance", "-3d"], "'-3d': a simulated clock only moves forward"),
                        (["clock", "advance", "3d", "2d"], "one duration only"),
                        (["clock", "advance"], "missing the duration to advance by")):
        r = sim.ctl(*argv, json_output=False, check=False)
        assert r.returncode == 64 and words in r.stderr, (argv, r.returncode, r.stderr)
    assert sim.ctl("clock", "advance", "7000d").json["now"].startswith("2046-")
    r = sim.ctl("calendar", "holidays", "--calendar", "SE", "--year", "99999999999999", json_output=False, check=False)
    assert r.returncode != 0 and "the year 99999999999999 is outside it" in r.stderr, (r.returncode, r.stderr)


def test_calendar_deadline_over_the_socket_is_the_local_computation_and_refuses_bad_arguments_by_name(sim):
    # calendar.deadline is a read operation of the protocol; disputectl computes
    # the same locally. Both read config/calendars here, so they must agree.
    cases = [
        {"calendar": "SE", "from": "2026-12-21T10:00:00Z", "businessDays": 14},
        {"calendar": "SE", "from": "2026-12-21T15:30:00Z", "businessDays": 14},  # 16:30 local: after the cut-off
        {"calendar": "DE", "from": "2027-04-01T08:00:00Z", "businessDays": 21, "timezone": "Europe/Berlin", "cutoff": "12:00"},
        {"calendar": "GB", "from": "2027-08-27T22:00:00+01:00", "businessDays": 3},
    ]
    for args in cases:
        reply = sim.request("calendar.deadline", args)
        assert reply["ok"] is True, (args, reply)
        argv = ["calendar", "deadline", "--calendars", str(ROOT / "config" / "calendars"), "--calendar", args["calendar"],
                "--from", args["from"], "--business-days", str(args["businessDays"])]
        for key in ("timezone", "cutoff"):
            if key in args:
                argv += [f"--{key}", args[key]]
        local = subprocess.run([str(DISPUTECTL), "--json", *argv], capture_output=True, text=True, check=True).stdout
        assert reply["result"] == json.loads(local), args
    # Counted from Monday 21 December (before 16:00 local), fourteen Swedish
    # business days skip Christmas, New Year and Epiphany: Friday 15 January.
    first = sim.request("calendar.deadline", cases[0])["result"]
    assert (first["effectiveNotificationDay"], first["lastDay"], first["deadline"]) == ("2026-12-21", "2027-01-15", "2027-01-15T23:00:00Z")
    assert {"date": "2026-12-24", "reason": "Julafton"} in first["skipped"], first["skipped"]
    assert sim.request("calendar.deadline", cases[1])["result"]["effectiveNotificationDay"] == "2026-12-22"

    good = {"calendar": "SE", "from": "2026-12-21T10:00:00Z", "businessDays": 3}
    for change, code, words in [
        ({"from": None}, "bad_request", "missing required argument 'from'"),
        ({"businessDays": None}, "bad_request", "missing required argument 'businessDays'"),
        ({"from": "tomorrow"}, "bad_request", "'from' is \"tomorrow\", not an ISO 8601 instant"),
        ({"businessDays": 0}, "bad_request", "'businessDays' is 0; it must be from 1 to 366"),
        ({"businessDays": "3"}, "bad_request", "'businessDays' must be an integer"),
        ({"timezone": "Mars/Olympus"}, "bad_request", "'timezone' is \"Mars/Olympus\", not an IANA time zone"),
        ({"cutoff": "25:00"}, "bad_request", "'cutoff' is \"25:00\"; it must be HH:MM"),
        ({"colour": 1}, "bad_request", "unknown argument 'colour'"),
        ({"calendar": "XX"}, "not_found", "no calendar XX; loaded: AT,"),
        ({"from": "9999-12-31T10:00:00Z"}, "bad_request", "calendar SE covers 1990–2060; 9999-12-31 is outside it"),
    ]:
        args = {k: v for k, v in {**good, **change}.items() if v is not None}
        reply = sim.request("calendar.deadline", args)
        assert reply["ok"] is False and reply["error"]["code"] == code and words in reply["error"]["message"], (change, reply)
    assert sim.ctl("status").json["pid"] == sim.proc.pid


def test_calendar_holidays_refuses_a_backward_range_and_lists_nothing_of_one_that_runs_out(sim):
    r = sim.ctl("calendar", "holidays", "--calendar", "SE", "--year", "2027", "--through", "2020", json_output=False, check=False)
    assert r.returncode == 64 and "--through 2020 is before --year 2027" in r.stderr, (r.returncode, r.stderr)
    r = sim.ctl("calendar", "holidays", "--calendar", "SE", "--year", "2059", "--through", "2070", json_output=False, check=False)
    assert r.returncode == 1 and "the year 2070 is outside it" in r.stderr and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    two = sim.ctl("calendar", "holidays", "--calendar", "SE", "--year", "2059", "--through", "2060").json
    assert {h["date"][:4] for h in two} == {"2059", "2060"}



def test_local_calendar_commands_name_a_missing_directory_or_market(workdir):
    def run(directory, market):
        return subprocess.run([str(DISPUTECTL), "calendar", "holidays", "--calendars", str(directory), "--calendar", market,
                               "--year", "2027"], capture_output=True, text=True, timeout=30)
    r = run(workdir / "nowhere", "SE")
    assert r.returncode == 64 and f"no calendar directory {workdir / 'nowhere'} (--calendars" in r.stderr, r.stderr
    r = run(ROOT / "config" / "calendars", "XX")
    assert r.returncode == 64 and "no calendar XX in " in r.stderr and "known: AT, BE, CH" in r.stderr, r.stderr

def test_ids_that_a_command_line_would_take_for_options_or_hidden_files_are_refused(sim):
    sim.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
            "--timezone", "Europe/Stockholm")
    base = {"merchant": "M-SE", "order": "O-1", "amount": "1.00", "currency": "SEK", "reason": "faulty"}
    for bad in ("-1.00", "--help", ".hidden", "a b", "x" * 65):
        reply = sim.request("dispute.open", dict(base, id=bad), request_id=f"open-{len(bad)}-{bad[:3]}")
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", (bad, reply)
        assert f"dispute id '{bad}' must be 1–64 ASCII letters, digits, '-', '_' or '.', and not start with '.' or '-'" in reply["error"]["message"]
        reply = sim.request("merchant.upsert", {"id": bad, "name": "N", "email": "a@b.example", "country": "SE",
                                                "timezone": "Europe/Stockholm"}, request_id=f"m-{len(bad)}-{bad[:3]}")
        assert reply["ok"] is False and f"merchant id '{bad}' must be" in reply["error"]["message"], (bad, reply)
    assert sim.ctl("list").json["disputes"] == []
    # Inside an id a '-' or '.' is fine.
    assert sim.request("dispute.open", dict(base, id="D-1.a_b"), request_id="fine")["ok"]


def test_disputectl_passes_a_negative_amount_on_to_be_refused_by_name(sim):
    sim.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
            "--timezone", "Europe/Stockholm")
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "-5", "--currency", "SEK",
                "--reason", "faulty", json_output=False, check=False)
    assert r.returncode == 1, r.stderr
    assert "'amount' is \"-5\"; write a non-negative amount" in r.stderr, r.stderr
    # The example follows the currency's decimals.
    r = sim.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "1.5", "--currency", "JPY",
                "--reason", "faulty", json_output=False, check=False)
    assert "at most 15 digits before the point and 0 after it in JPY, such as 499" in r.stderr, r.stderr
    assert "such as 499." not in r.stderr, r.stderr


def test_an_address_a_notice_could_not_carry_is_refused_and_the_stored_one_kept(sim):
    base = ["merchant", "upsert", "--id", "M-E", "--name", "Åsa", "--country", "SE", "--timezone", "Europe/Stockholm"]
    sim.ctl(*base, "--email", "tvist@asa.example")
    # Each of these was taken before and then refused by the spool at every
    # retry, holding the merchant's notices in the outbox.
    for bad in ("a;b@shop.example", "a:b@shop.example", "a(b)@shop.example", "a@[192.0.2.1]", "a\\b@shop.example"):
        r = sim.ctl(*base, "--email", bad, json_output=False, check=False)
        assert r.returncode == 1 and "is not a plain address" in r.stderr and "none of < > ( ) [ ] , ; :" in r.stderr, (bad, r.stderr)
    for bad in ("tvist@åsa.example", "åsa@shop.example"):
        r = sim.ctl(*base, "--email", bad, json_output=False, check=False)
        assert r.returncode == 1 and "xn-- form" in r.stderr, (bad, r.stderr)
    assert sim.ctl("merchant", "show", "M-E").json["email"] == "tvist@asa.example"
    # The ASCII form of an internationalised domain is an address like any other.
    sim.ctl(*base, "--email", "tvist@xn--sa-via.example")
    assert sim.ctl("merchant", "show", "M-E").json["email"] == "tvist@xn--sa-via.example"


def test_a_locale_that_is_no_language_is_refused_and_a_tag_is_stored_in_canonical_form(sim):
    base = ["merchant", "upsert", "--id", "M-L", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
            "--timezone", "Europe/Stockholm"]
    sim.ctl(*base, "--locale", "sv")
    for bad in ("xx", "sv-XX", "de-AT-1901", "s", "sv SE", "qq_QQ"):
        r = sim.ctl(*base, "--locale", bad, json_output=False, check=False)
        assert r.returncode == 1, (bad, r.stderr)
        assert "is not a language tag: write an ISO 639 language" in r.stderr, (bad, r.stderr)
        # The refused upsert changed nothing.
        assert sim.ctl("merchant", "show", "M-L").json["locale"] == "sv"
    # A real language without templates of its own is accepted (its notices fall
    # back to English); case and separator are normalised.
    for written, stored in (("DE_at", "de-AT"), ("fi", "fi"), ("fil", "fil"), ("EN-gb", "en-GB")):
        sim.ctl(*base, "--locale", written)
        assert sim.ctl("merchant", "show", "M-L").json["locale"] == stored


def test_a_client_that_stalls_mid_line_is_disconnected_after_the_idle_timeout(sim):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sim.socket))
        s.sendall(b'{"v":1,"id":"half"')
        s.settimeout(5)
        started = time.monotonic()
        assert s.recv(100) == b""
        assert 0.8 < time.monotonic() - started < 4
    assert sim.ctl("status").json["pid"] == sim.proc.pid


def test_a_client_that_disconnects_mid_response_harms_nobody(sim):
    for _ in range(20):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sim.socket))
            s.sendall(b'{"v":1,"id":"x","op":"status"}\n' * 200)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    assert sim.ctl("status").json["pid"] == sim.proc.pid


def test_two_hundred_concurrent_clients_are_all_answered(sim):
    results, errors = [], []

    def client(i):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(30)
                s.connect(str(sim.socket))
                s.sendall(json.dumps({"v": 1, "id": f"c{i}", "op": "status"}).encode() + b"\n")
                results.append(json.loads(read_line(s))["id"])
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == sorted(f"c{i}" for i in range(200))


def test_disputectl_says_why_it_cannot_reach_the_daemon(tmp_path):
    missing = tmp_path / "no-daemon.sock"
    r = subprocess.run([str(DISPUTECTL), "--socket", str(missing), "status"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 69
    assert f"cannot reach disputed at {missing}: no such file or directory (is disputed running?" in r.stderr
    too_long = tmp_path / ("x" * 120 + ".sock")
    r = subprocess.run([str(DISPUTECTL), "--socket", str(too_long), "--json", "status"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 69
    assert json.loads(r.stdout)["code"] == "unavailable"
    assert "path is longer than a Unix socket path may be" in r.stderr


def test_listings_come_in_pages_of_at_most_64_kib_a_line_that_together_list_everything(sim):
    # Every line the daemon writes is at most 64 KiB (interfaces.md), so a long
    # listing comes in pages: `next` of one answer is `after` of the next request.
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sim.socket))
        lines = []

        def ask(op, args, id="q"):
            s.sendall((json.dumps({"v": 1, "id": id, "op": op, "args": args}) + "\n").encode())
            line = read_line(s, limit=1 << 22)
            lines.append(len(line))
            reply = json.loads(line)
            assert reply["ok"], reply
            return reply["result"]

        def pages(op, args, key):
            rows, after = [], None
            while True:
                page = ask(op, dict(args, **({"after": after} if after else {})))
                rows += page[key]
                if not page["more"]:
                    assert "next" not in page
                    return rows
                after = page["next"]

        merchants = [f"M-{n:03}" for n in range(450)]
        for m in merchants:
            ask("merchant.upsert", {"id": m, "name": f"Shop {m}", "email": "a@shop.example", "country": "SE",
                                    "timezone": "Europe/Stockholm"}, id=f"up-{m}")
        disputes = [f"D-{n:03}" for n in range(260)]
        for n, d in enumerate(disputes):
            # 14 and 21 business days: deadlines interleave with open order, and many share an instant.
            ask("dispute.open", {"merchant": "M-000", "order": f"O-{d}", "amount": "10.00", "currency": "SEK",
                                 "reason": "faulty" if n % 2 else "notReceived", "id": d}, id=f"open-{d}")
        lines.clear()

        first = ask("dispute.list", {})
        assert first["more"] and 0 < len(first["disputes"]) < 260 and first["next"]
        assert [x["id"] for x in pages("dispute.list", {}, "disputes")] == disputes
        assert [x["id"] for x in pages("dispute.list", {"merchant": "M-000", "state": "awaitingMerchant"}, "disputes")] == disputes
        ten = ask("dispute.list", {"limit": 10})
        assert [x["id"] for x in ten["disputes"]] == disputes[:10] and ten["more"] and ten["next"]
        assert ask("dispute.list", {"limit": 10, "after": ten["next"]})["disputes"][0]["id"] == disputes[10]

        deadlines = pages("deadlines.upcoming", {"withinSeconds": 60 * 86400}, "deadlines")
        assert sorted(x["id"] for x in deadlines) == disputes
        assert [x["deadline"] for x in deadlines] == sorted(x["deadline"] for x in deadlines)
        same_instant = [x["id"] for x in deadlines if x["deadline"] == deadlines[0]["deadline"]]
        assert same_instant == sorted(same_instant) and len(same_instant) == 130  # the same instant: in open order

        assert [x["id"] for x in pages("merchant.list", {}, "merchants")] == merchants
        shown = ask("merchant.show", {"id": "M-000"})
        assert shown["more"] and [x["id"] for x in shown["disputes"]] == disputes[:len(shown["disputes"])]
        rest = ask("dispute.list", {"merchant": "M-000", "after": shown["next"]})["disputes"]
        assert rest[0]["id"] == disputes[len(shown["disputes"])]
        assert max(lines) <= 64 * 1024, max(lines)

        for op, after in (("dispute.list", "x"), ("dispute.list", "1:2"), ("deadlines.upcoming", "12"), ("merchant.list", 7)):
            s.sendall((json.dumps({"v": 1, "id": "bad", "op": op, "args": {"after": after}}) + "\n").encode())
            reply = json.loads(read_line(s))
            assert reply["ok"] is False and reply["error"]["code"] == "bad_request" and "'after'" in reply["error"]["message"], (op, reply)

    # disputectl reads the pages for the user, up to --limit (default 1000).
    assert [x["id"] for x in sim.ctl("list").json["disputes"]] == disputes and sim.ctl("list").json["more"] is False
    some = sim.ctl("list", "--limit", "150").json
    assert [x["id"] for x in some["disputes"]] == disputes[:150] and some["more"] is True and "next" not in some
    out = sim.ctl("list", "--limit", "150", json_output=False)
    assert len(out.stdout.splitlines()) == 151 and "the first 150 shown; more match" in out.stderr
    assert len(sim.ctl("deadlines", "--within", "60d").json["deadlines"]) == 260
    assert [m["id"] for m in sim.ctl("merchant", "list").json["merchants"]] == merchants
    assert [x["id"] for x in sim.ctl("merchant", "show", "M-000").json["disputes"]] == disputes
