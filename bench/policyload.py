#!/usr/bin/python3
"""Load generator speaking Postfix's side of the policy-delegation
protocol (SMTPD_POLICY_README) straight to a check_policy_service
server: for memory and CPU figures of the server alone, without an MTA
in the way.  Benchmark-only.

  policyload.py --port PORT [--conns 10] [--msgs 1000] [--rcpts 10]
                [--from ADDR] [--rcpt-fmt '{n}rcpt@bench.example']
                [--keys KEYS [--scatter]] [--first N] [--reconnect K]
                [--expect DUNNO]

A request is one "name=value" line per attribute, ended by an empty
line; the answer is "action=...", then an empty line.  Each request is
what smtpd sends at RCPT TO for check_policy_service in
smtpd_recipient_restrictions (the attributes Postfix 3.2 to 3.7 send,
in their order): request=smtpd_access_policy, protocol_state=RCPT,
protocol_name=ESMTP, the sender, the recipient, client_address=127.0.0.1,
queue_id (empty at a message's first recipient: smtpd opens the queue
file only once a recipient is accepted; then the message's), instance
(one per message), sasl_username empty (no SASL login), and the rest
empty or as smtp-source through Postfix would make them.

CONNS connections in parallel; each sends its share of MSGS messages of
RCPTS recipients, one request at a time, on one connection, as smtpd
reuses its policy connection across messages (smtpd_policy_service_reuse
_count_limit is unlimited by default).  --reconnect K: a new connection
every K requests instead.  Recipients are numbered FIRST+1.. across all
connections (like smtp-source -N), or cycle through 1..KEYS with --keys.

Prints one line: requests, seconds, requests/s and the count of each
action; exits 1 on a protocol error, a dropped connection, or an action
other than --expect (default DUNNO; "any" accepts every action).
"""
import argparse
import socket
import sys
import threading
import time


def request(sender, rcpt, qid, instance):
    """The attributes smtpd sends at RCPT TO, in its order."""
    return ("request=smtpd_access_policy\n"
            "protocol_state=RCPT\n"
            "protocol_name=ESMTP\n"
            "helo_name=client.bench.example\n"
            "queue_id=%s\n"
            "sender=%s\n"
            "recipient=%s\n"
            "recipient_count=0\n"
            "client_address=127.0.0.1\n"
            "client_name=unknown\n"
            "reverse_client_name=unknown\n"
            "instance=%s\n"
            "sasl_method=\n"
            "sasl_username=\n"
            "sasl_sender=\n"
            "size=0\n"
            "ccert_subject=\n"
            "ccert_issuer=\n"
            "ccert_fingerprint=\n"
            "ccert_pubkey_fingerprint=\n"
            "encryption_protocol=\n"
            "encryption_cipher=\n"
            "encryption_keysize=0\n"
            "etrn_domain=\n"
            "stress=\n"
            "client_port=40000\n"
            "policy_context=\n"
            "server_address=127.0.0.1\n"
            "server_port=25\n"
            "\n" % (qid, sender, rcpt, instance)).encode()


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def ask(self, req):
        """Send one request; return the value of its action."""
        self.s.sendall(req)
        while True:
            end = self.buf.find(b"\n\n")
            if end >= 0:
                ans = self.buf[:end]
                self.buf = self.buf[end + 2:]
                break
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk
        for line in ans.split(b"\n"):
            if line.startswith(b"action="):
                return line[7:].decode("utf-8", "replace")
        raise RuntimeError("an answer without action=: %r" % ans)

    def close(self):
        self.s.close()


def worker(args, first_msg, count, counts, errors, lock):
    try:
        local = {}
        c, sent = None, 0
        n = args.first + first_msg * args.rcpts
        for k in range(count):
            m = first_msg + k
            qid = "%X" % (0x100000 + m)
            instance = "%x.%x.%x" % (0x4000 + m // 65536, m % 65536, 0)
            for j in range(args.rcpts):
                n += 1
                num = (n - 1) % args.keys + 1 if args.keys else n
                if args.scatter:    # the same numbers, spread over the keys
                    num = (num * 2654435761) % args.keys + 1
                if c is None:
                    c = Conn(args.port)
                act = c.ask(request(args.sender, args.rcpt_fmt.format(n=num),
                                    qid if j > 0 else "", instance))
                word = act.split(" ", 1)[0]
                local[word] = local.get(word, 0) + 1
                sent += 1
                if args.reconnect and sent % args.reconnect == 0:
                    c.close()
                    c = None
        if c is not None:
            c.close()
        with lock:
            for key, v in local.items():
                counts[key] = counts.get(key, 0) + v
    except Exception as e:  # report, do not hang
        with lock:
            errors.append("%s: %s" % (type(e).__name__, e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--msgs", type=int, default=1000)
    ap.add_argument("--rcpts", type=int, default=10)
    ap.add_argument("--from", dest="sender", default="news@bench.example")
    ap.add_argument("--rcpt-fmt", default="{n}rcpt@bench.example")
    ap.add_argument("--keys", type=int, default=0,
                    help="number recipients 1..KEYS, then start again")
    ap.add_argument("--scatter", action="store_true",
                    help="with --keys: recipient N is key N*2654435761 mod "
                    "KEYS + 1, not N (no two neighbours adjacent in the "
                    "index, as hashed keys are)")
    ap.add_argument("--first", type=int, default=0,
                    help="recipients numbered from FIRST+1")
    ap.add_argument("--reconnect", type=int, default=0, metavar="K",
                    help="a new connection every K requests")
    ap.add_argument("--expect", default="DUNNO",
                    help="the only action allowed (its first word), or any")
    args = ap.parse_args()
    if args.conns < 1 or args.rcpts < 1 or args.msgs < 0 or args.reconnect < 0:
        ap.error("--conns and --rcpts must be at least 1")
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
    n = sum(counts.values())
    summary = " ".join("%s=%d" % kv for kv in sorted(counts.items()))
    print("%d requests in %.2f s: %.0f requests/s; actions: %s" %
          (n, dt, n / dt if dt > 0 else 0, summary))
    for e in errors:
        print("error: " + e, file=sys.stderr)
    bad = [k for k in counts if args.expect != "any" and k != args.expect]
    if bad:
        print("error: unexpected actions: %s" % " ".join(bad), file=sys.stderr)
    return 1 if errors or bad or n != args.msgs * args.rcpts else 0


if __name__ == "__main__":
    sys.exit(main())
