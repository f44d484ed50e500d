"""The Jenkins emulator's cron (TimerTrigger spec): what fires when, and what Jenkins refuses."""

import itertools
from datetime import datetime, timedelta

import pytest
from labctl.jenkins.cron import CronError, CronTab


def minutes_of_a_day(tab: CronTab) -> list:
    start = datetime(2026, 12, 3)
    return [start + timedelta(minutes=m) for m in range(24 * 60) if tab.matches(start + timedelta(minutes=m))]


def test_every_fifteen_minutes_hashed_fires_four_times_an_hour_at_a_fixed_minute_per_job():
    fired = minutes_of_a_day(CronTab("H/15 * * * *", "reconcile-acme-web"))
    assert len(fired) == 96
    minutes = sorted({moment.minute for moment in fired})
    assert len(minutes) == 4 and all(b - a == 15 for a, b in itertools.pairwise(minutes))
    assert minutes[0] < 15
    again = sorted({m.minute for m in minutes_of_a_day(CronTab("H/15 * * * *", "reconcile-acme-web"))})
    assert again == minutes  # stable for a job
    others = {
        tuple(sorted({m.minute for m in minutes_of_a_day(CronTab("H/15 * * * *", f"job-{n}"))})) for n in range(20)
    }
    assert len(others) > 1  # spread over jobs


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        ("*/10 * * * *", 144),
        ("0 * * * *", 24),
        ("30 2 * * *", 1),
        ("0,30 8-17 * * *", 20),
        ("0 8-17/3 * * *", 4),  # 8, 11, 14, 17
        ("@hourly", 24),
        ("@daily", 1),
        ("H(0-9)/5 * * * *", 48),
        ("# a comment\n\n0 12 * * *\n0 0 * * *", 2),
        ("0 12 * * 4", 1),  # 2026-12-03 is a Thursday
        ("0 12 * * 5", 0),
        ("0 12 3 12 *", 1),
    ],
)
def test_specs_fire_as_jenkins_documents(spec, count):
    assert len(minutes_of_a_day(CronTab(spec, "job"))) == count


def test_sunday_is_both_0_and_7():
    sunday = datetime(2026, 12, 6, 12, 0)
    assert CronTab("0 12 * * 0", "j").matches(sunday) and CronTab("0 12 * * 7", "j").matches(sunday)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * *", "expected 5 fields, got 4"),
        ("60 * * * *", "minute '60'"),
        ("* 24 * * *", "hour '24'"),
        ("* * 0 * *", "day of month '0'"),
        ("*/0 * * * *", "a step must be at least 1"),
        ("5-2 * * * *", "backwards"),
        ("x * * * *", "is not a value"),
        ("@often", "expected 5 fields"),
    ],
)
def test_specs_jenkins_refuses_are_refused_naming_the_field(spec, message):
    with pytest.raises(CronError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CronTab(spec, "job")
