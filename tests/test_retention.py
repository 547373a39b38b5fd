"""daemon.closed_retention_days: closed disputes are removed some time after they
closed (off unless configured), and a removed dispute's id is never used again."""

from conftest import Daemon, config_text, wait_for

START = "2027-01-11T09:00:00Z"


def open_dispute(d, i):
    d.ctl("open", "--merchant", "M-SE", "--order", f"O-{i}", "--amount", "10.00", "--currency", "SEK",
          "--reason", "faulty", "--id", f"D-{i}")


def test_closed_disputes_go_after_the_retention_a_reload_sets_and_their_ids_stay_taken(workdir):
    keep = config_text(workdir)
    d = Daemon(workdir, args=["--simulated-clock", START], config=keep)
    d.start()
    try:
        d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
              "--timezone", "Europe/Stockholm")
        open_dispute(d, 1)
        open_dispute(d, 2)
        d.ctl("withdraw", "D-1")                      # closed now; D-2 lapses on 2027-01-29
        d.wait_spooled()
        retention = d.ctl("status").json["retention"]
        assert retention["closedDays"] == 0 and retention["removed"] == 0, retention

        d.ctl("clock", "advance", "100d")
        assert "kept for ever" in d.ctl("status", json_output=False).stdout
        assert not wait_for(lambda: d.ctl("show", "D-1", check=False).returncode != 0, seconds=2), "kept without retention"

        d.config.write_text(keep.replace('log_level = "debug"', 'log_level = "debug"\nclosed_retention_days = 90'))
        assert d.reload() is True
        assert wait_for(lambda: d.ctl("show", "D-1", check=False).returncode != 0), d.log_text()[-2000:]
        gone = d.ctl("show", "D-1", check=False, json_output=False)
        assert gone.returncode == 1 and "D-1 was removed on 2027-04-21T09:00:00Z" in gone.stderr, gone.stderr
        assert d.ctl("show", "D-2").json["state"] == "closed"          # closed 82 days ago: stays
        status = d.ctl("status").json
        assert status["retention"] == {"closedDays": 90, "removed": 1, "lastRemovalAt": "2027-04-21T09:00:00Z"}, status
        assert status["disputes"] == {"closed": 1}
        assert "closed disputes removed 90 days after they close; 1 removed" in d.ctl("status", json_output=False).stdout
        assert "closed disputes removed by retention" in d.log_text()

        again = d.ctl("open", "--merchant", "M-SE", "--order", "O-9", "--amount", "10.00", "--currency", "SEK",
                      "--reason", "faulty", "--id", "D-1", check=False, json_output=False)
        assert again.returncode == 1 and "conflict" in again.stderr and "removed" in again.stderr, again.stderr

        d.stop(timeout=30)
        d.args = ["--simulated-clock", "2027-04-21T09:00:00Z"]
        d.start()                                      # removed for good, and the id still taken
        assert d.ctl("show", "D-1", check=False).returncode == 1
        assert d.ctl("status").json["retention"]["removed"] == 1
        d.ctl("clock", "advance", "10d")               # D-2 closed 92 days ago now
        assert wait_for(lambda: d.ctl("status").json["retention"]["removed"] == 2), d.log_text()[-2000:]
        assert d.ctl("list").json["disputes"] == []
    finally:
        d.stop(timeout=30)
