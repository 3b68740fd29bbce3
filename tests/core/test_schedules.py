"""Schedules: the service, firing with time passed in, catch-up after downtime, overlap, and a race of processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from helixnet import HelixNet, JobStatus, NotFound, ValidationFailed
from helixnet.core.firing import HELD
from helixnet.core.models import Job

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)  # a whole minute: interval fire times are epoch multiples


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked(make_settings: Callable[..., Any]) -> Iterator[Callable[..., tuple[HelixNet, Clock]]]:
    """HelixNet instances (not started: no loop, no workers) whose clock the test moves."""
    built: list[HelixNet] = []

    def factory(database: str = "sqlite") -> tuple[HelixNet, Clock]:
        clock = Clock(T0)
        hx = HelixNet(make_settings(database), clock=clock)
        hx.migrate()
        built.append(hx)
        return hx, clock

    yield factory
    for hx in built:
        hx.stop(timeout=0)


def jobs_of(hx: HelixNet, schedule_id: str) -> list[Job]:
    with hx.db.read() as session:
        return list(session.scalars(select(Job).where(Job.schedule_id == schedule_id).order_by(Job.fire_time)))


def test_create_checks_like_a_submit_and_names_the_field(clocked) -> None:
    hx, _ = clocked()
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    cases = [
        ({"plugin": "sleep", "params": {"seconds": -1}, "interval_seconds": 60}, ["params", "seconds"]),
        ({"plugin": "echo", "cron": "every day", "timezone": "UTC"}, ["cron"]),
        ({"plugin": "echo", "cron": "0 * * * *", "timezone": "Mars/Olympus"}, ["timezone"]),
        ({"plugin": "echo", "cron": "0 * * * *", "interval_seconds": 60}, ["cron"]),
        ({"plugin": "echo"}, ["cron"]),
        ({"plugin": "echo", "interval_seconds": 0}, ["interval_seconds"]),
        ({"plugin": "echo", "interval_seconds": 60, "overlap": "sometimes"}, ["overlap"]),
        ({"plugin": "nope", "interval_seconds": 60}, ["plugin"]),
    ]
    for fields, loc in cases:
        with pytest.raises(ValidationFailed) as caught:
            hx.schedules.create(ada, **fields)
        assert caught.value.errors[0]["loc"][: len(loc)] == loc, (fields, caught.value.errors)
    made = hx.schedules.create(ada, "echo", {"message": "hi"}, cron="30 2 * * *", timezone="America/New_York")
    assert made.next_fire_at == datetime(2026, 6, 2, 6, 30, tzinfo=UTC)  # 02:30 EDT
    assert (made.overlap, made.catchup_seconds, made.enabled, made.missed_count) == ("allow", 600, True, 0)


def test_fires_once_per_fire_time_records_it_and_pages_runs(clocked, database: str) -> None:
    hx, clock = clocked(database)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    made = hx.schedules.create(ada, "echo", {"message": "tick"}, interval_seconds=60)
    assert made.next_fire_at == T0 + timedelta(minutes=1)
    assert hx.fire(T0 + timedelta(seconds=59)).fired == 0
    for minute in (1, 2, 3):
        clock.now = T0 + timedelta(minutes=minute, seconds=0.3)
        assert hx.fire(clock.now).fired == 1
        assert hx.fire(clock.now).fired == 0  # the same tick again: nothing more
    runs = hx.schedules.runs(made.id, ada, limit=2)
    assert [j.fire_time for j in runs.items] == [T0 + timedelta(minutes=3), T0 + timedelta(minutes=2)]
    assert all(j.schedule_id == made.id and j.params["message"] == "tick" for j in runs.items)
    rest = hx.schedules.runs(made.id, ada, limit=2, cursor=runs.next_cursor)
    assert [j.fire_time for j in rest.items] == [T0 + timedelta(minutes=1)] and rest.next_cursor is None
    after = hx.schedules.get(made.id, ada)
    assert after.last_fire_at == T0 + timedelta(minutes=3) and after.last_job_id == runs.items[0].id
    assert after.next_fire_at == T0 + timedelta(minutes=4)
    # The unique (schedule, fire time) guard: a second insert of a recorded fire loses cleanly.
    with hx.db.connect() as conn:
        assert hx.firer._insert_run(conn, _row(hx, made.id), T0 + timedelta(minutes=2), clock.now, held=False) is None
    assert len(jobs_of(hx, made.id)) == 3


def _row(hx: HelixNet, schedule_id: str) -> Any:
    from helixnet.core.models import Schedule

    with hx.db.read() as session:
        return session.get(Schedule, schedule_id)


def test_downtime_runs_what_is_inside_the_catchup_window_and_counts_the_rest(clocked, database: str) -> None:
    hx, clock = clocked(database)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    made = hx.schedules.create(ada, "echo", interval_seconds=60, catchup_seconds=150)
    first = made.next_fire_at
    assert first is not None
    # The loop was down across five fire times (first .. first + 4 min); it comes back 10 s after the last.
    clock.now = first + timedelta(minutes=4, seconds=10)
    report = hx.fire(clock.now)
    fired = [j.fire_time for j in jobs_of(hx, made.id)]
    # Inside the window (the last 150 s): the last three, once each; the two older ones are missed.
    assert fired == [first + timedelta(minutes=m) for m in (2, 3, 4)]
    assert (report.fired, report.missed) == (3, 2)
    after = hx.schedules.get(made.id, ada)
    assert (after.missed_count, after.last_missed_at) == (2, first + timedelta(minutes=1))
    assert after.next_fire_at == first + timedelta(minutes=5)
    assert hx.fire(clock.now).total == 0


def test_disable_enable_patch_delete_and_run_now(clocked) -> None:
    hx, clock = clocked()
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    bob = hx.users.create(email="bob@example.org", password="another good password")
    root = hx.users.create(email="root@example.org", password="an admin's password", is_admin=True)
    made = hx.schedules.create(ada, "echo", interval_seconds=60)
    for call in (lambda: hx.schedules.get(made.id, bob), lambda: hx.schedules.run_now(made.id, bob),
                 lambda: hx.schedules.disable(made.id, bob), lambda: hx.schedules.delete(made.id, bob)):  # fmt: skip
        with pytest.raises(NotFound):
            call()
    assert hx.schedules.get(made.id, root).id == made.id
    assert [s.id for s in hx.schedules.list(bob).items] == []
    assert [s.id for s in hx.schedules.list(root, all_users=True).items] == [made.id]
    paused = hx.schedules.disable(made.id, ada)
    assert paused.enabled is False and paused.next_fire_at is None
    assert hx.fire(T0 + timedelta(hours=1)).fired == 0
    clock.now = T0 + timedelta(hours=1, seconds=5)
    resumed = hx.schedules.enable(made.id, ada)
    assert resumed.next_fire_at == T0 + timedelta(hours=1, minutes=1)  # from now: the pause is not caught up
    changed = hx.schedules.update(made.id, ada, cron="0 9 * * *", timezone="Europe/Berlin", params={"message": "x"})
    assert changed.interval_seconds is None and changed.next_fire_at == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as caught:
        hx.schedules.update(made.id, ada, timezone="Nowhere/Else")
    assert caught.value.errors[0]["loc"] == ["timezone"]
    job = hx.schedules.run_now(made.id, ada)
    assert job.schedule_id == made.id and job.fire_time == clock.now and job.status == JobStatus.PENDING
    assert hx.schedules.get(made.id, ada).next_fire_at == changed.next_fire_at  # an extra run
    hx.schedules.delete(made.id, ada)
    with pytest.raises(NotFound):
        hx.schedules.get(made.id, ada)
    assert hx.jobs.get(job.id).schedule_id is None  # its runs stay


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("overlap", ["skip", "allow", "queue"])
def test_overlap_with_a_long_running_job(make_hx, overlap: str) -> None:
    hx = make_hx(workers=1, sweeper=False)  # one worker thread; the test ticks the firing step itself
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    made = hx.schedules.create(ada, "sleep", {"seconds": 60}, interval_seconds=3600, overlap=overlap)
    first = made.next_fire_at
    assert first is not None
    assert hx.fire(first).fired == 1
    (long_run,) = jobs_of(hx, made.id)
    wait_for(lambda: hx.jobs.get(long_run.id).status == JobStatus.RUNNING)
    report = hx.fire(first + timedelta(hours=1))
    runs = jobs_of(hx, made.id)
    after = hx.schedules.get(made.id, ada)
    if overlap == "skip":
        assert len(runs) == 1 and report.skipped == 1
        assert (after.skipped_count, after.last_skipped_at) == (1, first + timedelta(hours=1))
    elif overlap == "allow":
        assert len(runs) == 2 and report.fired == 1 and runs[1].queued_at is not None
    else:
        assert len(runs) == 2 and report.held == 1
        assert runs[1].status == JobStatus.PENDING and runs[1].scheduled_at == HELD and runs[1].queued_at is None
        assert hx.fire(first + timedelta(hours=1, seconds=1)).released == 0  # the first still runs
    hx.jobs.cancel(long_run.id)
    hx.jobs.wait(long_run.id, timeout=15)
    if overlap == "queue":
        assert hx.fire(first + timedelta(hours=1, seconds=2)).released == 1
        wait_for(lambda: hx.jobs.get(runs[1].id).status == JobStatus.RUNNING)
    for job in jobs_of(hx, made.id):
        if job.status in ("PENDING", "RUNNING"):
            hx.jobs.cancel(job.id)


def test_the_running_loop_enqueues_within_a_second_of_each_fire_time(make_hx) -> None:
    """The firing thread of hx.start() on the real clock, on PostgreSQL: every second, one job, on time."""
    hx = make_hx("postgres", workers=1)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    made = hx.schedules.create(ada, "echo", interval_seconds=1)
    wait_for(lambda: sum(j.status == JobStatus.SUCCESS for j in jobs_of(hx, made.id)) >= 2)
    hx.schedules.disable(made.id)
    runs = [j for j in jobs_of(hx, made.id) if j.status == JobStatus.SUCCESS][:2]
    assert runs[1].fire_time - runs[0].fire_time == timedelta(seconds=1)
    for run in runs:
        assert made.next_fire_at is not None and run.fire_time >= made.next_fire_at
        # Within a second on an idle machine (benchmarks/schedules.py measures it); the bound leaves room
        # for a loaded CI runner, and is still far below what a 5 s sweeper interval would give.
        assert timedelta(0) <= run.queued_at - run.fire_time < timedelta(seconds=2), run.queued_at - run.fire_time


FIRE_SCRIPT = textwrap.dedent("""
    import sys
    import time
    from datetime import datetime, timedelta
    from pathlib import Path
    from helixnet import HelixNet, Settings

    start, count, folder, me = datetime.fromisoformat(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    hx = HelixNet(Settings(queue_url="memory://", data_dir=folder / me))
    hx.firer.tick(start - timedelta(seconds=1))  # connected and warm before the race starts
    (folder / f"ready-{me}").touch()
    while len(list(folder.glob("ready-*"))) < 2:
        time.sleep(0.005)
    fired = 0
    for step in range(count):  # a fast clock: one second of schedule time per tick
        fired += hx.firer.tick(start + timedelta(seconds=step, milliseconds=1)).fired
    print(fired)
    hx.db.dispose()
""")


def test_two_processes_firing_together_make_one_job_per_fire_time(make_hx, tmp_path) -> None:
    """200 fire times of a 1 s interval, two processes firing with a fast clock on one PostgreSQL database."""
    hx = make_hx("postgres", start=False)
    ada = hx.users.create(email="ada@example.org", password="correct horse battery")
    made = hx.schedules.create(ada, "echo", interval_seconds=1, catchup_seconds=3600)
    start = made.next_fire_at
    assert start is not None
    env = {**os.environ, "HELIXNET_DATABASE_URL": hx.settings.resolved_database_url, "HELIXNET_BCRYPT_ROUNDS": "4"}
    procs = [subprocess.Popen([sys.executable, "-c", FIRE_SCRIPT, start.isoformat(), "200", str(tmp_path), f"p{n}"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    fired_by = [int(out.strip().splitlines()[-1]) for out, _ in outputs]
    with hx.db.read() as session:
        rows = session.execute(
            select(Job.fire_time, func.count()).where(Job.schedule_id == made.id).group_by(Job.fire_time)
        ).all()
    # Clock start .. start + 199 s: the fire times start .. start + 199 s, each exactly once.
    assert sorted(when for when, _ in rows) == [start + timedelta(seconds=s) for s in range(200)]
    assert {count for _, count in rows} == {1}
    assert sum(fired_by) == 200 and min(fired_by) > 0, fired_by  # both really raced; each counted its own
    print("fires per process:", fired_by)
