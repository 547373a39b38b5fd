"""systemd integration: the notify protocol, the watchdog, socket activation,
the unit files and make install — against the real binary, with a fake
NOTIFY_SOCKET (an AF_UNIX datagram socket) where systemd itself is not PID 1."""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import DISPUTED, DISPUTECTL, ROOT, Daemon, config_text, damage_table, started_with_merchant


class FakeNotify:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def drain(self, until=None, timeout=10.0):
        """Collects messages until one contains `until` (or the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
                self.messages.append((time.monotonic(), data))
                if until and until in data:
                    return data
            except socket.timeout:
                if until is None:
                    return None
        if until:
            raise AssertionError(f"no {until!r} within {timeout}s; got {[m for _, m in self.messages]}")

    def fields(self):
        return [line for _, m in self.messages for line in m.split("\n")]

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(workdir):
    n = FakeNotify(workdir / "notify.sock")
    yield n
    n.close()


def open_disputes(d, count):
    """Opens D-0 … D-<count-1> for M-SE over one connection, pipelined 100 at a
    time, reading the answers in between (a client that never reads would fill
    both socket buffers and stall itself)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(d.socket))
        stream = s.makefile("rwb")
        for start in range(0, count, 100):
            for i in range(start, min(start + 100, count)):
                stream.write((json.dumps({"v": 1, "id": f"r{i}", "op": "dispute.open", "args": {
                    "merchant": "M-SE", "order": f"O-{i}", "amount": "10.00", "currency": "SEK", "reason": "faulty",
                    "id": f"D-{i}"}}) + "\n").encode())
            stream.flush()
            assert all(json.loads(stream.readline())["ok"] for _ in range(start, min(start + 100, count)))


def stopped_with_disputes(workdir, count, portal):
    """A daemon on the simulated clock that opened `count` disputes for M-SE
    (a merchant with a portal or e-mail notices), then stopped."""
    d = Daemon(workdir, args=["--simulated-clock", "2027-01-11T09:00:00Z", "--log-level", "warning"])
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm", *(["--portal"] if portal else []))
    open_disputes(d, count)
    d.stop(timeout=60)
    return d


def stopped_with_overdue_timers(workdir, count):
    """A stopped daemon with `count` disputes (portal notices, so no spool
    work), restarting seven weeks later: every reminder and deadline (3 per
    dispute) overdue at start."""
    d = stopped_with_disputes(workdir, count, portal=True)
    d.args = ["--simulated-clock", "2027-03-01T09:00:00Z", "--log-level", "warning"]
    return d


def test_a_long_catch_up_at_start_shows_progress_and_asks_for_time(workdir, notify):
    d = stopped_with_overdue_timers(workdir, 1500)
    d.env["NOTIFY_SOCKET"] = notify.path
    d.start(wait=False)
    ready = notify.drain(until="READY=1", timeout=120)
    before_ready = [m for _, m in notify.messages if m is not ready]
    progress = [f for m in before_ready for f in m.split("\n") if f.startswith("STATUS=Recovering: ") and "overdue timers handled" in f]
    assert progress, before_ready
    assert all(re.fullmatch(r"STATUS=Recovering: \d+ of 4500 overdue timers handled", f) for f in progress), progress
    assert any("EXTEND_TIMEOUT_USEC=60000000" in m for m in before_ready), before_ready
    assert d.ctl("status").json["recovery"] == {"timersLoaded": 4500, "timersFired": 4500}
    d.stop(timeout=30)


def stopped_with_spool_backlog(workdir, count):
    """A stopped daemon whose store holds `count` e-mail notices committed and
    not yet written, as after a crash before the spooler got to them."""
    d = stopped_with_disputes(workdir, count, portal=False)
    for f in (workdir / "spool" / "outgoing" / "new").iterdir():
        f.unlink()
    with sqlite3.connect(workdir / "lib" / "disputed.sqlite") as db:
        assert db.execute("UPDATE outbox SET state = 'pending', done_at = NULL WHERE channel = 'email'").rowcount == count
    return d


def test_a_spool_backlog_at_start_is_written_before_ready_with_progress_and_time_asked(workdir, notify):
    count = 300
    d = stopped_with_spool_backlog(workdir, count)
    new = workdir / "spool" / "outgoing" / "new"
    d.env["NOTIFY_SOCKET"] = notify.path
    d.start(wait=False)
    ready = notify.drain(until="READY=1", timeout=60)
    fields = [f for m in (m for _, m in notify.messages if m is not ready) for f in m.split("\n")]
    checked = fields.index(f"STATUS=Recovering: re-checking the spool backlog ({count} notices)")
    progress = [i for i, f in enumerate(fields) if re.fullmatch(rf"STATUS=Recovering: \d+ of {count} spool backlog notices written", f)]
    assert progress and progress[0] > checked, fields
    assert "EXTEND_TIMEOUT_USEC=60000000" in fields[progress[0]:], fields
    # Every notice is in new/ once READY is sent, and the outbox agrees.
    assert len(list(new.iterdir())) == count
    assert d.ctl("status").json["outboxPending"] == 0
    d.stop(timeout=30)


def test_sigterm_during_a_catch_up_stops_after_the_group_in_hand_and_the_next_start_finishes_it(workdir, notify):
    d = stopped_with_overdue_timers(workdir, 1500)
    store = workdir / "lib" / "disputed.sqlite"
    d.env["NOTIFY_SOCKET"] = notify.path
    d.start(wait=False)
    notify.drain(until="overdue timers handled", timeout=60)
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=10) == 0
    assert not any("READY=1" in m for _, m in notify.messages)
    notify.drain(timeout=0.5)
    assert "STOPPING=1" in notify.messages[-1][1], notify.messages[-1]
    with sqlite3.connect(store) as db:
        fired = db.execute("SELECT COUNT(*) FROM timers WHERE state = 'fired'").fetchone()[0]
    assert 0 < fired < 4500, fired
    # The next start fires the rest; no timer fired twice, every dispute closed once.
    d.env.pop("NOTIFY_SOCKET")
    d.start()
    assert d.ctl("status").json["recovery"] == {"timersLoaded": 4500 - fired, "timersFired": 4500 - fired}
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT state, COUNT(*) FROM timers GROUP BY state").fetchall() == [("fired", 4500)]
        per_kind = dict(db.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind").fetchall())
    assert per_kind == {"disputeOpened": 1500, "responseReminder": 3000, "chargebackIssued": 1500}, per_kind
    d.stop(timeout=30)


def test_sighup_during_a_long_start_reloads_once_the_daemon_runs_instead_of_killing_it(workdir, notify):
    d = stopped_with_overdue_timers(workdir, 1500)
    d.env["NOTIFY_SOCKET"] = notify.path
    d.start(wait=False)
    notify.drain(until="overdue timers handled", timeout=60)
    d.proc.send_signal(signal.SIGHUP)
    notify.drain(until="RELOADING=1", timeout=120)
    notify.drain(until="READY=1", timeout=30)
    fields = [f for _, m in notify.messages for f in m.split("\n")]
    # Ready first (the start is not cut short), then the reload, ready again.
    assert [f for f in fields if f in ("READY=1", "RELOADING=1")] == ["READY=1", "RELOADING=1", "READY=1"], fields
    assert d.proc.poll() is None
    assert d.ctl("status").json["recovery"] == {"timersLoaded": 4500, "timersFired": 4500}
    assert d.stop(timeout=30) == 0


def test_sigterm_during_the_spool_backlog_before_ready_stops_at_once_and_loses_nothing(workdir, notify):
    count = 4000
    d = stopped_with_spool_backlog(workdir, count)
    new = workdir / "spool" / "outgoing" / "new"
    store = workdir / "lib" / "disputed.sqlite"
    d.env["NOTIFY_SOCKET"] = notify.path
    d.start(wait=False)
    notify.drain(until=f"spool backlog notices written", timeout=60)
    d.proc.send_signal(signal.SIGTERM)
    # It stops after the batch in hand (64 notices), not after the whole backlog.
    assert d.proc.wait(timeout=10) == 0
    assert not any("READY=1" in m for _, m in notify.messages)
    written = {f.name for f in new.iterdir()}
    with sqlite3.connect(store) as db:
        spooled = {f"{i}.eml" for (i,) in db.execute("SELECT id FROM outbox WHERE channel = 'email' AND state = 'spooled'")}
    # What is recorded as spooled is exactly what is in new/ (a file written
    # but not yet recorded would do too: the next pass finds it and does not
    # write it twice); and the stop came well before the end.
    assert spooled <= written and len(written - spooled) <= 64, (len(spooled), len(written))
    assert 0 < len(written) < count, len(written)
    assert not list((workdir / "spool" / "outgoing" / "tmp").iterdir())
    # The next start writes the rest, one file per notice.
    d.env.pop("NOTIFY_SOCKET")
    d.start()
    assert d.ctl("status").json["outboxPending"] == 0
    assert len(list(new.iterdir())) == count
    d.stop(timeout=30)


def test_a_failing_spool_shows_in_the_status_line(workdir, notify):
    d = Daemon(workdir, args=["--simulated-clock", "2027-01-11T09:00:00Z"])
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Shop", "--email", "x@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm")
    d.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "10.00", "--currency", "SEK",
          "--reason", "faulty", "--id", "D-1")
    d.stop(timeout=30)
    # The notice is not written yet, and the spool cannot be made (its file system is not mounted).
    with sqlite3.connect(workdir / "lib" / "disputed.sqlite") as db:
        db.execute("UPDATE outbox SET state = 'pending', done_at = NULL WHERE channel = 'email'")
    blocker = workdir / "spool-not-mounted"
    blocker.write_text("")
    d.config.write_text(config_text(workdir, spool=str(blocker / "outgoing")))
    d.env["NOTIFY_SOCKET"] = notify.path
    d.start(wait=False)
    ready = notify.drain(until="READY=1")
    assert "; spool failing, 1 e-mail notices waiting (see disputectl status)" in ready, ready
    # Once the spool can be made, the notice goes out and the line says so at its next refresh.
    blocker.unlink()
    line = notify.drain(until="STATUS=Ready: 1 open disputes", timeout=40)
    assert "spool failing" not in line, line
    assert (blocker / "outgoing" / "new" / "D-1.1.disputeOpened.eml").exists()
    d.stop(timeout=30)



def test_due_timers_the_store_cannot_commit_show_in_the_status_line_at_once(workdir, notify):
    d = started_with_merchant(workdir)
    d.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "10.00", "--currency", "SEK",
          "--reason", "faulty", "--id", "D-1")
    d.wait_spooled()
    d.stop(timeout=30)
    damage_table(workdir / "lib" / "disputed.sqlite", "timers")
    d.env["NOTIFY_SOCKET"] = notify.path
    d.start(wait=False)
    assert "cannot fire" not in notify.drain(until="READY=1")
    advanced_at = time.monotonic()
    assert d.ctl("clock", "advance", "30d", check=False).returncode == 1
    # At once, not at the next 30-second refresh.
    line = notify.drain(until="due timers cannot fire", timeout=10)
    assert time.monotonic() - advanced_at < 10
    assert "; due timers cannot fire, the store fails (see disputectl status)" in line, line
    d.stop(timeout=30)

def test_notify_sequence_across_start_reload_and_stop(workdir, notify):
    d = Daemon(workdir, env={"NOTIFY_SOCKET": notify.path})
    d.start(wait=False)
    ready = notify.drain(until="READY=1")
    assert "STATUS=Ready: 0 open disputes" in ready
    before = [m for _, m in notify.messages]
    statuses = [f for f in notify.fields() if f.startswith("STATUS=")]
    assert statuses[:5] == ["STATUS=Loading configuration " + str(d.config), "STATUS=Opening store",
                            "STATUS=Recovering: loading pending timers", "STATUS=Recovering: re-checking the spool backlog",
                            "STATUS=Opening control socket"]
    assert any(f.startswith("EXTEND_TIMEOUT_USEC=") for f in notify.fields())
    # READY=1 comes only after the socket accepts connections.
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(d.socket))

    d.signal(signal.SIGHUP)
    reloading = notify.drain(until="RELOADING=1")
    assert re.search(r"MONOTONIC_USEC=\d+", reloading)
    assert "READY=1" in notify.drain(until="READY=1")

    good = d.config.read_text()
    d.config.write_text(good + "\n[policy]\ncutoff = \"nonsense\"\n")
    d.signal(signal.SIGHUP)
    notify.drain(until="RELOADING=1")
    assert "READY=1" in notify.drain(until="READY=1")   # the old configuration stays in force
    assert d.ctl("status").json["pid"] == d.proc.pid

    d.signal(signal.SIGTERM)
    assert "STOPPING=1" in notify.drain(until="STOPPING=1")
    assert d.proc.wait(timeout=5) == 0
    assert before[-1].startswith("READY=1")


def test_the_status_line_follows_the_disputes_while_the_daemon_runs(workdir, notify):
    d = Daemon(workdir, args=["--simulated-clock", "2027-01-11T09:00:00Z"], env={"NOTIFY_SOCKET": notify.path})
    d.start(wait=False)
    assert "STATUS=Ready: 0 open disputes, 0 timers, no pending deadlines" in notify.drain(until="READY=1")
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Shop", "--email", "x@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm")
    d.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "10.00", "--currency", "SEK",
          "--reason", "faulty", "--id", "D-1")
    # Refreshed within the refresh interval (30 s), without any request asking for it.
    line = notify.drain(until="STATUS=Ready: 1 open disputes", timeout=40)
    assert "3 timers, next deadline 2027-01-22T08:00:00Z" in line, line
    # A clock advance that fires deadlines updates it at once.
    d.ctl("clock", "advance", "19d")
    line = notify.drain(until="STATUS=Ready: 0 open disputes", timeout=5)
    assert "0 timers, no pending deadlines" in line, line
    d.stop(timeout=30)


def test_broken_config_sends_status_and_errno_and_never_ready(workdir, notify):
    d = Daemon(workdir, env={"NOTIFY_SOCKET": notify.path}, config=config_text(workdir) + "\nbogus = 1\n")
    d.start(wait=False)
    assert d.proc.wait(timeout=10) == 78
    notify.drain(timeout=1)
    fields = notify.fields()
    assert any(f.startswith("STATUS=Configuration invalid") and "bogus" in f for f in fields)
    assert "ERRNO=22" in fields
    assert "READY=1" not in fields


def test_watchdog_pings_at_half_the_interval(workdir, notify):
    d = Daemon(workdir, env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
    d.start(wait=False)
    notify.drain(until="READY=1")
    start = time.monotonic()
    while time.monotonic() - start < 3.2:
        notify.drain(timeout=0.3)
    pings = [t for t, m in notify.messages if m == "WATCHDOG=1"]
    assert 4 <= len(pings) <= 8, len(pings)
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert all(0.3 < g < 0.8 for g in gaps), gaps
    d.stop()


def test_no_watchdog_pings_without_watchdog_usec(workdir, notify):
    d = Daemon(workdir, env={"NOTIFY_SOCKET": notify.path})
    d.start(wait=False)
    notify.drain(until="READY=1")
    time.sleep(1.5)
    notify.drain(timeout=0.3)
    assert "WATCHDOG=1" not in [m for _, m in notify.messages]
    d.stop()


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None, reason="systemd-socket-activate not installed")
def test_socket_activation_first_connection_starts_and_is_served(workdir):
    sock = workdir / "run" / "control.sock"
    sock.parent.mkdir()
    config = workdir / "disputed.toml"
    config.write_text(config_text(workdir))
    log = open(workdir / "activate.log", "wb")
    activator = subprocess.Popen(["systemd-socket-activate", "-l", str(sock), "--fdname=control",
                                  str(DISPUTED), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Nothing runs yet: systemd-socket-activate waits for the first connection.
        assert not any("disputed ready" in l for l in (workdir / "activate.log").read_text().splitlines())
        r = subprocess.run([str(DISPUTECTL), "--socket", str(sock), "--json", "status"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr + (workdir / "activate.log").read_text()
        assert "using the control socket passed by systemd" in (workdir / "activate.log").read_text()
    finally:
        activator.send_signal(signal.SIGTERM)
        activator.wait(timeout=10)
    # The socket belongs to the activator: the daemon does not delete it on exit.


def test_unit_files_verify_cleanly_and_score_at_most_one(tmp_path):
    units = sorted(str(p) for p in (ROOT / "systemd").glob("*") if p.suffix in (".service", ".socket", ".path", ".timer"))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    # On a build machine the binaries are not installed yet; everything else must be silent.
    problems = [l for l in (out.stdout + out.stderr).splitlines() if l.strip() and "is not executable" not in l]
    assert not problems, "\n".join(problems)
    sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(ROOT / "systemd" / "disputed.service")],
                         capture_output=True, text=True)
    score = float(re.search(r"Overall exposure level for disputed.service: ([0-9.]+)", sec.stdout + sec.stderr).group(1))
    assert score <= 1.0, score


def test_the_unit_lets_the_journal_keep_a_deadline_storm():
    # journald's default (10,000 messages per 30 s) would drop most "deadline
    # lapsed" lines of a midnight storm, which ops search by MESSAGE_ID.
    unit = dict(line.split("=", 1) for line in (ROOT / "systemd" / "disputed.service").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    assert unit["LogRateLimitIntervalSec"] == "30s" and int(unit["LogRateLimitBurst"]) >= 3 * 70_000, unit


def test_a_hung_relay_run_is_stopped_so_later_notices_go_out():
    # A run never ends by itself by default: a hung sendmail would hold every
    # later notice back for good. (The run lasts until its last process ends,
    # ExitType=cgroup, so that an MTA's background delivery is not stopped with
    # it: make test-systemd checks that part under a real systemd.)
    unit = dict(line.split("=", 1) for line in (ROOT / "systemd" / "disputed-relay.service").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    assert unit.get("RuntimeMaxSec") == "10min" and unit.get("Type") == "exec" and unit.get("ExitType") == "cgroup", unit


def test_the_unit_starts_after_the_clock_is_synchronised():
    # Deadlines fire on the wall clock: a host booting with its clock ahead must
    # not get them fired early before NTP corrects it.
    unit = (ROOT / "systemd" / "disputed.service").read_text()
    after = [w for line in unit.splitlines() if line.startswith("After=") for w in line[len("After="):].split()]
    assert "time-sync.target" in after, after


def test_make_install_puts_everything_at_its_fhs_path(workdir):
    dest = workdir / "root"
    r = subprocess.run(["make", "-s", "install-files", f"DESTDIR={dest}", "PREFIX=/usr", f"BINSRC={DISPUTED.parent}"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for path in ["usr/bin/disputed", "usr/bin/disputectl", "usr/libexec/disputed/disputed-relay",
                 "etc/disputed/disputed.toml", "etc/disputed/calendars/SE.toml", "etc/disputed/calendars/US.toml",
                 "usr/share/disputed/Notifications/disputeOpened/sv/text.mustache",
                 "usr/lib/systemd/system/disputed.service", "usr/lib/systemd/system/disputed.socket",
                 "usr/lib/systemd/system/disputed-relay.path", "usr/lib/systemd/system/disputed-relay.service",
                 "usr/lib/systemd/system/disputed-relay.timer",
                 "usr/lib/sysusers.d/disputed.conf", "usr/lib/tmpfiles.d/disputed.conf", "usr/share/doc/disputed/README.md",
                 "usr/share/man/man1/disputed.1", "usr/share/man/man1/disputectl.1", "usr/share/man/man1/disputectl.show.1",
                 "usr/share/bash-completion/completions/disputectl", "usr/share/zsh/vendor-completions/_disputectl",
                 "usr/share/fish/vendor_completions.d/disputectl.fish"]:
        assert (dest / path).exists(), path
    assert os.access(dest / "usr/bin/disputed", os.X_OK)
    assert (dest / "etc/disputed/disputed.toml").stat().st_mode & 0o777 == 0o640
    assert "complete" in (dest / "usr/share/bash-completion/completions/disputectl").read_text()
    assert "disputectl" in (dest / "usr/share/man/man1/disputectl.1").read_text()
    # A second install keeps the operator's configuration.
    (dest / "etc/disputed/disputed.toml").write_text("# mine\n")
    subprocess.run(["make", "-s", "install-files", f"DESTDIR={dest}", "PREFIX=/usr", f"BINSRC={DISPUTED.parent}"], cwd=ROOT, check=True, capture_output=True)
    assert (dest / "etc/disputed/disputed.toml").read_text() == "# mine\n"
    assert (dest / "etc/disputed/disputed.toml.dist").exists()
    # PREFIX reaches the unit files.
    subprocess.run(["make", "-s", "install-files", f"DESTDIR={workdir / 'local'}", "PREFIX=/usr/local", f"BINSRC={DISPUTED.parent}"], cwd=ROOT, check=True, capture_output=True)
    unit = (workdir / "local/usr/local/lib/systemd/system/disputed.service").read_text()
    assert "ExecStart=/usr/local/bin/disputed" in unit


# The schema before migration 0003 (Sources/DisputeStore/Migrations.swift), as GRDB left it.
SCHEMA_0002 = """
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO grdb_migrations VALUES ('0001-meta'), ('0002-disputes');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('createdAt', '2026-11-01T00:00:00Z');
CREATE TABLE merchants (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE disputes (id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL REFERENCES merchants(id), order_reference TEXT NOT NULL,
    stage TEXT NOT NULL, next_deadline INTEGER, body TEXT NOT NULL, opened_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX disputes_stage ON disputes(stage);
CREATE INDEX disputes_merchant ON disputes(merchant_id);
CREATE INDEX disputes_order ON disputes(order_reference);
CREATE TABLE timeline (id INTEGER PRIMARY KEY AUTOINCREMENT, dispute_id TEXT NOT NULL REFERENCES disputes(id), at INTEGER NOT NULL,
    event TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX timeline_dispute ON timeline(dispute_id, id);
CREATE TABLE timers (id INTEGER PRIMARY KEY AUTOINCREMENT, dispute_id TEXT NOT NULL REFERENCES disputes(id), kind TEXT NOT NULL,
    due_at INTEGER NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'fired', 'cancelled')), fired_at INTEGER);
CREATE INDEX timers_pending ON timers(state, due_at);
CREATE INDEX timers_dispute ON timers(dispute_id, state);
CREATE TABLE outbox (id TEXT PRIMARY KEY, dispute_id TEXT NOT NULL REFERENCES disputes(id), kind TEXT NOT NULL, channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'spooled', 'portal')), context TEXT NOT NULL, created_at INTEGER NOT NULL, done_at INTEGER);
CREATE INDEX outbox_pending ON outbox(state);
CREATE INDEX outbox_dispute ON outbox(dispute_id);
CREATE TABLE requests (id TEXT PRIMARY KEY, op TEXT NOT NULL, fingerprint TEXT NOT NULL, response TEXT NOT NULL, at INTEGER NOT NULL);
"""

COPIED_COLUMNS = {
    "merchants": "id, body, updated_at",
    "disputes": "id, merchant_id, order_reference, stage, next_deadline, body, opened_at, updated_at",
    "timeline": "id, dispute_id, at, event, detail",
    "timers": "id, dispute_id, kind, due_at, state, fired_at",
    "outbox": "id, dispute_id, kind, channel, state, context, created_at, done_at",
    "requests": "id, op, fingerprint, response, at",
}


def test_upgrading_an_older_store_asks_systemd_for_time_and_keeps_every_dispute_whole(workdir, notify):
    import sqlite3
    clock = ["--simulated-clock", "2027-01-11T09:00:00Z"]
    made = workdir / "made"
    made.mkdir()
    d = Daemon(made, args=clock)
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm")
    for id in ("D-1", "D-2"):
        d.ctl("open", "--merchant", "M-SE", "--order", f"O-{id}", "--amount", "10.00", "--currency", "SEK",
              "--reason", "faulty", "--id", id)
    d.ctl("respond", "D-2")  # cancels D-2's response timers
    deadline = time.monotonic() + 20
    while d.ctl("status").json["outboxPending"] and time.monotonic() < deadline:
        time.sleep(0.1)
    before = {id: d.ctl("show", id).json for id in ("D-1", "D-2")}
    d.stop()
    # A store of schema 0002 did not record who made a timeline line: after
    # the upgrade those lines have no maker; everything else is as it was.
    for shown in before.values():
        for line in shown["timeline"]:
            assert line["by"] == "root (uid 0)"
            line["by"] = None

    # The same rows in a store of the previous schema.
    old = workdir / "old"
    (old / "lib").mkdir(parents=True)
    source = sqlite3.connect(made / "lib" / "disputed.sqlite")
    target = sqlite3.connect(old / "lib" / "disputed.sqlite")
    target.executescript(SCHEMA_0002)
    for table, columns in COPIED_COLUMNS.items():
        rows = source.execute(f"SELECT {columns} FROM {table}").fetchall()
        marks = ", ".join("?" * len(columns.split(",")))
        target.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    target.commit()
    target.close()

    upgraded = Daemon(old, args=clock, env={"NOTIFY_SOCKET": notify.path})
    upgraded.start()
    notify.drain(until="READY=1")
    fields = notify.fields()
    migrating = fields.index("STATUS=Migrating the store's schema: 0003-dispute-sequence, 0004-next-deadline, 0005-outbox-by-dispute, 0006-timeline-actor, 0007-closed-retention")
    assert "EXTEND_TIMEOUT_USEC=3600000000" in fields[migrating:fields.index("READY=1")]
    assert upgraded.ctl("status").json["store"]["schemaVersion"] == "0007-closed-retention"
    assert {id: upgraded.ctl("show", id).json for id in ("D-1", "D-2")} == before
    # New work on the upgraded store: a third dispute gets the next sequence number.
    upgraded.ctl("open", "--merchant", "M-SE", "--order", "O-3", "--amount", "10.00", "--currency", "SEK",
                 "--reason", "faulty", "--id", "D-3")
    assert len(upgraded.ctl("show", "D-3").json["timers"]) == 3
    upgraded.stop()
    seqs = sqlite3.connect(old / "lib" / "disputed.sqlite").execute("SELECT id, seq FROM disputes ORDER BY seq").fetchall()
    assert [id for id, _ in seqs] == ["D-1", "D-2", "D-3"] and [s for _, s in seqs] == [1, 2, 3]
