"""drover.wait on a database a real droverd keeps and runs jobs from."""
import threading
import time
import unittest

import drover
from droverd import DroverdTestCase

CONFIG = """
[pools.work]
workers = 2
queues = ["work"]
[jobs.nap]
command = ["/bin/sh", "-c", "sleep 0.3"]
queue = "work"
[jobs.parked]
command = ["/bin/true"]
queue = "nowhere"
"""


class WaitTests(DroverdTestCase):
    CONFIG = CONFIG

    def test_returns_the_ended_job(self):
        id = drover.enqueue(self.conn, "nap")
        self.conn.commit()
        job = drover.wait(self.database, id, timeout=20)
        self.assertEqual(job.state, "succeeded")
        self.assertIsNotNone(job.finished_at)
        # An ended job is returned at once, also through a sqlite3 connection inside a transaction.
        self.conn.execute("BEGIN")
        self.assertEqual(drover.get(self.conn, id).state, "succeeded")
        started = time.monotonic()
        self.assertEqual(drover.wait(self.conn, id, timeout=5).id, id)
        self.assertLess(time.monotonic() - started, 1)
        self.conn.rollback()

    def test_a_job_that_does_not_end_times_out_and_a_cancel_ends_the_wait(self):
        id = drover.enqueue(self.conn, "parked")
        self.conn.commit()
        with self.assertRaises(TimeoutError):
            drover.wait(self.database, id, timeout=0.3)
        canceller = threading.Timer(0.3, self.ctl, ("cancel", str(id)))
        canceller.start()
        self.addCleanup(canceller.join)
        self.assertEqual(drover.wait(self.database, id, timeout=20).state, "cancelled")

    def test_no_such_job_and_bad_arguments(self):
        self.assertIsNone(drover.wait(self.database, 10 ** 12, timeout=1))
        with self.assertRaises(ValueError):
            drover.wait(self.database, "1")
        with self.assertRaises(ValueError):
            drover.wait(self.database, 1, timeout=-1)
        with self.assertRaises(FileNotFoundError):
            drover.wait(self.database + ".missing", 1)
        with self.assertRaises(TypeError):
            drover.wait(object(), 1)


if __name__ == "__main__":
    unittest.main()
