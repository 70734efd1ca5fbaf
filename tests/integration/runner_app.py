"""The runner of the runner tests: the Python client (clients/python) serving test handlers.

    runner_app.py ISOLATION DIR    (DIR/runs.log: one line per attempt event, DIR/locks/ID)

Every attempt holds an exclusive lock named after its job id while it runs: a second copy of the
same job running at the same time cannot take it and logs "overlap".
"""
import fcntl
import os
import sys
import time

import drover

isolation, work = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(work, "locks"), exist_ok=True)


def log(line):
    fd = os.open(os.path.join(work, "runs.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\n").encode())
    os.close(fd)


class Attempt:
    def __init__(self, job):
        self.who = "%d %d %d" % (job.id, job.attempt, os.getpid())
        self.lock = open(os.path.join(work, "locks", str(job.id)), "w")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log("overlap " + self.who)
            raise
        log("start " + self.who)

    def end(self, what="end"):
        log(what + " " + self.who)
        self.lock.close()


@drover.handler("echo")
def echo(job):
    a = Attempt(job)
    time.sleep(job.payload.get("ms", 0) / 1000)
    a.end()
    return {"echo": job.payload, "attempt": job.attempt, "pid": os.getpid()}


@drover.handler("resume")
def resume(job):
    # Attempt 1 saves a checkpoint and fails; attempt 2 returns what it was given.
    if job.attempt == 1:
        job.progress(0.5, "half way", checkpoint={"step": 2})
        raise RuntimeError("first attempt fails on purpose")
    job.progress(1.0, "resumed")
    return {"checkpoint": job.checkpoint}


@drover.handler("permanent")
def permanent(job):
    raise drover.Permanent("this cannot work")


@drover.handler("polite")
def polite(job):
    # Stops when asked (cancel, timeout).
    end = time.time() + 60
    while time.time() < end:
        if job.cancelled:
            return {"stopped": job.cancelled}
        time.sleep(0.01)
    return "never stopped"


@drover.handler("stubborn")
def stubborn(job):
    time.sleep(3600)


@drover.handler("crash")
def crash(job):
    # Attempt 1 kills the process it runs in.
    if job.attempt == 1:
        os.kill(os.getpid(), 9)
    return {"attempt": job.attempt}


@drover.handler("chaos")
def chaos(job):
    a = Attempt(job)
    time.sleep(job.payload.get("ms", 0) / 1000)
    a.end()
    return {"attempt": job.attempt}


drover.serve(isolation=isolation)
