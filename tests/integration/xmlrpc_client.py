#!/usr/bin/python3
"""Calls every XML-RPC method droverd serves with Python's own xmlrpc.client, as the tools built on
supervisord's API do, and checks the answers and faults. Usage: xmlrpc_client.py SOCKET DROVERD_PID.
Prints ALL OK and exits 0 when every check passed; raises (exit 1) at the first that did not."""

import http.client
import socket
import sys
import time
import xmlrpc.client

SOCKET, DAEMON_PID = sys.argv[1], int(sys.argv[2])


class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(SOCKET)


class UnixTransport(xmlrpc.client.Transport):
    def make_connection(self, host):
        return UnixConnection("localhost")


server = xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=UnixTransport(), allow_none=True)
sv = server.supervisor


def fault(code, call, *args):
    try:
        call(*args)
    except xmlrpc.client.Fault as f:
        assert f.faultCode == code, "%s%r: fault %d (%s), expected %d" % (call, args, f.faultCode, f.faultString, code)
        return f
    raise AssertionError("%s%r: no fault, expected %d" % (call, args, code))


def state(name):
    return sv.getProcessInfo(name)["statename"]


def raw(request):
    """Sends bytes as they are and returns the whole answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCKET)
    s.sendall(request)
    out = b""
    while True:
        data = s.recv(65536)
        if not data:
            return out
        out += data


def rpc_fault_code(answer):
    body = answer.split(b"\r\n\r\n", 1)[1]
    try:
        xmlrpc.client.loads(body)
    except xmlrpc.client.Fault as f:
        return f.faultCode
    raise AssertionError("not a fault: %r" % answer[:300])


# --- the daemon ---
assert sv.getAPIVersion() == "3.0"
assert sv.getVersion() == "3.0"
assert sv.getSupervisorVersion()
assert sv.getIdentification() == "drover"
assert sv.getState() == {"statecode": 1, "statename": "RUNNING"}
assert sv.getPID() == DAEMON_PID

# --- process info ---
infos = {i["name"]: i for i in sv.getAllProcessInfo()}
assert set(infos) == {"scheduler", "worker:default:0", "worker:default:1", "worker:mail:0"}, infos
w0 = infos["worker:default:0"]
for key in ("name", "group", "start", "stop", "now", "state", "statename", "spawnerr", "exitstatus",
            "stdout_logfile", "stderr_logfile", "pid", "description"):
    assert key in w0, key
assert w0["group"] == "default" and infos["scheduler"]["group"] == "scheduler"
assert w0["state"] == 20 and w0["statename"] == "RUNNING", w0
assert w0["description"].startswith("pid %d, uptime " % w0["pid"]), w0
assert sv.getProcessInfo("default:worker:default:0")["pid"] == w0["pid"]
assert sv.getProcessInfo("worker:default:0")["pid"] == w0["pid"]
fault(10, sv.getProcessInfo, "nosuch")
fault(10, sv.getProcessInfo, "default:*")  # a group is not a process
assert {c["name"] for c in sv.getAllConfigInfo()} == set(infos)

# --- stop and start, waiting and not ---
assert sv.stopProcess("worker:default:0") is True
info = sv.getProcessInfo("worker:default:0")
assert info["state"] == 0 and info["pid"] == 0 and info["statename"] == "STOPPED", info
fault(70, sv.stopProcess, "worker:default:0")
assert sv.startProcess("default:worker:default:0") is True
assert state("worker:default:0") == "RUNNING"
fault(60, sv.startProcess, "worker:default:0")
fault(10, sv.startProcess, "nosuch:x")
assert sv.stopProcess("worker:default:0", False) is True
assert state("worker:default:0") in ("STOPPING", "STOPPED")
deadline = time.time() + 20
while state("worker:default:0") != "STOPPED":
    assert time.time() < deadline, "did not stop"
    time.sleep(0.05)
assert sv.startProcess("worker:default:0", False) is True
assert state("worker:default:0") in ("STARTING", "RUNNING")
deadline = time.time() + 20
while state("worker:default:0") != "RUNNING":
    assert time.time() < deadline, "did not start"
    time.sleep(0.05)

# --- groups and all ---
results = sv.stopProcessGroup("default")
assert sorted(r["name"] for r in results) == ["worker:default:0", "worker:default:1"], results
assert all(r["status"] == 80 and r["group"] == "default" for r in results), results
assert state("worker:default:1") == "STOPPED"
assert sv.stopProcessGroup("default") == []  # nothing was running
results = sv.startProcessGroup("default")
assert len(results) == 2 and all(r["status"] == 80 for r in results), results
fault(10, sv.startProcessGroup, "nosuch")
fault(10, sv.stopProcessGroup, "nosuch")
assert sv.startAllProcesses() == []  # all running already
results = sv.stopProcess("mail:*")
assert [r["name"] for r in results] == ["worker:mail:0"], results
assert sv.startProcess("worker:mail:*")[0]["status"] == 80

# --- signals ---
assert sv.signalProcess("worker:default:0", "CONT") is True
assert sv.signalProcess("worker:default:0", "SIGCONT") is True
assert sv.signalProcess("worker:default:0", 18) is True
fault(11, sv.signalProcess, "worker:default:0", "NOSUCHSIG")
fault(10, sv.signalProcess, "nosuch", "CONT")
assert len(sv.signalProcessGroup("default", "CONT")) == 2
assert len(sv.signalAllProcesses("CONT")) == 4
assert state("worker:default:0") == "RUNNING"

# --- logs ---
log = sv.readProcessStdoutLog("worker:default:0", -1600, 0)
assert "[worker:default:0 " in log and "[worker:default:1 " not in log, log
assert len(log) <= 1600
fault(20, sv.readProcessStderrLog, "worker:default:0", -1600, 0)
fault(3, sv.readProcessStdoutLog, "worker:default:0", -10, 5)
fault(10, sv.readProcessStdoutLog, "nosuch", -10, 0)
text, offset, overflow = sv.tailProcessStdoutLog("worker:default:0", 0, 100)
assert len(text) <= 100 and offset >= len(text) and isinstance(overflow, bool)
text, offset2, overflow = sv.tailProcessStdoutLog("worker:default:0", offset, 100)
assert offset2 >= offset
main = sv.readLog(-500, 0)
assert 0 < len(main) <= 500, main
assert sv.readLog(0, 10) == sv.readLog(0, 0)[:10]
fault(3, sv.readLog, -5, 3)
fault(30, sv.clearProcessLogs, "worker:default:0")  # one shared log file: rotated, not cleared
fault(10, sv.clearProcessLogs, "nosuch")
fault(30, sv.clearLog)
assert all(r["status"] == 30 for r in sv.clearAllProcessLogs())

# --- configuration ---
assert sv.reloadConfig() == [[[], [], []]]
fault(90, sv.addProcessGroup, "default")  # active and unchanged
fault(10, sv.addProcessGroup, "nosuch")
fault(91, sv.removeProcessGroup, "default")  # still running

# --- system ---
methods = server.system.listMethods()
for m in ("supervisor.getProcessInfo", "supervisor.startProcess", "supervisor.readLog", "system.multicall"):
    assert m in methods, m
out = server.system.multicall([
    {"methodName": "supervisor.getPID", "params": []},
    {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]},
    {"methodName": "no.such.method", "params": []},
    {"methodName": "supervisor.stopProcess", "params": ["worker:default:1"]},
    {"methodName": "supervisor.startProcess", "params": ["worker:default:1"]},
    {"methodName": "system.multicall", "params": [[]]},
    "not a struct",
])
assert out[0] == [DAEMON_PID], out
assert out[1]["faultCode"] == 10 and out[2]["faultCode"] == 1, out
assert out[3] == [True] and out[4] == [True], out
assert out[5]["faultCode"] == 2 and out[6]["faultCode"] == 2, out
assert state("worker:default:1") == "RUNNING"
mc = xmlrpc.client.MultiCall(server)
mc.supervisor.getState()
mc.supervisor.getIdentification()
assert list(mc()) == [{"statecode": 1, "statename": "RUNNING"}, "drover"]

# --- bad calls ---
fault(1, server.supervisor.noSuchMethod)
fault(1, server.nosuch)
fault(2, sv.getProcessInfo, 5)
fault(2, sv.getProcessInfo)
fault(2, sv.startProcess, "worker:default:0", "yes")
fault(2, sv.readLog, "a", "b")
fault(2, server.system.multicall, "not an array")

# --- bad HTTP and XML, and droverd keeps serving ---
head = b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
for body in (b"<methodCall><methodName>supervisor.getPID</methodName><params><param>",
             b"this is not XML", b"",
             b"<methodCall><params/></methodCall>"):
    answer = raw(head % len(body) + body)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert rpc_fault_code(answer) == -32700, answer
big = b"<methodCall><methodName>supervisor.getPID</methodName><params><param><value><string>" + \
      b"x" * (10 << 20) + b"</string></value></param></params></methodCall>"
answer = raw(head % len(big) + big)
assert rpc_fault_code(answer) == 30, answer[:300]
assert b"larger than 1 MiB" in answer
assert raw(b"GET /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405 ")
assert raw(b"POST /elsewhere HTTP/1.1\r\nContent-Length: 0\r\n\r\n").startswith(b"HTTP/1.1 404 ")
assert raw(b"POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").startswith(b"HTTP/1.1 501 ")
assert raw(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 411 ")
assert raw(b"GET /logtail/nosuch/stdout HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
assert sv.getPID() == DAEMON_PID
assert all(i["statename"] == "RUNNING" for i in sv.getAllProcessInfo())
print("ALL OK")
