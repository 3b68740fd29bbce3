"""Queue adapters: carry job ids from submitters to workers (the database row is the truth)."""

from helixnet.queue.base import Queue
from helixnet.queue.huey import (
    TASK_NAME,
    BlockingHueyQueue,
    HueyQueue,
    JsonSerializer,
    MemoryHueyQueue,
    RedisHueyQueue,
    SqliteHueyQueue,
    memory_queue,
    redis_queue,
    sqlite_queue,
)
from helixnet.queue.postgres import PostgresHueyQueue, postgres_queue
from helixnet.queue.registry import ENTRY_POINT_GROUP, open_queue, queue_schemes

__all__ = [
    "BlockingHueyQueue",
    "ENTRY_POINT_GROUP",
    "HueyQueue",
    "JsonSerializer",
    "MemoryHueyQueue",
    "PostgresHueyQueue",
    "Queue",
    "RedisHueyQueue",
    "SqliteHueyQueue",
    "TASK_NAME",
    "memory_queue",
    "open_queue",
    "postgres_queue",
    "queue_schemes",
    "redis_queue",
    "sqlite_queue",
]
