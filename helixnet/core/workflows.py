"""Workflows (issue 13): a job that waits for others (``after``) and takes their outputs as inputs.

Edges live in ``job_dependencies``. A child is ``WAITING`` until every parent is final; then, in
the transaction that made its last parent final, it is *settled*: ``PENDING`` with its input refs
resolved to the parents' output artifacts (enqueued by the caller after the commit), or
``CANCELLED`` "dependency failed: <parent id>" when a parent failed or was cancelled (unless it
allows failed parents), or ``FAILURE`` when an output it names does not exist. A child that ends
so settles its own children in turn, in the same transaction.

Fan-in on PostgreSQL, with parents finishing at the same moment: ``settle`` first locks the waiting
children (``SELECT ... FOR UPDATE`` ordered by id, so two settles lock in one order and cannot
deadlock) and only then, in a later statement, reads their parents' statuses. The second of two
parents waits on the child's lock until the first commits, and under READ COMMITTED its next
statement sees both parents final: the child is released exactly once. Submit locks the parents
``FOR SHARE`` before it reads their statuses, so a parent finishing meanwhile either waits for the
child's edges to commit (and then sees them) or has committed (and submit sees it final). SQLite
has one writer at a time. ``release_stranded`` is the sweeper's safety net for any path that made
a parent final without settling its children.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, exists, insert, null, select, update
from sqlalchemy.engine import Connection

from helixnet.core.events import event_values
from helixnet.core.models import FINAL_STATUSES, Artifact, ArtifactStatus, Job, JobDependency, JobEvent, JobStatus
from helixnet.errors import Conflict, NotFound, ValidationFailed

jobs: Table = cast(Table, Job.__table__)
deps: Table = cast(Table, JobDependency.__table__)
artifacts: Table = cast(Table, Artifact.__table__)

#: At most this many parents per job: a fan-in of a thousand is fine, an unbounded list is not.
MAX_PARENTS = 10_000
FAILED = frozenset({JobStatus.FAILURE.value, JobStatus.CANCELLED.value})
FINAL = frozenset(status.value for status in FINAL_STATUSES)
DEPENDENCY_FAILED = "dependency failed: "


@dataclass
class Settled:
    """What settling changed: jobs to enqueue once committed, and jobs that ended (for the change feed)."""

    released: list[tuple[str, int]] = field(default_factory=list)  # (job id, priority), now PENDING
    ended: list[str] = field(default_factory=list)  # CANCELLED or FAILURE because of a parent

    def __bool__(self) -> bool:
        return bool(self.released or self.ended)

    def merge(self, other: Settled) -> None:
        self.released += other.released
        self.ended += other.ended


# -- submit -------------------------------------------------------------------------------------------


def split_inputs(inputs: Any) -> tuple[Any, dict[str, dict[str, str]]]:
    """Plain inputs (artifact ids) and refs to parents' outputs (``{"job": id, "output": filename}``)."""
    if not isinstance(inputs, Mapping):
        return inputs, {}
    plain: dict[str, Any] = {}
    refs: dict[str, dict[str, str]] = {}
    for name, value in inputs.items():
        if isinstance(value, Mapping):
            if set(value) != {"job", "output"} or not all(isinstance(v, str) for v in value.values()):
                raise ValidationFailed.field(
                    ["inputs", name], 'an output of a parent is {"job": id, "output": filename}'
                )
            if not 1 <= len(value["output"]) <= 255 or "\x00" in value["output"]:
                raise ValidationFailed.field(["inputs", name, "output"], "must be a file name of 1 to 255 characters")
            refs[name] = {"job": value["job"], "output": value["output"]}
        else:
            plain[name] = value
    return plain, refs


def checked_parents(session: Any, owner_id: str, after: Any, refs: Mapping[str, Mapping[str, str]]) -> list[str]:
    """``after`` plus the jobs ``refs`` name (a ref's job is added to ``after``), each the caller's own."""
    if after is None:
        after = []
    if isinstance(after, (str, bytes)) or not isinstance(after, Sequence):
        raise ValidationFailed.field(["after"], "must be a list of job ids")
    if len(after) > MAX_PARENTS:
        raise ValidationFailed.field(["after"], f"at most {MAX_PARENTS} parents")
    after = [getattr(parent, "id", parent) for parent in after]  # a JobRead stands for its id
    for index, parent in enumerate(after):
        if not isinstance(parent, str) or not 1 <= len(parent) <= 36:
            raise ValidationFailed.field(["after", index], "must be a job id")
    parents = sorted({*after, *(ref["job"] for ref in refs.values())})
    if not parents:
        return []
    found = set()
    for chunk in _chunks(parents, 1000):
        found |= set(session.scalars(select(Job.id).where(Job.id.in_(chunk), Job.owner_id == owner_id)))
    missing = [parent for parent in parents if parent not in found]
    if missing:
        # Another user's job reads exactly as one that does not exist.
        where = next((["inputs", n, "job"] for n, ref in refs.items() if ref["job"] == missing[0]), ["after"])
        raise NotFound(f"{'.'.join(map(str, where))}: job {missing[0]} not found",
                       errors=[{"loc": where, "msg": f"job {missing[0]} not found"}])  # fmt: skip
    return parents


def place(
    conn: Connection, rows: list[dict[str, Any]], parents_of: list[list[str]], *, batch: bool = False
) -> list[dict[str, str]]:
    """Decide each new row's status from its parents, under a share lock on them; returns the edges to insert.

    A row whose parents are all final is PENDING at once, its refs resolved; a parent already FAILURE
    or CANCELLED refuses the row (409) unless it allows failed parents. Rows change in place; with
    ``batch`` errors name the item (``jobs.3.after``).
    """
    wanted = sorted({parent for parents in parents_of for parent in parents})
    if not wanted:
        return []
    status_of: dict[str, str] = {}
    for chunk in _chunks(wanted, 1000):
        query = select(jobs.c.id, jobs.c.status).where(jobs.c.id.in_(chunk)).order_by(jobs.c.id)
        status_of.update({job_id: status for job_id, status in conn.execute(query.with_for_update(read=True))})
    outputs = _outputs(conn, [p for p in wanted if status_of.get(p) == JobStatus.SUCCESS.value])
    edges: list[dict[str, str]] = []
    for index, (row, parents) in enumerate(zip(rows, parents_of, strict=True)):
        if not parents:
            continue
        prefix: list[str | int] = ["jobs", index] if batch else []
        edges += [{"child_id": row["id"], "parent_id": parent} for parent in parents]
        failed = [p for p in parents if status_of.get(p) in FAILED]
        if failed and not row.get("allow_failed_parents"):
            msg = f"job {failed[0]} already ended {status_of[failed[0]]}"
            raise Conflict(f"{'.'.join(map(str, [*prefix, 'after']))}: {msg}; submit with allow_failed_parents=true "
                           "to run anyway", errors=[{"loc": [*prefix, "after"], "msg": msg}])  # fmt: skip
        if any(status_of.get(p) not in FINAL for p in parents):
            row.update(status=JobStatus.WAITING.value, queued_at=None)
            continue
        resolved, problem = _resolve(row.get("input_refs") or {}, status_of, outputs)
        if problem is not None:
            name, msg = problem
            raise ValidationFailed.field([*prefix, "inputs", name], msg)
        row["inputs"] = {**row["inputs"], **resolved}
    return edges


def insert_edges(conn: Connection, edges: list[dict[str, str]]) -> None:
    if edges:
        conn.execute(insert(deps), edges)


# -- settling ------------------------------------------------------------------------------------------


#: Built once: this runs in every outcome transaction, nearly always finding nothing, and building
#: the statement per call cost three times what running it does (measured on SQLite: 140 -> 40 µs).
_CHILDREN_OF = select(deps.c.child_id).where(deps.c.parent_id.in_(bindparam("p_ids", expanding=True)))


def settle_children(conn: Connection, parent_ids: Iterable[str], now: datetime) -> Settled:
    """Children of ``parent_ids`` (just made final) whose parents are now all final, settled; transitively."""
    settled = Settled()
    frontier = sorted(set(parent_ids))
    while frontier:
        children: set[str] = set()
        for chunk in _chunks(frontier, 1000):
            children |= set(conn.scalars(_CHILDREN_OF, {"p_ids": chunk}))
        frontier = settle(conn, sorted(children), now, settled, because=set(frontier))
    return settled


def settle(conn: Connection, child_ids: list[str], now: datetime, settled: Settled,
           because: set[str] | None = None) -> list[str]:  # fmt: skip
    """Settle those of ``child_ids`` still WAITING whose parents are all final; returns those that ended."""
    if not child_ids:
        return []
    locked: dict[str, Any] = {}
    for chunk in _chunks(child_ids, 1000):
        query = (select(jobs.c.id, jobs.c.priority, jobs.c.allow_failed_parents, jobs.c.input_refs, jobs.c.inputs,
                        jobs.c.scheduled_at).where(jobs.c.id.in_(chunk), jobs.c.status == JobStatus.WAITING.value).order_by(jobs.c.id))  # fmt: skip
        locked.update({row.id: row for row in conn.execute(query.with_for_update())})
    if not locked:
        return []
    # Later statements than the lock: they see what committed before it. First which children still
    # have an unfinished parent (a semi-join that stops at the first one found: a fan-in of a thousand
    # costs each finishing parent a probe, not a read of all its siblings), then, for the ready ones
    # only, every parent's status.
    parent = jobs.alias("parent")
    blocked: set[str] = set()
    for chunk in _chunks(sorted(locked), 1000):
        unfinished = (select(deps.c.child_id).join(parent, parent.c.id == deps.c.parent_id)
                      .where(deps.c.child_id == jobs.c.id, parent.c.status.not_in(sorted(FINAL))))  # fmt: skip
        blocked |= set(conn.scalars(select(jobs.c.id).where(jobs.c.id.in_(chunk), exists(unfinished))))
    parents: dict[str, list[tuple[str, str]]] = {}
    for chunk in _chunks(sorted(set(locked) - blocked), 1000):
        query = (select(deps.c.child_id, deps.c.parent_id, jobs.c.status)
                 .join(jobs, jobs.c.id == deps.c.parent_id).where(deps.c.child_id.in_(chunk)))  # fmt: skip
        for edge in conn.execute(query):
            parents.setdefault(edge.child_id, []).append((edge.parent_id, edge.status))
    candidates = {cid: parents.get(cid, []) for cid in locked if cid not in blocked}  # no edge left: ready
    ready = {cid: ps for cid, ps in candidates.items() if all(status in FINAL for _, status in ps)}
    status_of = {pid: status for ps in ready.values() for pid, status in ps}
    ref_jobs = {ref["job"] for cid in ready for ref in (locked[cid].input_refs or {}).values()}
    outputs = _outputs(conn, sorted(p for p in ref_jobs if status_of.get(p) == JobStatus.SUCCESS.value))
    released: list[dict[str, Any]] = []  # with inputs resolved from parents' outputs: a row each
    unchanged: list[str] = []  # the rest (a fan-out's children): one UPDATE for them all
    ended: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for child_id in sorted(ready):
        row = locked[child_id]
        failed = sorted((pid for pid, status in ready[child_id] if status in FAILED),
                        key=lambda pid: (pid not in (because or ()), pid))  # fmt: skip
        if failed and not row.allow_failed_parents:
            error = f"{DEPENDENCY_FAILED}{failed[0]}"
            ended.append({"b_id": child_id, "b_status": JobStatus.CANCELLED.value, "b_error": error})
            lines.append(event_values(child_id, f"cancelled: {error} (it ended {status_of[failed[0]]})", now=now,
                                      level="WARNING", source="workflow"))  # fmt: skip
            continue
        resolved, problem = _resolve(row.input_refs or {}, status_of, outputs)
        if problem is not None:
            error = f"input {problem[0]!r}: {problem[1]}"
            ended.append({"b_id": child_id, "b_status": JobStatus.FAILURE.value, "b_error": error})
            lines.append(event_values(child_id, f"failed before it started: {error}", now=now, level="WARNING",
                                      source="workflow"))  # fmt: skip
            continue
        if resolved:
            released.append({"b_id": child_id, "b_inputs": {**(row.inputs or {}), **resolved}})
        else:
            unchanged.append(child_id)
        lines.append(event_values(child_id, f"released: its {len(ready[child_id])} parent(s) finished", now=now,
                                  source="workflow"))  # fmt: skip
        if row.scheduled_at is None or row.scheduled_at <= now:  # a delayed child waits on for the firing loop
            settled.released.append((child_id, row.priority))
    for chunk in _chunks(unchanged, 1000):
        conn.execute(
            update(jobs).where(jobs.c.id.in_(chunk), jobs.c.status == JobStatus.WAITING.value)
            .values(status=JobStatus.PENDING.value, queued_at=_queued_at(now))
        )  # fmt: skip
    if released:
        conn.execute(
            update(jobs).where(jobs.c.id == bindparam("b_id"), jobs.c.status == JobStatus.WAITING.value)
            .values(status=JobStatus.PENDING.value, queued_at=_queued_at(now), inputs=bindparam("b_inputs")), released,
        )  # fmt: skip
    if ended:
        conn.execute(
            update(jobs).where(jobs.c.id == bindparam("b_id"), jobs.c.status == JobStatus.WAITING.value)
            .values(status=bindparam("b_status"), error=bindparam("b_error"), finished_at=now), ended,
        )  # fmt: skip
    if lines:
        conn.execute(insert(JobEvent), lines)
    settled.ended += [item["b_id"] for item in ended]
    return [item["b_id"] for item in ended]


def _queued_at(now: datetime) -> Any:
    """On the queue now, unless the job was also delayed to a later time (then it stays off, OFF_QUEUE)."""
    return case((and_(jobs.c.scheduled_at.is_not(None), jobs.c.scheduled_at > now), null()), else_=now)


def release_stranded(conn: Connection, now: datetime, limit: int = 500) -> Settled:
    """WAITING jobs none of whose parents is unfinished: settled now (the sweeper's safety net)."""
    parent = jobs.alias("parent")
    unfinished = (select(deps.c.child_id).join(parent, parent.c.id == deps.c.parent_id)
                  .where(deps.c.child_id == jobs.c.id, parent.c.status.not_in(sorted(FINAL))))  # fmt: skip
    query = select(jobs.c.id).where(jobs.c.status == JobStatus.WAITING.value, ~exists(unfinished)).limit(limit)
    stranded = list(conn.scalars(query))
    settled = Settled()
    ended = settle(conn, sorted(stranded), now, settled)
    if ended:
        settled.merge(settle_children(conn, ended, now))
    return settled


def cancel_waiting(conn: Connection, job_id: str, now: datetime, *, source: str = "api") -> bool:
    """A WAITING job cancelled by its owner: CANCELLED now (its children are settled by the caller)."""
    done = conn.execute(
        update(jobs).where(jobs.c.id == job_id, jobs.c.status == JobStatus.WAITING.value)
        .values(status=JobStatus.CANCELLED.value, finished_at=now, cancel_requested=True)
    ).rowcount  # fmt: skip
    if done:
        conn.execute(insert(JobEvent), [event_values(job_id, "cancelled while waiting for its parents", now=now,
                                                     source=source)])  # fmt: skip
    return bool(done)


# -- re-arming -------------------------------------------------------------------------------------------


def rearm(conn: Connection, old_parent: str, new_parent: str, now: datetime) -> list[str]:
    """Children cancelled because ``old_parent`` failed wait again, for its retry ``new_parent``; transitively.

    Their edge moves from the failed job to its retry; their own children cancelled because of them
    wait for them again. The retry has the failed job's parents, so no cycle can form; a child that
    is an ancestor of the retry is refused all the same (a hand-edited database must not loop).
    """
    direct = list(conn.scalars(
        select(jobs.c.id).join(deps, deps.c.child_id == jobs.c.id)
        .where(deps.c.parent_id == old_parent, jobs.c.status == JobStatus.CANCELLED.value,
               jobs.c.error == f"{DEPENDENCY_FAILED}{old_parent}").order_by(jobs.c.id)
    ))  # fmt: skip
    if not direct:
        return []
    if set(direct) & _ancestors(conn, new_parent):
        raise Conflict("rearm_children: a child is also an ancestor of the retry (a cycle)",
                       errors=[{"loc": ["rearm_children"], "msg": "would make a cycle"}])  # fmt: skip
    conn.execute(update(deps).where(deps.c.parent_id == old_parent, deps.c.child_id.in_(direct))
                 .values(parent_id=new_parent))  # fmt: skip
    rearmed: list[str] = []
    frontier = [(child, old_parent) for child in direct]
    while frontier:
        lines = [event_values(child, f"re-armed: waits again, for {new_parent if cause == old_parent else cause}"
                              f"{' (the retry of ' + old_parent + ')' if cause == old_parent else ''}",
                              now=now, source="workflow") for child, cause in frontier]  # fmt: skip
        conn.execute(
            update(jobs).where(jobs.c.id == bindparam("b_id"), jobs.c.status == JobStatus.CANCELLED.value)
            .values(status=JobStatus.WAITING.value, error=None, finished_at=None, cancel_requested=False,
                    queued_at=None),
            [{"b_id": child} for child, _ in frontier],
        )  # fmt: skip
        conn.execute(insert(JobEvent), lines)
        rearmed += [child for child, _ in frontier]
        causes = [child for child, _ in frontier]
        found = conn.execute(
            select(jobs.c.id, jobs.c.error).join(deps, deps.c.child_id == jobs.c.id)
            .where(deps.c.parent_id.in_(causes), jobs.c.status == JobStatus.CANCELLED.value,
                   jobs.c.error.startswith(DEPENDENCY_FAILED))
        ).all()  # fmt: skip
        frontier = sorted({(cid, err[len(DEPENDENCY_FAILED):]) for cid, err in found
                           if err[len(DEPENDENCY_FAILED):] in causes and cid not in rearmed})  # fmt: skip
    return rearmed


def _ancestors(conn: Connection, job_id: str) -> set[str]:
    seen: set[str] = set()
    frontier = [job_id]
    while frontier:
        found = set(conn.scalars(select(deps.c.parent_id).where(deps.c.child_id.in_(frontier)))) - seen
        seen |= found
        frontier = sorted(found)
    return seen


# -- reading ----------------------------------------------------------------------------------------------


def links(session: Any, job_ids: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Parents and children of each job (ids, sorted): two indexed queries for a page of jobs."""
    parents: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    if not job_ids:
        return parents, children
    for child, parent in session.execute(select(deps.c.child_id, deps.c.parent_id)
                                         .where(deps.c.child_id.in_(job_ids)).order_by(deps.c.parent_id)):  # fmt: skip
        parents.setdefault(child, []).append(parent)
    for parent, child in session.execute(select(deps.c.parent_id, deps.c.child_id)
                                         .where(deps.c.parent_id.in_(job_ids)).order_by(deps.c.child_id)):  # fmt: skip
        children.setdefault(parent, []).append(child)
    return parents, children


def _outputs(conn: Connection, job_ids: list[str]) -> dict[tuple[str, str], str]:
    """(job id, filename) -> artifact id of each AVAILABLE output (the newest, should a name repeat)."""
    found: dict[tuple[str, str], str] = {}
    for chunk in _chunks(job_ids, 1000):
        query = (select(artifacts.c.job_id, artifacts.c.filename, artifacts.c.id)
                 .where(and_(artifacts.c.job_id.in_(chunk), artifacts.c.status == ArtifactStatus.AVAILABLE.value))
                 .order_by(artifacts.c.created_at))  # fmt: skip
        found.update({(job_id, filename): artifact_id for job_id, filename, artifact_id in conn.execute(query)})
    return found


def _resolve(refs: Mapping[str, Mapping[str, str]], status_of: Mapping[str, str],
             outputs: Mapping[tuple[str, str], str]) -> tuple[dict[str, str], tuple[str, str] | None]:  # fmt: skip
    """Refs as artifact ids, or the first (input name, reason) that cannot be resolved."""
    resolved: dict[str, str] = {}
    for name, ref in sorted(refs.items()):
        parent, output = ref["job"], ref["output"]
        if parent not in status_of:
            return {}, (name, f"job {parent} was deleted, and its output {output!r} with it")
        if status_of[parent] != JobStatus.SUCCESS.value:
            return {}, (name, f"job {parent} ended {status_of[parent]}, so it has no output {output!r}")
        artifact_id = outputs.get((parent, output))
        if artifact_id is None:
            return {}, (name, f"job {parent} succeeded without an output named {output!r}")
        resolved[name] = artifact_id
    return resolved, None


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = [
    "DEPENDENCY_FAILED", "MAX_PARENTS", "Settled", "cancel_waiting", "checked_parents", "insert_edges", "links",
    "place", "rearm", "release_stranded", "settle", "settle_children", "split_inputs",
]  # fmt: skip
