"""wingman-mcp on raw stdio: malformed and out-of-order messages.

    mcp_raw.py WINGMAN_MCP

Writes bytes no SDK would send and checks each reply (or its absence), and
that the server is still alive after all of them. Exits 1 on a failure.
"""

import json
import os
import select
import subprocess
import sys
import time

proc = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=open(os.environ.get("MCP_RAW_LOG", "/dev/null"), "wb"))
checks = 0
buf = b""


def fail(what):
    proc.kill()
    raise SystemExit(f"FAIL: {what}")


def ok(what):
    global checks
    checks += 1
    print(f"ok {checks} - {what}", flush=True)


def send(raw):
    proc.stdin.write(raw if isinstance(raw, bytes) else raw.encode())
    proc.stdin.flush()


def reply(timeout=10.0):
    """The next line on stdout as JSON, or None when none comes in time."""
    global buf
    end = time.monotonic() + timeout
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            return None
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            return None
        buf += chunk
    line, buf = buf.split(b"\n", 1)
    try:
        return json.loads(line)
    except ValueError:
        fail(f"stdout carried a line that is not JSON: {line[:200]!r}")


def expect_error(raw, code, id_, what):
    send(raw)
    r = reply()
    if r is None or r.get("jsonrpc") != "2.0" or r.get("error", {}).get("code") != code \
            or r.get("id") != id_ or "result" in r:
        fail(f"{what}: got {r}")
    ok(f"{what}: {code}")


INIT = {"jsonrpc": "2.0", "id": 10, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "0"}}}

expect_error("{not json\n", -32700, None, "malformed JSON")
expect_error('{"jsonrpc": "2.0", "id": 1, "method": "ping"\n', -32700, None, "truncated JSON")
expect_error('{"jsonrpc": "1.0", "id": 2, "method": "ping"}\n', -32600, 2, "wrong jsonrpc version")
expect_error('{"id": 3, "method": "ping"}\n', -32600, 3, "no jsonrpc member")
expect_error('{"jsonrpc": "2.0", "id": 4, "method": "tools/list"}\n', -32600, 4,
             "tools/list before initialize")
expect_error('{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": '
             '"request_commands", "arguments": {}}}\n', -32600, 5, "tools/call before initialize")
expect_error('[{"jsonrpc": "2.0", "id": 6, "method": "ping"}]\n', -32600, None, "a batch")
expect_error('"just a string"\n', -32600, None, "not an object")
expect_error('{"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}\n', -32600, None, "an object id")
expect_error('{"jsonrpc": "2.0", "id": 7, "method": 42}\n', -32600, 7, "a numeric method")
expect_error('{"jsonrpc": "2.0", "id": 8, "method": "initialize", "params": {}}\n', -32602, 8,
             "initialize without protocolVersion")
expect_error('{"jsonrpc": "2.0", "id": 9, "method": "no/such/method"}\n', -32601, 9,
             "unknown method")
expect_error(b'\xff\xfe\x00garbage\n', -32700, None, "binary garbage")
expect_error(b"[" * 100000 + b"\n", -32700, None, "deeply nested")
expect_error(b'{"a":"' + b"x" * (2 * 1024 * 1024) + b'"}\n', -32700, None, "a 2 MiB line")

# Notifications get no reply, even unknown or malformed ones.
send('{"jsonrpc": "2.0", "method": "notifications/whatever"}\n')
send('{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}}\n')
send("\n   \n")
send('{"jsonrpc": "2.0", "id": 11, "method": "ping"}\n')
r = reply()
if r != {"jsonrpc": "2.0", "id": 11, "result": {}}:
    fail(f"notifications were answered, or ping was not: {r}")
ok("notifications and blank lines get no reply; ping before initialize is answered")

send(json.dumps(INIT) + "\n")
r = reply()
if r is None or r.get("id") != 10 or r["result"]["protocolVersion"] != "2025-06-18" \
        or "tools" not in r["result"]["capabilities"]:
    fail(f"initialize: {r}")
ok("initialize negotiates the revision asked for (2025-06-18)")
init2 = dict(INIT, id=12)
expect_error(json.dumps(init2) + "\n", -32600, 12, "a second initialize")
send('{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')

expect_error('{"jsonrpc": "2.0", "id": 13, "method": "tools/call", "params": {"name": "nope"}}\n',
             -32602, 13, "unknown tool")
expect_error('{"jsonrpc": "2.0", "id": 14, "method": "tools/call", "params": {"name": '
             '"request_status", "arguments": [1]}}\n', -32602, 14, "arguments not an object")
expect_error('{"jsonrpc": "2.0", "id": 15, "method": "tools/call", "params": "x"}\n', -32602, 15,
             "params not an object")
send('{"jsonrpc": "2.0", "id": "s-16", "method": "tools/call", "params": {"name": '
     '"request_status", "arguments": {"request_id": 5}}}\n')
r = reply()
if r is None or r.get("id") != "s-16" or r["result"].get("isError") is not True:
    fail(f"a bad tool argument must be a tool error (isError): {r}")
ok("a bad tool argument is a tool result with isError, string id echoed")
send('{"jsonrpc": "2.0", "id": 17, "result": {}}\n')
send('{"jsonrpc": "2.0", "id": 18, "method": "tools/list"}\n')
r = reply()
if r is None or r.get("id") != 18 or len(r["result"]["tools"]) != 3:
    fail(f"tools/list after the noise: {r}")
ok("a stray response is ignored; tools/list still answers")

# A newer client: offered an unknown revision, the server answers with its own.
proc2 = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
out, _ = proc2.communicate(json.dumps(dict(INIT, params=dict(INIT["params"],
                                                             protocolVersion="2099-01-01"))).encode()
                           + b"\n", timeout=30)
r = json.loads(out.splitlines()[0])
if r["result"]["protocolVersion"] != "2025-11-25" or proc2.returncode != 0:
    fail(f"negotiation with an unknown revision: {r}, exit {proc2.returncode}")
ok("an unknown revision gets the newest served (2025-11-25); EOF ends the server cleanly")

if proc.poll() is not None:
    fail(f"the server died (exit {proc.returncode})")
ok("the server is still alive after every malformed message")
proc.stdin.close()
try:
    rc = proc.wait(timeout=15)
except subprocess.TimeoutExpired:
    fail("the server did not exit at end of input")
if rc != 0:
    fail(f"exit status {rc} at end of input")
ok("closing stdin ends the server with status 0")
print(f"{checks} passed, 0 failed")
