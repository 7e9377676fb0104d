#!/usr/bin/python3
"""Check one delivery status notification of consent-milter with Python's
email package (a real MIME parser).

usage: dsn_check.py FILE --sender ADDR --type ID [--host H] [--utf8]
                     [--orcpt RCPT=ORIG] [--header NAME] RCPT:REASON...

FILE may hold a message as delivered by an SMTP sink (a leading
"X-Sink-...:" block is not expected: pass the message only).  Exits 0 if
every check passes, 1 with the reasons on stderr otherwise.
"""
import argparse
import email
import email.policy
import re
import sys
import email.utils

errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--sender", required=True)
    ap.add_argument("--type", required=True)
    ap.add_argument("--host")
    ap.add_argument("--utf8", action="store_true")
    ap.add_argument("--orcpt", action="append", default=[])
    ap.add_argument("--header", action="append", default=[],
                    help="a header field name that the original had")
    ap.add_argument("rcpts", nargs="+", help="RCPT:REASON")
    a = ap.parse_args()

    raw = open(a.file, "rb").read()
    check(b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""),
          "line ends are not all CRLF")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = [d for p in msg.walk() for d in p.defects]
    check(not defects, "MIME defects: %r" % defects)

    want = [r.rsplit(":", 1) for r in a.rcpts]
    orcpts = dict(o.split("=", 1) for o in a.orcpt)

    # top-level header
    frm = msg["From"]
    check(frm is not None and "MAILER-DAEMON@" in str(frm), "From: %r" % frm)
    if a.host:
        check(str(frm).endswith("MAILER-DAEMON@%s>" % a.host), "From host")
    check(msg["To"] is not None and a.sender in str(msg["To"]),
          "To: %r" % msg["To"])
    check(msg["Subject"] is not None and a.type in str(msg["Subject"]),
          "Subject: %r" % msg["Subject"])
    d = msg["Date"]
    check(d is not None and email.utils.parsedate_to_datetime(str(d))
          is not None, "Date: %r" % d)
    mid = msg["Message-ID"]
    check(mid is not None and re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>",
                                           str(mid)), "Message-ID: %r" % mid)
    check(str(msg["Auto-Submitted"]) == "auto-replied", "Auto-Submitted")
    check(str(msg["MIME-Version"]) == "1.0", "MIME-Version")
    check(msg.get_content_type() == "multipart/report", "not multipart/report")
    check(msg.get_param("report-type") == "delivery-status", "report-type")

    parts = msg.get_payload()
    check(isinstance(parts, list) and len(parts) == 3,
          "want 3 parts, got %r" % (len(parts) if isinstance(parts, list)
                                    else parts))
    if errors:
        return
    text, status, hdrs = parts
    dsn_type = ("message/global-delivery-status" if a.utf8
                else "message/delivery-status")
    hdr_type = "message/global-headers" if a.utf8 else "text/rfc822-headers"
    check(text.get_content_type() == "text/plain", "part 1 type")
    check(status.get_content_type() == dsn_type,
          "part 2 type %s" % status.get_content_type())
    check(hdrs.get_content_type() == hdr_type,
          "part 3 type %s" % hdrs.get_content_type())

    body = text.get_content()
    for rcpt, reason in want:
        check(rcpt in body, "text part does not name %s" % rcpt)
        check(reason in body, "text part does not give reason %s" % reason)
        check(a.type in body, "text part does not name the type")

    # message/delivery-status: a list of header blocks
    if a.utf8:
        # Python parses message/global-* as an embedded message: take the
        # part's body from the raw bytes instead.
        bnd = msg.get_param("boundary").encode()
        raw_part = raw.split(b"--" + bnd)[2]
        payload = raw_part.split(b"\r\n\r\n", 1)[1].decode("utf-8")
        blocks = [email.message_from_string(b.strip() + "\n",
                                            policy=email.policy.default)
                  for b in re.split(r"\r?\n\r?\n", payload) if b.strip()]
    else:
        blocks = status.get_payload()
    check(len(blocks) == 1 + len(want),
          "want %d status blocks, got %d" % (1 + len(want), len(blocks)))
    if errors:
        return
    per_msg = blocks[0]
    rm = str(per_msg["Reporting-MTA"] or "")
    check(rm.startswith("dns;"), "Reporting-MTA: %r" % rm)
    if a.host:
        check(rm.split(";", 1)[1].strip() == a.host, "Reporting-MTA host")
    ad = per_msg["Arrival-Date"]
    check(ad is not None and email.utils.parsedate_to_datetime(str(ad))
          is not None, "Arrival-Date: %r" % ad)
    for (rcpt, reason), blk in zip(want, blocks[1:]):
        atype = "utf-8" if a.utf8 and not rcpt.isascii() else "rfc822"
        fr = str(blk["Final-Recipient"] or "")
        check(fr.replace(" ", "") == "%s;%s" % (atype, rcpt),
              "Final-Recipient %r != %s" % (fr, rcpt))
        orig = orcpts.get(rcpt, rcpt)
        oatype = "utf-8" if a.utf8 and not orig.isascii() else "rfc822"
        orr = str(blk["Original-Recipient"] or "")
        check(orr.replace(" ", "") == "%s;%s" % (oatype, orig),
              "Original-Recipient %r != %s" % (orr, orig))
        check(str(blk["Action"]) == "failed", "Action %r" % blk["Action"])
        check(str(blk["Status"]) == "5.7.1", "Status %r" % blk["Status"])
        dc = str(blk["Diagnostic-Code"] or "")
        check(dc.startswith("smtp; 550 5.7.1 "), "Diagnostic-Code %r" % dc)
        check(rcpt in dc and reason in dc and a.type in dc,
              "Diagnostic-Code %r lacks rcpt/type/reason" % dc)

    if a.utf8:
        bnd = msg.get_param("boundary").encode()
        hb = raw.split(b"--" + bnd)[3].split(b"\r\n\r\n", 1)[1]
    else:
        hb = hdrs.get_payload(decode=True) or hdrs.get_content().encode()
    orig = email.message_from_bytes(hb, policy=email.policy.default)
    for h in a.header:
        check(orig[h] is not None, "original header %s missing" % h)


if __name__ == "__main__":
    main()
    if errors:
        for e in errors:
            print("dsn_check: " + e, file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
