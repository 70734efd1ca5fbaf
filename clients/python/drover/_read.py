"""drover.get and drover.jobs: read jobs on the application's own connection."""

import datetime
import json
from dataclasses import dataclass
from typing import Any, List, Optional

from drover._enqueue import _check_id, _on

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")

_COLUMNS = ("id, type, queue, state, priority, attempts, max_attempts, payload, run_at, expires_at, enqueued_at, "
            "started_at, finished_at, unique_key, resource, worker, result, last_error, errors, progress, "
            "progress_message, checkpoint, cancel_requested")


@dataclass(frozen=True)
class JobInfo:
    """One job as the table holds it. Times are Unix seconds (float), None when not reached;
    payload, result and checkpoint are decoded JSON (a result that is not JSON, such as a
    command's plain output, stays a string); errors has one {"attempt", "at", "error"} per failed
    or interrupted attempt, oldest first."""
    id: int
    type: str
    queue: str
    state: str
    priority: int
    attempts: int
    max_attempts: int
    payload: Any
    run_at: float
    expires_at: Optional[float]
    enqueued_at: float
    started_at: Optional[float]
    finished_at: Optional[float]
    unique_key: Optional[str]
    resource: Optional[str]
    worker: Optional[str]
    result: Any
    last_error: Optional[str]
    errors: List[dict]
    progress: Optional[float]
    progress_message: Optional[str]
    checkpoint: Any
    cancel_requested: bool


def _decoded(value):
    """JSON text decoded (PostgreSQL's drivers decode json/jsonb columns themselves)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _seconds(ms):
    return None if ms is None else ms / 1000.0


def _job(row):
    errors = _decoded(row[18])
    if not isinstance(errors, list):
        errors = []
    errors = [dict(e, at=_seconds(e["at"])) if isinstance(e, dict) and isinstance(e.get("at"), int) else e
              for e in errors]
    return JobInfo(id=row[0], type=row[1], queue=row[2], state=row[3], priority=row[4], attempts=row[5],
                   max_attempts=row[6], payload=_decoded(row[7]), run_at=_seconds(row[8]),
                   expires_at=_seconds(row[9]), enqueued_at=_seconds(row[10]), started_at=_seconds(row[11]),
                   finished_at=_seconds(row[12]), unique_key=row[13], resource=row[14], worker=row[15],
                   result=_decoded(row[16]), last_error=row[17], errors=errors, progress=row[19],
                   progress_message=row[20], checkpoint=_decoded(row[21]), cancel_requested=bool(row[22]))



def get(conn, id, *, schema="drover"):
    """The job `id` as a JobInfo, or None when there is no such job (never enqueued, or deleted)."""
    _check_id(id)
    conn, mark, _, name = _on(conn, schema)
    table = name("jobs")
    cur = conn.cursor()
    try:
        cur.execute("SELECT %s FROM %s WHERE id = %s" % (_COLUMNS, table, mark), [id])
        row = cur.fetchone()
        return None if row is None else _job(row)
    finally:
        cur.close()


def _names(what, value):
    """A filter's values: one string or an iterable of them; None for no filter."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError("%s takes a non-empty string or a non-empty list of them" % what)
    return values


def _epoch_ms(what, value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("%s: give an aware datetime (with tzinfo), not a naive one" % what)
        return int(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("%s is a Unix time in seconds or an aware datetime" % what)
    return int(value * 1000)


def jobs(conn, *, type=None, state=None, queue=None, resource=None, before=None, after=None, limit=100,
         cursor=None, schema="drover"):
    """Jobs that match every filter given, newest first, at most `limit` (1 to 1000).

    type, state, queue, resource: one value or a list of them (any of which matches).
    before / after: enqueued before / after this time (Unix seconds or an aware datetime).
    cursor: the id of the last job of the previous page; this page holds older jobs.
    """
    types, queues, resources = _names("type", type), _names("queue", queue), _names("resource", resource)
    states = _names("state", state)
    for s in states or ():
        if s not in STATES:
            raise ValueError("unknown state %r (one of %s)" % (s, ", ".join(STATES)))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError("limit is an integer from 1 to 1000")
    if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, int)):
        raise ValueError("cursor is a job id (the last of the previous page)")
    conn, mark, _, name = _on(conn, schema)
    table = name("jobs")
    where, params = [], []
    if states:
        # Written out (checked names above): a state's partial index serves only a literal.
        where.append("state IN (%s)" % ", ".join("'%s'" % s for s in states))
    for column, values in (("type", types), ("queue", queues), ("resource", resources)):
        if values:
            where.append("%s IN (%s)" % (column, ", ".join([mark] * len(values))))
            params.extend(values)
    for bound, value in (("enqueued_at < %s", _epoch_ms("before", before)),
                         ("enqueued_at > %s", _epoch_ms("after", after)), ("id < %s", cursor)):
        if value is not None:
            where.append(bound % mark)
            params.append(value)
    sql = "SELECT %s FROM %s%s ORDER BY id DESC LIMIT %d" % (
        _COLUMNS, table, (" WHERE " + " AND ".join(where)) if where else "", limit)
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return [_job(row) for row in cur.fetchall()]
    finally:
        cur.close()
