#!/usr/bin/python3
"""A local fake of the Telegram Bot API for wingman-telegram's tests.

Speaks the real wire format: POST (or GET) /bot<TOKEN>/<method> with JSON,
form or query parameters; answers {"ok": true, "result": ...} or
{"ok": false, "error_code": N, "description": "...", "parameters": {...}}.
Implements getMe, getUpdates (offset confirms, limit, long polling with
timeout, allowed_updates), sendMessage, editMessageText,
editMessageReplyMarkup and answerCallbackQuery, and checks what the real
API checks that matters here: the token in the URL, the chat, text length,
HTML parse mode (only supported tags, balanced, every & < > escaped),
callback_data of 1-64 bytes, "message is not modified", stale query ids,
and that reply_to_message_id names a message of the chat (unless
allow_sending_without_reply).

Control endpoints for the test (no token), JSON in and out:
  POST /_control/press    {"presses": [{"from_id", "chat_id", "message_id",
                           "data", "omit_message"?, "from_is_bot"?}]}
                          appends callback_query updates atomically (one
                          getUpdates answer can carry them all);
                          answers {"updates": [{"update_id", "callback_query_id"}]}
  POST /_control/message  {"from_id", "chat_id", "text", "date"?, "forwarded"?}
                          a person posts text in a chat: the message is kept
                          (replies may point at it) and a "message" update
                          carries it, with a bot_command entity when the text
                          starts with "/"; answers {"update_id", "message_id"}
  POST /_control/update   {"update": {...}} a raw update (update_id added)
  POST /_control/fail     {"method": M|"*", "mode": "429"|"500"|"502"|"garbage"|
                           "not_envelope"|"timeout", "count": N, "retry_after": S}
                          the next N calls of M fail that way
  GET  /_control/calls[?method=M]   every request received, in order
  GET  /_control/messages           the chat's messages as they stand
  GET  /_control/state              pending updates, confirmed offset

Run: fake_telegram.py --token TOKEN --port-file FILE [--lifetime S]
Listens on 127.0.0.1, an ephemeral port written to FILE; exits after
--lifetime seconds (default 600) whatever happens.
"""

import argparse
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOT_ID = 424242
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre",
                "a", "span", "tg-spoiler", "blockquote", "tg-emoji"}
TAG_RE = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+="[^"<>]*")*)\s*>')
ENT_RE = re.compile(r'&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});')
ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
API_METHODS = {"getMe", "getUpdates", "sendMessage", "editMessageText", "editMessageReplyMarkup",
               "answerCallbackQuery"}


class ApiError(Exception):
    def __init__(self, code, description, parameters=None, http=None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters
        self.http = http or code


def html_to_text(s):
    """Telegram's HTML parse mode, strictly: returns the visible text."""
    out, stack, i = [], [], 0
    while i < len(s):
        c = s[i]
        if c == "<":
            m = TAG_RE.match(s, i)
            if not m:
                raise ApiError(400, "Bad Request: can't parse entities: Unclosed start tag at "
                               "byte offset %d" % len(s[:i].encode()))
            name = m.group(2).lower()
            if name not in ALLOWED_TAGS:
                raise ApiError(400, "Bad Request: can't parse entities: Unsupported start tag "
                               "\"%s\" at byte offset %d" % (name, len(s[:i].encode())))
            if m.group(1):
                if not stack or stack[-1] != name:
                    raise ApiError(400, "Bad Request: can't parse entities: Unmatched end tag "
                                   "at byte offset %d, expected \"</%s>\", found \"</%s>\""
                                   % (len(s[:i].encode()), stack[-1] if stack else "", name))
                stack.pop()
            else:
                stack.append(name)
            i = m.end()
            continue
        if c == "&":
            m = ENT_RE.match(s, i)
            if not m:
                raise ApiError(400, "Bad Request: can't parse entities: Character '&' is "
                               "reserved and must be escaped at byte offset %d" % len(s[:i].encode()))
            e = m.group(1)
            out.append(ENTITIES[e] if e in ENTITIES else
                       chr(int(e[2:], 16) if e.startswith("#x") else int(e[1:])))
            i = m.end()
            continue
        if c == ">":
            raise ApiError(400, "Bad Request: can't parse entities: Character '>' is reserved "
                           "and must be escaped at byte offset %d" % len(s[:i].encode()))
        out.append(c)
        i += 1
    if stack:
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end tag "
                       "corresponding to start tag \"%s\"" % stack[-1])
    return "".join(out)


def utf16_len(s):
    return sum(2 if ord(c) > 0xFFFF else 1 for c in s)


class Fake:
    def __init__(self, token):
        self.token = token
        self.lock = threading.Condition()
        self.updates = []          # pending, oldest first
        self.next_update_id = 700000001
        self.confirmed = 0         # highest offset a getUpdates confirmed with
        self.messages = {}         # (chat_id, message_id) -> message
        # Message ids of a real chat are never reused; the state the bot
        # keeps (PostgreSQL) outlives one fake, so each fake starts elsewhere.
        self.next_message_id = random.randint(1, 1 << 30)
        self.queries = {}          # callback_query_id -> answered?
        self.next_query = 1
        self.calls = []
        self.failures = []         # [{"method", "mode", "count", "retry_after"}]

    # -- helpers --
    def record(self, **kw):
        with self.lock:
            kw["seq"] = len(self.calls) + 1
            kw["time"] = time.time()
            self.calls.append(kw)

    def take_failure(self, method):
        with self.lock:
            for f in self.failures:
                if f["count"] > 0 and f["method"] in (method, "*"):
                    f["count"] -= 1
                    return dict(f)
        return None

    @staticmethod
    def markup_ok(markup):
        if markup is None:
            return
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button")
        for row in markup["inline_keyboard"]:
            if not isinstance(row, list):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button")
            for b in row:
                if not isinstance(b, dict) or not isinstance(b.get("text"), str) or not b["text"]:
                    raise ApiError(400, "Bad Request: can't parse inline keyboard button")
                d = b.get("callback_data")
                if not isinstance(d, str) or not 1 <= len(d.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    @staticmethod
    def text_of(params):
        text = params.get("text")
        if not isinstance(text, str) or text == "":
            raise ApiError(400, "Bad Request: message text is empty")
        visible = html_to_text(text) if params.get("parse_mode") == "HTML" else text
        if params.get("parse_mode") not in (None, "HTML"):
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        if utf16_len(visible) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return visible

    @staticmethod
    def int_param(params, name):
        v = params.get(name)
        try:
            return int(v)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: %s is invalid" % name)

    def public_message(self, m):
        sender = {"id": BOT_ID, "is_bot": True, "first_name": "Wingman",
                  "username": "wingman_test_bot"}
        if m.get("from_id") is not None:
            sender = {"id": m["from_id"], "is_bot": False, "first_name": "User%s" % m["from_id"]}
        out = {"message_id": m["message_id"], "from": sender,
               "chat": {"id": m["chat_id"], "type": "supergroup", "title": "Approvers"},
               "date": m["date"], "text": m["text"]}
        if m.get("entities"):
            out["entities"] = m["entities"]
        if m.get("reply_to") is not None:
            replied = self.messages.get((m["chat_id"], m["reply_to"]))
            if replied is not None:
                out["reply_to_message"] = {"message_id": replied["message_id"],
                                           "date": replied["date"], "text": replied["text"],
                                           "chat": out["chat"]}
        if m.get("edit_date"):
            out["edit_date"] = m["edit_date"]
        if m.get("reply_markup") and m["reply_markup"].get("inline_keyboard"):
            out["reply_markup"] = m["reply_markup"]
        return out

    # -- Bot API methods --
    def getMe(self, params):
        return {"id": BOT_ID, "is_bot": True, "first_name": "Wingman",
                "username": "wingman_test_bot"}

    def getUpdates(self, params):
        offset = int(params.get("offset", 0) or 0)
        limit = max(1, min(100, int(params.get("limit", 100) or 100)))
        timeout = max(0, min(50, int(params.get("timeout", 0) or 0)))
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        deadline = time.time() + timeout
        with self.lock:
            if offset > 0:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                self.confirmed = max(self.confirmed, offset)
            while True:
                ready = [u for u in self.updates
                         if not allowed or any(k in u for k in allowed)]
                if ready or time.time() >= deadline:
                    return ready[:limit]
                self.lock.wait(min(0.2, max(0.0, deadline - time.time())))

    def sendMessage(self, params):
        chat = self.int_param(params, "chat_id")
        visible = self.text_of(params)
        markup = self.markup_ok(params.get("reply_markup"))
        reply_to = None
        if params.get("reply_to_message_id") is not None:
            reply_to = self.int_param(params, "reply_to_message_id")
        without = params.get("allow_sending_without_reply") in (True, "true", "True", "1")
        with self.lock:
            if reply_to is not None and (chat, reply_to) not in self.messages:
                if not without:
                    raise ApiError(400, "Bad Request: message to be replied not found")
                reply_to = None
            m = {"message_id": self.next_message_id, "chat_id": chat, "date": int(time.time()),
                 "text": visible, "html": params["text"], "reply_markup": markup,
                 "reply_to": reply_to}
            self.next_message_id += 1
            self.messages[(chat, m["message_id"])] = m
            return self.public_message(m)

    def _edit(self, params, text_too):
        chat = self.int_param(params, "chat_id")
        mid = self.int_param(params, "message_id")
        markup = self.markup_ok(params.get("reply_markup"))
        visible = self.text_of(params) if text_too else None
        with self.lock:
            m = self.messages.get((chat, mid))
            if m is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            new_text = visible if text_too else m["text"]
            old_kb = (m.get("reply_markup") or {}).get("inline_keyboard") or []
            new_kb = (markup or {}).get("inline_keyboard") or []
            if new_text == m["text"] and old_kb == new_kb and \
                    (not text_too or params["text"] == m["html"]):
                raise ApiError(400, "Bad Request: message is not modified: specified new "
                               "message content and reply markup are exactly the same as a "
                               "current content and reply markup of the message")
            if text_too:
                m["text"], m["html"] = visible, params["text"]
            m["reply_markup"] = markup
            m["edit_date"] = int(time.time())
            m.setdefault("edits", 0)
            m["edits"] += 1
            return self.public_message(m)

    def editMessageText(self, params):
        return self._edit(params, True)

    def editMessageReplyMarkup(self, params):
        return self._edit(params, False)

    def answerCallbackQuery(self, params):
        qid = params.get("callback_query_id")
        text = params.get("text", "")
        if not isinstance(text, str) or utf16_len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        with self.lock:
            if qid not in self.queries or self.queries[qid]:
                raise ApiError(400, "Bad Request: query is too old and response timeout "
                               "expired or query ID is invalid")
            self.queries[qid] = True
        return True

    # -- control --
    def add_presses(self, presses):
        out = []
        with self.lock:
            for p in presses:
                qid = "%d%06d" % (BOT_ID, self.next_query)
                self.next_query += 1
                self.queries[qid] = False
                cq = {"id": qid,
                      "from": {"id": p["from_id"], "is_bot": bool(p.get("from_is_bot")),
                               "first_name": "User%s" % p["from_id"]},
                      "chat_instance": "-5550001"}
                if not p.get("omit_message"):
                    m = self.messages.get((p.get("chat_id"), p.get("message_id")))
                    msg = self.public_message(m) if m else {
                        "message_id": p.get("message_id", 1), "date": int(time.time()),
                        "chat": {"id": p.get("chat_id"), "type": "supergroup"}, "text": ""}
                    msg["chat"]["id"] = p.get("chat_id")
                    cq["message"] = msg
                if "data" in p and p["data"] is not None:
                    cq["data"] = p["data"]
                u = {"update_id": self.next_update_id, "callback_query": cq}
                self.next_update_id += 1
                self.updates.append(u)
                out.append({"update_id": u["update_id"], "callback_query_id": qid})
            self.lock.notify_all()
        return out

    def add_message(self, p):
        text = p.get("text", "")
        with self.lock:
            m = {"message_id": self.next_message_id, "chat_id": p["chat_id"],
                 "from_id": p["from_id"], "date": int(p.get("date") or time.time()),
                 "text": text, "html": text, "reply_markup": None, "reply_to": None}
            if text.startswith("/"):
                word = re.match(r"/\S*", text).group(0)
                m["entities"] = [{"type": "bot_command", "offset": 0,
                                  "length": utf16_len(word)}]
            self.next_message_id += 1
            self.messages[(p["chat_id"], m["message_id"])] = m
            msg = self.public_message(m)
            if p.get("forwarded"):
                msg["forward_origin"] = {"type": "hidden_user", "sender_user_name": "Someone",
                                         "date": m["date"] - 60}
                msg["forward_date"] = m["date"] - 60
            u = {"update_id": self.next_update_id, "message": msg}
            self.next_update_id += 1
            self.updates.append(u)
            self.lock.notify_all()
            return {"update_id": u["update_id"], "message_id": m["message_id"]}

    def add_update(self, update):
        with self.lock:
            update = dict(update)
            update.setdefault("update_id", self.next_update_id)
            self.next_update_id = max(self.next_update_id, update["update_id"]) + 1
            self.updates.append(update)
            self.lock.notify_all()
            return update["update_id"]


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body, ctype="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def params(self):
            url = urllib.parse.urlsplit(self.path)
            params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
            n = int(self.headers.get("Content-Length") or 0)
            if n > 1 << 20:
                raise ApiError(400, "Bad Request: request too large")
            body = self.rfile.read(n) if n else b""
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if body and ctype == "application/json":
                try:
                    obj = json.loads(body)
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON")
                if not isinstance(obj, dict):
                    raise ApiError(400, "Bad Request: parameters must be an object")
                params.update(obj)
            elif body:
                params.update({k: v[-1] for k, v in urllib.parse.parse_qs(body.decode()).items()})
            return url.path, params

        def control(self, path, params):
            if path == "/_control/press":
                return {"updates": fake.add_presses(params.get("presses", []))}
            if path == "/_control/message":
                return fake.add_message(params)
            if path == "/_control/update":
                return {"update_id": fake.add_update(params["update"])}
            if path == "/_control/fail":
                with fake.lock:
                    fake.failures.append({"method": params.get("method", "*"),
                                          "mode": params.get("mode", "500"),
                                          "count": int(params.get("count", 1)),
                                          "retry_after": int(params.get("retry_after", 1))})
                return {"ok": True}
            if path == "/_control/calls":
                with fake.lock:
                    m = params.get("method")
                    return [c for c in fake.calls if not m or c["method"] == m]
            if path == "/_control/messages":
                with fake.lock:
                    return [dict(m, chat_id=k[0]) for k, m in sorted(fake.messages.items(),
                                                                    key=lambda kv: kv[0][1])]
            if path == "/_control/state":
                with fake.lock:
                    return {"pending": [u["update_id"] for u in fake.updates],
                            "confirmed": fake.confirmed}
            return None

        def handle_any(self):
            try:
                path, params = self.params()
            except ApiError as e:
                return self.reply(e.http, {"ok": False, "error_code": e.code,
                                           "description": e.description})
            if path.startswith("/_control/"):
                out = self.control(path, params)
                return self.reply(200 if out is not None else 404, out if out is not None else {})
            m = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", path)
            if not m:
                return self.reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            token_ok = m.group(1) == fake.token
            method = m.group(2)
            if not token_ok:
                fake.record(method=method, params=params, token_ok=False, status=401)
                return self.reply(401, {"ok": False, "error_code": 401,
                                        "description": "Unauthorized"})
            failure = fake.take_failure(method)
            if failure:
                fake.record(method=method, params=params, token_ok=True, injected=failure["mode"])
                mode = failure["mode"]
                if mode == "429":
                    return self.reply(429, {"ok": False, "error_code": 429,
                                            "description": "Too Many Requests: retry after %d"
                                            % failure["retry_after"],
                                            "parameters": {"retry_after": failure["retry_after"]}})
                if mode == "500":
                    return self.reply(500, {"ok": False, "error_code": 500,
                                            "description": "Internal Server Error"})
                if mode == "502":
                    return self.reply(502, b"<html><body>502 Bad Gateway</body></html>",
                                      "text/html")
                if mode == "not_envelope":
                    return self.reply(200, {"result": {"approved": True}})
                if mode == "timeout":
                    time.sleep(float(failure["retry_after"]))
                return self.reply(200, b"{\"ok\": tru\x00e garbage", "application/json")
            handler = getattr(fake, method) if method in API_METHODS else None
            if handler is None:
                fake.record(method=method, params=params, token_ok=True, status=404)
                return self.reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            try:
                result = handler(params)
            except ApiError as e:
                fake.record(method=method, params=params, token_ok=True, status=e.http,
                            error=e.description)
                return self.reply(e.http, {"ok": False, "error_code": e.code,
                                           "description": e.description,
                                           **({"parameters": e.parameters} if e.parameters else {})})
            fake.record(method=method, params=params, token_ok=True, status=200,
                        **({"result_count": len(result)} if method == "getUpdates" else {}))
            return self.reply(200, {"ok": True, "result": result})

        do_GET = handle_any
        do_POST = handle_any

    return Handler


def main():
    ap = argparse.ArgumentParser(description="fake Telegram Bot API")
    ap.add_argument("--token", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    fake = Fake(a.token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    server.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, a.port_file)
    timer = threading.Timer(a.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
