"""drover.enqueue: insert a job in the caller's transaction."""

import json
import time

_MAX_SECONDS = 253402300800  # 10000-01-01T00:00:00Z: times and spans stay below it

_COLUMNS = ("type", "queue", "payload", "priority", "run_at", "max_attempts", "unique_key", "resource",
            "expires_at")


def dbapi_connection(conn):
    """The DB-API connection under `conn`: a sqlite3, psycopg or psycopg2 connection as it is;
    Django's `django.db.connection` (or `connections[alias]`), a SQLAlchemy Connection or
    Session: the driver connection the caller's transaction is on (a Session's, begun if needed)."""
    module = type(conn).__module__
    if module.startswith("django."):
        if not hasattr(conn, "ensure_connection"):  # a ConnectionProxy forwards; this is something else
            raise TypeError("%s.%s is not a Django database connection" % (module, type(conn).__name__))
        conn.ensure_connection()
        return conn.connection
    if module.startswith("sqlalchemy."):
        if callable(getattr(conn, "connection", None)):  # a Session: the Connection of its transaction
            conn = conn.connection()
        fairy = conn.connection  # the pool's proxy around the driver's connection
        return getattr(fairy, "dbapi_connection", None) or fairy.connection
    return conn


def _check_id(id):
    if not isinstance(id, int) or isinstance(id, bool):
        raise ValueError("id must be an integer")


def _on(conn, schema):
    """(the DB-API connection, its placeholder, whether it is PostgreSQL, a function naming one of
    drover's tables for it: in `schema` on PostgreSQL)."""
    conn = dbapi_connection(conn)
    mark, postgres = _paramstyle(conn)
    prefix = ('"%s".' % schema.replace('"', '""')) if postgres else ""
    return conn, mark, postgres, lambda name: prefix + name


def _paramstyle(conn):
    """'?' for sqlite3 connections, '%s' for psycopg (3) and psycopg2 ones."""
    module = type(conn).__module__
    if module.startswith("sqlite3"):
        return "?", False
    if module.startswith("psycopg"):
        return "%s", True
    raise TypeError("drover takes a sqlite3, psycopg or psycopg2 connection, Django's connection or a SQLAlchemy "
                    "Connection or Session, not %s.%s" % (module, type(conn).__name__))


class UnknownJobType(ValueError):
    """The job type is not one droverd's configuration defines ([jobs.T])."""


def unique_key_for(type, payload):
    """The key a `unique = true` type's job gets: its type and a hash of its payload with sorted
    keys (droverctl and the socket compute the same, so each path finds the others' jobs)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # FNV-1a's 64-bit scheme from the basis jobs/job_json.cc has used since its first release (not
    # the standard 14695981039346656037): keys already in databases stay what they were.
    h = 1469598103934665603
    for byte in canonical.encode():
        h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff
    return "%s:%016x" % (type, h)


def _type_defaults(cur, table, mark, type):
    """(queue, priority, max_attempts, unique) from the job_types table droverd keeps."""
    try:
        cur.execute("SELECT queue, priority, max_attempts, is_unique FROM %s WHERE type = %s" % (table, mark),
                    [type])
    except Exception as e:
        if "job_types" in str(e):
            raise RuntimeError("drover's job_types table is missing: start droverd of this client's version "
                               "once on this database (%s)" % e) from e
        raise
    row = cur.fetchone()
    if row is None:
        cur.execute("SELECT type FROM %s ORDER BY type" % table)
        names = ", ".join(r[0] for r in cur.fetchall()) or "none"
        raise UnknownJobType("unknown job type %r: droverd's configuration has no [jobs.%s] (known: %s)"
                             % (type, type, names))
    return row[0], row[1], row[2], bool(row[3])


def enqueue(conn, type, payload=None, *, queue=None, priority=None, delay=None, run_at=None,
            unique_key=None, max_attempts=None, resource=None, expires_in=None, schema="drover"):
    """Inserts a job of `type` and returns its id. Does not commit: the job exists once the
    caller's transaction commits (and is gone if it rolls back).

    conn: a sqlite3, psycopg or psycopg2 connection, Django's `django.db.connection`, or a
      SQLAlchemy Connection or Session. On SQLite the application's tables must be in drover's
      database file for the job to share their transaction; on PostgreSQL, in the same database.

    queue, priority, max_attempts: default to the type's ([jobs.T] in droverd's configuration,
      which droverd keeps in the job_types table); a type it does not define raises
      UnknownJobType. A `unique = true` type gets unique_key_for(type, payload) unless a
      unique_key is given.
    payload: any JSON-serialisable value (default {}).
    delay / run_at: seconds from now, or a Unix time in seconds, before which it does not start.
    unique_key: while a job of this type with this key is queued or running, no other is
      inserted; the id of that job is returned instead.
    expires_in: seconds; a job not started by then expires instead of running.
    schema: on PostgreSQL, the schema drover's tables are in ([supervisor] schema).
    """
    if not isinstance(type, str) or not type:
        raise ValueError("type must be a non-empty string")
    if queue is not None and (not isinstance(queue, str) or not queue):
        raise ValueError("queue must be a non-empty string")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise ValueError("priority must be an integer")
    if delay is not None and run_at is not None:
        raise ValueError("give delay or run_at, not both")
    for name, seconds in (("delay", delay), ("expires_in", expires_in)):
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                    or not 0 <= seconds < _MAX_SECONDS):
            raise ValueError("%s is seconds from now, at least 0: %r" % (name, seconds))
    if run_at is not None and (isinstance(run_at, bool) or not isinstance(run_at, (int, float))
                               or not 0 <= run_at < _MAX_SECONDS):
        # A time in milliseconds would be a start in the year ~58,000.
        raise ValueError("run_at is a Unix time in seconds before the year 9999: %r" % (run_at,))
    if unique_key is not None and (not isinstance(unique_key, str) or not unique_key):
        raise ValueError("unique_key must be a non-empty string")
    if unique_key is not None and unique_key.startswith("schedule:"):
        raise ValueError('unique keys starting with "schedule:" belong to the scheduler\'s runs')
    if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
        raise ValueError("max_attempts must be an integer of at least 1")
    payload = {} if payload is None else payload
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    if len(text.encode()) > 1 << 20:
        raise ValueError("payload is over 1 MiB of JSON")
    now = time.time()
    start = now + delay if delay is not None else run_at if run_at is not None else now
    conn, mark, postgres, name = _on(conn, schema)
    table = name("jobs")
    cur = conn.cursor()
    try:
        type_queue, type_priority, type_attempts, type_unique = _type_defaults(cur, name("job_types"), mark,
                                                                              type)
        if unique_key is None and type_unique:
            unique_key = unique_key_for(type, payload)
        values = {
            "type": type,
            "queue": type_queue if queue is None else queue,
            "payload": text,
            "priority": type_priority if priority is None else priority,
            "run_at": int(start * 1000),
            "max_attempts": type_attempts if max_attempts is None else max_attempts,
            "unique_key": unique_key,
            "resource": resource,
            "expires_at": int((now + expires_in) * 1000) if expires_in is not None else None,
        }
        columns = [c for c in _COLUMNS if values[c] is not None]
        sql = "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING" % (
            table, ", ".join(columns), ", ".join([mark] * len(columns)))
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


def enqueue_many(conn, jobs, *, schema="drover"):
    """Enqueues each of `jobs` (dicts of enqueue's arguments: {"type": ..., "payload": ...,
    "delay": ...}) in the caller's transaction, in order; returns their ids (for a unique key
    already held, the holder's id, as enqueue does). Nothing is inserted when one is refused, as
    long as the caller rolls back on the exception."""
    ids = []
    for n, job in enumerate(jobs):
        if not isinstance(job, dict) or "type" not in job:
            raise ValueError("jobs[%d] is not a dict with a \"type\"" % n)
        ids.append(enqueue(conn, **dict(job, schema=job.get("schema", schema))))
    return ids
