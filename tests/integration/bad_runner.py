"""A runner that breaks the protocol once, to test how drover copes; a correct runner after.

    bad_runner.py MODE MARKER

The first instance (MARKER does not exist yet: it creates it) answers the first job it gets with
MODE: garbage (a line that is not JSON), unknown_id (a done for a job it was never sent), huge (a
line over 16 MiB), second_hello, or exit (it exits without answering). Later instances echo.
"""
import json
import os
import sys

mode, marker = sys.argv[1], sys.argv[2]
first = not os.path.exists(marker)
if first:
    open(marker, "w").close()
out = sys.stdout


def send(msg):
    out.write(json.dumps(msg) + "\n")
    out.flush()


send({"op": "hello", "protocol": 1, "types": ["bad"]})
for line in sys.stdin:
    msg = json.loads(line)
    if msg["op"] != "run":
        continue
    if first:
        if mode == "garbage":
            out.write("this is not json\n")
        elif mode == "unknown_id":
            send({"op": "done", "id": msg["id"] + 100000, "result": 1})
        elif mode == "huge":
            out.write('{"op":"done","id":%d,"result":"%s"}\n' % (msg["id"], "x" * (17 << 20)))
        elif mode == "second_hello":
            send({"op": "hello", "protocol": 1, "types": ["bad"]})
        elif mode == "exit":
            sys.exit(3)
        out.flush()
        continue
    send({"op": "done", "id": msg["id"], "result": {"attempt": msg["attempt"]}})
