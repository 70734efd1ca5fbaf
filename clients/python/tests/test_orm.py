"""drover.enqueue, get and jobs on the connections of Django and SQLAlchemy (Debian's
python3-django and python3-sqlalchemy), in the application's own transactions, on a database a
real droverd keeps: the application's table lives in drover's file."""
import sqlite3
import unittest

import drover
from droverd import DroverdTestCase

import django  # .ci/deps --test installs python3-django and python3-sqlalchemy
import django.conf
import sqlalchemy
from sqlalchemy.orm import Session

CONFIG = """
[pools.default]
workers = 1
queues = ["nothing"]
[jobs.receipt]
command = ["/bin/true"]
queue = "mail"
max_attempts = 2
"""


class OrmTestCase(DroverdTestCase):
    CONFIG = CONFIG

    def setUp(self):
        super().setUp()
        self.conn.execute("CREATE TABLE IF NOT EXISTS shop_orders (id INTEGER PRIMARY KEY, total INTEGER)")
        self.conn.commit()

    def committed(self, id):
        """The job as another connection sees it (None: not committed)."""
        other = sqlite3.connect(self.database)
        try:
            return drover.get(other, id)
        finally:
            other.close()


class DjangoTests(OrmTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not django.conf.settings.configured:
            django.conf.settings.configure(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": cls.database}},
                               INSTALLED_APPS=[], USE_TZ=True)
            django.setup()

    def test_an_enqueue_inside_atomic_commits_and_rolls_back_with_it(self):
        from django.db import connection, transaction
        with transaction.atomic():
            with connection.cursor() as c:
                c.execute("INSERT INTO shop_orders (total) VALUES (%s)", [120])
            kept = drover.enqueue(connection, "receipt", {"order": 1})
            self.assertIsNone(self.committed(kept))  # not before the block commits
            self.assertEqual(drover.get(connection, kept).state, "queued")  # the transaction sees its own
        job = self.committed(kept)
        self.assertEqual((job.queue, job.max_attempts, job.payload), ("mail", 2, {"order": 1}))
        with self.assertRaises(RuntimeError):
            with transaction.atomic():
                gone = drover.enqueue(connection, "receipt", {"order": 2})
                raise RuntimeError("the order failed")
        self.assertIsNone(self.committed(gone))
        self.assertEqual([j.id for j in drover.jobs(connection, type="receipt") if j.id in (kept, gone)], [kept])


class SqlAlchemyTests(OrmTestCase):
    def setUp(self):
        super().setUp()
        self.engine = sqlalchemy.create_engine("sqlite:///" + self.database)
        self.addCleanup(self.engine.dispose)

    def test_a_connections_transaction_carries_the_job(self):
        with self.engine.begin() as c:
            c.execute(sqlalchemy.text("INSERT INTO shop_orders (total) VALUES (5)"))
            kept = drover.enqueue(c, "receipt", {"order": 3})
            self.assertIsNone(self.committed(kept))
        self.assertEqual(self.committed(kept).queue, "mail")
        c = self.engine.connect()
        t = c.begin()
        gone = drover.enqueue(c, "receipt", {"order": 4})
        t.rollback()
        c.close()
        self.assertIsNone(self.committed(gone))

    def test_a_sessions_transaction_carries_the_job(self):
        with Session(self.engine) as session:
            session.execute(sqlalchemy.text("INSERT INTO shop_orders (total) VALUES (7)"))
            kept = drover.enqueue(session, "receipt", {"order": 5})
            self.assertEqual(drover.get(session, kept).payload, {"order": 5})
            session.commit()
            gone = drover.enqueue(session, "receipt", {"order": 6})
            session.rollback()
        self.assertEqual(self.committed(kept).state, "queued")
        self.assertIsNone(self.committed(gone))


del OrmTestCase  # a base, not tests of its own

if __name__ == "__main__":
    unittest.main()
