"""A real droverd of a test class's own (DROVERD, DROVERCTL: the binaries), in a temporary
directory with its own database and socket, stopped by pid when the class ends."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

DROVERD = os.environ.get("DROVERD")
DROVERCTL = os.environ.get("DROVERCTL")


@unittest.skipUnless(DROVERD and DROVERCTL, "set DROVERD and DROVERCTL to the binaries (ctest does)")
class DroverdTestCase(unittest.TestCase):
    CONFIG = ""  # drover.toml's pools and job types; the class gives [supervisor] (database, socket)

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.config = os.path.join(cls.dir.name, "drover.toml")
        cls.database = os.path.join(cls.dir.name, "drover.db")
        with open(cls.config, "w") as f:
            f.write('[supervisor]\ndatabase = "drover.db"\nsocket = "drover.sock"\n' + cls.CONFIG)
        # The start waits until the scheduler has stored every [jobs.T].
        types = len(re.findall(r"^\[jobs\.", cls.CONFIG, re.MULTILINE))
        cls.log = open(os.path.join(cls.dir.name, "droverd.out"), "w")
        cls.droverd = subprocess.Popen([DROVERD, "-c", cls.config], stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                with sqlite3.connect(cls.database) as probe:
                    if probe.execute("SELECT count(*) FROM job_types").fetchone()[0] == types:
                        break
            except sqlite3.OperationalError:
                pass
            if time.monotonic() > deadline or cls.droverd.poll() is not None:
                cls.tearDownClass()
                raise RuntimeError("droverd did not store its job types; see " + cls.log.name)
            time.sleep(0.02)

    @classmethod
    def tearDownClass(cls):
        if cls.droverd.poll() is None:
            cls.droverd.send_signal(signal.SIGTERM)
            try:
                cls.droverd.wait(30)
            except subprocess.TimeoutExpired:
                cls.droverd.kill()
                cls.droverd.wait()
        cls.log.close()
        cls.dir.cleanup()

    def setUp(self):
        self.conn = sqlite3.connect(self.database)
        self.addCleanup(self.conn.close)

    def ctl(self, *args):
        out = subprocess.run([DROVERCTL, "-c", self.config] + list(args), check=True, capture_output=True,
                             text=True)
        return out.stdout

    def show(self, id):
        return json.loads(self.ctl("show", str(id), "--json"))
