"""drover.enqueue on a database a real droverd keeps, checked with droverctl."""
import json
import sqlite3
import time
import unittest

import drover
from droverd import DroverdTestCase

# No pool serves the types' queues: what enqueue wrote stays queued to be read back.
CONFIG = """
[pools.default]
workers = 1
queues = ["nothing"]
[jobs.send_email]
command = ["/bin/true"]
queue = "mail"
priority = 4
max_attempts = 1
[jobs.digest]
command = ["/bin/true"]
unique = true
[jobs.plain]
command = ["/bin/true"]
"""


class EnqueueTests(DroverdTestCase):
    CONFIG = CONFIG

    def test_a_job_exists_once_the_transaction_commits(self):
        id = drover.enqueue(self.conn, "send_email", {"to": "a@example.com"}, queue="mail", priority=3,
                            resource="acct-1", max_attempts=2)
        other = sqlite3.connect(self.database)
        self.addCleanup(other.close)
        self.assertEqual(other.execute("SELECT count(*) FROM jobs WHERE id = ?", (id,)).fetchone()[0], 0)
        self.conn.commit()
        job = self.show(id)
        self.assertEqual(job["type"], "send_email")
        self.assertEqual(job["queue"], "mail")
        self.assertEqual(job["payload"], {"to": "a@example.com"})
        self.assertEqual(job["priority"], 3)
        self.assertEqual(job["max_attempts"], 2)
        self.assertEqual(job["resource"], "acct-1")
        self.assertEqual(job["state"], "queued")

    def test_a_rollback_leaves_nothing(self):
        id = drover.enqueue(self.conn, "send_email", {})
        self.conn.rollback()
        self.assertEqual(self.conn.execute("SELECT count(*) FROM jobs WHERE id = ?", (id,)).fetchone()[0], 0)

    def test_delay_and_expiry(self):
        before = time.time()
        id = drover.enqueue(self.conn, "send_email", delay=3600, expires_in=7200)
        self.conn.commit()
        run_at, expires_at = self.conn.execute("SELECT run_at, expires_at FROM jobs WHERE id = ?", (id,)).fetchone()
        self.assertAlmostEqual(run_at / 1000, before + 3600, delta=5)
        self.assertAlmostEqual(expires_at / 1000, before + 7200, delta=5)

    def test_a_unique_key_gives_the_job_already_there(self):
        a = drover.enqueue(self.conn, "send_email", {"n": 1}, unique_key="user-7")
        b = drover.enqueue(self.conn, "send_email", {"n": 2}, unique_key="user-7")
        self.assertEqual(a, b)
        c = drover.enqueue(self.conn, "plain", {}, unique_key="user-7")
        self.assertNotEqual(a, c)

    def test_the_types_defaults_apply_unless_the_call_gives_its_own(self):
        id = drover.enqueue(self.conn, "send_email", {"to": "b@example.com"})
        self.conn.commit()
        job = self.show(id)
        self.assertEqual((job["queue"], job["priority"], job["max_attempts"]), ("mail", 4, 1))
        id = drover.enqueue(self.conn, "send_email", {}, queue="bulk", priority=0, max_attempts=3)
        self.conn.commit()
        job = self.show(id)
        self.assertEqual((job["queue"], job["priority"], job["max_attempts"]), ("bulk", 0, 3))
        id = drover.enqueue(self.conn, "plain")
        self.conn.commit()
        job = self.show(id)
        self.assertEqual((job["queue"], job["priority"], job["max_attempts"]), ("default", 0, 5))

    def test_an_unknown_type_is_refused_at_enqueue(self):
        with self.assertRaises(drover.UnknownJobType) as e:
            drover.enqueue(self.conn, "send_emial", {})
        self.assertIn("send_emial", str(e.exception))
        self.assertIn("digest, plain, send_email", str(e.exception))
        self.conn.commit()
        self.assertEqual(self.conn.execute("SELECT count(*) FROM jobs WHERE type = 'send_emial'").fetchone()[0], 0)

    def test_a_unique_type_is_one_job_per_payload_whichever_path_enqueued_it(self):
        payload = {"user": 7, "name": "Zoë", "tags": ["a", "b"], "ratio": 0.25, "nested": {"b": 1, "a": None}}
        by_ctl = int(self.ctl("enqueue", "digest", json.dumps(payload, indent=2)))
        # The same payload with its keys in another order is the same job.
        reordered = {"nested": {"a": None, "b": 1}, "ratio": 0.25, "tags": ["a", "b"], "name": "Zoë", "user": 7}
        self.assertEqual(drover.enqueue(self.conn, "digest", reordered), by_ctl)
        other = drover.enqueue(self.conn, "digest", {"user": 8})
        self.assertNotEqual(other, by_ctl)
        self.conn.commit()
        self.assertEqual(drover.enqueue(self.conn, "digest", {"user": 8}), other)
        self.assertEqual(self.show(by_ctl)["unique_key"], drover.unique_key_for("digest", payload))

    def test_the_plain_sql_form_takes_the_types_defaults(self):
        # The documented form (README, "Enqueueing from plain SQL").
        cur = self.conn.execute(
            "INSERT INTO jobs (type, payload, queue, priority, max_attempts) "
            "SELECT type, ?2, queue, priority, max_attempts FROM job_types WHERE type = ?1", ("send_email", "{}"))
        self.assertEqual(cur.rowcount, 1)
        self.conn.commit()
        job = self.show(cur.lastrowid)
        self.assertEqual((job["queue"], job["priority"], job["max_attempts"]), ("mail", 4, 1))
        cur = self.conn.execute(
            "INSERT INTO jobs (type, payload, queue, priority, max_attempts) "
            "SELECT type, ?2, queue, priority, max_attempts FROM job_types WHERE type = ?1", ("nope", "{}"))
        self.assertEqual(cur.rowcount, 0)  # an unknown type inserts nothing

    def test_bad_arguments_are_refused_before_any_sql(self):
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "", {})
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "t", {}, delay=1, run_at=2)
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "plain", {"x": float("nan")})
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "plain", {}, priority="high")
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "plain", {}, unique_key="schedule:nightly:2026-12-08T03:00:00Z")
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "plain", {}, run_at=time.time() * 1000)  # milliseconds
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "plain", {}, delay=-5)
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "plain", {}, expires_in="1h")
        with self.assertRaises(TypeError):
            drover.enqueue(object(), "t", {})


if __name__ == "__main__":
    unittest.main()
