"""drover.wait: block until a job ends, woken by the database rather than by polling.

SQLite: inotify on the database's directory (a commit writes the -wal file), then one read of the
job. PostgreSQL: LISTEN on the schema's ".done" channel, which a trigger notifies once per
transaction that ends jobs. Either way a re-read every few seconds covers what sends no wake-up
(a job deleted while waited for).
"""

import ctypes
import ctypes.util
import os
import select
import sqlite3
import struct
import time

from drover._enqueue import _check_id
from drover._read import get

FINAL_STATES = ("succeeded", "failed", "cancelled", "expired")
_RECHECK_SECONDS = 2.0

_IN_MODIFY = 0x00000002
_IN_CREATE = 0x00000100
_IN_MOVED_TO = 0x00000080
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000


class _DirectoryWatch:
    """inotify on one directory: readable when a file in it was written or created."""

    def __init__(self, directory):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self.fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1: " + os.strerror(ctypes.get_errno()))
        if libc.inotify_add_watch(self.fd, os.fsencode(directory), _IN_MODIFY | _IN_CREATE | _IN_MOVED_TO) < 0:
            err = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(err, "inotify_add_watch %s: %s" % (directory, os.strerror(err)))

    def changed(self, names):
        """Drains the events that have come; True when one of them is for one of `names`."""
        data = b""
        try:
            while True:
                data += os.read(self.fd, 65536)
        except BlockingIOError:
            pass
        at, hit = 0, False
        while at + 16 <= len(data):
            _, _, _, length = struct.unpack_from("iIII", data, at)
            hit = hit or data[at + 16:at + 16 + length].rstrip(b"\0") in names
            at += 16 + length
        return hit

    def wait(self, seconds, names):
        """True when one of `names` changed within `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return False
            if self.changed(names):
                return True

    def close(self):
        os.close(self.fd)


def _ended(job):
    return job is None or job.state in FINAL_STATES


def _left(deadline, id, job, timeout):
    """Seconds to sleep before the next read; TimeoutError once the deadline has passed."""
    if deadline is None:
        return _RECHECK_SECONDS
    left = min(_RECHECK_SECONDS, deadline - time.monotonic())
    if left <= 0:
        raise TimeoutError("job %d is still %s after %s s" % (id, job.state, timeout))
    return left


def _sqlite_reader(path):
    """(a connection of the wait's own, the directory to watch, the file names that tell a commit)."""
    if not os.path.exists(path):
        raise FileNotFoundError("no database at %s" % path)
    directory, base = os.path.split(os.path.abspath(path))
    names = {os.fsencode(base + suffix) for suffix in ("", "-wal")}
    # Autocommit: each read sees the latest commit.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn, directory, names


def _wait_sqlite(path, id, timeout):
    conn, directory, names = _sqlite_reader(path)
    try:
        watch = _DirectoryWatch(directory)  # before the first read: no commit falls between
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                job = get(conn, id)
                if _ended(job):
                    return job
                watch.wait(_left(deadline, id, job, timeout), names)
        finally:
            watch.close()
    finally:
        conn.close()


def _wait_postgres(conn, id, timeout, schema):
    channel = '"%s"' % (schema + ".done").replace('"', '""')
    psycopg2 = type(conn).__module__.startswith("psycopg2")
    heard = []  # psycopg 3: notifications arrive through a handler, during any query
    if not psycopg2:
        handler = heard.append
        conn.add_notify_handler(handler)
    cur = conn.cursor()
    try:
        cur.execute("LISTEN " + channel)  # before the first read: no end falls between
    finally:
        cur.close()
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            del heard[:]
            if psycopg2:
                del conn.notifies[:]
            job = get(conn, id, schema=schema)
            if _ended(job):
                return job
            if heard or (psycopg2 and conn.notifies):
                continue  # an end committed while that read ran: read again
            left = _left(deadline, id, job, timeout)
            if select.select([conn.fileno()], [], [], left)[0] and psycopg2:
                conn.poll()
    finally:
        if not psycopg2:
            conn.remove_notify_handler(handler)
        cur = conn.cursor()
        try:
            cur.execute("UNLISTEN " + channel)
        finally:
            cur.close()


def wait(target, id, timeout=None, *, schema="drover"):
    """Blocks until job `id` has ended (succeeded, failed, cancelled or expired) and returns it as a
    JobInfo; None when there is no such job. TimeoutError after `timeout` seconds (None: no limit).

    target: the SQLite database's path, a sqlite3 connection to it (only its path is used: the
    wait reads on a connection of its own, so the caller's open transaction does not hide the
    end), or a psycopg / psycopg2 connection in autocommit mode (it LISTENs on it).
    """
    _check(id, timeout)
    path = _sqlite_path(target)
    if path is not None:
        return _wait_sqlite(path, id, timeout)
    return _wait_postgres(_listening_connection(target), id, timeout, schema)


def _check(id, timeout):
    _check_id(id)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
        raise ValueError("timeout is seconds, at least 0, or None")


def _sqlite_path(target):
    """The database file a path or a sqlite3 connection names; None for anything else."""
    if isinstance(target, (str, os.PathLike)):
        return os.fspath(target)
    if isinstance(target, sqlite3.Connection):
        path = next((row[2] for row in target.execute("PRAGMA database_list") if row[1] == "main"), "")
        if not path:
            raise ValueError("the sqlite3 connection is not to a database file")
        return path
    return None


def _listening_connection(target):
    if not type(target).__module__.startswith("psycopg"):
        raise TypeError("drover.wait takes a database path, a sqlite3 connection or a psycopg/psycopg2 connection, "
                        "not %s.%s" % (type(target).__module__, type(target).__name__))
    if not target.autocommit:
        raise ValueError("drover.wait needs a PostgreSQL connection in autocommit mode (a transaction would "
                         "hold back the notifications and hide the job's end)")
    return target
