"""End-to-end helpers: run the real `disputed` and `disputectl` binaries.

The binaries come from $DISPUTED_BIN_DIR (the Makefile sets it) or .build/debug.
Every daemon gets its own short temporary directory: a Unix socket path may be at
most 107 bytes, which pytest's own tmp_path can exceed.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(os.environ.get("DISPUTED_BIN_DIR", ROOT / ".build" / "debug"))
DISPUTED = BIN_DIR / "disputed"
DISPUTECTL = BIN_DIR / "disputectl"


def config_text(base: Path, **overrides) -> str:
    """A configuration whose paths all lie under `base`."""
    values = {
        "state_directory": str(base / "lib"),
        "socket": str(base / "run" / "control.sock"),
        "spool": str(base / "spool" / "outgoing"),
        "calendars": str(ROOT / "config" / "calendars"),
        "templates": str(ROOT / "Notifications"),
        "extra": "",
    }
    values.update(overrides)
    return f"""
[daemon]
state_directory = "{values['state_directory']}"
log_level = "debug"

[control]
socket = "{values['socket']}"
admin_group = ""
reader_group = ""

[spool]
directory = "{values['spool']}"
from = "Disputes <disputes@test.invalid>"
message_id_domain = "disputes.test.invalid"

[notices]
template_directory = "{values['templates']}"

[calendars]
directory = "{values['calendars']}"
{values['extra']}
"""


class Daemon:
    """A running `disputed` on a temporary configuration."""

    # Every daemon a test started; the workdir fixture kills those still running
    # in its directory, so a test that fails before its own stop leaves none behind.
    started = []

    def __init__(self, base: Path, args=(), env=None, config=None):
        self.base = base
        self.config = base / "disputed.toml"
        self.config.write_text(config if config is not None else config_text(base))
        self.socket = base / "run" / "control.sock"
        self.log = base / "disputed.log"
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None

    def start(self, wait=True, **process):
        """Starts the daemon; `process` goes to Popen (user=, group=, preexec_fn=, ...)."""
        self._log_file = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(DISPUTED), "--config", str(self.config), *self.args],
            stdout=self._log_file, stderr=subprocess.STDOUT, env=self.env, **process)
        Daemon.started.append(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"disputed exited with {self.proc.returncode}:\n{self.log_text()}")
            if self.socket.exists():
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(str(self.socket))
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"disputed did not open {self.socket} within {timeout}s:\n{self.log_text()}")

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, timeout=10.0):
        """SIGHUP, then waits until the configuration is taken (True) or rejected (False)."""
        before = self.ctl("status").json["configLoadedAt"]
        rejected = self.log_text().count("configuration rejected")
        time.sleep(1.1)  # configLoadedAt has whole seconds
        self.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text().count("configuration rejected") > rejected:
                return False
            if self.ctl("status").json["configLoadedAt"] != before:
                return True
            time.sleep(0.05)
        raise AssertionError(f"no reload within {timeout}s:\n{self.log_text()[-2000:]}")

    def stop(self, timeout=5.0):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def ctl(self, *args, json_output=True, check=True, user=None):
        """Runs the real disputectl against this daemon."""
        argv = [str(DISPUTECTL), "--socket", str(self.socket)]
        if json_output:
            argv.append("--json")
        argv += [str(a) for a in args]
        identity = {}
        if user is not None:
            # Run as that user with exactly its groups, as a login would.
            import pwd
            entry = pwd.getpwnam(user)
            identity = dict(user=entry.pw_uid, group=entry.pw_gid, extra_groups=os.getgrouplist(user, entry.pw_gid))
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, **identity)
        if check and result.returncode != 0:
            raise AssertionError(f"disputectl {' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        if json_output and result.stdout.strip():
            result.json = json.loads(result.stdout)
        else:
            result.json = None
        return result

    def wait_spooled(self, timeout=30.0):
        """E-mail notices are spooled after the commit that acknowledged them; waits until none is pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ctl("status").json["outboxPending"] == 0:
                return
            time.sleep(0.05)
        raise AssertionError("notices still pending in the outbox:\n" + self.log_text()[-3000:])

    def request(self, op, args=None, request_id="r1"):
        """Sends one raw protocol request and returns the decoded response."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket))
            s.sendall((json.dumps({"v": 1, "id": request_id, "op": op, "args": args or {}}) + "\n").encode())
            return json.loads(read_line(s))


def started_with_merchant(workdir, start="2027-01-11T09:00:00Z"):
    """A daemon on a simulated clock (from `start`, a Monday) with merchant M-SE (Sweden)."""
    d = Daemon(workdir, args=["--simulated-clock", start])
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm")
    return d


def damage_table(store: Path, table: str):
    """Overwrites the root page of `table` in a stopped daemon's store, as a failing
    disk or a stray write would. A store of a few disputes holds each table in one page."""
    import sqlite3
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    with open(store, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xff" * size)


def wait_for(predicate, seconds=10):
    """Polls `predicate` until it holds or `seconds` pass; returns its last answer."""
    until = time.monotonic() + seconds
    while not predicate() and time.monotonic() < until:
        time.sleep(0.05)
    return predicate()


def read_line(sock, limit=1 << 20):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            break
    return data


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="dsp-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    for d in [d for d in Daemon.started if path in d.base.parents or d.base == path]:
        d.kill()
        Daemon.started.remove(d)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(workdir):
    d = Daemon(workdir)
    yield d
    d.kill()


@contextlib.contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of `size` (mount's syntax: 48k, 1m) at `path`, for running out of
    space on purpose; unmounted afterwards. Skips the test where mounting needs
    a root this run does not have."""
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)])


def grow_disk(path: Path, size: str):
    """Gives a `small_disk` more room, as an operator freeing space would."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


class SMTPCollector:
    """An SMTP server's DATA handler that keeps what arrives: (mail from, recipients, bytes)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


def start_smtp_server():
    """An aiosmtpd server on a free port of 127.0.0.1: (controller, collector, port); stop the controller after."""
    from aiosmtpd.controller import Controller
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    collector = SMTPCollector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, collector, port
