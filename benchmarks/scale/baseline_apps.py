"""The baselines' task modules: Celery and raw huey apps, also imported by their own consumers.

A consumer (``celery -A baseline_apps:app`` / ``huey_consumer baseline_apps.huey``) reads its queue
name and result backend from BENCH_QUEUE and BENCH_RESULT_BACKEND (empty: none); the benchmark builds
the same apps in-process with :func:`make_celery` and :func:`make_huey` to submit. ``noop`` counts
itself with one INCR (how the benchmark knows the queue drained); ``mark`` pushes how long after its
``sent`` time it started, for the latency figure.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery
from huey import RedisHuey

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
_redis = redis.Redis.from_url(REDIS_URL)


def _noop(key: str) -> None:
    _redis.incr(key)


def _mark(key: str, sent: float) -> None:
    _redis.rpush(key, repr(time.time() - sent))


def make_huey(queue: str) -> tuple[RedisHuey, Any, Any]:
    """huey's plain RedisHuey (a Redis list, blocking BRPOP), no result store."""
    huey = RedisHuey(queue, url=REDIS_URL, results=False)
    return huey, huey.task(name="bench.noop")(_noop), huey.task(name="bench.mark")(_mark)


def make_celery(queue: str, backend: str | None) -> tuple[Celery, Any, Any]:
    """Celery on the Redis broker; with ``backend`` (``db+postgresql+psycopg://...``) it stores every result."""
    app = Celery(f"bench-{queue}", broker=REDIS_URL, backend=backend)
    app.conf.update(task_default_queue=queue, task_ignore_result=backend is None,
                    broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)  # fmt: skip
    return app, app.task(name="bench.noop")(_noop), app.task(name="bench.mark")(_mark)


_QUEUE = os.environ.get("BENCH_QUEUE", "bench")
huey = make_huey(_QUEUE)[0]
app = make_celery(_QUEUE, os.environ.get("BENCH_RESULT_BACKEND") or None)[0]
