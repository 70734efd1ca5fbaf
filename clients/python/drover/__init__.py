"""drover's Python client: run jobs in a long-lived runner, and enqueue them.

A runner registers handlers by job type and serves them to drover's workers over its stdin and
stdout (the runner protocol, docs/runner-protocol.md)::

    import drover

    @drover.handler("send_email")
    def send_email(job):            # job.id, job.payload, job.attempt, job.checkpoint
        job.progress(0.5, "rendered", checkpoint={"step": 2})
        return {"sent": True}       # the job's result

    drover.serve()                  # drover.serve(isolation="fork") forks a child per job

Applications enqueue in their own transaction, on a sqlite3 or a PostgreSQL connection::

    drover.enqueue(conn, "send_email", {"to": "a@example.com"}, delay=60)

The job gets its type's queue, priority, max_attempts and uniqueness from droverd's configuration
([jobs.send_email]) unless the call gives them; a type droverd does not define raises
drover.UnknownJobType. The same connections read jobs back::

    job = drover.get(conn, id)      # a JobInfo: state, result, errors, progress, times; None if gone
    page = drover.jobs(conn, type=["sync", "report"], state="failed", resource="acct-42", limit=50)
    older = drover.jobs(conn, type="sync", cursor=page[-1].id)
    done = drover.wait("/var/lib/drover/drover.db", id, timeout=30)  # or an autocommit psycopg connection
    drover.cancel(conn, id); drover.retry(conn, id); drover.delete(conn, id)  # then conn.commit()
    drover.reschedule(conn, id, time.time() + 3600)

drover.aio has the waiting and reading calls for asyncio (await drover.aio.wait(path, id)).

Standard library only.
"""

from drover._actions import StateError, cancel, delete, reschedule, retry
from drover._enqueue import UnknownJobType, enqueue, enqueue_many, unique_key_for
from drover._read import JobInfo, get, jobs
from drover._runner import Job, Permanent, after_fork, handler, serve
from drover._wait import wait

__all__ = ["Job", "JobInfo", "Permanent", "StateError", "UnknownJobType", "after_fork", "cancel", "delete",
           "enqueue", "enqueue_many", "get", "handler", "jobs", "reschedule", "retry", "serve", "unique_key_for",
           "wait"]
__version__ = "0.1.0"
