#!/usr/bin/python3
"""A local stand-in for the two LLM wire formats wingman-consensus speaks.

  POST /<behaviour>/v1/chat/completions   OpenAI Chat Completions
  POST /<behaviour>/v1/messages           Anthropic Messages

So an `openai` voter points at  http://127.0.0.1:PORT/<behaviour>/v1
and an `anthropic` voter at     http://127.0.0.1:PORT/<behaviour>

The server checks each request the way the real APIs do (method, path,
headers, body shape, the key if one is sent), answers in the real wire
format, and appends what it received to the --record file, one JSON object
a line: {"method", "path", "headers", "body", "status", "violations"}.
A request that breaks the wire format gets a 400 and its violations are
recorded, so tests can assert there were none.

Behaviours: ok-low, ok-medium, ok-high, ok-critical, fenced, prose,
garbage (a non-JSON 200 body), garbage-text (no verdict in the text),
bad-verdict, two-answers, refusal, slow (sleeps --slow seconds, then
ok-low), gatherN (holds each request until N gatherN requests have arrived,
then answers ok-low; at most --slow seconds: so N voters all vote only when
they were asked at the same time, whatever the clock), 429, 500, 401-echo (an error that quotes the received key),
big (a body over 256 KiB).

It listens on 127.0.0.1 on an ephemeral port, prints the port on the first
line of standard output, and stops by itself after --lifetime seconds.
Standard library only: run it with Debian's /usr/bin/python3.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERDICTS = {
    "ok-low": {"risk": "low", "approve": True, "reasons": ["read-only command on a test container"]},
    "ok-medium": {"risk": "medium", "approve": False, "reasons": ["a restart interrupts the service"]},
    "ok-high": {"risk": "high", "approve": False, "reasons": ["the model finds this risky",
                                                              "a human should look"]},
    "ok-critical": {"risk": "critical", "approve": False, "reasons": ["destructive"]},
}
ANTHROPIC_VERSION = "2023-06-01"


def verdict_text(behaviour):
    low = json.dumps(VERDICTS["ok-low"])
    if behaviour in VERDICTS:
        return json.dumps(VERDICTS[behaviour])
    if behaviour == "slow" or behaviour.startswith("gather"):
        return low
    if behaviour == "fenced":
        return "```json\n" + json.dumps(VERDICTS["ok-low"], indent=2) + "\n```"
    if behaviour == "prose":
        return ("Sure. I looked at the request carefully.\nHere is my assessment: " + low +
                "\nLet me know if you need anything else.")
    if behaviour == "garbage-text":
        return "I think it is fine, go ahead."
    if behaviour == "bad-verdict":
        return '{"risk": "minimal", "approve": "yes", "reasons": []}'
    if behaviour == "two-answers":
        return low + " or maybe " + json.dumps(VERDICTS["ok-high"])
    return None


class State:
    def __init__(self, record, key, slow):
        self.record = record
        self.key = key
        self.slow = slow
        self.lock = threading.Lock()
        self.count = 0
        self.gathered = {}
        self.gather = threading.Condition()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-llm/1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj, extra=None):
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        self.reply_only(405)

    def reply_only(self, status):
        self.record({"method": self.command, "path": self.path, "headers": {}, "body": None,
                     "status": status, "violations": ["method"]})
        self.send_json(status, {"error": {"message": "method not allowed"}})

    def record(self, entry):
        state = self.server.state
        with state.lock:
            state.count += 1
            with open(state.record, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def do_POST(self):
        state = self.server.state
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length", "0"))
        raw = self.rfile.read(length) if length > 0 else b""
        violations = []
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
            violations.append("body is not JSON")
        parts = self.path.split("/")
        behaviour = parts[1] if len(parts) > 1 else ""
        if self.path.endswith("/v1/chat/completions"):
            kind = "openai"
        elif self.path.endswith("/v1/messages"):
            kind = "anthropic"
        else:
            self.record({"method": "POST", "path": self.path, "headers": headers, "body": body,
                         "status": 404, "violations": ["unknown path"]})
            self.send_json(404, {"error": {"message": "no such endpoint"}})
            return
        if not headers.get("content-type", "").startswith("application/json"):
            violations.append("content-type is not application/json")
        auth_status = None
        if kind == "openai":
            violations += check_openai(body, headers)
            auth = headers.get("authorization")
            if auth is not None and state.key is not None and auth != "Bearer " + state.key:
                auth_status = 401
        else:
            violations += check_anthropic(body, headers)
            key = headers.get("x-api-key")
            if key is not None and state.key is not None and key != state.key:
                auth_status = 401
        if violations:
            reply = error_reply(kind, 400, "invalid_request_error", "; ".join(violations))
        elif auth_status:
            reply = error_reply(kind, 401, "authentication_error", "invalid x-api-key")
        else:
            reply = answer(kind, behaviour, body, headers)
        self.record({"method": "POST", "path": self.path, "kind": kind, "headers": headers,
                     "body": body, "status": reply[0], "violations": violations})
        if behaviour == "slow":
            time.sleep(state.slow)
        if behaviour.startswith("gather") and behaviour[6:].isdigit():
            with state.gather:
                state.gathered[behaviour] = state.gathered.get(behaviour, 0) + 1
                state.gather.notify_all()
                state.gather.wait_for(
                    lambda: state.gathered[behaviour] >= int(behaviour[6:]), timeout=state.slow)
        self.send_json(*reply)


def error_reply(kind, status, etype, message, extra=None):
    if kind == "openai":
        obj = {"error": {"message": message, "type": etype, "param": None, "code": None}}
    else:
        obj = {"type": "error", "error": {"type": etype, "message": message}}
    return status, obj, extra


def answer(kind, behaviour, body, headers):
    """(status, body, extra headers) of the behaviour's reply."""
    model = body.get("model", "") if isinstance(body, dict) else ""
    if behaviour == "429":
        return error_reply(kind, 429, "rate_limit_error", "Rate limit reached for requests",
                           {"retry-after": "20"})
    if behaviour == "500":
        return error_reply(kind, 500, "api_error", "Internal server error")
    if behaviour == "401-echo":
        sent = headers.get("authorization", headers.get("x-api-key", ""))
        return error_reply(kind, 401, "invalid_request_error", "Incorrect API key provided: " + sent)
    if behaviour == "garbage":
        return 200, b"<html><body>502 Bad Gateway</body></html>", None
    if behaviour == "big":
        return 200, b'{"pad": "' + b"x" * (300 * 1024) + b'"}', None
    if behaviour == "refusal":
        if kind == "openai":
            return 200, openai_reply(model, None, refusal="I can't help with that."), None
        return 200, anthropic_reply(model, None, stop_reason="refusal"), None
    text = verdict_text(behaviour)
    if text is None:
        return error_reply(kind, 404, "not_found_error", "unknown behaviour " + behaviour)
    return 200, (openai_reply(model, text) if kind == "openai" else anthropic_reply(model, text)), None


def check_openai(body, headers):
    v = []
    if not isinstance(body, dict):
        return ["body is not an object"]
    if not isinstance(body.get("model"), str) or not body["model"]:
        v.append("model missing")
    msgs = body.get("messages")
    if (not isinstance(msgs, list) or len(msgs) != 2 or
            any(not isinstance(m, dict) or set(m) != {"role", "content"} or
                not isinstance(m["content"], str) for m in msgs)):
        v.append("messages must be [system, user] with string contents")
    elif [m["role"] for m in msgs] != ["system", "user"]:
        v.append("roles must be system then user")
    if body.get("temperature") != 0:
        v.append("temperature must be 0")
    if "x-api-key" in headers:
        v.append("x-api-key sent to an OpenAI endpoint")
    auth = headers.get("authorization")
    if auth is not None and not auth.startswith("Bearer "):
        v.append("authorization is not a Bearer token")
    return v


def check_anthropic(body, headers):
    v = []
    if headers.get("anthropic-version") != ANTHROPIC_VERSION:
        v.append("anthropic-version must be " + ANTHROPIC_VERSION)
    if "authorization" in headers:
        v.append("authorization sent to an Anthropic endpoint")
    if not isinstance(body, dict):
        return v + ["body is not an object"]
    if not isinstance(body.get("model"), str) or not body["model"]:
        v.append("model missing")
    mt = body.get("max_tokens")
    if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
        v.append("max_tokens must be a positive integer")
    if not isinstance(body.get("system"), str) or not body["system"]:
        v.append("system must be a string")
    msgs = body.get("messages")
    if (not isinstance(msgs, list) or len(msgs) != 1 or not isinstance(msgs[0], dict) or
            msgs[0].get("role") != "user" or not isinstance(msgs[0].get("content"), str)):
        v.append("messages must be one user message with string content")
    allowed = {"model", "max_tokens", "system", "messages", "temperature"}
    if set(body) - allowed:
        v.append("unexpected members " + ",".join(sorted(set(body) - allowed)))
    return v


def openai_reply(model, text, refusal=None):
    return {
        "id": "chatcmpl-fake0001", "object": "chat.completion", "created": int(time.time()),
        "model": model, "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                             "refusal": refusal},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def anthropic_reply(model, text, stop_reason="end_turn"):
    return {
        "id": "msg_fake0001", "type": "message", "role": "assistant", "model": model,
        "content": [] if text is None else [{"type": "text", "text": text}],
        "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 20},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", required=True, help="JSONL file of received requests")
    ap.add_argument("--key", help="the only API key accepted when one is sent")
    ap.add_argument("--lifetime", type=float, default=120.0, help="seconds before it stops")
    ap.add_argument("--slow", type=float, default=30.0, help="seconds the slow behaviour sleeps")
    args = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args.record, args.key, min(args.slow, args.lifetime))
    open(args.record, "a").close()
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
