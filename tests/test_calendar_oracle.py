"""Every shipped calendar against the `holidays` package (PyPI), 1990–2060.

Each market is compared with the package's categories that make up a bank
business-day calendar there. Any difference on a working weekday fails the test
unless the calendar file lists it (`[[oracle_difference]]`, by date or by
holiday name) with its reason. Add-N-business-days is checked against numpy's
busday_offset with the same holiday list.
"""

import json
import subprocess
import tomllib

import numpy as np
import pytest

from conftest import DISPUTECTL, ROOT

holidays = pytest.importorskip("holidays")

CALENDARS = ROOT / "config" / "calendars"

# The package's categories (and options) that correspond to each market's bank closures.
ORACLE = {
    "SE": dict(categories=("public", "bank"), include_sundays=False),
    "NO": dict(categories=("public",), include_sundays=False),
    "DK": dict(categories=("public", "optional")),
    "FI": dict(categories=("public",)),
    "DE": dict(categories=("public",)),
    "AT": dict(categories=("public", "bank")),
    "NL": dict(categories=("public",)),
    "BE": dict(categories=("public", "bank")),
    "CH": dict(categories=("public",)),
    "GB": dict(categories=("public",), subdiv="ENG"),
    "IE": dict(categories=("public",)),
    "FR": dict(categories=("public",)),
    "ES": dict(categories=("public",)),
    "IT": dict(categories=("public",)),
    "PL": dict(categories=("public",)),
    "US": dict(categories=("public",)),
}

# Half-day closings are not closures: banks are open in the morning.
HALF_DAY_MARKERS = ("(from 2pm)",)


def ours(market, first, last):
    out = subprocess.run([str(DISPUTECTL), "--json", "calendar", "holidays", "--calendars", str(CALENDARS),
                          "--calendar", market, "--year", str(first), "--through", str(last)],
                         capture_output=True, text=True, check=True).stdout
    return {row["date"]: row["name"] for row in json.loads(out)}


def oracle(market, first, last):
    options = dict(ORACLE[market])
    days = holidays.country_holidays(market, years=range(first, last + 1), language="en_US", **options)
    result = {}
    for date, name in days.items():
        parts = [p for p in name.split("; ") if not any(m in p for m in HALF_DAY_MARKERS)]
        if date.weekday() >= 5 or not parts:
            continue
        result[date.isoformat()] = "; ".join(parts)
    return result


@pytest.mark.parametrize("market", sorted(ORACLE))
def test_calendar_matches_the_holidays_package(market):
    spec = tomllib.loads((CALENDARS / f"{market}.toml").read_text())
    first, last = spec["valid_years"]
    # The package covers some markets only from a later year (Spain from 2008).
    oracle_start = getattr(holidays.country_holidays(market).__class__, "start_year", 1990)
    first, last = max(first, 1990, oracle_start), min(last, 2060)
    mine, theirs = ours(market, first, last), oracle(market, first, last)
    allowed = spec.get("oracle_difference", [])

    def listed(date, name, kind):
        for d in allowed:
            if d["kind"] != kind:
                continue
            if "date" in d and d["date"].isoformat() == date:
                return True
            parts = [p.strip() for p in name.replace(";", "/").split("/")]
            if "holiday" in d and d["holiday"] in parts:
                return True
        return False

    unexplained = []
    for date in sorted(set(mine) - set(theirs)):
        if not listed(date, mine[date], "extra"):
            unexplained.append(f"{date} closed here ({mine[date]}) but not in holidays")
    for date in sorted(set(theirs) - set(mine)):
        if not listed(date, theirs[date], "missing"):
            unexplained.append(f"{date} closed in holidays ({theirs[date]}) but open here")
    assert not unexplained, f"{market}: {len(unexplained)} unexplained differences:\n" + "\n".join(unexplained[:40])


@pytest.mark.parametrize("market", ["SE", "DE", "GB", "US"])
def test_add_business_days_matches_numpy_busday_offset(market):
    closed = sorted(ours(market, 2020, 2030))
    rng = np.random.default_rng(7)
    starts = np.datetime64("2021-01-01") + rng.integers(0, 8 * 365, size=40)
    for start in starts:
        n = int(rng.integers(1, 40))
        # numpy: roll forward from the day after, then n-1 more business days = the n-th business day after start.
        expected = np.busday_offset(start + 1, n - 1, roll="forward", holidays=closed)
        out = subprocess.run([str(DISPUTECTL), "--json", "calendar", "deadline", "--calendars", str(CALENDARS),
                              "--calendar", market, "--from", f"{start}T23:59:59Z", "--business-days", str(n),
                              "--timezone", "UTC", "--cutoff", "00:00"],
                             capture_output=True, text=True, check=True).stdout
        # With a 00:00 cut-off counting starts from the first business day after `start`.
        first_business = np.busday_offset(start + 1, 0, roll="forward", holidays=closed)
        expected = np.busday_offset(first_business, n, holidays=closed)
        assert json.loads(out)["lastDay"] == str(expected), (market, str(start), n)
