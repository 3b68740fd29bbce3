"""Fire times through DST changes, computed with time passed in (no sleeping): issue 13's DST rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from helixnet.core.crontime import FireTimes, check_cron, zone

# 2026: New York springs forward on 8 March (02:00 -> 03:00) and falls back on 1 November (02:00 -> 01:00);
# Berlin on 29 March (02:00 -> 03:00) and 25 October (03:00 -> 02:00).
SPRING = {"America/New_York": (2026, 3, 8), "Europe/Berlin": (2026, 3, 29)}
FALL = {"America/New_York": (2026, 11, 1), "Europe/Berlin": (2026, 10, 25)}
ZONES = sorted(SPRING)


def day_fires(spec: FireTimes, tz: str, ymd: tuple[int, int, int]) -> list[datetime]:
    """The fire times within one local calendar day, as local aware datetimes."""
    local = ZoneInfo(tz)
    start = datetime(*ymd, tzinfo=local)
    end = start + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    fires = list(
        spec.between(start.astimezone(UTC) - timedelta(microseconds=1), end.astimezone(UTC) - timedelta(microseconds=1))
    )
    return [f.astimezone(local) for f in fires]


@pytest.mark.parametrize("tz", ZONES)
def test_daily_0230_on_spring_forward_day_fires_once_at_0330(tz: str) -> None:
    fires = day_fires(FireTimes(cron="30 2 * * *", timezone=tz), tz, SPRING[tz])
    assert [(f.hour, f.minute) for f in fires] == [(3, 30)]  # 02:30 does not exist: the shifted time
    # The days around it fire at 02:30, 24 h of wall clock apart.
    before = day_fires(FireTimes(cron="30 2 * * *", timezone=tz), tz, (SPRING[tz][0], SPRING[tz][1], SPRING[tz][2] - 1))
    assert [(f.hour, f.minute) for f in before] == [(2, 30)]
    # 24 real hours after the day before: 02:30 standard time is 03:30 summer time.
    assert fires[0].astimezone(UTC) - before[0].astimezone(UTC) == timedelta(hours=24)


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("cron", ["30 2 * * *", "30 1 * * *"])
def test_daily_on_fall_back_day_fires_once_at_the_first_occurrence(tz: str, cron: str) -> None:
    fires = day_fires(FireTimes(cron=cron, timezone=tz), tz, FALL[tz])
    assert len(fires) == 1
    hour = int(cron.split()[1])
    assert (fires[0].hour, fires[0].minute, fires[0].fold) == (hour, 30, 0)
    # Where that wall-clock time happens twice, the first (summer time) one is taken.
    wall = datetime(*FALL[tz], hour, 30)
    both = {wall.replace(tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC) for fold in (0, 1)}
    assert fires[0].astimezone(UTC) == min(both)


@pytest.mark.parametrize("tz", ZONES)
def test_hourly_fires_once_per_existing_wall_clock_hour(tz: str) -> None:
    spec = FireTimes(cron="0 * * * *", timezone=tz)
    spring = day_fires(spec, tz, SPRING[tz])
    assert [f.hour for f in spring] == [h for h in range(24) if h != 2]  # 23 fires: 02:xx does not exist
    fall = day_fires(spec, tz, FALL[tz])
    assert [f.hour for f in fall] == list(range(24))  # 24 fires: the repeated hour once, not twice
    for fires in (spring, fall):
        instants = [f.astimezone(UTC) for f in fires]
        assert len(set(instants)) == len(instants) and instants == sorted(instants)


def test_next_after_is_strict_and_crosses_the_gap() -> None:
    spec = FireTimes(cron="0 * * * *", timezone="America/New_York")
    one_am = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 EST
    assert spec.next_after(one_am) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert spec.next_after(datetime(2026, 3, 8, 7, 0, tzinfo=UTC)) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


def test_intervals_are_multiples_since_the_epoch() -> None:
    spec = FireTimes(interval_seconds=60)
    assert spec.next_after(datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)) == datetime(2026, 1, 1, 10, 1, tzinfo=UTC)
    assert spec.next_after(datetime(2026, 1, 1, 10, 1, tzinfo=UTC)) == datetime(2026, 1, 1, 10, 2, tzinfo=UTC)
    start = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    assert len(list(FireTimes(interval_seconds=3600).between(start, start + timedelta(hours=5)))) == 5


def test_bad_zones_and_expressions_are_refused() -> None:
    for bad in ("Mars/Olympus", "", "../etc/passwd", "UTC\x00"):
        with pytest.raises(ValueError):
            zone(bad)
    for bad in ("", "every minute", "61 * * * *", "* * *"):
        with pytest.raises(ValueError):
            check_cron(bad)
    assert check_cron(" */5 * * * * ") == "*/5 * * * *"
    assert FireTimes(cron="0 0 30 2 *").next_after(datetime(2026, 1, 1, tzinfo=UTC)) is None  # 30 February
