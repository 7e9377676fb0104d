#!/usr/bin/python3
"""Continuous SMTP load for end-to-end tests: several connections at once,
several messages per connection, every reply recorded.

    loadgen.py --port P --kinds KINDS.json --out RESULTS.jsonl
               [--count N] [--conns C] [--per-conn M] [--seconds S]
               [--stop-file F] [--progress FILE] [--credit-file FILE]

KINDS.json is a list of message kinds, used in turn (message i has kind
i % len): {"name": "...", "from": "a@x", "rcpts": ["b@y", ...],
"headers": ["Name: value", ...]}.  Each message gets a unique Message-ID
(<loadgen-I-HEX@e2e.test>).

Sending stops after N messages (default 400), after S seconds (default
120), or once the stop file exists, whichever comes first; C connections
(default 4) run in parallel, each carrying up to M messages (default 10)
before QUIT and a new connection.  RESULTS.jsonl gets one JSON object
per message: {"i", "kind", "message_id", "mail": [code, text],
"rcpts": [[addr, code, text], ...], "data": [code, text] or null,
"error": null or "..."}; a message whose connection failed is recorded
with its error, so nothing goes unaccounted.  PROGRESS (if given) holds
the number of messages finished so far, rewritten atomically.  With
--credit-file, message i is only started once the number in that file is
greater than i (a test paces the load against what it does meanwhile);
until the file exists, nothing is sent.
Standard library only.  Exit 0 when the run completed.
"""
import argparse
import json
import os
import smtplib
import sys
import threading
import time
import uuid
from email.utils import formatdate


def angle(a):
    return a if a.startswith("<") else "<" + a + ">"


def rep(code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [code, text.replace("\n", " ")]


class Run:
    def __init__(self, a, kinds):
        self.a = a
        self.kinds = kinds
        self.lock = threading.Lock()
        self.next = 0
        self.done = 0
        self.end = time.monotonic() + a.seconds
        self.out = open(a.out, "w", encoding="utf-8")

    def stopped(self):
        if time.monotonic() >= self.end:
            return True
        return bool(self.a.stop_file) and os.path.exists(self.a.stop_file)

    def credit(self):
        try:
            with open(self.a.credit_file, encoding="utf-8") as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def take(self):
        with self.lock:
            if self.next >= self.a.count or self.stopped():
                return None
            if self.a.credit_file:
                while self.credit() <= self.next:
                    if self.stopped():
                        return None
                    time.sleep(0.01)
            i = self.next
            self.next += 1
            return i

    def record(self, res):
        with self.lock:
            self.out.write(json.dumps(res, ensure_ascii=False) + "\n")
            self.out.flush()
            self.done += 1
            if self.a.progress:
                tmp = self.a.progress + ".tmp"
                with open(tmp, "w") as f:
                    f.write("%d\n" % self.done)
                os.rename(tmp, self.a.progress)


def message(i, k):
    mid = "<loadgen-%d-%s@e2e.test>" % (i, uuid.uuid4().hex[:12])
    hdrs = ["From: <%s>" % k["from"], "To: undisclosed-recipients:;",
            "Subject: load %d (%s)" % (i, k["name"]),
            "Date: %s" % formatdate(localtime=False), "Message-ID: %s" % mid]
    hdrs += k.get("headers") or []
    text = "\r\n".join(hdrs) + "\r\n\r\nLoad message %d.\r\n" % i
    return mid, text.encode("utf-8")


def send_one(s, i, k):
    mid, raw = message(i, k)
    res = {"i": i, "kind": k["name"], "message_id": mid, "mail": None,
           "rcpts": [], "data": None, "error": None}
    try:
        code, text = s.docmd("MAIL", "FROM:%s" % angle(k["from"]))
        res["mail"] = rep(code, text)
        if code != 250:
            s.docmd("RSET")
            return res, True
        ok = 0
        for r in k["rcpts"]:
            code, text = s.docmd("RCPT", "TO:%s" % angle(r))
            res["rcpts"].append([r] + rep(code, text))
            ok += code in (250, 251)
        if ok == 0:
            s.docmd("RSET")
            return res, True
        code, text = s.docmd("DATA")
        if code != 354:
            res["data"] = rep(code, text)
            return res, True
        lines = raw.split(b"\r\n")
        body = b"\r\n".join((b"." + l) if l.startswith(b".") else l for l in lines)
        s.send(body + b".\r\n")
        code, text = s.getreply()
        res["data"] = rep(code, text)
        return res, True
    except (smtplib.SMTPException, OSError) as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
        return res, False


def worker(run):
    while True:
        i = run.take()
        if i is None:
            return
        s = smtplib.SMTP(timeout=60)
        try:
            code, text = s.connect("127.0.0.1", run.a.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, text)
            code, text = s.ehlo("load.e2e.test")
            if code != 250:
                raise smtplib.SMTPHeloError(code, text)
        except (smtplib.SMTPException, OSError) as e:
            run.record({"i": i, "kind": run.kinds[i % len(run.kinds)]["name"],
                        "message_id": None, "mail": None, "rcpts": [],
                        "data": None,
                        "error": "connect: %s: %s" % (type(e).__name__, e)})
            try:
                s.close()
            except OSError:
                pass
            continue
        n = 0
        while i is not None:
            res, alive = send_one(s, i, run.kinds[i % len(run.kinds)])
            run.record(res)
            n += 1
            if not alive or n >= run.a.per_conn:
                break
            i = run.take()
        try:
            s.docmd("QUIT")
        except (smtplib.SMTPException, OSError):
            pass
        try:
            s.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description="SMTP load for tests")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--kinds", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--per-conn", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--stop-file")
    ap.add_argument("--progress")
    ap.add_argument("--credit-file")
    a = ap.parse_args()
    with open(a.kinds, encoding="utf-8") as f:
        kinds = json.load(f)
    if not kinds:
        ap.error("no kinds")
    run = Run(a, kinds)
    ts = [threading.Thread(target=worker, args=(run,)) for _ in range(a.conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    run.out.close()
    sys.stderr.write("loadgen: %d messages\n" % run.done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
