"""Group commit, pipelined: requests on many connections are applied in
groups, a group is built on top of the one still being written, and every
answer matches what is stored, also after a SIGKILL and restart."""

import json
import signal
import socket
import sqlite3
import threading
import time

from conftest import Daemon, read_line, started_with_merchant

START = "2027-01-11T09:00:00Z"
CLIENTS = 24
ROUNDS = 6


def request(conn, id, op, args):
    conn.sendall((json.dumps({"v": 1, "id": id, "op": op, "args": args}) + "\n").encode())


def test_dependent_requests_racing_across_groups_get_answers_the_store_keeps(workdir):
    d = started_with_merchant(workdir)
    answers = {}
    errors = []

    def client(k):
        try:
            with socket.socket(socket.AF_UNIX) as a, socket.socket(socket.AF_UNIX) as b:
                for s in (a, b):
                    s.settimeout(30)
                    s.connect(str(d.socket))
                for r in range(ROUNDS):
                    dispute = f"D-{k}-{r}"
                    # The respond is sent before the open is acknowledged, on another
                    # connection: it lands in the open's group, in the group built on
                    # top of it while it is written, or (overtaking it) before it.
                    request(a, f"open-{dispute}", "dispute.open", {"merchant": "M-SE", "order": f"O-{dispute}", "amount": "10.00",
                                                                   "currency": "SEK", "reason": "faulty", "id": dispute})
                    request(b, f"respond-{dispute}", "dispute.respond", {"id": dispute})
                    answers[f"open-{dispute}"] = json.loads(read_line(a))
                    answers[f"respond-{dispute}"] = json.loads(read_line(b))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    responded = set()
    for k in range(CLIENTS):
        for r in range(ROUNDS):
            dispute = f"D-{k}-{r}"
            assert answers[f"open-{dispute}"]["ok"], answers[f"open-{dispute}"]
            reply = answers[f"respond-{dispute}"]
            if reply["ok"]:
                responded.add(dispute)
            else:
                assert reply["error"]["code"] == "not_found", reply

    def stored_stages():
        db = sqlite3.connect(workdir / "lib" / "disputed.sqlite")
        try:
            return dict(db.execute("SELECT id, json_extract(body, '$.merchantRespondedAt') IS NOT NULL FROM disputes "
                                   "WHERE id LIKE 'D-%'").fetchall())
        finally:
            db.close()

    def check(stages):
        assert len(stages) == CLIENTS * ROUNDS
        for dispute, has_response in stages.items():
            assert bool(has_response) == (dispute in responded), dispute

    print(f"{len(responded)} of {CLIENTS * ROUNDS} responds found their open")
    check(stored_stages())
    # Every acknowledged answer is durable: a SIGKILL loses none of them.
    d.kill()
    d2 = Daemon(workdir, args=["--simulated-clock", START])
    d2.start()
    try:
        check(stored_stages())
        # The idempotency records were committed with their changes: a retry gets the first answer.
        some = sorted(responded)[0] if responded else None
        if some:
            again = d2.request("dispute.respond", {"id": some}, request_id=f"respond-{some}")
            assert again == answers[f"respond-{some}"]
    finally:
        d2.kill()


def test_sigterm_under_a_stream_of_writes_answers_every_request_and_stores_exactly_the_acknowledged_ones(workdir):
    # systemctl stop while clients write: each request read gets an answer, an
    # acknowledged one is stored, a refused one ("shutting down; retry with the
    # same request id") is not, and its retry after the restart opens it once.
    d = started_with_merchant(workdir)
    outcomes = {}
    errors = []

    def open_args(dispute):
        return {"merchant": "M-SE", "order": f"O-{dispute}", "amount": "10.00", "currency": "SEK", "reason": "faulty", "id": dispute}

    def client(k):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(30)
                s.connect(str(d.socket))
                for n in range(100_000):
                    dispute = f"D-{k}-{n}"
                    request(s, f"open-{dispute}", "dispute.open", open_args(dispute))
                    line = read_line(s)
                    outcomes[dispute] = json.loads(line) if line else None
                    if not line or not outcomes[dispute]["ok"]:
                        return
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(outcomes) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=30) == 0, d.log_text()[-3000:]
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors

    acknowledged = {k for k, r in outcomes.items() if r and r["ok"]}
    refused = {k: r for k, r in outcomes.items() if r and not r["ok"]}
    unanswered = {k for k, r in outcomes.items() if r is None}
    print(f"{len(acknowledged)} acknowledged, {len(refused)} refused while stopping")
    assert len(acknowledged) >= 300 and not unanswered, (len(acknowledged), unanswered)
    for dispute, reply in refused.items():
        assert reply["error"]["code"] == "unavailable" and "retry with the same request id" in reply["error"]["message"], reply
    with sqlite3.connect(workdir / "lib" / "disputed.sqlite") as db:
        stored = {i for (i,) in db.execute("SELECT id FROM disputes")}
    assert stored == acknowledged, (len(stored - acknowledged), len(acknowledged - stored))

    d.start()
    try:
        # A refused request, retried with its id, is done now; an acknowledged one gets its first answer again.
        for dispute in refused:
            assert d.request("dispute.open", open_args(dispute), request_id=f"open-{dispute}")["ok"] is True
        some = sorted(acknowledged)[0]
        assert d.request("dispute.open", open_args(some), request_id=f"open-{some}") == outcomes[some]
        assert d.ctl("status").json["disputes"]["awaitingMerchant"] == len(acknowledged) + len(refused)
    finally:
        d.kill()
