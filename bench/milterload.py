#!/usr/bin/python3
"""Load generator speaking the MTA side of the milter protocol (v6), as
Postfix does, straight to a milter: for memory and CPU figures of the
milter alone, without an MTA in the way.  Benchmark-only.

  milterload.py --port PORT [--conns 4] [--msgs 1000] [--rcpts 10]
                [--from ADDR] [--rcpt-fmt '{n}rcpt@bench.example']
                [--header 'Name: value']... [--reconnect]

Each connection sends its share of the messages (MAIL, RCPT x rcpts,
DATA, headers, EOH, body, EOM), honouring every step and reply the milter
negotiated away, and counts the replies.  As Postfix does, every event
is preceded by its macros (also for an event the milter negotiated away),
and what needs no reply is buffered and sent with the next event that
does.  The headers are those smtp-source sends (From, To, Date,
Message-Id), then any --header.  --reconnect: a new connection (with
negotiation) for every message, as smtp-source without -d makes Postfix
do.  Recipients are numbered
1..msgs*rcpts across all connections (like smtp-source -N), or cycle
through 1..KEYS with --keys KEYS.  Prints one
line: messages, seconds, msg/s, and reply counts; exits 1 on a protocol
error or a tempfail/reject it did not expect (--allow-reject to permit).
"""
import argparse
import socket
import struct
import sys
import threading
import time

NOCONNECT, NOHELO, NOMAIL, NORCPT = 0x1, 0x2, 0x4, 0x8
NOBODY, NOHDRS, NOEOH, NR_HDR = 0x10, 0x20, 0x40, 0x80
NOUNKNOWN, NODATA, SKIP, RCPT_REJ = 0x100, 0x200, 0x400, 0x800
NR_CONN, NR_HELO, NR_MAIL, NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
NR_DATA, NR_UNKN, NR_EOH, NR_BODY = 0x10000, 0x20000, 0x40000, 0x80000
ALL_PROT = 0x1FFFFF
ALL_ACTS = 0x1FF
FINAL = b"cartyd"


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.out = b""
        self.prot = 0

    def send(self, cmd, data=b""):
        """Queue a packet; sent with the next one that waits for a reply."""
        self.out += struct.pack(">I", len(data) + 1) + cmd + data

    def flush(self):
        if self.out:
            self.s.sendall(self.out)
            self.out = b""

    def macro(self, event, qid):
        self.send(b"D", event + (b"i\0" + qid + b"\0" if qid else b""))

    def recv(self):
        self.flush()
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    pkt = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return pkt[:1], pkt[1:]
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("milter closed the connection")
            self.buf += chunk

    def final(self):
        """Read until a final reply (skipping progress and actions)."""
        while True:
            c, d = self.recv()
            if c in (b"c", b"a", b"r", b"t", b"y", b"d", b"s"):
                return c, d

    def step(self, cmd, data, no_flag, nr_flag):
        """Send a step unless negotiated away; return its reply or None."""
        if self.prot & no_flag:
            return None
        self.send(cmd, data)
        if self.prot & nr_flag:
            return None
        return self.final()

    def negotiate(self):
        self.send(b"O", struct.pack(">III", 6, ALL_ACTS, ALL_PROT))
        self.flush()
        c, d = self.recv()
        if c != b"O":
            raise RuntimeError("negotiation: got %r" % c)
        _, _, self.prot = struct.unpack(">III", d[:12])
        self.send(b"D", b"Cj\0mx.bench.example\0{daemon_name}\0smtpd\0")
        self.step(b"C", b"client.bench.example\0" + b"4" + struct.pack(">H", 40000) +
                  b"127.0.0.1\0", NOCONNECT, NR_CONN)
        self.macro(b"H", None)
        self.step(b"H", b"client.bench.example\0", NOHELO, NR_HELO)


def message(c, args, first, k, n, local):
    """One message on connection C; N recipients numbered so far."""
    qid = ("%X" % (0x100000 + first + k)).encode()
    c.macro(b"M", None)
    r = c.step(b"M", b"<" + args.sender.encode() + b">\0", NOMAIL, NR_MAIL)
    accepted = r is not None and r[0] == b"a"
    if not accepted:
        for j in range(args.rcpts):
            n += 1
            num = (n - 1) % args.keys + 1 if args.keys else n
            rc = args.rcpt_fmt.format(n=num).encode()
            c.macro(b"R", qid)
            r = c.step(b"R", b"<" + rc + b">\0", NORCPT, NR_RCPT)
            if r is not None:
                local[r[0]] = local.get(r[0], 0) + 1
                if r[0] == b"a":
                    accepted = True
                    n += args.rcpts - j - 1
                    break
    else:
        n += args.rcpts
    if not accepted:
        c.macro(b"T", qid)
        r = c.step(b"T", b"", NODATA, NR_DATA)
        accepted = r is not None and r[0] == b"a"
    if not accepted:
        hdrs = [("From", "<%s>" % args.sender), ("To", "<rcpt@bench.example>"),
                ("Date", "Mon, 23 Nov 2026 07:00:00 +0000 (UTC)"),
                ("Message-Id", "<%04x.%04x.%04x@bench.example>" % (first, k, n))]
        for h in args.header:
            name, _, val = h.partition(":")
            hdrs.append((name.strip(), val.strip()))
        for name, val in hdrs:
            c.macro(b"L", qid)
            r = c.step(b"L", name.encode() + b"\0" + val.encode() + b"\0",
                       NOHDRS, NR_HDR)
            if r is not None and r[0] == b"a":
                accepted = True
                break
    if not accepted:
        c.macro(b"N", qid)
        r = c.step(b"N", b"", NOEOH, NR_EOH)
        accepted = r is not None and r[0] == b"a"
    if not accepted:
        c.macro(b"B", qid)
        r = c.step(b"B", b"La de da de da.\r\n" * 100, NOBODY, NR_BODY)
        accepted = r is not None and r[0] == b"a"
    if not accepted:
        c.macro(b"E", qid)
        c.send(b"E")
        r = c.final()
        local[b"eom-" + r[0]] = local.get(b"eom-" + r[0], 0) + 1
    else:
        local[b"accept"] = local.get(b"accept", 0) + 1
    return n


def worker(args, first, count, counts, errors, lock):
    try:
        local = {}
        n = first * args.rcpts
        c = None
        for k in range(count):
            if c is None:
                c = Conn(args.port)
                c.negotiate()
            n = message(c, args, first, k, n, local)
            if args.reconnect:
                c.send(b"Q")
                c.flush()
                c.s.close()
                c = None
        if c is not None:
            c.send(b"Q")
            c.flush()
            c.s.close()
        with lock:
            for key, v in local.items():
                counts[key] = counts.get(key, 0) + v
    except Exception as e:  # report, do not hang
        with lock:
            errors.append("%s: %s" % (type(e).__name__, e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--msgs", type=int, default=1000)
    ap.add_argument("--rcpts", type=int, default=10)
    ap.add_argument("--from", dest="sender", default="news@bench.example")
    ap.add_argument("--rcpt-fmt", default="{n}rcpt@bench.example")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--keys", type=int, default=0,
                    help="number recipients 1..KEYS, then start again")
    ap.add_argument("--allow-reject", action="store_true")
    ap.add_argument("--reconnect", action="store_true",
                    help="one connection per message")
    args = ap.parse_args()
    counts, errors, lock = {}, [], threading.Lock()
    per = [args.msgs // args.conns + (1 if i < args.msgs % args.conns else 0)
           for i in range(args.conns)]
    threads, first = [], 0
    t0 = time.monotonic()
    for i in range(args.conns):
        t = threading.Thread(target=worker,
                             args=(args, first, per[i], counts, errors, lock))
        first += per[i]
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    summary = " ".join("%s=%d" % (k.decode(), v) for k, v in sorted(counts.items()))
    print("%d messages in %.2f s: %.0f msg/s; replies: %s" %
          (args.msgs, dt, args.msgs / dt if dt > 0 else 0, summary))
    bad = [k for k in counts if k in (b"t", b"eom-t", b"eom-r", b"eom-y") or
           (k in (b"r", b"y") and not args.allow_reject)]
    for e in errors:
        print("error: " + e, file=sys.stderr)
    return 1 if errors or bad else 0


if __name__ == "__main__":
    sys.exit(main())
