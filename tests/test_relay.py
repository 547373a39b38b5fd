"""The relay hands spooled notices to a real sendmail (msmtp) that delivers to
a real SMTP server on 127.0.0.1 (aiosmtpd); what arrives is what was spooled."""

import os
import shutil
import subprocess

import pytest

from conftest import ROOT, Daemon, start_smtp_server

pytest.importorskip("aiosmtpd.controller")  # the relay tests need an SMTP server
RELAY = ROOT / "scripts" / "disputed-relay"


@pytest.fixture
def smtp():
    controller, collector, _ = start_smtp_server()
    yield controller, collector
    controller.stop()


def sendmail_wrapper(workdir, port, fail=False):
    """msmtp as the relay's sendmail; `fail` points it at a closed port (port 1),
    so it refuses every message with its own error message."""
    conf = workdir / ("msmtprc-failing" if fail else "msmtprc")
    conf.write_text(f"account default\nhost 127.0.0.1\nport {1 if fail else port}\nfrom disputes@test.invalid\nauth off\ntls off\n")
    conf.chmod(0o600)
    wrapper = workdir / ("sendmail-failing" if fail else "sendmail")
    wrapper.write_text(f'#!/bin/sh\nexec msmtp -C "{conf}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.skipif(shutil.which("msmtp") is None, reason="msmtp is not installed (make test installs it)")
def test_relay_delivers_every_spooled_notice_through_msmtp(workdir, smtp):
    controller, collector = smtp
    d = Daemon(workdir, args=["--simulated-clock", "2027-01-11T09:00:00Z"])
    d.start()
    d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa Handel AB", "--email", "tvist@asa.example",
          "--country", "SE", "--timezone", "Europe/Stockholm", "--locale", "sv")
    for i in range(3):
        d.ctl("open", "--merchant", "M-SE", "--order", f"O-{i}", "--amount", "10.00", "--currency", "SEK", "--reason", "faulty", "--id", f"D-{i}")
    d.wait_spooled()
    spool = workdir / "spool" / "outgoing"
    spooled = {p.name: p.read_bytes() for p in (spool / "new").glob("*.eml")}
    assert len(spooled) == 3

    # A failing sendmail leaves the files for a retry.
    env = dict(os.environ, DISPUTED_SENDMAIL=str(sendmail_wrapper(workdir, controller.port, fail=True)))
    env.pop("JOURNAL_STREAM", None)
    r = subprocess.run([str(RELAY), str(spool)], capture_output=True, text=True, env=env)
    assert r.returncode == 75
    assert sorted(p.name for p in (spool / "cur").glob("*.eml")) == sorted(spooled)
    # Each refusal is one line naming the file, with what sendmail said; no
    # syslog priority prefix outside the journal.
    refusals = r.stderr.splitlines()
    assert len(refusals) == 3, r.stderr
    for line, name in zip(refusals, sorted(spooled)):
        assert line.startswith(f"disputed-relay: sendmail refused {name}; left in cur/ for a retry (sendmail: msmtp: "), line
    # Files a failed run left in cur/ are retried once a minute old.
    for p in (spool / "cur").glob("*.eml"):
        os.utime(p, (p.stat().st_atime - 120, p.stat().st_mtime - 120))

    # Under systemd (JOURNAL_STREAM set) each line carries its syslog priority,
    # "sent" at notice, for the unit's LogLevelMax=notice.
    env = dict(os.environ, DISPUTED_SENDMAIL=str(sendmail_wrapper(workdir, controller.port)), JOURNAL_STREAM="8:1")
    r = subprocess.run([str(RELAY), str(spool)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == [f"<5>disputed-relay: sent {name}" for name in sorted(spooled)]
    assert not list((spool / "new").iterdir()) and not list((spool / "cur").iterdir())
    assert len(collector.messages) == 3
    delivered = set()
    for mail_from, rcpts, content in collector.messages:
        assert rcpts == ["tvist@asa.example"]
        received = content.replace(b"\r\n", b"\n").rstrip(b"\n")
        matches = [n for n, raw in spooled.items() if received.endswith(raw.rstrip(b"\n"))]
        assert len(matches) == 1, "a received message is not one of the spooled files"
        delivered.add(matches[0])
    assert delivered == set(spooled)
    d.stop()
