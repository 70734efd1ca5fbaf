#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium, driven over its DevTools protocol (on a
pipe: --remote-debugging-pipe), against a real droverd with its own directory, database, socket
and port. Loads every page, pauses a queue with its button and finds it paused in the store,
retries a failed job with its button, and checks that no page asks anything of another host.

Usage: dashboard_browser_test.py DROVERD DROVERCTL   (DROVER_SCREENSHOTS=DIR keeps screenshots)
"""
import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

DROVERD, DROVERCTL = sys.argv[1], sys.argv[2]
TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no chromium found: install Debian's chromium package (.ci/deps --test does)")


class Browser:
    """One headless Chromium and one page of it, spoken to over the DevTools pipe."""

    def __init__(self, profile):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [find_chromium(), "--headless=new", "--remote-debugging-pipe", "--no-first-run",
                "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1280,900", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        os.makedirs(profile, exist_ok=True)

        def fds():  # the protocol's pipe ends go to fds 3 and 4 (kept by pass_fds)
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        with open(os.path.join(profile, "stderr"), "w") as err:
            self.proc = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=fds,
                                         stdout=subprocess.DEVNULL, stderr=err)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._next = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.call(domain + ".enable", session=True)

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer")
            import select
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("the browser closed its pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=False, timeout=20):
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self._next:
                if "error" in m:
                    raise RuntimeError(method + ": " + json.dumps(m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def drop_events(self, method):
        self.events = [m for m in self.events if m.get("method") != method]

    def _document_events(self):
        return [m for m in self.events if m.get("method") in ("Network.responseReceived", "Network.loadingFailed")
                and m["params"].get("type") == "Document"]

    def _wait_document(self, timeout=20):
        """The page a navigation ends on, once loaded: (HTTP status, URL); fails naming what went wrong."""
        deadline = time.monotonic() + timeout
        while not self._document_events():
            self.events.append(self._read_message(deadline))
        m = self._document_events()[0]
        self.events.remove(m)
        if m["method"] == "Network.loadingFailed":
            raise AssertionError("the page did not load: " + m["params"].get("errorText", "?"))
        self.wait_event("Page.loadEventFired", max(deadline - time.monotonic(), 1))
        status = m["params"]["response"]["status"]
        if status >= 400:  # what droverd said, for the test's failure message
            try:
                body = self.call("Network.getResponseBody", {"requestId": m["params"]["requestId"]},
                                 session=True).get("body", "")
            except RuntimeError as e:
                body = "(no body: %s)" % e
            print("HTTP %d: %s" % (status, body), file=sys.stderr)
        return status, m["params"]["response"]["url"]

    def _forget_loads(self):
        self.drop_events("Page.loadEventFired")
        for m in self._document_events():
            self.events.remove(m)

    def navigate(self, url):
        self._forget_loads()
        self.call("Page.navigate", {"url": url}, session=True)
        status, _ = self._wait_document()
        if status != 200:
            raise AssertionError("%s answered %d" % (url, status))

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in r:
            raise RuntimeError(expression + ": " + json.dumps(r["exceptionDetails"]))
        return r["result"].get("value")

    def click(self, selector):
        """Clicks the element and waits for the page the click loads: (HTTP status, URL)."""
        self._forget_loads()
        found = self.evaluate("(function(){var e=document.querySelector(%s);if(!e)return false;e.click();return true;})()"
                              % json.dumps(selector))
        if not found:
            raise AssertionError("nothing matches " + selector)
        return self._wait_document()

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def requested_urls(self):
        """Every URL the page asked for (requests and redirects), drained from the event queue."""
        urls = []
        rest = []
        for m in self.events:
            if m.get("method") == "Network.requestWillBeSent":
                urls.append(m["params"]["request"]["url"])
            else:
                rest.append(m)
        self.events = rest
        return urls


class DashboardInBrowser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="drover-browser-")
        cls.port = free_port()
        cls.base = "http://127.0.0.1:%d" % cls.port
        with open(os.path.join(cls.dir, "http-token"), "w") as f:
            f.write(TOKEN + "\n")
        cls.config = os.path.join(cls.dir, "drover.toml")
        with open(cls.config, "w") as f:
            f.write("""[supervisor]
database = "drover.db"
socket = "drover.sock"
log_file = "drover.log"

[http]
listen = "127.0.0.1:%d"
auth = "token-file:http-token"

[pools.default]
workers = 1
concurrency = 2
queues = ["default", "mail"]

[jobs.resize]
command = ["/bin/sh", "-c", "cat >/dev/null; echo '{\\"progress\\": 0.5, \\"message\\": \\"half\\"}' >&$DROVER_STATUS_FD; echo done"]

[jobs.flaky]
command = ["/bin/sh", "-c", "cat >/dev/null; echo 'SMTP said no' >&2; exit 2"]
max_attempts = 1

[schedules.nightly]
job = "resize"
cron = "0 3 * * *"
""" % cls.port)
        with open(os.path.join(cls.dir, "droverd.err"), "w") as err:
            cls.daemon = subprocess.Popen([DROVERD, "-c", cls.config], stdout=subprocess.DEVNULL, stderr=err)
        cls.browser = None
        try:
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        deadline = time.monotonic() + 15
        while cls.ctl("status", check=False).returncode != 0:
            if time.monotonic() > deadline or cls.daemon.poll() is not None:
                raise RuntimeError("droverd did not start: " + cls.log())
            time.sleep(0.1)
        cls.good = int(cls.ctl("enqueue", "resize", '{"image": "cat.png"}').stdout)
        cls.bad = int(cls.ctl("enqueue", "flaky", '{"to": "ops@example.com"}', "--queue", "mail").stdout)
        cls.wait_finished(cls.good)
        cls.wait_finished(cls.bad)
        cls.browser = Browser(os.path.join(cls.dir, "profile"))
        cls.browser.call("Network.setExtraHTTPHeaders", {"headers": {"Authorization": "Bearer " + TOKEN}},
                         session=True)

    @classmethod
    def tearDownClass(cls):
        if cls.browser:
            cls.browser.close()
        # Shown only when the test fails (ctest --output-on-failure): what droverd said meanwhile.
        print("--- the end of drover.log:\n" + cls.log(), file=sys.stderr)
        cls.daemon.send_signal(signal.SIGTERM)
        try:
            cls.daemon.wait(30)
        except subprocess.TimeoutExpired:
            cls.daemon.kill()
            cls.daemon.wait()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def ctl(cls, *args, check=True):
        return subprocess.run([DROVERCTL, "-c", cls.config] + list(args), capture_output=True, text=True,
                              check=check, timeout=30)

    @classmethod
    def log(cls):
        try:
            with open(os.path.join(cls.dir, "drover.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    @classmethod
    def wait_finished(cls, job_id):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = json.loads(cls.ctl("--json", "show", str(job_id)).stdout)["state"]
            if state not in ("queued", "running"):
                return state
            time.sleep(0.05)
        raise AssertionError("job %d did not finish" % job_id)

    def db(self):
        return sqlite3.connect(os.path.join(self.dir, "drover.db"), timeout=10)

    def keep_screenshot(self, name):
        where = os.environ.get("DROVER_SCREENSHOTS")
        if where:
            os.makedirs(where, exist_ok=True)
            self.browser.screenshot(os.path.join(where, name))

    def assert_local_only(self):
        for url in self.browser.requested_urls():
            self.assertTrue(url.startswith(self.base + "/") or url.startswith("data:") or url == "about:blank",
                            "a request off the host: " + url)

    def test_1_every_page_loads_from_this_host_only(self):
        b = self.browser
        for path, heading in (("/", "Overview"), ("/queues", "Queues"), ("/jobs", "Jobs"),
                              ("/jobs/%d" % self.good, "Job %d" % self.good), ("/schedules", "Schedules"),
                              ("/processes", "Processes")):
            b.navigate(self.base + path)
            self.assertEqual(b.evaluate("document.querySelector('h1').textContent").split(" ")[0:2][0],
                             heading.split(" ")[0], path)
            self.assertEqual(b.evaluate("getComputedStyle(document.body).margin"), "0px",
                             path + ": the stylesheet loaded")
        b.navigate(self.base + "/")
        self.assertEqual(b.evaluate("document.getElementById('count-succeeded').textContent"), "1")
        self.assertEqual(b.evaluate("document.querySelectorAll('svg.chart rect').length"), 120)
        self.keep_screenshot("overview.png")
        b.navigate(self.base + "/jobs/%d" % self.good)
        self.assertIn("cat.png", b.evaluate("document.body.textContent"))
        self.assertIn("half", b.evaluate("document.body.textContent"))
        self.keep_screenshot("job.png")
        # The live refresh swaps the page's <main> in place (it fetches from this host too).
        b.evaluate("document.getElementById('main').setAttribute('data-mark', '1')")
        b.evaluate("document.querySelector('h1').textContent = 'stale'")
        deadline = time.monotonic() + 10
        while b.evaluate("document.querySelector('h1').textContent") == "stale":
            self.assertLess(time.monotonic(), deadline, "the page did not refresh")
            time.sleep(0.2)
        self.assert_local_only()

    def test_2_pause_button_pauses_the_queue_in_the_store(self):
        b = self.browser
        b.navigate(self.base + "/queues")
        self.assertEqual(b.click("tr[data-queue='mail'] button[data-action='/queues/mail/pause']"),
                         (200, self.base + "/queues"))
        with self.db() as db:
            paused = [r[0] for r in db.execute("SELECT name FROM queues WHERE paused")]
        self.assertEqual(paused, ["mail"])
        self.assertEqual(b.evaluate("document.querySelector(\"tr[data-queue='mail'] td.paused\").textContent"),
                         "paused")
        self.assertEqual(b.click("tr[data-queue='mail'] button[data-action='/queues/mail/resume']"),
                         (200, self.base + "/queues"))
        with self.db() as db:
            self.assertEqual(list(db.execute("SELECT name FROM queues WHERE paused")), [])
        self.assert_local_only()

    def test_3_retry_button_runs_a_failed_job_again(self):
        b = self.browser
        b.navigate(self.base + "/jobs?state=failed")
        self.assertIn("SMTP said no", b.evaluate("document.body.textContent"))
        b.navigate(self.base + "/jobs/%d" % self.bad)
        self.assertIn("SMTP said no", b.evaluate("document.body.textContent"))
        self.assertEqual(b.click("button[data-action='/jobs/%d/retry']" % self.bad),
                         (200, self.base + "/jobs/%d" % self.bad))
        with self.db() as db:
            attempts_before = db.execute("SELECT attempts FROM jobs WHERE id = ?", (self.bad,)).fetchone()[0]
        self.assertEqual(self.wait_finished(self.bad), "failed")
        with self.db() as db:
            errors = json.loads(db.execute("SELECT errors FROM jobs WHERE id = ?", (self.bad,)).fetchone()[0])
        self.assertGreaterEqual(len(errors), 2, "the retry ran the job again")
        self.assertLessEqual(attempts_before, 1)
        self.assert_local_only()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
