#!/usr/bin/python3
"""Queries over client results (smtpclient.py) and the sink's store
(sink.py), for shell tests.  Prints plain text, one item per line.

  e2eq.py mail   RESULT [N]          "CODE TEXT" of MAIL in message N (0)
  e2eq.py rcpt   RESULT ADDR [N]     "CODE TEXT" of RCPT for ADDR (as sent)
  e2eq.py rcpts  RESULT [N]          "ADDR<TAB>CODE<TAB>TEXT" for every RCPT
  e2eq.py data   RESULT [N]          "CODE TEXT" of DATA, or "none"
  e2eq.py field  RESULT KEY [N]      message_id, queue_id, error of message N
  e2eq.py count  SINKDIR             number of delivered messages
  e2eq.py delivered SINKDIR [MID]    every delivered (message, recipient)
                                     pair's recipient, sorted (duplicates
                                     kept); only messages with Message-ID
                                     MID if given
  e2eq.py senders SINKDIR [MID]      envelope senders of those messages
  e2eq.py files  SINKDIR [MID]       paths of the raw messages (.eml)
  e2eq.py header SINKDIR MID NAME    values of header NAME in the (first)
                                     message with Message-ID MID
  e2eq.py body   SINKDIR MID         the body of that message, raw bytes
  e2eq.py has    SINKDIR MID         exit 0 if some message has it, else 1
"""
import email.parser
import email.policy
import glob
import json
import os
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def msg(res, n):
    msgs = res.get("messages") or []
    if n >= len(msgs):
        return None
    return msgs[n]


def fmt(r):
    if r is None:
        return "none"
    return "%d %s" % (r["code"], r["text"])


def sink_msgs(d):
    out = []
    for j in sorted(glob.glob(os.path.join(d, "msgs", "*.json"))):
        meta = load(j)
        meta["path"] = os.path.join(d, "msgs", meta["data"])
        out.append(meta)
    return out


def headers_of(path):
    with open(path, "rb") as f:
        raw = f.read()
    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        head, headersonly=True)


def message_id_of(path):
    h = headers_of(path)
    v = h.get("Message-ID")
    return str(v).strip() if v is not None else None


def select(d, mid):
    ms = sink_msgs(d)
    if mid:
        ms = [m for m in ms if message_id_of(m["path"]) == mid]
    return ms


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    cmd, src = argv[1], argv[2]
    rest = argv[3:]
    if cmd in ("mail", "data", "rcpts", "field", "rcpt"):
        res = load(src)
        if cmd == "rcpt":
            addr = rest[0]
            n = int(rest[1]) if len(rest) > 1 else 0
        elif cmd == "field":
            key = rest[0]
            n = int(rest[1]) if len(rest) > 1 else 0
        else:
            n = int(rest[0]) if rest else 0
        m = msg(res, n)
        if m is None:
            print("none")
            return 0
        if cmd == "mail":
            print(fmt(m["mail"]))
        elif cmd == "data":
            print(fmt(m["data"]))
        elif cmd == "field":
            v = m.get(key)
            print("none" if v is None else v)
        elif cmd == "rcpts":
            for r in m["rcpts"]:
                print("%s\t%d\t%s" % (r["rcpt"], r["code"], r["text"]))
        else:
            for r in m["rcpts"]:
                if r["rcpt"] == addr:
                    print(fmt(r))
                    return 0
            print("none")
        return 0
    mid = rest[0] if rest else None
    if cmd == "count":
        print(len(sink_msgs(src)))
    elif cmd == "delivered":
        out = []
        for m in select(src, mid):
            out += m["rcpts"]
        for a in sorted(out):
            print(a)
    elif cmd == "senders":
        for m in select(src, mid):
            print(m["mail_from"])
    elif cmd == "files":
        for m in select(src, mid):
            print(m["path"])
    elif cmd == "has":
        return 0 if select(src, mid) else 1
    elif cmd == "header":
        name = rest[1]
        ms = select(src, mid)
        if ms:
            for v in headers_of(ms[0]["path"]).get_all(name) or []:
                print(" ".join(str(v).split()))
    elif cmd == "body":
        ms = select(src, mid)
        if ms:
            with open(ms[0]["path"], "rb") as f:
                raw = f.read()
            parts = raw.split(b"\r\n\r\n", 1)
            sys.stdout.buffer.write(parts[1] if len(parts) > 1 else b"")
    else:
        sys.stderr.write("e2eq: unknown command %s\n" % cmd)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
