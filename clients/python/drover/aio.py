"""drover.aio: the waiting and reading calls for asyncio applications.

    job = await drover.aio.wait("/var/lib/drover/drover.db", id, timeout=30)
    job = await drover.aio.get("/var/lib/drover/drover.db", id)
    page = await drover.aio.jobs("/var/lib/drover/drover.db", type="sync", state="failed")

On SQLite, wait watches the database with inotify on the event loop itself (no thread per
waiter: a thousand waits cost a thousand watches and one read per commit each). The reads and
the PostgreSQL wait run in the loop's default executor, on a connection of their own for a path,
or on the given connection, which must then not be used elsewhere meanwhile.
"""

import asyncio
import functools
import time

from drover import _read
from drover._wait import _check, _DirectoryWatch, _ended, _listening_connection, _sqlite_path, _sqlite_reader, \
    _wait_postgres, _RECHECK_SECONDS


async def wait(target, id, timeout=None, *, schema="drover"):
    """As drover.wait, without blocking the event loop."""
    _check(id, timeout)
    path = _sqlite_path(target)
    if path is None:
        conn = _listening_connection(target)
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(_wait_postgres, conn, id, timeout, schema))
    loop = asyncio.get_running_loop()
    conn, directory, names = _sqlite_reader(path)
    try:
        watch = _DirectoryWatch(directory)  # before the first read: no commit falls between
        woken = asyncio.Event()
        loop.add_reader(watch.fd, lambda: woken.set() if watch.changed(names) else None)
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                woken.clear()
                job = _read.get(conn, id)  # one primary-key read: microseconds
                if _ended(job):
                    return job
                left = _RECHECK_SECONDS
                if deadline is not None:
                    left = min(left, deadline - time.monotonic())
                    if left <= 0:
                        raise TimeoutError("job %d is still %s after %s s" % (id, job.state, timeout))
                try:
                    await asyncio.wait_for(woken.wait(), left)
                except asyncio.TimeoutError:
                    pass
        finally:
            loop.remove_reader(watch.fd)
            watch.close()
    finally:
        conn.close()


async def _read_call(fn, target, *args, **kwargs):
    path = _sqlite_path(target) if isinstance(target, str) or hasattr(target, "__fspath__") else None

    def call():
        if path is None:
            return fn(target, *args, **kwargs)
        conn, _, _ = _sqlite_reader(path)
        try:
            return fn(conn, *args, **kwargs)
        finally:
            conn.close()

    if path is None and type(target).__module__.startswith("sqlite3"):
        return call()  # a sqlite3 connection belongs to its thread; a local read is quick
    return await asyncio.get_running_loop().run_in_executor(None, call)


async def get(target, id, *, schema="drover"):
    """As drover.get; `target` may also be the SQLite database's path."""
    return await _read_call(_read.get, target, id, schema=schema)


async def jobs(target, **filters):
    """As drover.jobs; `target` may also be the SQLite database's path."""
    return await _read_call(_read.jobs, target, **filters)
