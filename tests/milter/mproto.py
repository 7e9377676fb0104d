#!/usr/bin/python3
"""Minimal MTA side of the milter protocol, for reply-text checks.

miltertest reports a custom reply only as SMFIR_REPLYCODE; this client
prints the text too.  Usage:

  mproto.py SOCKET [--ip IP] [--repeat N] [--macro STAGE NAME VALUE]...
            [--mail ADDR] [--rcpt ADDR]... [--eom]

SOCKET is unix:PATH or inet:PORT@HOST.  One line per step is printed:
  STEP ARG REPLY [TEXT]
e.g. "RCPT <bob@x> y 550 5.7.1 <bob@x>: no consent ..." (y = replycode,
c = continue, a = accept, r = reject, t = tempfail).  --eom ends the
message right after the recipients, without DATA or headers (as an MTA
that sends none would), and prints the final reply as "EOM - R [TEXT]".
"""
import socket
import struct
import sys

SMFI_VERSION = 6
ACTS = 0x1FF
PROT = 0x1FFFFF
NR = {"C": 0x1000, "H": 0x2000, "M": 0x4000, "R": 0x8000}


def send(s, cmd, data=b""):
    s.sendall(struct.pack(">I", len(data) + 1) + cmd.encode() + data)


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
    repeat = 1
    macros = []
    steps = []
    i = 2
    while i < len(argv):
        a = argv[i]
        if a == "--ip":
            ip = argv[i + 1]
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
        elif a in ("--mail", "--rcpt"):
            steps.append((a[2:].upper(), argv[i + 1]))
            i += 2
        else:
            raise SystemExit("unknown argument " + a)
    for _ in range(repeat):
        session(sockspec, ip, macros, steps)
    return 0


def session(sockspec, ip, macros, steps):
    if sockspec.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sockspec[5:])
    else:
        port, _, host = sockspec[5:].partition("@")
        s = socket.create_connection((host or "127.0.0.1", int(port)))
    s.settimeout(10)

    send(s, "O", struct.pack(">III", SMFI_VERSION, ACTS, PROT))
    cmd, data = recv(s)
    _, _, prot = struct.unpack(">III", data[:12])

    def macro(stage):
        items = [m for m in macros if m[0] == stage]
        if items:
            payload = stage.encode()
            for _, k, v in items:
                payload += k.encode() + b"\0" + v.encode() + b"\0"
            send(s, "D", payload)

    def step(name, code, payload, arg):
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
             b"client.example\0" + b"4" + struct.pack(">H", 25) +
             ip.encode() + b"\0", ip)
    if r in ("a", "r", "t"):
        send(s, "Q")
        s.close()
        return
    for name, arg in steps:
        if name == "EOM":
            send(s, "E")
            while True:
                r, body = recv(s)
                if r in ("a", "c", "r", "t", "y", "d"):
                    break
            text = body.rstrip(b"\0").decode("utf-8", "replace")
            print("EOM -", r, text) if text else print("EOM -", r)
            continue
        code = "M" if name == "MAIL" else "R"
        macro(code)
        r = step(name, code, arg.encode() + b"\0", arg)
        if name == "MAIL" and r in ("a", "r", "t", "y"):
            break
    send(s, "Q")
    s.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
