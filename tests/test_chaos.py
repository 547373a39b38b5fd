"""The short crash-consistency run of make test: five SIGKILLs under load."""

from chaos import run_chaos


def test_five_sigkills_under_load_lose_nothing_and_duplicate_nothing(workdir):
    state, problems = run_chaos(workdir, kills=5, seed=20271101, log=lambda *_: None)
    assert state["opened"], "the load acknowledged nothing"
    assert not problems, "\n".join(problems)


def test_sigkills_while_retention_removes_closed_disputes_leave_no_half_removed_one(workdir):
    state, problems = run_chaos(workdir, kills=5, seed=20271102, log=lambda *_: None, retention_days=7)
    assert state["removed"] > 0, "the run removed nothing: it checks nothing of retention"
    assert not problems, "\n".join(problems)
