"""drover.aio and drover.enqueue_many on a database a real droverd keeps and runs jobs from."""
import asyncio
import time
import unittest

import drover
import drover.aio
from droverd import DroverdTestCase

CONFIG = """
[pools.work]
workers = 2
queues = ["work"]
concurrency = 8
[jobs.nap]
command = ["/bin/sh", "-c", "sleep 0.2"]
queue = "work"
[jobs.parked]
command = ["/bin/true"]
queue = "nowhere"
"""


class AioTests(DroverdTestCase):
    CONFIG = CONFIG

    def test_many_waits_share_one_loop(self):
        ids = drover.enqueue_many(self.conn, [{"type": "nap", "payload": {"n": n}} for n in range(20)])
        self.conn.commit()
        self.assertEqual(len(set(ids)), 20)

        async def main():
            ticks = 0

            async def ticker():  # the loop keeps running while the waits wait
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            t = asyncio.create_task(ticker())
            done = await asyncio.gather(*(drover.aio.wait(self.database, id, timeout=30) for id in ids))
            t.cancel()
            return done, ticks

        started = time.monotonic()
        done, ticks = asyncio.run(main())
        self.assertEqual([j.state for j in done], ["succeeded"] * 20)
        # A wait that blocked the loop would leave the ticker next to no turns.
        self.assertGreater(ticks, (time.monotonic() - started) / 0.01 / 10)

    def test_timeouts_reads_and_a_cancel(self):
        id = drover.enqueue(self.conn, "parked")
        self.conn.commit()

        async def main():
            with self.assertRaises(TimeoutError):
                await drover.aio.wait(self.database, id, timeout=0.2)
            self.assertEqual((await drover.aio.get(self.database, id)).state, "queued")
            self.assertEqual((await drover.aio.get(self.conn, id)).id, id)
            listed = await drover.aio.jobs(self.database, type="parked", state="queued")
            self.assertIn(id, [j.id for j in listed])
            waiting = asyncio.create_task(drover.aio.wait(self.database, id, timeout=20))
            await asyncio.sleep(0.2)
            await asyncio.get_running_loop().run_in_executor(None, self.ctl, "cancel", str(id))
            return await waiting

        self.assertEqual(asyncio.run(main()).state, "cancelled")

    def test_enqueue_many_refuses_a_bad_entry(self):
        with self.assertRaises(ValueError):
            drover.enqueue_many(self.conn, [{"type": "nap"}, {"payload": {}}])
        self.conn.rollback()
        with self.assertRaises(drover.UnknownJobType):
            drover.enqueue_many(self.conn, [{"type": "nap"}, {"type": "nope"}])
        self.conn.rollback()


if __name__ == "__main__":
    unittest.main()
