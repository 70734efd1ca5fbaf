"""drover.get and drover.jobs on a database a real droverd keeps and runs jobs from."""
import datetime
import time
import unittest

import drover
from droverd import DroverdTestCase

# Pool "work" runs jobs; queue "parked" is served by no pool, so its jobs stay queued.
CONFIG = """
[pools.work]
workers = 1
queues = ["work"]
[jobs.ok]
command = ["/bin/sh", "-c", "echo '{\\"n\\": 1}'"]
queue = "work"
[jobs.bad]
command = ["/bin/sh", "-c", "echo broken >&2; exit 3"]
queue = "work"
max_attempts = 1
[jobs.a]
command = ["/bin/true"]
queue = "parked"
[jobs.b]
command = ["/bin/true"]
queue = "parked"
"""


class ReadTests(DroverdTestCase):
    CONFIG = CONFIG

    def finished(self, id):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            job = drover.get(self.conn, id)
            if job.finished_at is not None:
                return job
            time.sleep(0.02)
        self.fail("job %d did not finish" % id)

    def test_get_tells_state_result_errors_and_times(self):
        before = time.time()
        ok = drover.enqueue(self.conn, "ok", {"x": [1, 2]}, resource="acct-9")
        bad = drover.enqueue(self.conn, "bad")
        self.conn.commit()
        job = self.finished(ok)
        self.assertIsInstance(job, drover.JobInfo)
        self.assertEqual((job.id, job.type, job.queue, job.state), (ok, "ok", "work", "succeeded"))
        self.assertEqual(job.payload, {"x": [1, 2]})
        self.assertEqual(job.result, {"n": 1})
        self.assertEqual((job.attempts, job.max_attempts, job.resource, job.errors), (1, 5, "acct-9", []))
        self.assertLessEqual(before - 1, job.enqueued_at)
        self.assertLessEqual(job.enqueued_at, job.started_at)
        self.assertLessEqual(job.started_at, job.finished_at)
        self.assertLessEqual(job.finished_at, time.time() + 1)
        failed = self.finished(bad)
        self.assertEqual((failed.state, failed.attempts), ("failed", 1))
        self.assertIn("exit code 3: broken", failed.last_error)
        self.assertEqual(len(failed.errors), 1)
        self.assertEqual(failed.errors[0]["attempt"], 1)
        self.assertAlmostEqual(failed.errors[0]["at"], time.time(), delta=30)
        self.assertEqual(failed.result, None)
        self.assertIsNone(drover.get(self.conn, 10 ** 12))
        with self.assertRaises(ValueError):
            drover.get(self.conn, "1")

    def test_jobs_filter_by_lists_times_and_pages(self):
        ids = {}
        for n in range(6):
            type = "a" if n % 2 == 0 else "b"
            ids[n] = drover.enqueue(self.conn, type, {"n": n}, resource="r%d" % (n % 3))
        self.conn.commit()
        mine = set(ids.values())

        def listed(**filters):
            return [j.id for j in drover.jobs(self.conn, **filters) if j.id in mine]

        newest_first = sorted(mine, reverse=True)
        self.assertEqual(listed(type=["a", "b"]), newest_first)
        self.assertEqual(listed(type="a"), [ids[4], ids[2], ids[0]])
        self.assertEqual(listed(type="b", resource=["r0", "r1"]), [ids[3], ids[1]])
        self.assertEqual(listed(type=("a", "b"), state="queued", queue="parked", resource="r2"), [ids[5], ids[2]])
        self.assertEqual(listed(type="a", state=["succeeded", "failed"]), [])
        # Pages: the next one starts below the last id seen.
        first = drover.jobs(self.conn, type=["a", "b"], limit=4)
        self.assertEqual([j.id for j in first], newest_first[:4])
        rest = drover.jobs(self.conn, type=["a", "b"], limit=4, cursor=first[-1].id)
        self.assertEqual([j.id for j in rest], newest_first[4:])
        # Enqueue times bound the list, as Unix seconds or aware datetimes.
        now = time.time()
        self.assertEqual(listed(type=["a", "b"], after=now - 60, before=now + 60), newest_first)
        self.assertEqual(listed(type=["a", "b"], before=now - 3600), [])
        hour_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        self.assertEqual(listed(type=["a", "b"], after=hour_ago), newest_first)

    def test_bad_filters_are_refused(self):
        for filters in ({"state": "done"}, {"type": []}, {"type": ""}, {"limit": 0}, {"limit": 1001},
                        {"cursor": "5"}, {"before": datetime.datetime(2026, 1, 1)}, {"after": -1}):
            with self.assertRaises(ValueError, msg=repr(filters)):
                drover.jobs(self.conn, **filters)


if __name__ == "__main__":
    unittest.main()
