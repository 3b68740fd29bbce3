"""Submitting many jobs at once: one transaction, one multi-row INSERT, one batched enqueue.

A loop of ``submit`` pays a commit and a queue round trip per job; a user with a thousand jobs in
hand pays them once here. The promise is the one ``submit`` makes, for the whole batch: every item
is validated first and any bad item refuses the lot (its errors name it, ``jobs.3.params.x``); the
rows commit together before any id is enqueued, so a failed enqueue leaves PENDING rows the sweeper
enqueues again. Idempotency keys hold per item: an item whose key the caller already used returns
the earlier job (or is refused when the request differs), as a single submit with that key would.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from helixnet.core import statements as sql
from helixnet.core.job_checks import same_request_or_refuse
from helixnet.core.models import Job, JobStatus, new_id
from helixnet.core.schemas import JobRead
from helixnet.core.users import UserRef, user_id_of
from helixnet.core.workflows import insert_edges, place
from helixnet.errors import Conflict, HelixNetError, QueueUnavailable, ValidationFailed

if TYPE_CHECKING:
    from helixnet.core.jobs import JobService

log = logging.getLogger(__name__)

#: The fields an item may have: those of ``submit``.
ITEM_FIELDS = frozenset({"plugin", "params", "inputs", "priority", "max_retries", "timeout", "idempotency_key", "after",
                         "allow_failed_parents"})


def submit_many(service: JobService, user: UserRef, items: Sequence[Mapping[str, Any]]) -> list[JobRead]:
    """Validate every item, insert the new ones in one transaction, enqueue them in one call; jobs in order."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise ValidationFailed.field(["jobs"], "must be a list of jobs")
    owner_id = user_id_of(user)
    requests, keys, errors = _validate(service, owner_id, items)
    if errors:
        raise ValidationFailed(f"{len({e['loc'][1] for e in errors})} of {len(items)} job(s) invalid; none submitted",
                               errors=errors)  # fmt: skip
    for attempt in (1, 2):  # a second try only when a concurrent submit took one of our keys meanwhile
        jobs, rows = _resolve(service, owner_id, requests, keys)
        parents_of = {row["id"]: row.pop("parents") for row in rows}
        try:
            enqueued = False
            if rows:
                with service._db.connect() as conn:
                    edges = place(conn, rows, [parents_of[row["id"]] for row in rows], batch=True)
                    conn.execute(sql.INSERT_JOBS, rows)
                    insert_edges(conn, edges)
                    ready = [(row["id"], row["priority"]) for row in rows if row["status"] == JobStatus.PENDING.value]
                    enqueued = not ready or service._queue.enqueue_in(conn, ready)
            break
        except IntegrityError as exc:
            if attempt == 2 or not any(keys):
                raise Conflict("the jobs could not be recorded") from exc
    for plugin, count in Counter(row["plugin"] for row in rows).items():
        service._submitted(plugin, count)  # after the commit; replays of a key are not new jobs
    if not enqueued:
        _enqueue_all(service, [row for row in rows if row["status"] == JobStatus.PENDING.value])
    for row in rows:
        service._changed(row["id"], owner_id)
    return [
        JobRead.model_validate({**job, "message": None, "result": None, "artifacts": [], "parents": parents_of[job["id"]]})
        if isinstance(job, dict) else job
        for job in jobs
    ]  # fmt: skip


def _validate(
    service: JobService, owner_id: str, items: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[str | None], list[dict[str, Any]]]:
    """Each item checked as ``submit`` checks it; every error prefixed with ``jobs.<index>``."""
    requests: list[dict[str, Any]] = []
    keys: list[str | None] = []
    errors: list[dict[str, Any]] = []
    first_of_key: dict[str, int] = {}
    for index, item in enumerate(items):
        prefix: list[str | int] = ["jobs", index]
        if not isinstance(item, Mapping):
            errors.append({"loc": prefix, "msg": "must be an object"})
            requests.append({})
            keys.append(None)
            continue
        unknown = sorted(set(item) - ITEM_FIELDS)
        errors += [{"loc": [*prefix, name], "msg": "unknown field"} for name in unknown]
        key = item.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 200):
            errors.append({"loc": [*prefix, "idempotency_key"], "msg": "must be 1 to 200 characters"})
            key = None
        elif key is not None and key in first_of_key:
            errors.append({"loc": [*prefix, "idempotency_key"], "msg": f"repeats the key of jobs.{first_of_key[key]}"})
        elif key is not None:
            first_of_key[key] = index
        try:
            request = service.checked_request(
                owner_id, item.get("plugin"), item.get("params"), item.get("inputs"), item.get("priority", 0),
                item.get("max_retries"), item.get("timeout"), after=item.get("after"),
                allow_failed_parents=item.get("allow_failed_parents", False),
            )  # fmt: skip
        except HelixNetError as exc:
            request = {}
            found = exc.errors or [{"loc": [], "msg": exc.detail}]
            errors += [{"loc": [*prefix, *e.get("loc", [])], "msg": e.get("msg", exc.detail)} for e in found]
        requests.append(request)
        keys.append(key)
    return requests, keys, errors


def _resolve(
    service: JobService, owner_id: str, requests: list[dict[str, Any]], keys: list[str | None]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """The earlier job for each item whose key was used before, and the rows to insert for the rest."""
    earlier: dict[str, JobRead] = {}
    used = [key for key in keys if key is not None]
    if used:
        with service._db.read() as session:
            query = select(Job).where(Job.owner_id == owner_id, Job.idempotency_key.in_(used))
            for row in session.scalars(query):
                earlier[row.idempotency_key or ""] = service._read(session, row)
    now = service._clock()
    jobs: list[Any] = []  # earlier JobReads, or the new rows' values
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, (request, key) in enumerate(zip(requests, keys, strict=True)):
        if key is not None and key in earlier:
            try:
                jobs.append(same_request_or_refuse(earlier[key], request))
            except ValidationFailed as exc:
                errors += [{"loc": ["jobs", index, "idempotency_key"], "msg": e["msg"]} for e in exc.errors]
            continue
        values = {
            "id": new_id(), "owner_id": owner_id, **request, "status": JobStatus.PENDING.value, "progress": 0.0,
            "attempts": 0, "cancel_requested": False, "created_at": now, "queued_at": now, "idempotency_key": key,
        }  # fmt: skip
        rows.append(values)
        jobs.append(values)  # read once placed: the status and inputs are decided under the parents' lock
    if errors:
        raise ValidationFailed(f"{len(errors)} job(s) reuse an Idempotency-Key for a different request; none submitted",
                               errors=errors)  # fmt: skip
    return jobs, rows


def _enqueue_all(service: JobService, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    try:
        service._queue.enqueue_many([(row["id"], row["priority"]) for row in rows])
    except QueueUnavailable as exc:
        # The rows are committed: the sweeper enqueues them once the queue answers again.
        ids = [row["id"] for row in rows]
        log.warning("enqueue of %d job(s) failed (%s); the sweeper will retry them", len(ids), exc)
        try:
            with service._db.connect() as conn:
                conn.execute(update(Job).where(Job.id.in_(ids)).values(queued_at=None))
        except Exception:  # the stale-PENDING sweep still finds them
            log.exception("could not mark %d job(s) as not enqueued", len(ids))
