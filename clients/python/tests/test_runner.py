"""The runner loop, driven over real pipes the way a drover worker drives it."""
import json
import os
import select
import subprocess
import sys
import textwrap
import time
import unittest

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

APP = textwrap.dedent("""
    import os, sys, time
    import drover

    @drover.handler("echo")
    def echo(job):
        print("printed by a handler")  # must not reach the protocol
        return {"payload": job.payload, "attempt": job.attempt, "checkpoint": job.checkpoint,
                "pid": os.getpid(), "timeout": job.timeout, "marker": os.environ.get("MARKER")}

    @drover.handler("progress")
    def progress(job):
        job.progress(0.5, "half", checkpoint={"step": 2})
        return None

    @drover.handler("boom")
    def boom(job):
        raise ValueError("bad value")

    @drover.handler("permanent")
    def permanent(job):
        raise drover.Permanent("never")

    @drover.handler("unserialisable")
    def unserialisable(job):
        return object()

    @drover.handler("polite")
    def polite(job):
        while not job.cancelled:
            time.sleep(0.005)
        return {"stopped": job.cancelled}

    @drover.handler("die")
    def die(job):
        os.kill(os.getpid(), 9)

    @drover.after_fork
    def hook():
        os.environ["MARKER"] = "after_fork ran in %d" % os.getpid()

    drover.serve(isolation=sys.argv[1])
""")


class Runner:
    def __init__(self, isolation):
        env = dict(os.environ, PYTHONPATH=CLIENT, DROVER_CONCURRENCY="4")
        self.proc = subprocess.Popen([sys.executable, "-c", APP, isolation], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.buf = b""
        self.answers = {}

    def send(self, **msg):
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def run(self, id, type, payload=None, attempt=1, checkpoint=None):
        self.send(op="run", id=id, type=type, queue="default", attempt=attempt, max_attempts=3,
                  payload=payload if payload is not None else {}, checkpoint=checkpoint, timeout_ms=5000)

    def recv(self, timeout=10):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError("no message from the runner")
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                raise AssertionError("the runner closed its stdout")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def answer(self, id):
        """The done/fail for job `id`, in whatever order the answers come (progress is skipped)."""
        while id not in self.answers:
            m = self.recv()
            if m["op"] in ("done", "fail"):
                self.assertNotIn(m["id"], self.answers)
                self.answers[m["id"]] = m
        return self.answers[id]

    def assertNotIn(self, key, d):
        if key in d:
            raise AssertionError("a second answer for job %s" % key)

    def close(self):
        self.proc.stdin.close()
        code = self.proc.wait(10)
        err = self.proc.stderr.read().decode()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code, err


class RunnerTests:
    isolation = None

    def setUp(self):
        self.r = Runner(self.isolation)
        self.addCleanup(self._stop)

    def _stop(self):
        if self.r.proc.poll() is None:
            self.r.proc.kill()
            self.r.proc.wait()
        for f in (self.r.proc.stdin, self.r.proc.stdout, self.r.proc.stderr):
            if not f.closed:
                f.close()

    def test_hello_names_every_handler(self):
        hello = self.r.recv()
        self.assertEqual(hello["op"], "hello")
        self.assertEqual(hello["protocol"], 1)
        self.assertEqual(hello["isolation"], self.isolation)
        self.assertEqual(hello["types"], sorted(["echo", "progress", "boom", "permanent", "unserialisable",
                                                 "polite", "die"]))

    def test_results_and_failures(self):
        self.r.recv()
        self.r.run(1, "echo", {"a": [1, 2]}, attempt=2, checkpoint={"step": 1})
        self.r.run(2, "boom")
        self.r.run(3, "permanent")
        self.r.run(4, "unserialisable")
        self.r.run(5, "nosuchtype")
        done = self.r.answer(1)
        self.assertEqual(done["op"], "done")
        self.assertEqual(done["result"]["payload"], {"a": [1, 2]})
        self.assertEqual(done["result"]["attempt"], 2)
        self.assertEqual(done["result"]["checkpoint"], {"step": 1})
        self.assertEqual(done["result"]["timeout"], 5.0)
        boom = self.r.answer(2)
        self.assertEqual((boom["op"], boom["retry"]), ("fail", True))
        self.assertIn("Traceback", boom["error"])
        self.assertIn("ValueError: bad value", boom["error"])
        self.assertEqual(self.r.answer(3), {"op": "fail", "id": 3, "error": "never", "retry": False})
        unser = self.r.answer(4)
        self.assertFalse(unser["retry"])
        self.assertIn("not JSON-serialisable", unser["error"])
        unknown = self.r.answer(5)
        self.assertFalse(unknown["retry"])
        self.assertIn("no handler for job type 'nosuchtype'", unknown["error"])
        code, err = self.r.close()
        self.assertEqual(code, 0)
        self.assertIn("printed by a handler", err)


    def test_progress_then_done(self):
        self.r.recv()
        self.r.run(1, "progress")
        self.assertEqual(self.r.recv(), {"op": "progress", "id": 1, "progress": 0.5, "message": "half",
                                         "checkpoint": {"step": 2}})
        self.assertEqual(self.r.recv(), {"op": "done", "id": 1, "result": None})

    def test_cancel_of_a_running_and_of_a_waiting_job(self):
        self.r.recv()
        self.r.run(1, "polite")
        for i in range(2, 7):  # more than fork mode runs at once: some wait
            self.r.run(i, "polite")
        time.sleep(0.2)
        for i in range(1, 7):
            self.r.send(op="cancel", id=i, reason="timeout")
        answers = [self.r.answer(i) for i in range(1, 7)]
        for a in answers:
            if a["op"] == "done":  # a cooperative handler saw the reason
                self.assertEqual(a["result"], {"stopped": "timeout"})
            else:
                self.assertIn("timeout", a["error"])
        self.assertEqual(self.r.close()[0], 0)

    def test_a_payload_too_deep_to_decode_fails_that_job_alone(self):
        self.r.recv()
        self.r.run(1, "echo", {"before": True})
        deep = "[" * 999 + "]" * 999  # SQLite's json_valid accepts it; Python's json.loads does not
        line = '{"op":"run","id":2,"attempt":1,"checkpoint":null,"max_attempts":3,"payload":%s,' \
               '"queue":"default","type":"echo","timeout_ms":5000}\n' % deep
        self.r.proc.stdin.write(line.encode())
        self.r.proc.stdin.flush()
        fail = self.r.answer(2)
        self.assertEqual((fail["op"], fail["retry"]), ("fail", False))
        self.assertIn("could not be decoded (RecursionError", fail["error"])
        self.r.run(3, "echo", {"after": True})
        self.assertEqual(self.r.answer(3)["result"]["payload"], {"after": True})
        self.assertEqual(self.r.answer(1)["result"]["payload"], {"before": True})
        self.assertEqual(self.r.close()[0], 0)

    def test_a_job_that_kills_its_process(self):
        self.r.recv()
        self.r.run(1, "die")
        if self.isolation == "fork":
            fail = self.r.answer(1)
            self.assertEqual(fail["op"], "fail")
            self.assertIn("killed by signal 9 (SIGKILL)", fail["error"])
            self.r.run(2, "echo")
            self.assertEqual(self.r.answer(2)["op"], "done")  # the runner lives on
        else:
            self.assertEqual(self.r.proc.wait(10), -9)


class InProcessTests(RunnerTests, unittest.TestCase):
    isolation = "process"

    def test_jobs_run_in_the_runner_itself(self):
        self.r.recv()
        self.r.run(1, "echo")
        done = self.r.answer(1)
        self.assertEqual(done["result"]["pid"], self.r.proc.pid)
        self.assertIsNone(done["result"]["marker"])


class ForkTests(RunnerTests, unittest.TestCase):
    isolation = "fork"

    def test_each_job_runs_in_a_child_of_its_own(self):
        self.r.recv()
        self.r.run(1, "echo")
        self.r.run(2, "echo")
        a, b = self.r.answer(1), self.r.answer(2)
        pids = {a["result"]["pid"], b["result"]["pid"]}
        self.assertEqual(len(pids), 2)
        self.assertNotIn(self.r.proc.pid, pids)
        self.assertEqual(a["result"]["marker"], "after_fork ran in %d" % a["result"]["pid"])


if __name__ == "__main__":
    unittest.main()
