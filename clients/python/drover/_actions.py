"""drover.cancel, retry, delete and reschedule: droverctl's job actions on the application's
connection, in its transaction (they take effect when the caller commits).

Each statement carries its own state guard, so a worker that claims or ends the job meanwhile
makes it change nothing, never the wrong thing; the store (jobs/store/*_store_admin.cc) writes
the same rows.
"""

import time

from drover._enqueue import _MAX_SECONDS, _check_id, _on


class StateError(ValueError):
    """The job is not in a state the action takes (or its unique key is held, for a retry)."""


def _prepared(conn, id, schema):
    _check_id(id)
    conn, mark, postgres, name = _on(conn, schema)
    return conn, mark, postgres, name("jobs")


def _run(conn, sql, params):
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return cur.rowcount
    finally:
        cur.close()


def _state(conn, table, mark, id):
    cur = conn.cursor()
    try:
        cur.execute("SELECT state FROM %s WHERE id = %s" % (table, mark), [id])
        row = cur.fetchone()
    finally:
        cur.close()
    if row is None:
        raise LookupError("no job %d" % id)
    return row[0]


def _now_ms():
    return int(time.time() * 1000)


def cancel(conn, id, *, schema="drover"):
    """Cancels job `id`: a queued job at once ("cancelled"); a running one is asked to stop, its
    process group gets SIGTERM, then SIGKILL after kill_after ("running" is returned). StateError
    for a job that has already ended, LookupError for none."""
    conn, mark, postgres, table = _prepared(conn, id, schema)
    if _run(conn, "UPDATE %s SET state = 'cancelled', finished_at = %s, last_error = 'cancelled' "
                  "WHERE id = %s AND state = 'queued'" % (table, mark, mark), [_now_ms(), id]) == 1:
        return "cancelled"
    flag = "true" if postgres else "1"
    if _run(conn, "UPDATE %s SET cancel_requested = %s WHERE id = %s AND state = 'running'" % (table, flag, mark),
            [id]) == 1:
        return "running"
    raise StateError("job %d is already %s" % (id, _state(conn, table, mark, id)))


def retry(conn, id, *, schema="drover"):
    """Queues a failed, cancelled or expired job again with fresh attempts. StateError for any
    other state, or while another queued or running job holds its unique key."""
    conn, mark, postgres, table = _prepared(conn, id, schema)
    flag = "false" if postgres else "0"
    changed = _run(conn, (
        "UPDATE %s AS j SET state = 'queued', run_at = %s, attempts = 0, finished_at = NULL, expires_at = NULL, "
        "cancel_requested = %s, lease_until = NULL, pid = NULL "
        "WHERE id = %s AND state IN ('failed', 'cancelled', 'expired') AND (unique_key IS NULL OR NOT EXISTS "
        "(SELECT 1 FROM %s o WHERE o.type = j.type AND o.unique_key = j.unique_key "
        "AND o.state IN ('queued', 'running')))") % (table, mark, flag, mark, table),
        [_now_ms(), id])
    if changed == 1:
        return
    state = _state(conn, table, mark, id)
    if state not in ("failed", "cancelled", "expired"):
        raise StateError("job %d is %s; only failed, cancelled or expired jobs can be retried" % (id, state))
    raise StateError("job %d: another queued or running job holds its unique key" % id)


def delete(conn, id, *, schema="drover"):
    """Deletes a job that is not running (cancel it first). StateError for a running job,
    LookupError for none."""
    conn, mark, _, table = _prepared(conn, id, schema)
    if _run(conn, "DELETE FROM %s WHERE id = %s AND state <> 'running'" % (table, mark), [id]) == 1:
        return
    raise StateError("job %d is %s; cancel it first" % (id, _state(conn, table, mark, id)))


def reschedule(conn, id, run_at, *, schema="drover"):
    """Moves a queued job's earliest start to `run_at` (Unix seconds). StateError for a job that
    is not queued (running or ended), LookupError for none."""
    if isinstance(run_at, bool) or not isinstance(run_at, (int, float)) or not 0 <= run_at < _MAX_SECONDS:
        raise ValueError("run_at is a Unix time in seconds before the year 9999: %r" % (run_at,))
    conn, mark, postgres, table = _prepared(conn, id, schema)
    if _run(conn, "UPDATE %s SET run_at = %s WHERE id = %s AND state = 'queued'" % (table, mark, mark),
            [int(run_at * 1000), id]) == 1:
        if postgres:
            # An earlier start must wake the nodes' idle workers, as a new job does (SQLite's commit
            # wakes them by itself).
            _run(conn, "SELECT pg_notify(%s, '')" % mark, [schema + ".jobs"])
        return
    raise StateError("job %d is %s; only a queued job can be rescheduled" % (id, _state(conn, table, mark, id)))
