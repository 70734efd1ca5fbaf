"""The runner loop: drover's runner protocol (docs/runner-protocol.md) on stdin and stdout."""

import collections
import ctypes
import json
import os
import re
import selectors
import signal
import sys
import time
import traceback

PROTOCOL = 1
_READ_CHUNK = 65536
# While jobs wait in this process, drover's messages (cancels) are looked at this often.
_POLL_INTERVAL = 0.005
# Answers of quick jobs go out together, but never later than this.
_FLUSH_INTERVAL = 0.002
# A forked job process that ignores SIGTERM this long is killed.
_KILL_GRACE = 2.0

# How drover begins every run message, whatever the rest holds (docs/runner-protocol.md).
_RUN_LINE = re.compile(rb'^\{"op":"run","id":(\d+),')

_handlers = {}
_after_fork = []


class Permanent(Exception):
    """Raised by a handler: the job fails for good, without a retry."""


def handler(type_name):
    """Registers the decorated function as the handler of job type `type_name`.

    The function takes a Job and returns the job's result (anything JSON can hold, or None).
    Raising fails the attempt (retried with the type's backoff while attempts remain);
    raising Permanent fails the job without a retry.
    """
    if not isinstance(type_name, str) or not type_name:
        raise ValueError("a job type name is a non-empty string")

    def register(fn):
        _handlers[type_name] = fn
        return fn

    return register


def after_fork(fn):
    """Registers `fn` to run in every job process forked in isolation="fork", before its job:
    the place to open database connections and the like that must not be shared with the parent."""
    _after_fork.append(fn)
    return fn


class Job:
    """One attempt of a job, as a handler sees it."""

    __slots__ = ("id", "type", "queue", "payload", "attempt", "max_attempts", "checkpoint", "timeout",
                 "_channel", "_server", "_cancelled")

    def __init__(self, msg, channel, server):
        self.id = msg["id"]
        self.type = msg["type"]
        self.queue = msg.get("queue", "default")
        self.payload = msg.get("payload")
        self.attempt = msg.get("attempt", 1)
        self.max_attempts = msg.get("max_attempts", 1)
        self.checkpoint = msg.get("checkpoint")  # what an earlier attempt saved, or None
        timeout_ms = msg.get("timeout_ms") or 0
        self.timeout = timeout_ms / 1000 if timeout_ms > 0 else None  # seconds, or None
        self._channel = channel
        self._server = server
        self._cancelled = None

    def progress(self, fraction=None, message=None, checkpoint=None):
        """Reports progress (0..1) with an optional message, and optionally a checkpoint (any JSON
        value, at most 64 KiB) that a later attempt of this job receives as job.checkpoint."""
        msg = {"op": "progress", "id": self.id}
        if fraction is not None:
            msg["progress"] = float(fraction)
        if message is not None:
            msg["message"] = str(message)
        if checkpoint is not None:
            msg["checkpoint"] = checkpoint
        self._channel.send(msg)
        self._channel.flush()

    @property
    def cancelled(self):
        """The reason drover asked this job to stop ("cancel", "timeout", "shutdown"), or None.
        A long handler should look now and then and return early when it is set."""
        if self._server is not None:
            self._server.poll()
        return self._cancelled


class _Channel:
    """Protocol lines in and out over two file descriptors."""

    def __init__(self, in_fd, out_fd):
        self.in_fd = in_fd
        self.out_fd = out_fd
        self._in = b""
        self._out = []
        self._last_flush = time.monotonic()
        self.eof = False

    def send(self, msg):
        self._out.append(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def flush(self):
        self._last_flush = time.monotonic()
        if not self._out:
            return
        data = b"".join(self._out)
        self._out = []
        view = memoryview(data)
        while view:
            n = os.write(self.out_fd, view)
            view = view[n:]

    def flush_due(self):
        if self._out and time.monotonic() - self._last_flush >= _FLUSH_INTERVAL:
            self.flush()

    def read(self):
        """Reads what is there (blocking if nothing is); returns the complete messages."""
        data = os.read(self.in_fd, _READ_CHUNK)
        if not data:
            self.eof = True
            return []
        self._in += data
        *lines, self._in = self._in.split(b"\n")
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except (ValueError, RecursionError) as e:  # a payload nested too deeply: RecursionError
                run = _RUN_LINE.match(line)
                if run is None:
                    print("drover runner: ignoring a line that is not JSON: %r" % line[:200], file=sys.stderr)
                    continue
                # That job's message alone: it fails for good (no attempt would decode it), the
                # runner and the other jobs it holds go on.
                self.send({"op": "fail", "id": int(run.group(1)), "retry": False,
                           "error": "the job's message could not be decoded (%s: %s)" % (type(e).__name__, e)})
        return out


def _readable(fd, timeout=0):
    sel = selectors.DefaultSelector()
    try:
        sel.register(fd, selectors.EVENT_READ)
        return bool(sel.select(timeout))
    finally:
        sel.close()


def _outcome(job, fn):
    """Runs the handler; returns the protocol message of how it ended."""
    try:
        result = fn(job)
    except Permanent as e:
        return {"op": "fail", "id": job.id, "error": str(e) or "failed", "retry": False}
    except BaseException as e:  # a failed attempt, whatever it was (SystemExit included)
        if isinstance(e, KeyboardInterrupt):
            raise
        return {"op": "fail", "id": job.id, "error": traceback.format_exc().rstrip(), "retry": True}
    try:
        json.dumps(result)
    except (TypeError, ValueError) as e:
        return {"op": "fail", "id": job.id, "retry": False,
                "error": "the handler's result is not JSON-serialisable: %s" % e}
    return {"op": "done", "id": job.id, "result": result}


class _InProcess:
    """isolation="process": jobs run one after another in this process."""

    def __init__(self, channel):
        self.channel = channel
        self.pending = collections.deque()
        self.current = None
        self._last_poll = 0.0

    def handle(self, msgs):
        for m in msgs:
            op = m.get("op")
            if op == "run":
                self.pending.append(Job(m, self.channel, self))
            elif op == "cancel":
                self.cancel(m.get("id"), m.get("reason") or "cancel")

    def cancel(self, job_id, reason):
        if self.current is not None and self.current.id == job_id:
            self.current._cancelled = reason
            return
        for job in self.pending:
            if job.id == job_id:
                self.pending.remove(job)
                self.channel.send({"op": "fail", "id": job_id, "error": "%s before it started" % reason,
                                   "retry": True})
                return

    def poll(self):
        """Takes in drover's messages without waiting, at most every _POLL_INTERVAL."""
        now = time.monotonic()
        if now - self._last_poll < _POLL_INTERVAL or self.channel.eof:
            return
        self._last_poll = now
        if _readable(self.channel.in_fd):
            self.handle(self.channel.read())

    def run(self):
        while True:
            if not self.pending:
                self.channel.flush()
                if self.channel.eof:
                    return
                self.handle(self.channel.read())
                continue
            self.poll()
            if not self.pending:
                continue
            job = self.pending.popleft()
            self.current = job
            try:
                msg = _outcome(job, _handlers[job.type]) if job.type in _handlers else {
                    "op": "fail", "id": job.id, "retry": False,
                    "error": "this runner has no handler for job type %r" % job.type}
            finally:
                self.current = None
            self.channel.send(msg)
            self.channel.flush_due()


class _Forking:
    """isolation="fork": each job runs in a child forked from this process, which exits after it."""

    def __init__(self, channel, concurrency):
        self.channel = channel
        self.concurrency = max(1, concurrency)
        self.pending = collections.deque()
        self.children = {}  # the read end of a child's pipe -> _Child
        self.sel = selectors.DefaultSelector()
        self.sel.register(channel.in_fd, selectors.EVENT_READ)
        self.prctl = _load_prctl()  # once, before any fork

    def handle(self, msgs):
        for m in msgs:
            op = m.get("op")
            if op == "run":
                self.pending.append(m)
            elif op == "cancel":
                self.cancel(m.get("id"), m.get("reason") or "cancel")

    def cancel(self, job_id, reason):
        for child in self.children.values():
            if child.job_id == job_id and child.stopped is None:
                child.stopped = reason
                child.kill_at = time.monotonic() + _KILL_GRACE
                _signal(child.pid, signal.SIGTERM)
                return
        for m in self.pending:
            if m["id"] == job_id:
                self.pending.remove(m)
                self.channel.send({"op": "fail", "id": job_id, "error": "%s before it started" % reason,
                                   "retry": True})
                return

    def start(self, msg):
        r, w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                os.close(r)
                _child_setup(self, parent)
                channel = _Channel(None, w)
                job = Job(msg, channel, None)
                fn = _handlers.get(job.type)
                channel.send(_outcome(job, fn) if fn else {
                    "op": "fail", "id": job.id, "retry": False,
                    "error": "this runner has no handler for job type %r" % job.type})
                channel.flush()
            except BaseException:
                traceback.print_exc()
                status = 70
            finally:
                os._exit(status)
        os.close(w)
        os.set_blocking(r, False)
        self.children[r] = _Child(pid, msg["id"])
        self.sel.register(r, selectors.EVENT_READ)

    def on_child(self, fd):
        child = self.children[fd]
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        if data:
            child.buf += data
            *lines, child.buf = child.buf.split(b"\n")
            for line in lines:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # not the child's own: _Channel.send wrote every line
                if not isinstance(msg, dict) or msg.get("id") != child.job_id:
                    continue
                child.answered |= msg.get("op") in ("done", "fail")
                self.channel.send(msg)
            return
        # End of file: the child exited (or closed its end, and exits now).
        self.sel.unregister(fd)
        os.close(fd)
        del self.children[fd]
        _, status = os.waitpid(child.pid, 0)
        if not child.answered:
            if child.stopped is not None:
                error = child.stopped
            else:
                error = "the job's process ended without an answer: " + _describe(status)
            self.channel.send({"op": "fail", "id": child.job_id, "error": error, "retry": True})

    def run(self):
        while True:
            while self.pending and len(self.children) < self.concurrency:
                self.start(self.pending.popleft())
            self.channel.flush()
            if self.channel.eof and not self.children and not self.pending:
                return
            now = time.monotonic()
            deadlines = [c.kill_at for c in self.children.values() if c.kill_at is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            for key, _ in self.sel.select(timeout):
                if key.fd == self.channel.in_fd:
                    self.handle(self.channel.read())
                    if self.channel.eof:
                        self.sel.unregister(self.channel.in_fd)
                else:
                    self.on_child(key.fd)
            now = time.monotonic()
            for c in self.children.values():
                if c.kill_at is not None and now >= c.kill_at:
                    _signal(c.pid, signal.SIGKILL)
                    c.kill_at = None


class _Child:
    __slots__ = ("pid", "job_id", "buf", "answered", "stopped", "kill_at")

    def __init__(self, pid, job_id):
        self.pid = pid
        self.job_id = job_id
        self.buf = b""
        self.answered = False
        self.stopped = None
        self.kill_at = None


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _describe(status):
    if os.WIFSIGNALED(status):
        return "killed by signal %d (%s)" % (os.WTERMSIG(status), signal.Signals(os.WTERMSIG(status)).name)
    return "exit status %d" % os.waitstatus_to_exitcode(status)


def _load_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with(parent, prctl):
    """This process gets SIGKILL when `parent` dies (Linux), so no job runs on unsupervised."""
    if prctl is None:
        return
    prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(70)


def _child_setup(server, parent):
    """In a forked job process: nothing of the parent's that must not be shared."""
    _die_with(parent, server.prctl)
    server.sel.close()
    for fd in list(server.children):
        os.close(fd)
    os.close(server.channel.in_fd)
    os.close(server.channel.out_fd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    for fn in _after_fork:
        fn()


def serve(isolation="process", types=None):
    """Runs the runner loop until drover closes its stdin. Call it last, once the handlers are
    registered and the application is loaded.

    isolation="process" runs jobs one after another in this process (fastest); "fork" forks a
    child per job from the loaded process, which runs that job and exits (a crash or a leak stays
    in that job), up to DROVER_CONCURRENCY at once.
    types: the job types to serve (default: every registered handler's).
    """
    if isolation not in ("process", "fork"):
        raise ValueError('isolation must be "process" or "fork"')
    served = sorted(types if types is not None else _handlers)
    missing = [t for t in served if t not in _handlers]
    if missing:
        raise ValueError("no handler registered for %s" % ", ".join(missing))
    # The protocol gets stdin and stdout to itself: a handler's print() goes to stderr (drover's
    # log), and a handler reading stdin reads nothing.
    sys.stdout.flush()
    in_fd, out_fd = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # a pipe to drover's log: lines as they come
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    channel = _Channel(in_fd, out_fd)
    channel.send({"op": "hello", "protocol": PROTOCOL, "types": served, "isolation": isolation,
                  "pid": os.getpid()})
    channel.flush()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # drover gone: so is this process
    if isolation == "fork":
        _Forking(channel, int(os.environ.get("DROVER_CONCURRENCY", "4"))).run()
    else:
        _InProcess(channel).run()
