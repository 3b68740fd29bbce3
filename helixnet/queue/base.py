"""The queue interface: what every queue adapter promises.

A queue carries job ids only; the database row is the truth. A delivered id may be
delivered again (a retry after a lost reply, a sweeper's requeue), so the worker claims
the row with a conditional UPDATE and a duplicate finds nothing to claim.

Adapters translate their backend's errors at the edge: every method raises
:class:`~helixnet.errors.QueueUnavailable` when the backend does not answer, never
a ``redis`` or ``sqlite3`` exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any, ClassVar


class Queue(ABC):
    """A priority queue of job ids, safe to use from many threads at once.

    Capability flags, read from the class like huey's ``BaseStorage.blocking``:
    """

    #: Other processes opening the same URL and name see the same queue.
    shared: ClassVar[bool] = False
    #: ``dequeue`` waits on the backend itself (Redis BZPOPMIN) rather than polling it.
    blocking: ClassVar[bool] = False
    #: ``enqueue`` honours ``priority``; when False, priorities are ignored (plain FIFO).
    priority: ClassVar[bool] = False

    @abstractmethod
    def enqueue(self, job_id: str, priority: int = 0) -> None:
        """Add ``job_id``. Higher ``priority`` is taken first; equal priorities in FIFO order.

        Returns once the backend has accepted the id. Raises ``QueueUnavailable`` when it
        did not; the caller's PENDING row then waits for the sweeper to enqueue it again.
        """

    def enqueue_many(self, items: Sequence[tuple[str, int]]) -> None:
        """Add many ``(job_id, priority)`` at once, in order: one round trip where the backend allows.

        All or none as far as the backend allows: on ``QueueUnavailable`` the caller treats every id
        as not enqueued (the sweeper enqueues PENDING rows again; a duplicate is harmless). This
        default enqueues one by one, so adapters that predate it keep working.
        """
        for job_id, priority in items:
            self.enqueue(job_id, priority)

    def enqueue_in(self, conn: Any, items: Sequence[tuple[str, int]]) -> bool:
        """Enqueue inside the caller's open database transaction ``conn``, if this queue lives in that database.

        Returns False (and does nothing) when it cannot; the caller then enqueues after its commit.
        When True, the ids become visible exactly when the caller commits: one commit for row and
        message, and no window in which a committed job is not on the queue.
        """
        return False

    def dequeue_many(self, limit: int, timeout: float = 0.0) -> list[str]:
        """Up to ``limit`` ids: waits up to ``timeout`` for the first, then takes only what is already there.

        Empty when nothing came in time (or on ``wake_all``/``close``, as ``dequeue``). This default
        dequeues one by one; backends that can take several in one round trip override it.
        """
        first = self.dequeue(timeout)
        if first is None:
            return []
        taken = [first]
        while len(taken) < limit and (job_id := self.dequeue(0.0)) is not None:
            taken.append(job_id)
        return taken

    @abstractmethod
    def dequeue(self, timeout: float = 0.0) -> str | None:
        """Take the next job id, waiting up to ``timeout`` seconds for one to arrive.

        Returns ``None`` when nothing came in time, when :meth:`wake_all` was called
        while waiting, or after :meth:`close`. ``timeout=0`` looks once and does not wait.
        A message that cannot be read (garbage, an unknown task) is logged and skipped.
        """

    @abstractmethod
    def size(self) -> int:
        """How many ids wait in the queue now (a snapshot: others may be taking them)."""

    @abstractmethod
    def flush(self) -> None:
        """Drop every waiting id of this queue (and only this queue's ids)."""

    @abstractmethod
    def wake_all(self) -> None:
        """Make every ``dequeue`` waiting in this process return ``None`` promptly.

        Used at shutdown: set the worker's stop flag first, then call this. A ``dequeue``
        that starts afterwards waits normally (use :meth:`close` to stop for good).
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections and wake every waiter; later ``dequeue`` calls return ``None``.

        Safe to call more than once.
        """

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
