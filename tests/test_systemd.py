"""systemd integration: the notify protocol, the watchdog, socket activation,
the unit files and make install — against the real binary, with a fake
NOTIFY_SOCKET (an AF_UNIX datagram socket) where systemd itself is not PID 1."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import DISPUTED, DISPUTECTL, ROOT, Daemon, config_text


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
    units = sorted(str(p) for p in (ROOT / "systemd").glob("*") if p.suffix in (".service", ".socket", ".path"))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    # On a build machine the binaries are not installed yet; everything else must be silent.
    problems = [l for l in (out.stdout + out.stderr).splitlines() if l.strip() and "is not executable" not in l]
    assert not problems, "\n".join(problems)
    sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(ROOT / "systemd" / "disputed.service")],
                         capture_output=True, text=True)
    score = float(re.search(r"Overall exposure level for disputed.service: ([0-9.]+)", sec.stdout + sec.stderr).group(1))
    assert score <= 1.0, score


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
