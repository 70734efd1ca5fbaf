"""drover.cancel, retry, delete and reschedule on a database a real droverd keeps and runs jobs
from: the same outcomes droverctl's verbs give."""
import time
import unittest

import drover
from droverd import DroverdTestCase

CONFIG = """
[pools.work]
workers = 1
queues = ["work"]
[jobs.long]
command = ["/bin/sh", "-c", "sleep 60"]
queue = "work"
kill_after = "1s"
[jobs.parked]
command = ["/bin/true"]
queue = "nowhere"
unique = true
"""


class ActionTests(DroverdTestCase):
    CONFIG = CONFIG

    def test_cancel_a_queued_and_a_running_job(self):
        queued = drover.enqueue(self.conn, "parked", {"n": 1})
        running = drover.enqueue(self.conn, "long")
        self.conn.commit()
        deadline = time.monotonic() + 20
        while drover.get(self.conn, running).state != "running":
            self.assertLess(time.monotonic(), deadline, "the long job did not start")
            time.sleep(0.02)
        self.assertEqual(drover.cancel(self.conn, queued), "cancelled")
        self.assertEqual(drover.cancel(self.conn, running), "running")  # asked to stop
        self.conn.commit()
        job = self.show(queued)
        self.assertEqual((job["state"], job["last_error"]), ("cancelled", "cancelled"))
        self.assertEqual(drover.wait(self.database, running, timeout=20).state, "cancelled")
        with self.assertRaises(drover.StateError) as e:
            drover.cancel(self.conn, queued)
        self.assertIn("already cancelled", str(e.exception))
        with self.assertRaises(LookupError):
            drover.cancel(self.conn, 10 ** 12)

    def test_retry_gives_fresh_attempts_unless_the_key_is_held(self):
        id = drover.enqueue(self.conn, "parked", {"n": 2})
        drover.cancel(self.conn, id)
        self.conn.commit()
        drover.retry(self.conn, id)
        self.conn.commit()
        job = self.show(id)
        self.assertEqual((job["state"], job["attempts"], job["finished_at"]), ("queued", 0, None))
        with self.assertRaises(drover.StateError) as e:
            drover.retry(self.conn, id)
        self.assertIn("is queued", str(e.exception))
        # While another job holds the unique key, the cancelled one stays put.
        drover.cancel(self.conn, id)
        self.conn.commit()
        holder = drover.enqueue(self.conn, "parked", {"n": 2})
        self.assertNotEqual(holder, id)
        with self.assertRaises(drover.StateError) as e:
            drover.retry(self.conn, id)
        self.assertIn("holds its unique key", str(e.exception))
        self.conn.commit()
        self.assertEqual(self.show(id)["state"], "cancelled")

    def test_delete_and_reschedule(self):
        id = drover.enqueue(self.conn, "parked", {"n": 3})
        self.conn.commit()
        later = time.time() + 3600
        drover.reschedule(self.conn, id, later)
        self.conn.commit()
        self.assertAlmostEqual(drover.get(self.conn, id).run_at, later, delta=0.01)
        with self.assertRaises(ValueError):
            drover.reschedule(self.conn, id, later * 1000)  # milliseconds
        drover.delete(self.conn, id)
        self.conn.commit()
        self.assertIsNone(drover.get(self.conn, id))
        with self.assertRaises(LookupError):
            drover.delete(self.conn, id)
        with self.assertRaises(LookupError):
            drover.reschedule(self.conn, id, later)

    def test_a_running_job_is_neither_deleted_nor_rescheduled(self):
        id = drover.enqueue(self.conn, "long")
        self.conn.commit()
        deadline = time.monotonic() + 20
        while drover.get(self.conn, id).state != "running":
            self.assertLess(time.monotonic(), deadline, "the long job did not start")
            time.sleep(0.02)
        with self.assertRaises(drover.StateError) as e:
            drover.delete(self.conn, id)
        self.assertIn("cancel it first", str(e.exception))
        with self.assertRaises(drover.StateError):
            drover.reschedule(self.conn, id, time.time())
        drover.cancel(self.conn, id)
        self.conn.commit()
        drover.wait(self.database, id, timeout=20)


if __name__ == "__main__":
    unittest.main()
