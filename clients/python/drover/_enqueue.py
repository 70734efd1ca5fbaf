"""drover.enqueue: insert a job in the caller's transaction."""

import json
import time

_COLUMNS = ("type", "queue", "payload", "priority", "run_at", "max_attempts", "unique_key", "resource",
            "expires_at")


def _paramstyle(conn):
    """'?' for sqlite3 connections, '%s' for psycopg (3) and psycopg2 ones."""
    module = type(conn).__module__
    if module.startswith("sqlite3"):
        return "?", False
    if module.startswith("psycopg"):
        return "%s", True
    raise TypeError("drover.enqueue takes a sqlite3, psycopg or psycopg2 connection, not %s.%s"
                    % (module, type(conn).__name__))


def enqueue(conn, type, payload=None, *, queue="default", priority=0, delay=None, run_at=None,
            unique_key=None, max_attempts=None, resource=None, expires_in=None, schema="drover"):
    """Inserts a job of `type` and returns its id. Does not commit: the job exists once the
    caller's transaction commits (and is gone if it rolls back).

    payload: any JSON-serialisable value (default {}).
    delay / run_at: seconds from now, or a Unix time in seconds, before which it does not start.
    unique_key: while a job of this type with this key is queued or running, no other is
      inserted; the id of that job is returned instead.
    expires_in: seconds; a job not started by then expires instead of running.
    schema: on PostgreSQL, the schema drover's tables are in ([supervisor] schema).
    """
    if not isinstance(type, str) or not type:
        raise ValueError("type must be a non-empty string")
    if not isinstance(queue, str) or not queue:
        raise ValueError("queue must be a non-empty string")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValueError("priority must be an integer")
    if delay is not None and run_at is not None:
        raise ValueError("give delay or run_at, not both")
    if unique_key is not None and (not isinstance(unique_key, str) or not unique_key):
        raise ValueError("unique_key must be a non-empty string")
    if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
        raise ValueError("max_attempts must be an integer of at least 1")
    text = json.dumps({} if payload is None else payload, separators=(",", ":"), allow_nan=False)
    if len(text.encode()) > 1 << 20:
        raise ValueError("payload is over 1 MiB of JSON")
    now = time.time()
    start = now + delay if delay is not None else run_at if run_at is not None else now
    values = {
        "type": type,
        "queue": queue,
        "payload": text,
        "priority": priority,
        "run_at": int(start * 1000),
        "max_attempts": max_attempts,
        "unique_key": unique_key,
        "resource": resource,
        "expires_at": int((now + expires_in) * 1000) if expires_in is not None else None,
    }
    columns = [c for c in _COLUMNS if values[c] is not None]
    mark, postgres = _paramstyle(conn)
    table = ('"%s".jobs' % schema.replace('"', '""')) if postgres else "jobs"
    sql = "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING" % (
        table, ", ".join(columns), ", ".join([mark] * len(columns)))
    cur = conn.cursor()
    try:
        if postgres:
            cur.execute(sql + " RETURNING id", [values[c] for c in columns])
            row = cur.fetchone()
            if row is not None:
                return row[0]
        else:
            cur.execute(sql, [values[c] for c in columns])
            if cur.rowcount == 1:
                return cur.lastrowid
        # Not inserted: a job with this unique key is queued or running.
        cur.execute("SELECT id FROM %s WHERE type = %s AND unique_key = %s AND state IN ('queued', 'running')"
                    % (table, mark, mark), [type, unique_key])
        row = cur.fetchone()
        return row[0] if row is not None else None
    finally:
        cur.close()
