#!/usr/bin/python3
"""Minimal MTA side of the milter protocol, for reply-text checks.

miltertest reports a custom reply only as SMFIR_REPLYCODE; this client
prints the text too.  Usage:

  mproto.py SOCKET [--ip IP] [--port N] [--repeat N]
            [--macro STAGE NAME VALUE]...
            [--prot HEX] [--neg]
            [--mail ADDR] [--rcpt ADDR]... [--data] [--header NAME VALUE]...
            [--eoh] [--eom] [--abort] [--then-macro STAGE NAME VALUE]

SOCKET is unix:PATH or inet:PORT@HOST.  One line per step is printed:
  STEP ARG REPLY [TEXT]
e.g. "RCPT <bob@x> y 550 5.7.1 <bob@x>: no consent ..." (y = replycode,
c = continue, a = accept, r = reject, t = tempfail).  --eom ends the
message right after the recipients, without DATA or headers (as an MTA
that sends none would), and prints the final reply as "EOM - R [TEXT]",
after one line per recipient removed ("DELRCPT <addr>") or added
("ADDRCPT <addr>") and header added ("ADDHEADER Name: value").  --port: the client port of CONNECT
(default 25; Postfix's non-SMTP emulation sends 0).
--abort aborts the message (SMFIC_ABORT, no reply).  --then-macro is a
step too: from there on, the macro is sent at STAGE as well (Postfix
sends the queue id "i" only from the second RCPT on).
The steps are sent in the order given (several messages per connection
are fine); once the filter accepts or discards a message at RCPT, the
rest of that message is not sent ("STEP ARG skipped"), as an MTA does.
--data, --header and --eoh are sent as Postfix sends them:
the stage's macros first (also for a step the filter negotiated away),
and a step the filter negotiated away is not sent ("STEP ARG n"); a step
that needs no reply (SMFIP_NR_*, connect included) is sent without
waiting for one, as Postfix does, and prints "-".  exchange() does the
same for hand-written clients.  --prot: the protocol flags the MTA
offers (default all of version 6); --neg prints "NEG" and the names of
the SMFIP_NO*/NR_* flags the filter asked for.
"""
import socket
import struct
import sys

SMFI_VERSION = 6
ACTS = 0x1FF
PROT = 0x1FFFFF
NR = {"C": 0x1000, "H": 0x2000, "M": 0x4000, "R": 0x8000, "T": 0x10000,
      "L": 0x80, "N": 0x40000}
NO = {"C": 0x1, "M": 0x4, "R": 0x8, "T": 0x200, "L": 0x20, "N": 0x40}
FLAGS = [(0x1, "NOCONNECT"), (0x2, "NOHELO"), (0x4, "NOMAIL"),
         (0x8, "NORCPT"), (0x10, "NOBODY"), (0x20, "NOHDRS"), (0x40, "NOEOH"),
         (0x80, "NR_HDR"), (0x100, "NOUNKNOWN"), (0x200, "NODATA"),
         (0x1000, "NR_CONN"), (0x2000, "NR_HELO"), (0x4000, "NR_MAIL"),
         (0x8000, "NR_RCPT"), (0x10000, "NR_DATA"), (0x40000, "NR_EOH"),
         (0x80000, "NR_BODY")]


def send(s, cmd, data=b""):
    s.sendall(struct.pack(">I", len(data) + 1) + cmd.encode() + data)


def exchange(s, prot, code, data=b""):
    """Send step CODE as Postfix does under the negotiated flags PROT:
    None for a step negotiated away (not sent), or for one that needs no
    reply (SMFIP_NR_*: sent, no reply awaited); else the reply as
    recv() gives it."""
    if prot & NO.get(code, 0):
        return None
    send(s, code, data)
    if prot & NR.get(code, 0):
        return None
    return recv(s)


def open_unix(path, offer=PROT):
    """A connection to the filter's unix socket PATH, negotiated as Postfix
    does (offering OFFER): (socket, the protocol flags the filter took)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(10)
    send(s, "O", struct.pack(">III", SMFI_VERSION, ACTS, offer))
    _, data = recv(s)
    return s, struct.unpack(">III", data[:12])[2]


def recv(s):
    hdr = b""
    while len(hdr) < 4:
        chunk = s.recv(4 - len(hdr))
        if not chunk:
            raise EOFError("connection closed")
        hdr += chunk
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            raise EOFError("connection closed")
        body += chunk
    return chr(body[0]), body[1:]


def main(argv):
    sockspec = argv[1]
    ip = "127.0.0.1"
    port = 25
    repeat = 1
    offer = PROT
    neg = False
    macros = []
    steps = []
    i = 2
    while i < len(argv):
        a = argv[i]
        if a == "--ip":
            ip = argv[i + 1]
            i += 2
        elif a == "--port":
            port = int(argv[i + 1])
            i += 2
        elif a == "--repeat":
            repeat = int(argv[i + 1])
            i += 2
        elif a == "--macro":
            macros.append((argv[i + 1], argv[i + 2], argv[i + 3]))
            i += 4
        elif a == "--eom":
            steps.append(("EOM", "-"))
            i += 1
        elif a == "--abort":
            steps.append(("ABORT", "-"))
            i += 1
        elif a == "--then-macro":
            steps.append(("MACRO", (argv[i + 1], argv[i + 2], argv[i + 3])))
            i += 4
        elif a == "--prot":
            offer = int(argv[i + 1], 16)
            i += 2
        elif a == "--neg":
            neg = True
            i += 1
        elif a in ("--data", "--eoh"):
            steps.append((a[2:].upper(), "-"))
            i += 1
        elif a == "--header":
            steps.append(("HEADER", (argv[i + 1], argv[i + 2])))
            i += 3
        elif a in ("--mail", "--rcpt"):
            steps.append((a[2:].upper(), argv[i + 1]))
            i += 2
        else:
            raise SystemExit("unknown argument " + a)
    for _ in range(repeat):
        session(sockspec, ip, port, macros, steps, offer, neg)
    return 0


def session(sockspec, ip, port, macros, steps, offer, neg):
    macros = list(macros)   # --then-macro adds to this session's only
    if sockspec.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sockspec[5:])
    else:
        sport, _, host = sockspec[5:].partition("@")
        s = socket.create_connection((host or "127.0.0.1", int(sport)))
    s.settimeout(10)

    send(s, "O", struct.pack(">III", SMFI_VERSION, ACTS, offer))
    cmd, data = recv(s)
    _, _, prot = struct.unpack(">III", data[:12])
    if prot & ~offer:
        raise SystemExit("the filter asked for steps not offered: 0x%x" %
                         (prot & ~offer))
    if neg:
        print("NEG", " ".join(n for f, n in FLAGS if prot & f))

    def macro(stage):
        items = [m for m in macros if m[0] == stage]
        if items:
            payload = stage.encode()
            for _, k, v in items:
                payload += k.encode() + b"\0" + v.encode() + b"\0"
            send(s, "D", payload)

    def step(name, code, payload, arg):
        if prot & NO.get(code, 0):
            print(name, arg, "n")
            return None
        if prot & NR.get(code, 0):
            send(s, code, payload)
            print(name, arg, "-")
            return None
        send(s, code, payload)
        r, body = recv(s)
        text = body.rstrip(b"\0").decode("utf-8", "replace")
        print(name, arg, r, text) if text else print(name, arg, r)
        sys.stdout.flush()
        return r

    macro("C")
    r = step("CONNECT", "C",
             b"client.example\0" + b"4" + struct.pack(">H", port) +
             ip.encode() + b"\0", ip)
    if r in ("a", "r", "t"):
        send(s, "Q")
        s.close()
        return
    done = False    # the filter accepted or discarded the message
    for name, arg in steps:
        if name == "MACRO":
            macros.append(arg)
            continue
        if done and name != "MAIL":
            # as an MTA: nothing more of this message goes to the filter
            print(name, arg if isinstance(arg, str) else arg[0], "skipped")
            continue
        if name == "ABORT":
            send(s, "A")
            print("ABORT -")
            continue
        if name == "EOM":
            send(s, "E")
            while True:
                r, body = recv(s)
                if r in ("a", "c", "r", "t", "y", "d"):
                    break
                parts = body.rstrip(b"\0").decode("utf-8", "replace")
                if r == "-":
                    print("DELRCPT", parts)
                elif r == "+":
                    print("ADDRCPT", parts)
                elif r == "h":
                    name, _, value = parts.partition("\0")
                    print("ADDHEADER %s: %s" % (name, value))
                elif r == "m":
                    f = body[4:].decode("utf-8", "replace").split("\0") + [""]
                    print("CHGHEADER %d %s: %s" % (int.from_bytes(body[:4], "big"), f[0], f[1]))
            text = body.rstrip(b"\0").decode("utf-8", "replace")
            print("EOM -", r, text) if text else print("EOM -", r)
            continue
        if name in ("DATA", "HEADER", "EOH"):
            code = {"DATA": "T", "HEADER": "L", "EOH": "N"}[name]
            macro(code)
            if name == "HEADER":
                payload = (arg[0].encode() + b"\0" + arg[1].encode() +
                           b"\0")
                arg = arg[0]
            else:
                payload = b""
            if prot & NO[code]:
                print(name, arg, "n")
                continue
            r = step(name, code, payload, arg)
            continue
        code = "M" if name == "MAIL" else "R"
        macro(code)
        r = step(name, code, arg.encode() + b"\0", arg)
        done = r in ("a", "d")
        if name == "MAIL" and r in ("a", "r", "t", "y"):
            break
    send(s, "Q")
    s.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
