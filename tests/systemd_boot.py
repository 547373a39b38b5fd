#!/usr/bin/env python3
"""make test-systemd: the installed daemon under a real systemd.

Boots Debian 12 (systemd 252 as PID 1) in a systemd-nspawn container, installs
the release build into it with `make install-files` and follows the README's
"Install under systemd" steps, then checks what ops rely on: socket activation,
Type=notify readiness and STATUS=, the hardened sandbox actually in force,
reload, the watchdog restarting a frozen daemon without losing anything, the
relay units handing a notice to sendmail (msmtp, then Postfix as the machine's
MTA, each delivering to an SMTP server on the host's loopback), and a clean
stop. Needs root, systemd-nspawn and debootstrap; the Debian tree is built once
(from DEBIAN_MIRROR, default deb.debian.org) and kept under .build/nspawn/.
Each run boots a throw-away overlay of it.

Not part of `make test`: it needs a Debian mirror the first time and root.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import start_smtp_server  # noqa: E402  (the SMTP server test_relay.py uses too)
CACHE = ROOT / ".build" / "nspawn" / "bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What the daemon needs on a Debian 12 server: libsqlite3 and libsystemd (the
# Swift runtime is linked into the release binaries). procps for the test's own
# kill. Two sendmails for the relay units: Postfix, the machine's MTA (its
# sendmail queues through postdrop into /var/spool/postfix), and msmtp (no queue
# of its own; the test makes it refuse by pointing it at a closed port).
PACKAGES = "systemd,systemd-sysv,dbus,libsqlite3-0,libsystemd0,procps,msmtp,postfix"
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

failures = []


def check(condition, what):
    print(("ok      " if condition else "FAILED  ") + what, flush=True)
    if not condition:
        failures.append(what)


def debian_tree():
    marker = CACHE / ".complete"
    if marker.exists() and marker.read_text() == PACKAGES:
        return CACHE
    partial = CACHE.with_name(CACHE.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    print(f"building a Debian 12 tree from {MIRROR} (once; kept in {CACHE})", flush=True)
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(partial), MIRROR],
                   check=True, stdout=subprocess.DEVNULL)
    (partial / ".complete").write_text(PACKAGES)
    shutil.rmtree(CACHE, ignore_errors=True)
    partial.rename(CACHE)
    return CACHE


class Container:
    """A booted container on an overlay of the Debian tree, so every run starts clean."""

    def __init__(self, lower):
        self.base = Path(tempfile.mkdtemp(prefix="disputed-boot-", dir="/var/tmp"))
        self.root = self.base / "root"
        for d in ("upper", "work", "root"):
            (self.base / d).mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={self.base / 'upper'},workdir={self.base / 'work'}", str(self.root)],
                       check=True)
        self.proc = None
        self.leader = None

    def boot(self):
        self.log = open(self.base / "console.log", "wb")
        self.proc = subprocess.Popen(
            # The host's network namespace: the relay's msmtp reaches the test's SMTP
            # server on 127.0.0.1 (the daemon itself runs with PrivateNetwork=yes).
            ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no", "--keep-unit", "--console=passive",
             f"--machine=disputed-boot-{os.getpid()}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        # The container's PID 1 is nspawn's child once it has exec'd systemd; the
        # child found before that (still nspawn's code) has none of the
        # container's namespaces, and systemctl run there said "offline".
        while time.monotonic() < deadline and self.leader is None:
            children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
            for child in children:
                try:
                    if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                        self.leader = int(child)
                except OSError:
                    pass  # gone meanwhile
            if self.leader is None:
                if self.proc.poll() is not None:
                    raise SystemExit(f"systemd-nspawn exited {self.proc.returncode}:\n{(self.base / 'console.log').read_text()}")
                time.sleep(0.1)
        # systemctl answers once PID 1 has its private socket up; before that it says "offline".
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", "--wait", check=False).stdout.strip()
            if state and state != "offline":
                return state
            time.sleep(0.2)
        return state or "no answer from systemctl"

    def run(self, *argv, check=True, timeout=120):
        result = subprocess.run(["nsenter", "-t", str(self.leader), "-a", "-r", "-w", "env", "-i", PATH, *argv],
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def show(self, unit, *properties):
        out = self.run("systemctl", "show", unit, *(f"--property={p}" for p in properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def disputectl(self, *args):
        return json.loads(self.run("disputectl", "--json", *args, timeout=60).stdout)

    def close(self):
        if self.proc and self.proc.poll() is None:
            if self.leader:
                self.run("systemctl", "poweroff", check=False)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        subprocess.run(["umount", "-l", str(self.root)])
        shutil.rmtree(self.base, ignore_errors=True)


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def main():
    if os.geteuid() != 0:
        raise SystemExit("make test-systemd needs root (debootstrap, overlay mounts, systemd-nspawn)")
    binaries = ROOT / ".build" / "release"
    c = Container(debian_tree())
    smtp, collector, port = start_smtp_server()
    try:
        subprocess.run(["make", "-s", "-C", str(ROOT), "install-files", f"DESTDIR={c.root}", f"BINSRC={binaries}"],
                       check=True, stdout=subprocess.DEVNULL)
        # msmtp, relaying to the test's server, is the relay's sendmail until the
        # Postfix part below (a drop-in, as an operator would set DISPUTED_SENDMAIL).
        (c.root / "etc/msmtprc").write_text(f"account default\nhost 127.0.0.1\nport {port}\n"
                                            "from disputes@example.com\nauth off\ntls off\n")
        (c.root / "etc/systemd/system/disputed-relay.service.d").mkdir(parents=True, exist_ok=True)
        (c.root / "etc/systemd/system/disputed-relay.service.d/sendmail.conf").write_text(
            "[Service]\nEnvironment=DISPUTED_SENDMAIL=/usr/bin/msmtp\n")
        state = c.boot()
        check(state in ("running", "degraded"), f"the container booted systemd as PID 1 ({state})")

        # The README's install steps, inside.
        c.run("systemd-sysusers", "disputed.conf")
        c.run("systemd-tmpfiles", "--create", "disputed.conf")
        c.run("disputed", "--check-config", "--config", "/etc/disputed/disputed.toml")
        c.run("systemctl", "daemon-reload")
        c.run("systemctl", "enable", "--now", "disputed.socket", "disputed-relay.path", "disputed-relay.timer")
        check(c.show("disputed.socket", "ActiveState")["ActiveState"] == "active", "disputed.socket listens")
        check(c.show("disputed.service", "ActiveState")["ActiveState"] == "inactive",
              "the service waits for its first connection")

        # Socket activation: the first disputectl call starts the daemon.
        status = c.disputectl("status")
        service = c.show("disputed.service", "ActiveState", "SubState", "Type", "StatusText", "WatchdogUSec",
                         "MainPID", "NRestarts")
        check(service["ActiveState"] == "active" and service["SubState"] == "running",
              f"the first connection started the service ({service['ActiveState']}/{service['SubState']})")
        check(service["Type"] == "notify" and service["StatusText"].startswith("Ready"),
              f"Type=notify, and systemctl shows the daemon's STATUS= ({service['StatusText']!r})")
        check(service["WatchdogUSec"] == "30s", f"the watchdog is armed ({service['WatchdogUSec']})")
        files = c.run("sh", "-c", f"grep 'Max open files' /proc/{service['MainPID']}/limits").stdout.split()
        check(files[3:5] == ["16384", "16384"], f"LimitNOFILE= leaves room for control.max_connections ({files[3:5]})")
        limits = c.show("disputed.service", "LogRateLimitIntervalUSec", "LogRateLimitBurst")
        check(limits == {"LogRateLimitIntervalUSec": "30s", "LogRateLimitBurst": "250000"},
              f"journald keeps a deadline storm's lines ({limits})")
        check(status.get("pid") == int(service["MainPID"]), "the activated daemon answered through the socket")

        # The sandbox is in force for the running process.
        pid = service["MainPID"]
        proc_status = dict(line.split(":", 1) for line in c.run("cat", f"/proc/{pid}/status").stdout.splitlines() if ":" in line)
        uid = c.run("id", "-u", "disputed").stdout.strip()
        check(proc_status["Uid"].split()[0] == uid, "it runs as the disputed user")
        check(proc_status["NoNewPrivs"].strip() == "1", "NoNewPrivs")
        check(proc_status["Seccomp"].strip() == "2", "a seccomp filter (SystemCallFilter=)")
        check(proc_status["CapEff"].strip() == "0000000000000000", "no capabilities")

        # Work through it: a merchant, a dispute, its notice in the spool.
        c.run("disputectl", "merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example",
              "--country", "SE", "--timezone", "Europe/Stockholm")
        c.run("disputectl", "open", "--merchant", "M-SE", "--order", "O-1", "--amount", "499.00", "--currency", "SEK",
              "--reason", "faulty", "--id", "D-1")
        delivered = wait_for(lambda: len(collector.messages) >= 1, 30)
        check(delivered and len(collector.messages) == 1 and collector.messages[0][1] == ["a@shop.example"]
              and b"D-1" in collector.messages[0][2],
              "the relay units handed the merchant's notice to sendmail, which delivered it once")
        left = c.run("find", "/var/spool/disputed/outgoing/new", "/var/spool/disputed/outgoing/cur",
                     "-name", "*.eml").stdout.split()
        check(delivered and not left, "the spool is empty once the notice is sent")
        check(c.show("disputed-relay.path", "ActiveState")["ActiveState"] == "active",
              "disputed-relay.path watches the spool again")
        # interfaces.md: spool files are mode 0640, group the spool group (the
        # relay's units paused, so the file stays in new/ to be looked at).
        c.run("systemctl", "stop", "disputed-relay.path", "disputed-relay.timer")
        c.run("disputectl", "open", "--merchant", "M-SE", "--order", "O-2", "--amount", "10.00", "--currency", "SEK",
              "--reason", "faulty", "--id", "D-2")
        spooled = wait_for(lambda: c.run("find", "/var/spool/disputed/outgoing/new", "-name", "D-2.*").stdout.strip(), 30)
        mode = c.run("sh", "-c", "stat -c '%a %G' /var/spool/disputed/outgoing/new/D-2.*", check=False).stdout.strip()
        check(spooled and mode == "640 disputed-spool", f"the spool file is mode 0640, group disputed-spool ({mode!r})")
        c.run("systemctl", "start", "disputed-relay.path", "disputed-relay.timer")
        check(wait_for(lambda: len(collector.messages) >= 2, 30), "the relay sends it once its units run again")
        # A trickle of notices (one every 0.7 s): each starts a relay run through the
        # path unit, more often than systemd's default start limit (5 in 10 s) allows.
        for i in range(15):
            c.run("disputectl", "open", "--merchant", "M-SE", "--order", f"T-{i}", "--amount", "10.00", "--currency", "SEK",
                  "--reason", "faulty", "--id", f"T-{i}")
            time.sleep(0.7)
        trickled = wait_for(lambda: len(collector.messages) >= 17, 30)
        relay = c.show("disputed-relay.service", "Result")
        path = c.show("disputed-relay.path", "ActiveState", "Result")
        check(trickled and relay["Result"] == "success" and path["ActiveState"] == "active",
              f"a trickle of notices goes out as it comes, the relay never rate-limited "
              f"({len(collector.messages)} delivered, {relay}, {path})")
        # The MTA refuses (its relay host unreachable): the notice waits in cur/, and
        # the timer, not a new notice, sends it once the MTA is back. The timer runs
        # every 5 s here instead of 2 min (a drop-in), the file is aged by a minute.
        good_msmtprc = (c.root / "etc/msmtprc").read_text()
        (c.root / "etc/msmtprc").write_text(good_msmtprc.replace(f"port {port}", "port 1"))
        c.run("disputectl", "open", "--merchant", "M-SE", "--order", "O-3", "--amount", "10.00", "--currency", "SEK",
              "--reason", "faulty", "--id", "D-3")
        refused = wait_for(lambda: c.run("find", "/var/spool/disputed/outgoing/cur", "-name", "D-3.*").stdout.strip(), 30)
        check(bool(refused), "a notice the MTA refused waits in cur/")
        (c.root / "etc/msmtprc").write_text(good_msmtprc)
        c.run("sh", "-c", "touch -d '-2 min' /var/spool/disputed/outgoing/cur/D-3.*")
        (c.root / "etc/systemd/system/disputed-relay.timer.d").mkdir(parents=True, exist_ok=True)
        (c.root / "etc/systemd/system/disputed-relay.timer.d/fast.conf").write_text("[Timer]\nOnUnitInactiveSec=\nOnUnitInactiveSec=5s\n")
        c.run("systemctl", "daemon-reload")
        c.run("systemctl", "restart", "disputed-relay.timer")
        before = len(collector.messages)
        retried = wait_for(lambda: len(collector.messages) > before, 40)
        check(retried and b"D-3" in collector.messages[-1][2], "disputed-relay.timer sends it once the MTA is back, with no new notice")
        # The timer's runs that find nothing to do (every 5 s here, every 2 min
        # installed) leave no line in the journal; what the relay did is there at
        # its priority: the refusal (with msmtp's words) and the send.
        triggered = c.show("disputed-relay.timer", "LastTriggerUSecMonotonic")["LastTriggerUSecMonotonic"]
        idle = wait_for(lambda: c.show("disputed-relay.timer", "LastTriggerUSecMonotonic")["LastTriggerUSecMonotonic"] != triggered, 20)
        time.sleep(1)
        relay_log = [json.loads(line) for line in
                     c.run("journalctl", "-u", "disputed-relay.service", "-o", "json", "--no-pager").stdout.splitlines() if line]
        chatter = [e.get("MESSAGE") for e in relay_log if int(e.get("PRIORITY", "6")) > 5]
        sent = [e for e in relay_log if "disputed-relay: sent D-3." in str(e.get("MESSAGE"))]
        refusal = [e for e in relay_log if "sendmail refused D-3." in str(e.get("MESSAGE"))]
        check(idle and not chatter and sent and sent[-1]["PRIORITY"] == "5" and refusal
              and refusal[-1]["PRIORITY"] == "4" and "msmtp" in refusal[-1]["MESSAGE"],
              f"idle relay runs leave the journal quiet; sends are logged at notice, refusals at warning with "
              f"sendmail's words (idle run seen: {idle}; below notice: {chatter[:3]}; sent: {len(sent)}; refused: {len(refusal)})")
        (c.root / "etc/systemd/system/disputed-relay.timer.d/fast.conf").unlink()
        c.run("systemctl", "daemon-reload")
        c.run("systemctl", "restart", "disputed-relay.timer")

        # A sendmail that, like Exim's, accepts the message and leaves its delivery
        # to a child in the background: the run lasts until that child is done.
        # (As a oneshot, systemd stopped the child with the run, and with Exim
        # the notice waited for the MTA's next queue run, 30 minutes.)
        (c.root / "usr/local/bin/background-sendmail").write_text(
            "#!/bin/sh\ncat > /dev/null\n"
            "( sleep 3; touch /var/spool/disputed/outgoing/delivered-in-the-background ) >/dev/null 2>&1 &\nexit 0\n")
        (c.root / "usr/local/bin/background-sendmail").chmod(0o755)
        (c.root / "etc/systemd/system/disputed-relay.service.d/sendmail.conf").write_text(
            "[Service]\nEnvironment=DISPUTED_SENDMAIL=/usr/local/bin/background-sendmail\n")
        c.run("systemctl", "daemon-reload")
        c.run("disputectl", "open", "--merchant", "M-SE", "--order", "O-5", "--amount", "10.00", "--currency", "SEK",
              "--reason", "faulty", "--id", "D-5")
        background = wait_for(lambda: (c.root / "var/spool/disputed/outgoing/delivered-in-the-background").exists(), 30)
        check(background, "an MTA's delivery left running in the background by its sendmail finishes; the relay's run waits for it")

        # Postfix as the machine's MTA, the relay on the installed default
        # (/usr/sbin/sendmail): postdrop writes the message into
        # /var/spool/postfix/maildrop, which the unit's ProtectSystem=strict made
        # read-only until the unit listed the MTAs' queues ("Read-only file
        # system", and no notice went out). Postfix then relays to the test's server.
        (c.root / "etc/systemd/system/disputed-relay.service.d/sendmail.conf").unlink()
        c.run("postconf", "-e", f"relayhost = [127.0.0.1]:{port}", "myhostname = relay.test.invalid",
              "mydestination =", "inet_interfaces = loopback-only")
        c.run("systemctl", "daemon-reload")
        c.run("systemctl", "restart", "postfix.service")
        before = len(collector.messages)
        c.run("disputectl", "open", "--merchant", "M-SE", "--order", "O-4", "--amount", "10.00", "--currency", "SEK",
              "--reason", "faulty", "--id", "D-4")
        through_postfix = wait_for(lambda: len(collector.messages) > before, 40)
        received = collector.messages[-1][2] if through_postfix else b""
        check(through_postfix and b"D-4" in received and b"(Postfix" in received,
              "with Postfix as the MTA the relay's sendmail queues the notice and Postfix delivers it"
              + ("" if through_postfix else " (relay said: " + c.run("journalctl", "-u", "disputed-relay.service", "-o", "cat",
                                                                     "-n", "3", "--no-pager").stdout.strip() + ")"))
        timer = c.show("disputed-relay.timer", "ActiveState", "Triggers", "NextElapseUSecMonotonic")
        check(timer["ActiveState"] == "active" and timer["Triggers"] == "disputed-relay.service"
              and timer["NextElapseUSecMonotonic"] not in ("", "0", "infinity"),
              f"disputed-relay.timer will run the relay again for notices the MTA refused ({timer})")

        # Reload: same process, still ready.
        c.run("systemctl", "reload", "disputed.service")
        after = c.show("disputed.service", "ActiveState", "MainPID", "StatusText")
        check(after["ActiveState"] == "active" and after["MainPID"] == pid and after["StatusText"].startswith("Ready"),
              f"systemctl reload keeps the process and ends ready ({after}, pid before {pid})")
        # A reload to a broken configuration fails `systemctl reload` itself, and the
        # daemon goes on with the configuration in force.
        c.run("sh", "-c", "cp /etc/disputed/disputed.toml /root/good.toml && "
                          "sed -i 's/^log_level = .*/log_level = \"loud\"/' /etc/disputed/disputed.toml")
        rejected = c.run("systemctl", "reload", "disputed.service", check=False)
        kept = c.show("disputed.service", "ActiveState", "MainPID")
        check(rejected.returncode != 0 and kept == {"ActiveState": "active", "MainPID": pid},
              f"systemctl reload fails on a rejected configuration and the daemon goes on ({rejected.returncode}, {kept})")
        c.run("sh", "-c", "cp /root/good.toml /etc/disputed/disputed.toml && chgrp disputed /etc/disputed/disputed.toml")

        # The watchdog: a frozen daemon is killed and restarted, nothing lost.
        c.run("kill", "-STOP", pid)
        restarted = wait_for(lambda: c.show("disputed.service", "NRestarts", "MainPID", "ActiveState")["NRestarts"] == "1"
                             and c.show("disputed.service", "ActiveState")["ActiveState"] == "active", 75)
        check(restarted, "the watchdog caught the frozen daemon and systemd restarted it (WatchdogSec=30s)")
        journal = c.run("journalctl", "-u", "disputed.service", "--no-pager", "-o", "cat").stdout
        check("Watchdog timeout" in journal, "the journal says it was the watchdog")
        shown = c.disputectl("show", "D-1")
        check(shown.get("id") == "D-1" or shown.get("dispute", {}).get("id") == "D-1",
              "the dispute acknowledged before the freeze is still there")
        entries = [json.loads(line) for line in
                   c.run("journalctl", "-u", "disputed.service", "-o", "json", "--no-pager").stdout.splitlines() if line]
        check(any(e.get("MESSAGE_ID") for e in entries if e.get("SYSLOG_IDENTIFIER") == "disputed"),
              "the daemon's journal entries carry MESSAGE_IDs")

        # A clean stop, then activation again.
        c.run("systemctl", "stop", "disputed.service")
        stopped = c.show("disputed.service", "ActiveState", "Result", "ExecMainStatus")
        check(stopped["ActiveState"] == "inactive" and stopped["Result"] == "success" and stopped["ExecMainStatus"] == "0",
              f"systemctl stop: exit 0 ({stopped})")
        c.disputectl("status")
        check(c.show("disputed.service", "ActiveState")["ActiveState"] == "active",
              "after a stop, the next connection activates it again")

        # A broken configuration: the service fails with exit 78 and is not restarted
        # in a loop; the journal names the file and line.
        restarts = c.show("disputed.service", "NRestarts")["NRestarts"]
        c.run("sh", "-c", "cp /etc/disputed/disputed.toml /root/good.toml && "
                          "sed -i 's/^log_level = .*/log_level = \"loud\"/' /etc/disputed/disputed.toml")
        c.run("systemctl", "restart", "disputed.service", check=False)
        time.sleep(5)  # longer than RestartSec=2s: a restart would have happened by now
        broken = c.show("disputed.service", "ActiveState", "Result", "NRestarts")
        check(broken["ActiveState"] == "failed" and broken["NRestarts"] == restarts,
              f"a broken configuration fails the service without restarting it ({broken})")
        journal = c.run("journalctl", "-u", "disputed.service", "--no-pager", "-o", "cat", "-n", "20").stdout
        check("disputed.toml:" in journal and "loud" in journal, "the journal names the file, line and bad value")
        c.run("sh", "-c", "cp /root/good.toml /etc/disputed/disputed.toml && chgrp disputed /etc/disputed/disputed.toml")
        c.run("systemctl", "start", "disputed.service")
        check(c.show("disputed.service", "ActiveState")["ActiveState"] == "active", "fixed, it starts again")
    except BaseException:
        # What systemd and the daemon said, before the container goes away.
        if c.leader:
            print(c.run("journalctl", "-u", "disputed.service", "-u", "disputed.socket", "--no-pager", "-n", "40",
                        check=False).stdout, flush=True)
        raise
    finally:
        c.close()
        smtp.stop()
    if failures:
        print(f"\n{len(failures)} check(s) failed", flush=True)
        sys.exit(1)
    print("\nall checks passed", flush=True)


if __name__ == "__main__":
    main()
