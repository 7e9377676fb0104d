#!/usr/bin/python3
"""SMTP sink for end-to-end tests: accepts mail on loopback and records it.

    sink.py --dir DIR [--port PORT] [--host 127.0.0.1]

Every delivered message is written to DIR/msgs/ as NNNNNN.eml (the raw
data, dot-unstuffed, CRLF kept) and NNNNNN.json (metadata: envelope
sender, each RCPT with its parameters, HELO name, peer, size), the .json
last and atomically, so a message is complete once its .json exists.
The listening port is written to DIR/port once the socket listens (use
--port 0, the default, to let the kernel choose a free one).

Temporary (or permanent) failures on demand: if DIR/ctl/STAGE exists
(STAGE = connect, mail, rcpt, data), its first line is sent as the reply
at that stage instead of the success reply, e.g.
    echo "451 4.3.0 sink says try later" > DIR/ctl/mail
Remove the file to go back to accepting.  DIR/ctl/rcpt-ADDR (ADDR as in
RCPT, lowercased, without brackets) does the same for one recipient.

Supports EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, QUIT; advertises
PIPELINING, 8BITMIME, SMTPUTF8, DSN, ENHANCEDSTATUSCODES, SIZE.
Standard library only.
"""
import argparse
import json
import os
import socketserver
import sys
import threading
import time

MAX_LINE = 4096
MAX_DATA = 64 * 1024 * 1024


class Store:
    def __init__(self, root):
        self.root = root
        self.msgs = os.path.join(root, "msgs")
        self.ctl = os.path.join(root, "ctl")
        os.makedirs(self.msgs, exist_ok=True)
        os.makedirs(self.ctl, exist_ok=True)
        self.lock = threading.Lock()
        self.seq = 0
        self.logf = open(os.path.join(root, "sink.log"), "a", buffering=1)

    def log(self, text):
        with self.lock:
            self.logf.write("%s %s\n" % (time.strftime("%H:%M:%S"), text))

    def control(self, stage, rcpt=None):
        names = [stage]
        if rcpt is not None:
            safe = rcpt.lower().replace("/", "_")
            names.insert(0, "rcpt-" + safe)
        for n in names:
            p = os.path.join(self.ctl, n)
            try:
                with open(p, "r", encoding="utf-8") as f:
                    line = f.readline().strip()
            except (FileNotFoundError, IsADirectoryError, OSError):
                continue
            if line:
                return line
        return None

    def save(self, meta, data):
        with self.lock:
            self.seq += 1
            seq = self.seq
        base = os.path.join(self.msgs, "%06d" % seq)
        with open(base + ".eml", "wb") as f:
            f.write(data)
        meta["seq"] = seq
        meta["size"] = len(data)
        meta["data"] = os.path.basename(base) + ".eml"
        meta["time"] = time.time()
        tmp = base + ".json.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1)
        os.rename(tmp, base + ".json")
        return seq


def strip_path(arg):
    """'<a@b> PARAMS' -> ('a@b', 'PARAMS'); tolerates a missing <>."""
    arg = arg.strip()
    if arg.startswith("<"):
        # the address ends at the first '>' outside a quoted string
        inq = False
        i = 1
        while i < len(arg):
            c = arg[i]
            if c == "\\" and inq:
                i += 2
                continue
            if c == '"':
                inq = not inq
            elif c == ">" and not inq:
                return arg[1:i], arg[i + 1:].strip()
            i += 1
        return None, None
    parts = arg.split(None, 1)
    if not parts:
        return None, None
    return parts[0], (parts[1] if len(parts) > 1 else "")


class Handler(socketserver.StreamRequestHandler):
    rbufsize = 65536

    def reply(self, text):
        self.wfile.write(text.encode("utf-8", "surrogateescape") + b"\r\n")

    def reset(self):
        self.mail = None
        self.mail_params = ""
        self.rcpts = []
        self.rcpt_params = []

    def handle(self):
        st = self.server.store
        peer = "%s:%d" % self.client_address[:2]
        self.helo = None
        self.esmtp = False
        self.reset()
        r = st.control("connect")
        if r:
            self.reply(r)
            st.log("%s connect refused: %s" % (peer, r))
            return
        self.reply("220 sink.e2e.test ESMTP test sink")
        while True:
            line = self.rfile.readline(MAX_LINE)
            if not line:
                return
            if not line.endswith(b"\n"):
                self.reply("500 5.5.2 line too long")
                return
            cmdline = line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            verb, _, arg = cmdline.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self.helo = arg.strip()
                self.esmtp = verb == "EHLO"
                self.reset()
                if self.esmtp:
                    self.reply("250-sink.e2e.test")
                    self.reply("250-PIPELINING")
                    self.reply("250-SIZE %d" % MAX_DATA)
                    self.reply("250-8BITMIME")
                    self.reply("250-SMTPUTF8")
                    self.reply("250-DSN")
                    self.reply("250 ENHANCEDSTATUSCODES")
                else:
                    self.reply("250 sink.e2e.test")
            elif verb == "MAIL":
                if not arg.upper().startswith("FROM:"):
                    self.reply("501 5.5.4 syntax: MAIL FROM:<address>")
                    continue
                if self.mail is not None:
                    self.reply("503 5.5.1 nested MAIL command")
                    continue
                addr, params = strip_path(arg[5:])
                if addr is None:
                    self.reply("501 5.1.7 bad sender address syntax")
                    continue
                r = st.control("mail")
                if r:
                    self.reply(r)
                    st.log("%s MAIL <%s> refused: %s" % (peer, addr, r))
                    continue
                self.mail = addr
                self.mail_params = params
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                if not arg.upper().startswith("TO:"):
                    self.reply("501 5.5.4 syntax: RCPT TO:<address>")
                    continue
                if self.mail is None:
                    self.reply("503 5.5.1 need MAIL command")
                    continue
                addr, params = strip_path(arg[3:])
                if not addr:
                    self.reply("501 5.1.3 bad recipient address syntax")
                    continue
                r = st.control("rcpt", addr)
                if r:
                    self.reply(r)
                    st.log("%s RCPT <%s> refused: %s" % (peer, addr, r))
                    continue
                self.rcpts.append(addr)
                self.rcpt_params.append(params)
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if self.mail is None or not self.rcpts:
                    self.reply("503 5.5.1 need RCPT command")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                size = 0
                too_big = False
                while True:
                    dl = self.rfile.readline(MAX_LINE * 4)
                    if not dl:
                        return
                    if dl in (b".\r\n", b".\n"):
                        break
                    if dl.startswith(b"."):
                        dl = dl[1:]
                    size += len(dl)
                    if size > MAX_DATA:
                        too_big = True
                    elif not too_big:
                        chunks.append(dl)
                if too_big:
                    self.reply("552 5.3.4 message too big")
                    self.reset()
                    continue
                r = st.control("data")
                if r:
                    self.reply(r)
                    st.log("%s DATA from <%s> refused: %s" % (peer, self.mail, r))
                    self.reset()
                    continue
                meta = {
                    "peer": peer,
                    "helo": self.helo,
                    "esmtp": self.esmtp,
                    "mail_from": self.mail,
                    "mail_params": self.mail_params,
                    "rcpts": self.rcpts,
                    "rcpt_params": self.rcpt_params,
                }
                seq = st.save(meta, b"".join(chunks))
                st.log("%s saved %06d from <%s> %d rcpt(s)" %
                       (peer, seq, self.mail, len(self.rcpts)))
                self.reply("250 2.0.0 Ok: stored as %06d" % seq)
                self.reset()
            elif verb == "RSET":
                self.reset()
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "VRFY":
                self.reply("252 2.0.0 Cannot VRFY")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 command not implemented")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description="SMTP sink for tests")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    store = Store(a.dir)
    srv = Server((a.host, a.port), Handler)
    srv.store = store
    port = srv.server_address[1]
    tmp = os.path.join(a.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, os.path.join(a.dir, "port"))
    store.log("listening on %s:%d pid %d" % (a.host, port, os.getpid()))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
