#!/usr/bin/env python3
"""A minimal application's background jobs, served to drover by a long-lived runner.

drover starts this program once per worker (examples/app/drover.toml, [runners.app]); it loads
the application once and then runs every job of the types below in this process.
"""
import datetime
import os
import sqlite3
import sys

try:
    import drover
except ImportError:  # running from a source tree rather than the python3-drover package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
    import drover

# The application's own data, loaded once per runner.
APP_DB = os.path.join(os.environ.get("APP_DATA") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "var"),
                      "app.db")
os.makedirs(os.path.dirname(APP_DB), exist_ok=True)
db = sqlite3.connect(APP_DB)
db.execute("CREATE TABLE IF NOT EXISTS greetings (id INTEGER PRIMARY KEY, name TEXT, at TEXT)")
db.commit()


@drover.handler("welcome")
def welcome(job):
    """{"name": "Ada"}: records a greeting; enqueue it with `droverctl enqueue welcome '{"name":"Ada"}'`."""
    name = job.payload.get("name")
    if not name:
        raise drover.Permanent("the payload needs a name")
    db.execute("INSERT INTO greetings (name, at) VALUES (?, ?)", (name, datetime.datetime.now().isoformat()))
    db.commit()
    return {"greeted": name}


@drover.handler("daily_digest")
def daily_digest(job):
    """Counts the greetings so far, in steps, with progress and a checkpoint to resume from."""
    rows = db.execute("SELECT id, name FROM greetings ORDER BY id").fetchall()
    start = (job.checkpoint or {}).get("done", 0)
    for i in range(start, len(rows)):
        if job.cancelled:
            raise RuntimeError("stopped: %s" % job.cancelled)
        if i % 100 == 0:
            job.progress(i / max(len(rows), 1), "%d of %d" % (i, len(rows)), checkpoint={"done": i})
    return {"greetings": len(rows), "names": sorted({name for _, name in rows})[:10]}


if __name__ == "__main__":
    drover.serve()
