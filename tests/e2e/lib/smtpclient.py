#!/usr/bin/python3
"""SMTP client for end-to-end tests: sends mail, records every reply.

One message from the command line:
    smtpclient.py --port P --from SENDER --rcpt A --rcpt B [--rcpt-file F]
                  [--header 'Name: value']... [--subject S]
                  [--body TEXT | --body-file F | --message-file F]
                  [--mail-params 'SMTPUTF8'] [--out FILE]
or several messages on one connection:
    smtpclient.py --port P --spec SPEC.json [--out FILE]
where SPEC.json is a list of objects with the keys from, rcpts, headers
(list of "Name: value"), subject, body, message (raw message text, used
instead of headers/subject/body), mail_params, message_id.

Addresses are sent exactly as given, inside <> unless they already start
with '<' (so "Alice@Example.COM" and '"john doe"@example.com' reach the
server as typed).  A generated message gets a unique Message-ID (printed
in the result) so the test can find it at the sink.

The result (JSON, to --out or stdout):
  {"connect": {"code", "text"}, "ehlo": {...},
   "messages": [{"message_id", "mail": {...},
                 "rcpts": [{"rcpt", "code", "text"}, ...],
                 "data": {"code", "text"} or null (not sent: no recipient
                         accepted, or MAIL failed),
                 "queue_id": "..." or null, "error": null or "..."}]}
Exit status 0 whenever the dialogue took place (whatever the replies),
2 if the server could not be reached.

--pause-before-data DIR: after the last RCPT, create DIR/ready and wait
(up to --pause-timeout seconds) for DIR/go before sending DATA, so a test
can act (e.g. stop the milter) in the middle of a transaction.
--force-data sends DATA even if no recipient was accepted.
"""
import argparse
import json
import os
import smtplib
import socket
import sys
import time
import uuid
from email.utils import formatdate


def reply(code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return {"code": code, "text": text.replace("\n", " ")}


def angle(addr):
    return addr if addr.startswith("<") else "<" + addr + ">"


def build_message(m):
    if m.get("message") is not None:
        raw = m["message"]
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        # normalize line ends to CRLF
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        mid = None
        for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                mid = line.split(b":", 1)[1].strip().decode("utf-8", "replace")
        return raw, mid
    mid = m.get("message_id") or "<%s@e2e.test>" % uuid.uuid4().hex
    sender = m["from"] or "MAILER-DAEMON"
    hdrs = [
        "From: <%s>" % sender.strip("<>"),
        "To: undisclosed-recipients:;",
        "Subject: %s" % (m.get("subject") or "e2e test"),
        "Date: %s" % formatdate(localtime=False),
        "Message-ID: %s" % mid,
    ]
    hdrs += list(m.get("headers") or [])
    body = m.get("body")
    if body is None:
        body = "Test message %s.\n" % mid
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    text = "\n".join(hdrs) + "\n\n" + body
    raw = text.encode("utf-8").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return raw, mid


def dot_stuff(raw):
    lines = raw.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = b"\r\n".join((b"." + l) if l.startswith(b".") else l for l in lines)
    return out + b"\r\n.\r\n"


def wait_go(d, timeout):
    open(os.path.join(d, "ready"), "w").close()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(os.path.join(d, "go")):
            return True
        time.sleep(0.05)
    return False


def send_one(s, m, args):
    res = {"message_id": None, "mail": None, "rcpts": [], "data": None,
           "queue_id": None, "error": None}
    raw, mid = build_message(m)
    res["message_id"] = mid
    try:
        params = m.get("mail_params") or ""
        cmd = "FROM:%s%s" % (angle(m["from"]), (" " + params) if params else "")
        code, text = s.docmd("MAIL", cmd)
        res["mail"] = reply(code, text)
        if code != 250:
            s.docmd("RSET")
            return res
        accepted = 0
        for r in m["rcpts"]:
            code, text = s.docmd("RCPT", "TO:%s" % angle(r))
            res["rcpts"].append(dict(rcpt=r, **reply(code, text)))
            if code in (250, 251):
                accepted += 1
        if args.pause_before_data:
            if not wait_go(args.pause_before_data, args.pause_timeout):
                res["error"] = "pause: no go within %ss" % args.pause_timeout
        if accepted == 0 and not args.force_data:
            s.docmd("RSET")
            return res
        code, text = s.docmd("DATA")
        if code != 354:
            res["data"] = reply(code, text)
            return res
        s.send(dot_stuff(raw))
        code, text = s.getreply()
        res["data"] = reply(code, text)
        t = res["data"]["text"]
        if code == 250 and "queued as " in t:
            res["queue_id"] = t.rsplit("queued as ", 1)[1].split()[0]
    except (smtplib.SMTPException, OSError) as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    return res


def main():
    ap = argparse.ArgumentParser(description="SMTP test client")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--helo", default="client.e2e.test")
    ap.add_argument("--from", dest="sender")
    ap.add_argument("--rcpt", action="append", default=[])
    ap.add_argument("--rcpt-file")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--subject")
    ap.add_argument("--body")
    ap.add_argument("--body-file")
    ap.add_argument("--message-file")
    ap.add_argument("--mail-params", default="")
    ap.add_argument("--message-id")
    ap.add_argument("--spec")
    ap.add_argument("--out")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--pause-before-data")
    ap.add_argument("--pause-timeout", type=float, default=30.0)
    ap.add_argument("--force-data", action="store_true")
    args = ap.parse_args()

    if args.spec:
        with open(args.spec, encoding="utf-8") as f:
            msgs = json.load(f)
    else:
        if args.sender is None:
            ap.error("--from is required without --spec")
        rcpts = list(args.rcpt)
        if args.rcpt_file:
            with open(args.rcpt_file, encoding="utf-8") as f:
                rcpts += [l.rstrip("\r\n") for l in f if l.strip()]
        m = {"from": args.sender, "rcpts": rcpts, "headers": args.header,
             "subject": args.subject, "mail_params": args.mail_params,
             "message_id": args.message_id}
        if args.message_file:
            with open(args.message_file, "rb") as f:
                m["message"] = f.read()
        elif args.body_file:
            with open(args.body_file, "rb") as f:
                m["body"] = f.read()
        elif args.body is not None:
            m["body"] = args.body
        msgs = [m]

    out = {"connect": None, "ehlo": None, "messages": []}
    rc = 0
    s = smtplib.SMTP(timeout=args.timeout)
    s.command_encoding = "utf-8"
    try:
        code, text = s.connect(args.host, args.port)
        out["connect"] = reply(code, text)
        if code == 220:
            code, text = s.ehlo(args.helo)
            out["ehlo"] = reply(code, text)
            if code == 250:
                for m in msgs:
                    out["messages"].append(send_one(s, m, args))
            try:
                s.docmd("QUIT")
            except (smtplib.SMTPException, OSError):
                pass
    except (smtplib.SMTPException, OSError, socket.timeout) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        if out["connect"] is None:
            rc = 2
    finally:
        try:
            s.close()
        except OSError:
            pass
    text = json.dumps(out, ensure_ascii=False, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return rc


if __name__ == "__main__":
    sys.exit(main())
