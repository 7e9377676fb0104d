#!/usr/bin/env bash
# MAIL without a reply (SMFIP_NR_MAIL, offered by Postfix and Sendmail):
# the MTA does not wait for MAIL, and MAIL's answer is given at the next
# step that has one.  An accept ends the message at the first RCPT; a
# refusal (a sender of several types, a sender that cannot be read) is
# given at the first RCPT and again at DATA (or the end of the headers or
# of the message) for the recipients accepted after it, never lost; a
# non-SMTP submission, whose recipients the MTA cannot refuse one by one,
# gets it at DATA or the end of the message; an abort (RSET) drops it; a
# connection reused without a new negotiation (QUIT_NC) works alike.  Where the MTA does
# not offer SMFIP_NR_MAIL, libmilter answers MAIL with CONTINUE for the
# filter, and the answers are the same.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
write_config "$cfg"
# MAIL without a reply always (the default, auto, chooses by the mail:
# tests/milter/mail_reply.sh)
sed -i 's/^  on_error: .*/&\n  mail_reply: rcpt/' "$cfg"
grep -q '^  mail_reply: rcpt' "$cfg" || die "cannot edit the policy"
echo "multiple_types: refuse" >>"$cfg"
start_milter "$cfg"
ambig=(--macro M '{auth_authen}' campaign-weekly --mail '<x@digest.example.com>')
ambig_550='y 550 5.7.1 Message matches several newsletter types "weekly-news,digest"'

# 1. Negotiated when offered; a refusal, with its text, at the first
# RCPT, and at DATA for the recipients accepted after it: one error at
# RCPT, not one per recipient (Postfix ends a session at
# smtpd_hard_error_limit).
out=$(proto --neg "${ambig[@]}" --rcpt "<alice@example.net>" \
	--rcpt "<gina@example.net>" --rcpt "<hank@example.net>" --data) || die "mproto failed"
[[ " $(grep '^NEG' <<<"$out") " == *" NR_MAIL "* ]] || die "NR_MAIL not negotiated: $out"
expect_line "$out" 'MAIL <x@digest.example.com> -'
expect_line "$out" "RCPT <alice@example.net> $ambig_550"
expect_line "$out" 'RCPT <gina@example.net> c'
expect_line "$out" 'RCPT <hank@example.net> c'
expect_line "$out" "DATA - $ambig_550"
expect_log 'verdict=deny reason=ambiguous stage=mail action=reject'
# without DATA (the decision log's negotiation, or an MTA that skips it)
# the end of the message gives it
out=$(proto "${ambig[@]}" --rcpt "<alice@example.net>" --rcpt "<gina@example.net>" --eom) ||
	die "mproto failed"
expect_line "$out" "RCPT <alice@example.net> $ambig_550"
expect_line "$out" "EOM - $ambig_550"
echo "ok - a refusal at MAIL: at the first RCPT, then at DATA or the end of the message"

# 2. Not offered (an older MTA): libmilter answers MAIL with CONTINUE
# on the filter's behalf, and the answer comes at RCPT all the same.
out=$(proto --prot 1FBFFF "${ambig[@]}" --rcpt "<alice@example.net>") ||
	die "mproto failed"
expect_line "$out" 'MAIL <x@digest.example.com> c'
expect_line "$out" "RCPT <alice@example.net> $ambig_550"
out=$(proto --prot 1FBFFF --ip 192.0.2.7 --mail '<weekly@news.example.com>' \
	--rcpt "<carol@example.net>") || die "mproto failed"
expect_line "$out" 'MAIL <weekly@news.example.com> c'
expect_line "$out" 'RCPT <carol@example.net> a'
echo "ok - an MTA without SMFIP_NR_MAIL gets the same answers"

# 3. Accept (a client out of scope that did not log in): at the first
# RCPT, the rest of the message goes unsent; the next message of the
# connection (logged in now) is checked.
out=$(proto --ip 192.0.2.7 --mail '<orders@shop.example>' --rcpt "<carol@example.net>" \
	--rcpt "<dave@example.net>" --eom \
	--then-macro M '{auth_authen}' someone \
	--mail '<weekly@news.example.com>' --rcpt "<carol@example.net>" \
	--rcpt "<alice@example.net>") || die "mproto failed"
expect_line "$out" 'MAIL <orders@shop.example> -'
expect_line "$out" 'RCPT <carol@example.net> a'
expect_line "$out" 'RCPT <dave@example.net> skipped'
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
expect_line "$out" 'RCPT <alice@example.net> c'
echo "ok - an accept at MAIL is given at the first RCPT; the next message is checked"

# 3b. A connection the MTA reuses (SMFIC_QUIT_NC, no new negotiation):
# the next session's answers still come at RCPT.
/usr/bin/python3 - "$SOCK" "$HERE" >"$CM_TMP/out" 2>&1 <<'PY' || die "client failed: $(cat "$CM_TMP/out")"
import socket, struct, sys
sys.path.insert(0, sys.argv[2])
from mproto import send, recv, exchange, open_unix
s, prot = open_unix(sys.argv[1])
for n in (1, 2):
    exchange(s, prot, "C", b"client.example\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0")
    send(s, "D", b"M{auth_authen}\0campaign-weekly\0")
    r = exchange(s, prot, "M", b"<x@digest.example.com>\0")
    print("session", n, "MAIL", r[0] if r else "-")
    r = exchange(s, prot, "R", b"<alice@example.net>\0")
    print("session", n, "RCPT", r[0], r[1].rstrip(b"\0").decode())
    send(s, "A")
    if n == 1:
        send(s, "K")	# QUIT_NC: a new session follows on this connection
send(s, "Q")
s.close()
PY
out=$(cat "$CM_TMP/out")
expect_line "$out" "session 1 RCPT $ambig_550"
expect_line "$out" "session 2 MAIL -"
expect_line "$out" "session 2 RCPT $ambig_550"
echo "ok - a reused connection (QUIT_NC): the answer still comes at RCPT"

# 4. An abort (RSET) drops the held refusal: the next message is its own.
out=$(proto "${ambig[@]}" --abort --mail '<weekly@news.example.com>' \
	--rcpt "<alice@example.net>" --rcpt "<carol@example.net>") || die "mproto failed"
expect_line "$out" 'RCPT <alice@example.net> c'
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
# and a refusal is not carried into the next message without an abort
out=$(proto "${ambig[@]}" --rcpt "<alice@example.net>" \
	--mail '<weekly@news.example.com>' --rcpt "<alice@example.net>" \
	--rcpt "<carol@example.net>") || die "mproto failed"
[ "$(grep -cxF "RCPT <alice@example.net> $ambig_550" <<<"$out")" = 1 ] ||
	die "a refusal outlived its message: $out"
expect_line "$out" 'RCPT <alice@example.net> c'
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
echo "ok - an abort or the next MAIL ends the held answer"
stop_milter

# 5. Non-SMTP submission: recipients are not refused one by one (Postfix
# would defer the message as a configuration error); the refusal comes
# at DATA, or at the end of the message when DATA is not sent.
sed -i 's/^  daemon_names: \[submission-campaign\]/&\n  non_smtp_daemon_names: [local-submit]/' "$cfg"
grep -q 'non_smtp_daemon_names' "$cfg" || die "cannot edit the policy"
start_milter "$cfg"
out=$(proto --macro C '{daemon_name}' local-submit "${ambig[@]}" \
	--rcpt "<alice@example.net>" --rcpt "<gina@example.net>" --data) ||
	die "mproto failed"
expect_line "$out" 'RCPT <alice@example.net> c'
expect_line "$out" 'RCPT <gina@example.net> c'
expect_line "$out" "DATA - $ambig_550"
out=$(proto --macro C '{daemon_name}' local-submit "${ambig[@]}" \
	--rcpt "<alice@example.net>" --eom) || die "mproto failed"
expect_line "$out" 'RCPT <alice@example.net> c'
expect_line "$out" "EOM - $ambig_550"
stop_milter
echo "ok - non-SMTP: the refusal at DATA or the end of the message"
echo "mail_nr: all checks passed"
