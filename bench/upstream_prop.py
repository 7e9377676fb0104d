#!/usr/bin/python3
"""Opt-out propagation between two nodes of a shared store (bench/upstream.sh).

  upstream_prop.py CONSENTCTL CONFIG_A SOCKET_B N

For each of N addresses (p0..p{N-1}@bench.example, granted beforehand):
run `consentctl -c CONFIG_A withdraw ADDR weekly-news`, then ask node
B's milter (MAIL weekly@news.example.com, RCPT ADDR, on one connection)
until it refuses.  Prints p50, p99 and the maximum, from the start of
the command and from its exit, in milliseconds.
"""
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "milter"))
import mproto  # noqa: E402


class Probe:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(10)
        mproto.send(self.s, "O", struct.pack(">III", 6, mproto.ACTS,
                                             mproto.PROT))
        _, data = mproto.recv(self.s)
        self.prot = struct.unpack(">III", data[:12])[2]
        mproto.exchange(self.s, self.prot, "C", b"client.example\0" + b"4" +
                        struct.pack(">H", 25) + b"127.0.0.1\0")

    def refused(self, addr):
        mproto.send(self.s, "D", b"Mi\0\0")
        mproto.exchange(self.s, self.prot, "M",
                        b"<weekly@news.example.com>\0")
        r, _ = mproto.exchange(self.s, self.prot, "R",
                               ("<%s>" % addr).encode() + b"\0")
        mproto.send(self.s, "A")
        return r in ("y", "r")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    ctl, conf, sock, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    probe = Probe(sock)
    from_start, from_exit = [], []
    for i in range(n):
        addr = "p%d@bench.example" % i
        t0 = time.monotonic()
        subprocess.run([ctl, "-c", conf, "withdraw", addr, "weekly-news"],
                       check=True, stdout=subprocess.DEVNULL)
        t1 = time.monotonic()
        deadline = t1 + 30
        while not probe.refused(addr):
            if time.monotonic() > deadline:
                sys.exit("no refusal of %s at B after 30 s" % addr)
            time.sleep(0.0005)
        t2 = time.monotonic()
        from_start.append((t2 - t0) * 1000)
        from_exit.append((t2 - t1) * 1000)
    print("opt-out propagation A -> B over %d withdrawals: from the command's "
          "start p50 %.1f ms, p99 %.1f ms, max %.1f ms; from its exit p50 "
          "%.1f ms, p99 %.1f ms" % (n, pct(from_start, 50), pct(from_start, 99),
                                    max(from_start), pct(from_exit, 50),
                                    pct(from_exit, 99)))


if __name__ == "__main__":
    main()
