"""drover.enqueue on a database drover made, checked with droverctl (DROVERCTL: its path)."""
import json
import os
import sqlite3
import subprocess
import tempfile
import time
import unittest

import drover

DROVERCTL = os.environ.get("DROVERCTL")


@unittest.skipUnless(DROVERCTL, "set DROVERCTL to a droverctl binary (ctest does)")
class EnqueueTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.config = os.path.join(self.dir.name, "drover.toml")
        with open(self.config, "w") as f:
            f.write('[supervisor]\ndatabase = "drover.db"\nsocket = "drover.sock"\n'
                    '[pools.default]\n[jobs.send_email]\ncommand = ["/bin/true"]\n')
        # droverctl creates the database and its schema (no daemon needed).
        self.ctl("enqueue", "send_email", "{}")
        self.conn = sqlite3.connect(os.path.join(self.dir.name, "drover.db"))
        self.addCleanup(self.conn.close)

    def ctl(self, *args):
        out = subprocess.run([DROVERCTL, "-c", self.config] + list(args), check=True, capture_output=True,
                             text=True)
        return out.stdout

    def show(self, id):
        return json.loads(self.ctl("show", str(id), "--json"))

    def test_a_job_exists_once_the_transaction_commits(self):
        id = drover.enqueue(self.conn, "send_email", {"to": "a@example.com"}, queue="mail", priority=3,
                            resource="acct-1", max_attempts=2)
        other = sqlite3.connect(os.path.join(self.dir.name, "drover.db"))
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
        c = drover.enqueue(self.conn, "other_type", {}, unique_key="user-7")
        self.assertNotEqual(a, c)

    def test_bad_arguments_are_refused_before_any_sql(self):
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "", {})
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "t", {}, delay=1, run_at=2)
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "t", {"x": float("nan")})
        with self.assertRaises(ValueError):
            drover.enqueue(self.conn, "t", {}, priority="high")
        with self.assertRaises(TypeError):
            drover.enqueue(object(), "t", {})


if __name__ == "__main__":
    unittest.main()
