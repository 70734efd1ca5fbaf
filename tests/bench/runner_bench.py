#!/usr/bin/python3
"""Python jobs through drover's runners, beside Celery and RQ in the same run.

    runner_bench.py --droverd PATH [--runs 5] [--jobs 20000] [--fork-jobs 3000] [--quick]

Every system gets the same no-op Python jobs, already queued, and two worker processes:
- drover, runner in-process (isolation="process"), 2 workers;
- drover, runner forking a child per job (isolation="fork"), 2 workers;
- Celery 5 prefork, concurrency 2, on Redis (Debian's python3-celery and redis-server);
- RQ (a fork per job), 2 workers (python3-rq).
A job of each run records when it starts: the first job (a marker) and the last one bound the
interval, so start-up costs are left out for every system alike. Medians of --runs runs.
Then, for drover: enqueue→start latency on an idle system (a plain sqlite3 enqueue committed,
then the handler's start), and the runner's resident memory over --memory-jobs jobs.
"""
import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT = os.path.join(SOURCE, "clients", "python")
sys.path.insert(0, CLIENT)
import drover  # noqa: E402  (the client from this source tree)

PY = sys.executable

DROVER_APP = textwrap.dedent("""
    import os, sys, time
    import drover
    stamps = sys.argv[2]

    @drover.handler("noop")
    def noop(job):
        return None

    @drover.handler("mark")
    def mark(job):
        with open(os.path.join(stamps, job.payload["name"]), "w") as f:
            f.write(repr(time.time()))

    @drover.handler("stamp")
    def stamp(job):
        return time.time()

    drover.serve(isolation=sys.argv[1])
""")

# The peers' jobs: plain functions (RQ imports their module in each job's child), and the same
# functions as Celery tasks.
PEER_JOBS = textwrap.dedent("""
    import os, time

    def noop():
        return None

    def mark(name):
        with open(os.path.join(os.environ["BENCH_STAMPS"], name), "w") as f:
            f.write(repr(time.time()))
""")
CELERY_TASKS = textwrap.dedent("""
    import os
    from celery import Celery
    import peer_jobs
    app = Celery("celery_tasks", broker=os.environ["BENCH_BROKER"])
    app.conf.worker_hijack_root_logger = False
    celery_noop = app.task(name="noop", ignore_result=True)(peer_jobs.noop)
    celery_mark = app.task(name="mark", ignore_result=True)(peer_jobs.mark)
""")


def die(msg):
    print("runner_bench: " + msg, file=sys.stderr)
    sys.exit(1)


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    die("timed out waiting for " + what)


def rate(stamps, n):
    """Jobs per second between the start marker and the end marker (n jobs in between)."""
    def read(name):
        with open(os.path.join(stamps, name)) as f:
            return float(f.read())
    return n / (read("end") - read("start"))


class Drover:
    def __init__(self, droverd, work, isolation, concurrency=16):
        self.droverd, self.work, self.isolation = droverd, work, isolation
        self.stamps = os.path.join(work, "stamps")
        os.makedirs(self.stamps)
        app = os.path.join(work, "app.py")
        with open(app, "w") as f:
            f.write(DROVER_APP)
        self.config = os.path.join(work, "drover.toml")
        with open(self.config, "w") as f:
            f.write(textwrap.dedent("""
                [supervisor]
                database = "drover.db"
                socket = "drover.sock"
                log_file = "drover.log"
                log_level = "warn"
                [pools.default]
                workers = 2
                concurrency = %d
                max_jobs = 0
                max_memory = "0"
                [runners.py]
                command = ["%s", "%s", "%s", "%s"]
                env = { PYTHONPATH = "%s" }
                [jobs.noop]
                runner = "py"
                [jobs.mark]
                runner = "py"
                [jobs.stamp]
                runner = "py"
                """ % (concurrency, PY, app, isolation, self.stamps, CLIENT)))
        self.db = os.path.join(work, "drover.db")
        self.proc = None

    def create(self):
        """The database with the configured types stored: droverd's scheduler writes them at its
        start, and drover.enqueue takes each type's defaults from them (an unknown type is refused)."""
        def stored():
            try:
                with sqlite3.connect(self.db) as c:
                    return c.execute("SELECT count(*) FROM job_types").fetchone()[0] == 3
            except sqlite3.OperationalError:
                return False
        self.start()
        try:
            wait_for(stored, 30, "droverd to store its job types")
        finally:
            self.stop()

    def enqueue(self, n):
        conn = sqlite3.connect(self.db)
        drover.enqueue(conn, "mark", {"name": "start"})
        for _ in range(n):
            drover.enqueue(conn, "noop")
        drover.enqueue(conn, "mark", {"name": "end"})
        conn.commit()
        conn.close()

    def start(self):
        self.proc = subprocess.Popen([self.droverd, "-c", self.config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
            self.proc = None

    def runner_pids(self):
        """The runners: children of droverd's children running app.py."""
        out = []
        for worker in _children(self.proc.pid):
            for child in _children(worker):
                try:
                    with open("/proc/%d/cmdline" % child, "rb") as f:
                        if b"app.py" in f.read():
                            out.append(child)
                except OSError:
                    pass
        return out


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_drover(args, isolation, n):
    work = tempfile.mkdtemp(prefix="runner-bench-")
    try:
        d = Drover(args.droverd, work, isolation)
        d.create()
        d.enqueue(n)
        d.start()
        try:
            wait_for(lambda: os.path.exists(os.path.join(d.stamps, "end")), 600, "drover's last job")
        finally:
            d.stop()
        return rate(d.stamps, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Redis:
    def __init__(self, work):
        self.sock = os.path.join(work, "redis.sock")
        self.proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", self.sock, "--save", "",
                                      "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.sock), 10, "redis-server")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def peer_env(work, stamps, broker):
    for name, text in (("peer_jobs.py", PEER_JOBS), ("celery_tasks.py", CELERY_TASKS)):
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    return dict(os.environ, PYTHONPATH=work, BENCH_STAMPS=stamps, BENCH_BROKER=broker)


def run_peer(name, n, fill, workers):
    """One run of a peer on a Redis of its own: `fill` (a script; %(sock)r is the Redis socket,
    %(n)d the number of jobs) queues the jobs, then the `workers` (argv lists, given the socket) run them."""
    work = tempfile.mkdtemp(prefix=name + "-bench-")
    stamps = os.path.join(work, "stamps")
    os.makedirs(stamps)
    redis = Redis(work)
    try:
        env = peer_env(work, stamps, "redis+socket://" + redis.sock)
        subprocess.run([PY, "-c", textwrap.dedent(fill) % {"sock": redis.sock, "n": n}], env=env, check=True, cwd=work)
        procs = [subprocess.Popen(argv(redis.sock), env=env, cwd=work, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for argv in workers]
        try:
            wait_for(lambda: os.path.exists(os.path.join(stamps, "end")), 600, name + "'s last job")
        finally:
            for p in procs:
                p.terminate()
                p.wait(60)
        return rate(stamps, n)
    finally:
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


def run_celery(n):
    fill = """
        from celery_tasks import celery_noop, celery_mark
        celery_mark.delay("start")
        for _ in range(%(n)d):
            celery_noop.delay()
        celery_mark.delay("end")
    """
    worker = [PY, "-m", "celery", "-A", "celery_tasks", "worker", "-P", "prefork", "-c", "2",
              "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "WARNING"]
    return run_peer("celery", n, fill, [lambda sock: worker])


def run_rq(n):
    fill = """
        from redis import Redis
        from rq import Queue
        import peer_jobs
        q = Queue(connection=Redis(unix_socket_path=%(sock)r))
        q.enqueue(peer_jobs.mark, "start")
        for _ in range(%(n)d):
            q.enqueue(peer_jobs.noop)
        q.enqueue(peer_jobs.mark, "end")
    """
    worker = lambda sock: [PY, "-m", "rq.cli", "worker", "--burst", "--url", "unix://" + sock, "-q"]  # noqa: E731
    return run_peer("rq", n, fill, [worker, worker])


def latency(args, samples, synchronous):
    """enqueue→start on an idle drover: from the return of the sqlite3 COMMIT of drover.enqueue
    (on a connection with PRAGMA synchronous = `synchronous`) to the handler's first line."""
    work = tempfile.mkdtemp(prefix="runner-latency-")
    try:
        d = Drover(args.droverd, work, "process", concurrency=4)
        d.create()
        d.start()
        try:
            conn = sqlite3.connect(d.db, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA synchronous = " + synchronous)
            out = []
            for _ in range(samples):
                time.sleep(0.02)  # idle between jobs
                conn.execute("BEGIN IMMEDIATE")
                id = drover.enqueue(conn, "stamp")
                conn.execute("COMMIT")
                t0 = time.time()
                wait_for(lambda: conn.execute("SELECT state FROM jobs WHERE id = ?", (id,)).fetchone()[0]
                         == "succeeded", 10, "job %d" % id)
                started = float(conn.execute("SELECT result FROM jobs WHERE id = ?", (id,)).fetchone()[0])
                out.append((started - t0) * 1000)
            conn.close()
        finally:
            d.stop()
        out.sort()
        return out[len(out) // 2], out[int(len(out) * 0.99) - 1]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def memory(args, n):
    """The runners' resident memory after the first jobs and after `n`."""
    work = tempfile.mkdtemp(prefix="runner-memory-")
    try:
        d = Drover(args.droverd, work, "process")
        d.create()
        conn = sqlite3.connect(d.db)
        for i in range(n):
            drover.enqueue(conn, "noop", {"i": i, "pad": "x" * 100})
        conn.commit()
        d.start()
        try:
            def done():
                return conn.execute("SELECT count(*) FROM jobs WHERE state = 'succeeded'").fetchone()[0]
            wait_for(lambda: done() >= min(n // 10, 5000), 600, "the first jobs")
            pids = d.runner_pids()
            first = sum(rss_kib(p) for p in pids)
            wait_for(lambda: done() >= n, 600, "all %d jobs" % n)
            last = sum(rss_kib(p) for p in pids if os.path.exists("/proc/%d" % p))
            same = sorted(pids) == sorted(d.runner_pids())
        finally:
            d.stop()
            conn.close()
        return first, last, same
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--droverd", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=20000, help="per run, in-process and Celery")
    ap.add_argument("--fork-jobs", type=int, default=3000, help="per run, the fork-per-job systems")
    ap.add_argument("--memory-jobs", type=int, default=100000)
    ap.add_argument("--quick", action="store_true", help="one short run of each (CI: it must keep working)")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.jobs, args.fork_jobs, args.memory_jobs = 1, 2000, 300, 5000
    for tool in ("redis-server",):
        if shutil.which(tool) is None:
            die("%s is missing (Debian package redis-server)" % tool)

    results = {"drover in-process": [], "drover fork": [], "celery": [], "rq": []}
    for i in range(args.runs):
        # Interleaved, so a noisy moment of the machine touches every system alike.
        results["drover in-process"].append(run_drover(args, "process", args.jobs))
        results["celery"].append(run_celery(args.jobs))
        results["drover fork"].append(run_drover(args, "fork", args.fork_jobs))
        results["rq"].append(run_rq(args.fork_jobs))
        print("run %d: %s" % (i + 1, ", ".join("%s %.0f" % (k, v[-1]) for k, v in results.items())), flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print()
    print("| Python no-op jobs, 2 workers (medians of %d) | jobs/s | vs Celery | vs RQ |" % args.runs)
    print("|---|---|---|---|")
    for k in ("drover in-process", "drover fork", "celery", "rq"):
        print("| %s | %.0f | %.2f× | %.2f× |" % (k, med[k], med[k] / med["celery"], med[k] / med["rq"]))
    print()
    for sync in ("NORMAL", "FULL"):
        p50, p99 = latency(args, 50 if args.quick else 200, sync)
        print("enqueue→start (idle; from the sqlite3 COMMIT's return, synchronous = %s): p50 %.3f ms, p99 %.3f ms"
              % (sync, p50, p99))
    first, last, same = memory(args, args.memory_jobs)
    print("runner RSS (2 runners): %d KiB after the first jobs, %d KiB after %d jobs (%+.1f%%)%s" % (
        first, last, args.memory_jobs, (last - first) * 100.0 / max(first, 1),
        "" if same else " [a runner was replaced meanwhile]"))


if __name__ == "__main__":
    main()
