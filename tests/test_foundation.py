"""The daemon starts, answers `status`, stops cleanly and refuses a broken configuration."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import DISPUTECTL, DISPUTED, ROOT, Daemon, config_text, read_line, wait_for


def test_both_binaries_print_the_version_the_daemon_reports(daemon):
    daemon.start()
    reported = daemon.ctl("status").json["version"]
    for binary in (DISPUTED, DISPUTECTL):
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
        assert (out.returncode, out.stdout.strip(), out.stderr) == (0, reported, ""), binary


def test_status_answers_over_the_real_socket_and_sigterm_stops_cleanly(daemon):
    daemon.start()
    status = daemon.ctl("status").json
    assert status["version"]
    assert status["pid"] == daemon.proc.pid
    assert status["clock"] == "real"
    assert status["configPath"] == str(daemon.config)
    assert status["store"]["path"].endswith("disputed.sqlite")
    assert status["store"]["schemaVersion"] != "none"
    assert status["store"]["sizeBytes"] > 0
    assert status["uptimeSeconds"] >= 0

    started = time.monotonic()
    assert daemon.stop(timeout=5) == 0
    assert time.monotonic() - started < 5
    assert not daemon.socket.exists()


def test_human_status_is_aligned_text(daemon):
    daemon.start()
    out = daemon.ctl("status", json_output=False).stdout
    assert out.splitlines()[0].startswith("Version")
    assert "Store" in out and "schema" in out


def test_sigint_also_stops_with_exit_zero(daemon):
    daemon.start()
    daemon.signal(signal.SIGINT)
    assert daemon.proc.wait(timeout=5) == 0
    assert not daemon.socket.exists()


def test_a_simulated_clock_before_1970_is_a_usage_error_not_a_crash(workdir):
    d = Daemon(workdir, args=["--simulated-clock", "1969-12-31T23:59:59Z"])
    d.start(wait=False)
    assert d.proc.wait(timeout=10) == 64
    assert "--simulated-clock '1969-12-31T23:59:59Z' is before 1970-01-01T00:00:00Z" in d.log_text()
    assert not (workdir / "lib").exists()   # refused before anything was created


def test_broken_config_exits_78_and_names_file_line_and_key(workdir):
    d = Daemon(workdir, config=config_text(workdir) + "\n[policy]\nresponse_business_days = 99\n")
    d.start(wait=False)
    assert d.proc.wait(timeout=10) == 78
    log = d.log_text()
    assert f"{d.config}:" in log
    assert "'policy.response_business_days' is 99, must be between 1 and 60" in log
    assert not d.socket.exists()


def test_a_store_migrated_by_a_newer_version_is_refused_with_78_and_left_as_it_is(daemon):
    daemon.start()
    daemon.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
                "--timezone", "Europe/Stockholm")
    assert daemon.stop(timeout=30) == 0
    store = daemon.base / "lib" / "disputed.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("INSERT INTO grdb_migrations (identifier) VALUES ('9999-from-a-newer-version')")
    daemon.start(wait=False)
    assert daemon.proc.wait(timeout=30) == 78, daemon.log_text()
    log = daemon.log_text()
    assert "migrated by a newer disputed" in log and "9999-from-a-newer-version" in log, log
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM merchants").fetchone()[0] == 1
        assert ("9999-from-a-newer-version",) in db.execute("SELECT identifier FROM grdb_migrations").fetchall()


def test_a_store_that_is_no_database_is_refused_with_78_and_left_as_it_is(daemon):
    store = daemon.base / "lib" / "disputed.sqlite"
    store.parent.mkdir(parents=True)
    junk = b"not a database, whatever it once was\n" * 200
    store.write_bytes(junk)
    daemon.start(wait=False)
    # Restarting cannot help, so no restart loop: 78, as for a broken configuration.
    assert daemon.proc.wait(timeout=30) == 78, daemon.log_text()
    assert f"store {store} cannot be used: file is not a database; restore a backup" in daemon.log_text(), daemon.log_text()
    assert store.read_bytes() == junk



def test_a_file_at_the_socket_path_is_left_alone_and_the_start_exits_78(daemon):
    # A mistyped control.socket may name anyone's file: it is not replaced, and
    # restarting cannot help, so no restart loop either.
    daemon.socket.parent.mkdir(parents=True)
    daemon.socket.write_text("precious\n")
    daemon.start(wait=False)
    assert daemon.proc.wait(timeout=30) == 78, daemon.log_text()
    assert f"control socket {daemon.socket}: exists and is not a socket; remove it or choose another path" in daemon.log_text()
    assert daemon.socket.read_text() == "precious\n"
    daemon.socket.unlink()
    daemon.socket.mkdir()
    daemon.start(wait=False)
    assert daemon.proc.wait(timeout=30) == 78, daemon.log_text()
    assert daemon.socket.is_dir()


def test_a_store_the_daemons_user_cannot_write_is_named_with_what_to_fix(workdir):
    import pwd
    if os.geteuid() != 0:
        pytest.skip("running the daemon as another user needs root")
    nobody = pwd.getpwnam("nobody")
    d = Daemon(workdir)
    d.start()
    assert d.stop() == 0
    lib, store = workdir / "lib", workdir / "lib" / "disputed.sqlite"
    for path in [workdir, *workdir.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    as_nobody = dict(user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
    # An owner who changed by hand (a restore as root): the file, with the WAL's
    # files still there (SQLite would open it read-only and run until its first
    # write) ...
    d.start(**as_nobody)
    d.ctl("merchant", "upsert", "--id", "M-X", "--name", "X", "--email", "x@shop.example", "--country", "SE",
          "--timezone", "Europe/Stockholm")
    d.kill()  # leaves the WAL's files, holding the last commit
    assert (lib / "disputed.sqlite-wal").stat().st_size > 0
    store.chmod(0o444)
    d.start(wait=False, **as_nobody)
    assert d.proc.wait(timeout=30) == 1, d.log_text()
    assert f"store {store}: cannot be opened for writing (uid {nobody.pw_uid} cannot read and write the file)" in d.log_text(), \
        d.log_text()[-1500:]
    d.log.write_text("")
    store.chmod(0o640)
    d.start(**as_nobody)  # the WAL's last commit is read back
    assert d.ctl("merchant", "show", "M-X").json["id"] == "M-X"
    assert d.stop() == 0

    def start_fails(words):
        # The last connection to close took the WAL's files away: the start must make them.
        db = sqlite3.connect(store)
        db.execute("SELECT COUNT(*) FROM merchants").fetchone()
        db.close()
        assert not (lib / "disputed.sqlite-wal").exists()
        d.start(wait=False, **as_nobody)
        assert d.proc.wait(timeout=30) == 1, d.log_text()  # mended by hand, then the unit's restart works
        assert f"store {store}: " in d.log_text() and words in d.log_text(), d.log_text()[-1500:]
        d.log.write_text("")

    # ... and with them gone.
    store.chmod(0o444)
    start_fails(f"(uid {nobody.pw_uid} cannot read and write the file)")
    store.chmod(0o640)
    # Its directory, where SQLite makes the -wal and -shm files.
    lib.chmod(0o555)
    start_fails(f"(uid {nobody.pw_uid} cannot write its directory {lib}, where SQLite makes the -wal and -shm files)")
    lib.chmod(0o750)
    d.start(**as_nobody)
    assert d.ctl("status").json["store"]["path"] == str(store)
    assert d.stop() == 0


def test_check_config_prints_every_problem_and_exits_78(workdir):
    cfg = workdir / "bad.toml"
    cfg.write_text(config_text(workdir).replace('log_level = "debug"', 'log_level = "loud"\ncolour = true'))
    r = subprocess.run([str(DISPUTED), "--check-config", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 78
    lines = r.stderr.strip().splitlines()
    assert any(l.startswith(f"{cfg}:4: 'daemon.log_level' is \"loud\"") for l in lines), r.stderr
    assert any(l == f"{cfg}:5: unknown key 'daemon.colour' in [daemon]" for l in lines), r.stderr


def test_a_configuration_that_cannot_be_read_is_named_with_the_reason(workdir):
    latin1 = workdir / "latin1.toml"
    latin1.write_bytes(config_text(workdir).encode().replace(b'log_level = "debug"', b'log_level = "debug" # \xe9t\xe9'))
    unreadable = workdir / "secret.toml"
    unreadable.write_text(config_text(workdir))
    unreadable.chmod(0o600)
    cases = [(workdir / "missing.toml", "cannot read configuration: no such file", "", {}),
             (workdir, "cannot read configuration: is a directory, not a file", "", {}),
             (latin1, "cannot read configuration: is not UTF-8 text: byte ", " (line 4) is 0xE9", {})]
    if os.geteuid() == 0:
        cases.append((unreadable, "cannot read configuration: permission denied (read as uid 65534)", "", {"user": 65534}))
    for path, words, ending, identity in cases:
        r = subprocess.run([str(DISPUTED), "--check-config", "--config", str(path)], capture_output=True, text=True, timeout=30, **identity)
        assert r.returncode == 78 and r.stderr.startswith(f"{path}: {words}") and ending in r.stderr, (path, r.returncode, r.stderr)


def test_check_config_accepts_shipped_configurations(workdir):
    r = subprocess.run([str(DISPUTED), "--check-config", "--config", "config/dev.toml"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    # The production example points at /etc/disputed/calendars; check it against the shipped calendars.
    production = workdir / "disputed.toml"
    text = (ROOT / "config" / "disputed.toml").read_text()
    text = text.replace("/etc/disputed/calendars", str(ROOT / "config" / "calendars"))
    text = text.replace("/usr/share/disputed/Notifications", str(ROOT / "Notifications"))
    text = text.replace('group = "disputed-spool"', 'group = ""')  # created by sysusers on a real install
    production.write_text(text)
    r = subprocess.run([str(DISPUTED), "--check-config", "--config", str(production)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "calendars AT, BE, CH, DE, DK, ES, FI, FR, GB, IE, IT, NL, NO, PL, SE, US" in r.stdout


def test_check_config_reports_a_broken_calendar_with_its_line(workdir):
    calendars = workdir / "cal"
    calendars.mkdir()
    (calendars / "SE.toml").write_text((ROOT / "config" / "calendars" / "SE.toml").read_text().replace('easter = -2', 'easter = "-2"'))
    cfg = workdir / "c.toml"
    cfg.write_text(config_text(workdir, calendars=str(calendars)))
    r = subprocess.run([str(DISPUTED), "--check-config", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 78
    assert f"{calendars / 'SE.toml'}:" in r.stderr and "easter" in r.stderr


def test_disputectl_exits_69_naming_the_socket_when_no_daemon(workdir):
    sock = workdir / "nothing.sock"
    r = subprocess.run([str(DISPUTECTL), "--socket", str(sock), "status"], capture_output=True, text=True)
    assert r.returncode == 69
    assert str(sock) in r.stderr


def test_disputectl_refused_by_the_socket_mode_names_the_group_to_join(daemon, workdir):
    import os
    if os.geteuid() != 0:
        pytest.skip("running disputectl as another user needs root")
    daemon.start()
    r = subprocess.run([str(DISPUTECTL), "--socket", str(daemon.socket), "status"], capture_output=True, text=True,
                       timeout=30, user=65534, group=65534, extra_groups=[])
    assert r.returncode == 69, r.stderr
    group = __import__("grp").getgrgid(daemon.socket.stat().st_gid).gr_name
    assert f"permission denied: only the socket's owner and group '{group}' may connect (mode 660)" in r.stderr, r.stderr
    assert "is disputed running?" not in r.stderr


def test_disputectl_names_an_unknown_command_even_after_global_options(workdir):
    for argv in (["explain", "D-1"], ["--socket", str(workdir / "s.sock"), "--json", "explain", "D-1"]):
        r = subprocess.run([str(DISPUTECTL), *argv], capture_output=True, text=True, timeout=30)
        assert r.returncode == 64 and "'explain'" in r.stderr and "--socket" not in r.stderr.splitlines()[0], (argv, r.stderr)


def test_disputectl_reads_socket_from_environment(daemon):
    daemon.start()
    import os
    r = subprocess.run([str(DISPUTECTL), "--json", "status"], capture_output=True, text=True,
                       env=dict(os.environ, DISPUTED_SOCKET=str(daemon.socket)))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] == daemon.proc.pid


def test_stale_socket_file_is_replaced_but_a_live_one_is_not(workdir):
    first = Daemon(workdir)
    first.start()
    first.kill()  # SIGKILL leaves the socket file behind
    assert first.socket.exists()
    second = Daemon(workdir)
    second.start()
    assert second.ctl("status").json["pid"] == second.proc.pid
    # Another store, the same socket path: the live socket is not taken over.
    (workdir / "other").mkdir()
    third = Daemon(workdir / "other", config=config_text(workdir, state_directory=str(workdir / "other" / "lib"),
                                                         spool=str(workdir / "other" / "spool" / "outgoing")))
    third.start(wait=False)
    assert third.proc.wait(timeout=10) == 1
    assert "another process is listening" in third.log_text()
    assert second.ctl("status").json["pid"] == second.proc.pid
    assert second.stop() == 0


def test_a_second_daemon_on_the_same_store_is_refused_naming_the_first(workdir):
    first = Daemon(workdir, args=["--simulated-clock", "2027-01-11T09:00:00Z"])
    first.start()
    # Same state directory, another socket: it would fire every deadline a second time.
    (workdir / "second").mkdir()
    second = Daemon(workdir / "second", args=["--simulated-clock", "2027-01-11T09:00:00Z"],
                    config=config_text(workdir / "second", state_directory=str(workdir / "lib")))
    try:
        second.start(wait=False)
        assert second.proc.wait(timeout=10) == 1
        assert (f"the store in {workdir / 'lib'} is in use by another disputed (pid {first.proc.pid}); "
                "one daemon per state directory: stop that one first") in second.log_text(), second.log_text()
        assert not second.socket.exists()
        assert first.ctl("status").json["pid"] == first.proc.pid
        # The lock goes with the process, however it ends: after a SIGKILL the store is free.
        first.kill()
        second.start()
        assert second.ctl("status").json["pid"] == second.proc.pid
        assert second.stop() == 0
    finally:
        first.kill()
        second.kill()


def test_a_second_daemon_on_the_same_spool_is_refused_and_a_reload_cannot_move_into_it(workdir):
    first = Daemon(workdir, args=["--simulated-clock", "2027-01-11T09:00:00Z"])
    first.start()
    # A store of its own, the same spool: it would empty the first's tmp/ at start, and its
    # notices with ids the first used too would be taken for spooled and never written.
    (workdir / "second").mkdir()
    spool = workdir / "spool" / "outgoing"
    second = Daemon(workdir / "second", args=["--simulated-clock", "2027-01-11T09:00:00Z"],
                    config=config_text(workdir / "second", spool=str(spool)))
    try:
        second.start(wait=False)
        assert second.proc.wait(timeout=10) == 1
        assert (f"the spool {spool} is in use by another disputed (pid {first.proc.pid}); each daemon needs a spool "
                "directory of its own (spool.directory)") in second.log_text(), second.log_text()
        assert not second.socket.exists()
        # With a spool of its own it runs; a reload cannot move it into the first's.
        second.config.write_text(config_text(workdir / "second"))
        second.start()
        second.config.write_text(config_text(workdir / "second", spool=str(spool)))
        assert second.reload() is False
        assert f"spool.directory '{spool}' cannot be used: the spool {spool} is in use by another disputed" in second.log_text()
        # The first stops: the spool is free, and the reload goes through.
        assert first.stop() == 0
        assert second.reload() is True
        second.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
                   "--timezone", "Europe/Stockholm")
        second.ctl("open", "--merchant", "M-SE", "--order", "O-1", "--amount", "10.00", "--currency", "SEK",
                   "--reason", "faulty", "--id", "D-1")
        deadline = time.monotonic() + 10
        while not (spool / "new" / "D-1.1.disputeOpened.eml").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (spool / "new" / "D-1.1.disputeOpened.eml").exists()
        # The spool it left is free again: a daemon can start on it.
        (workdir / "third").mkdir()
        third = Daemon(workdir / "third", args=["--simulated-clock", "2027-01-11T09:00:00Z"],
                       config=config_text(workdir / "third", spool=str(workdir / "second" / "spool" / "outgoing")))
        third.start()
        assert third.stop() == 0
        assert second.stop() == 0
    finally:
        first.kill()
        second.kill()


def test_a_state_directory_that_cannot_be_made_is_named_with_the_reason(workdir):
    blocker = workdir / "not-a-directory"
    blocker.write_text("")
    d = Daemon(workdir, config=config_text(workdir, state_directory=str(blocker / "lib")))
    d.start(wait=False)
    assert d.proc.wait(timeout=10) == 1
    assert f"directory {blocker / 'lib'}: Not a directory" in d.log_text(), d.log_text()


def test_a_spool_group_the_daemon_is_not_a_member_of_is_refused_at_start_and_reload(workdir):
    import os
    import pwd
    if os.geteuid() != 0:
        pytest.skip("running the daemon as another user needs root")
    nobody = pwd.getpwnam("nobody")
    os.chown(workdir, nobody.pw_uid, nobody.pw_gid)
    as_nobody = dict(user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
    # Its files could not be given group root: refused at start, 78, naming key and user.
    (workdir / "bad.toml").write_text(config_text(workdir, extra='').replace(
        'message_id_domain = "disputes.test.invalid"', 'message_id_domain = "disputes.test.invalid"\ngroup = "root"'))
    r = subprocess.run([str(DISPUTED), "--config", str(workdir / "bad.toml")], capture_output=True, text=True, timeout=30, **as_nobody)
    assert r.returncode == 78, r.stderr
    assert "spool.group 'root': disputed runs as nobody, which is not a member" in r.stderr, r.stderr
    # --check-config, run by whoever checks, does not judge the membership of its own user.
    r = subprocess.run([str(DISPUTED), "--check-config", "--config", str(workdir / "bad.toml")], capture_output=True, text=True, timeout=30,
                       **as_nobody)
    assert r.returncode == 0, r.stderr
    # A running daemon rejects a reload to it and keeps the spool group it had.
    d = Daemon(workdir)
    try:
        d.start(**as_nobody)
        d.config.write_text((workdir / "bad.toml").read_text())
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration rejected" not in d.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "spool.group 'root': disputed runs as nobody, which is not a member" in d.log_text(), d.log_text()
        assert d.proc.poll() is None
    finally:
        d.kill()


def test_max_connections_beyond_the_open_file_limit_is_refused_or_the_limit_raised(workdir):
    # More connections than open files would end in EMFILE, where the accept
    # loop spins a core: the daemon makes room or refuses, naming both numbers.
    import resource

    def limited(soft, hard):
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    d = Daemon(workdir)
    r = subprocess.run([str(DISPUTED), "--config", str(d.config)], capture_output=True, text=True, timeout=30,
                       preexec_fn=limited(300, 300))
    assert r.returncode == 78, r.stderr
    assert "control.max_connections = 512 needs about 640 open files, but this process may open 300" in r.stderr, r.stderr
    # A hard limit with room: the daemon raises its soft limit and runs.
    try:
        d.start(preexec_fn=limited(300, 4096))
        soft = next(line.split()[3] for line in open(f"/proc/{d.proc.pid}/limits") if line.startswith("Max open files"))
        assert soft == "640", soft
        # A reload asking for more than the hard limit allows is rejected; the daemon goes on.
        d.config.write_text(config_text(workdir, extra="").replace('reader_group = ""', 'reader_group = ""\nmax_connections = 10000'))
        assert d.reload() is False
        assert "control.max_connections = 10000 needs about 10128 open files" in d.log_text(), d.log_text()
        assert d.ctl("status").json["pid"] == d.proc.pid
    finally:
        d.kill()


def test_socket_file_is_mode_0660_from_the_moment_it_appears(daemon):
    # The daemon binds under a temporary name and renames the socket into place
    # once it has its mode: a client racing the start never sees another mode.
    daemon.start(wait=False)
    first = None
    deadline = time.monotonic() + 30
    while first is None and time.monotonic() < deadline and daemon.proc.poll() is None:
        try:
            first = os.lstat(daemon.socket).st_mode
        except FileNotFoundError:
            pass
    assert first is not None, daemon.log_text()
    assert oct(first & 0o777) == oct(0o660)
    daemon.wait_ready()
    assert not list(daemon.socket.parent.glob("*.new"))


def test_sighup_reload_rejects_bad_config_and_keeps_the_old_one(daemon):
    daemon.start()
    before = daemon.ctl("status").json["configLoadedAt"]
    good = daemon.config.read_text()
    daemon.config.write_text(good + "\n[policy]\ncutoff = \"99:00\"\n")
    assert daemon.reload() is False
    assert "policy.cutoff" in daemon.log_text()
    assert daemon.ctl("status").json["configLoadedAt"] == before
    daemon.config.write_text(good)
    assert daemon.reload() is True
    assert daemon.ctl("status").json["configLoadedAt"] != before


def test_disputectl_reload_answers_once_the_configuration_is_in_force_or_rejected(daemon):
    # What the unit's ExecReload runs: it must wait for the verdict and fail on a rejected file.
    daemon.start()
    before = daemon.ctl("status").json["configLoadedAt"]
    good = daemon.config.read_text()
    daemon.config.write_text(good + "\n[policy]\ncutoff = \"99:00\"\n")
    r = daemon.ctl("reload", json_output=False, check=False)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "new configuration rejected, the old one stays in force" in r.stderr and "policy.cutoff" in r.stderr, r.stderr
    assert daemon.ctl("status").json["configLoadedAt"] == before
    daemon.config.write_text(good)
    time.sleep(1.1)  # configLoadedAt has whole seconds
    r = daemon.ctl("reload", json_output=False)
    loaded = daemon.ctl("status").json["configLoadedAt"]
    assert loaded != before and r.stdout.strip() == f"Configuration reloaded at {loaded}.", (r.stdout, loaded)
    assert f"control request from uid {os.geteuid()}" in daemon.log_text()


def test_a_reload_keeps_the_socket_and_state_directory_it_started_with_and_says_so(daemon, workdir):
    daemon.start()
    before = daemon.ctl("status").json
    moved = config_text(workdir, socket=str(workdir / "elsewhere" / "c.sock"), state_directory=str(workdir / "lib2"))
    daemon.config.write_text(moved.replace('log_level = "debug"', 'log_level = "info"'))
    assert daemon.reload() is True
    assert "control.socket, control.socket_group and daemon.state_directory change only on restart; keeping the running values" in daemon.log_text()
    after = daemon.ctl("status").json   # still at the old socket
    assert after["store"]["path"] == before["store"]["path"] and after["configLoadedAt"] != before["configLoadedAt"]
    assert not (workdir / "elsewhere").exists() and not (workdir / "lib2").exists()


def test_a_reload_applies_the_log_level_and_the_connection_limits(workdir):
    quiet = config_text(workdir).replace('log_level = "debug"', 'log_level = "warning"')
    d = Daemon(workdir, config=quiet)
    d.start()
    try:
        d.ctl("merchant", "upsert", "--id", "M-SE", "--name", "Åsa", "--email", "a@shop.example", "--country", "SE",
              "--timezone", "Europe/Stockholm")
        open_args = ["--merchant", "M-SE", "--amount", "1.00", "--currency", "SEK", "--reason", "faulty"]
        d.ctl("open", "--order", "O-1", "--id", "D-1", *open_args)
        assert "dispute opened" not in d.log_text()      # info, below warning
        d.config.write_text(quiet.replace('log_level = "warning"', 'log_level = "info"')
                            .replace('reader_group = ""', 'reader_group = ""\nmax_connections = 1'))
        assert d.reload() is True
        d.ctl("open", "--order", "O-2", "--id", "D-2", *open_args)
        # Logged once the write is stored (its answer may go out first).
        assert wait_for(lambda: "dispute=D-2" in d.log_text()), d.log_text()[-2000:]
        assert "dispute opened" in d.log_text()
        assert "by=root (uid 0)" in d.log_text()  # who asked, in the journal too
        # One connection open: a second is refused under the new limit.
        with socket.socket(socket.AF_UNIX) as first:
            first.connect(str(d.socket))
            first.sendall(b'{"v":1,"id":"a","op":"status"}\n')
            assert json.loads(read_line(first))["ok"] is True
            with socket.socket(socket.AF_UNIX) as second:
                second.connect(str(d.socket))
                refused = json.loads(read_line(second))
                assert refused["error"]["code"] == "unavailable" and "limit 1" in refused["error"]["message"], refused
    finally:
        d.kill()


def test_malformed_lines_get_bad_request_and_the_connection_stays_usable(daemon):
    daemon.start()
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(daemon.socket))
        s.sendall(b"{not json\n")
        assert json.loads(read_line(s))["error"]["code"] == "bad_request"
        s.sendall(b'{"v":1,"id":"x","op":"no.such.op"}\n')
        reply = json.loads(read_line(s))
        assert reply["id"] == "x" and reply["error"]["code"] == "bad_request"
        assert "no.such.op" in reply["error"]["message"]
        s.sendall(b'{"v":1,"id":"y","op":"status"}\n')
        assert json.loads(read_line(s))["ok"] is True


def test_over_long_line_gets_too_large_and_the_connection_is_closed(daemon):
    daemon.start()
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(daemon.socket))
        s.sendall(b"x" * (64 * 1024 + 10))
        reply = json.loads(read_line(s))
        assert reply["error"]["code"] == "too_large"
        s.settimeout(5)
        assert s.recv(10) == b""
    assert daemon.ctl("status").json["pid"] == daemon.proc.pid
