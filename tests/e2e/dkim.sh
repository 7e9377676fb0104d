#!/usr/bin/env bash
# The unsubscribe headers are signed (issue 14): a private Postfix with
# smtpd_milters = consent-milter, opendkim (Debian's OpenDKIM, signing
# after consent-milter as the README says).  A newsletter to one
# recipient arrives with List-Unsubscribe and List-Unsubscribe-Post, a
# DKIM signature whose h= lists both, and python3-dkim verifies it
# against the test key.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

CM=$BUILD/consent-milter
CTL=$BUILD/consentctl
[ -x "$CM" ] || e2e_fail "$CM not built"
command -v opendkim >/dev/null || e2e_skip "opendkim not installed (apt-get install opendkim opendkim-tools)"
command -v opendkim-genkey >/dev/null || e2e_skip "opendkim-tools not installed"
"$PY" -c 'import dkim' 2>/dev/null || e2e_skip "python3-dkim not installed"

FROM=weekly@news.example.com
MPORT=$(e2e_freeport)
DPORT=$(e2e_freeport)
DB=$CM_TMP/db
K=$CM_TMP/dkim
mkdir -p "$DB" "$K"
CONF=$CM_TMP/consent-milter.yaml
{
	e2e_cm_head "$MPORT" "$DB"
	cat <<EOF
links:
  base_url: "https://news.example.com/consent"
  mailto_domain: "news.example.com"
EOF
	e2e_cm_newsletters "$FROM"
} >"$CONF"
"$CTL" -c "$CONF" init >"$CM_TMP/ctl.out" 2>&1 || { cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl init"; }
"$CTL" -c "$CONF" grant alice@example.com weekly-news >"$CM_TMP/ctl.out" 2>&1 ||
	{ cat "$CM_TMP/ctl.out" >&2; e2e_fail "consentctl grant"; }

# OpenDKIM: signs mail from loopback for news.example.com
opendkim-genkey -D "$K" -d news.example.com -s sel >/dev/null 2>&1 || e2e_fail "opendkim-genkey"
id opendkim >/dev/null 2>&1 && chown -R opendkim: "$K"
cat >"$K/opendkim.conf" <<EOF
Mode s
Domain news.example.com
Selector sel
KeyFile $K/sel.private
Socket inet:$DPORT@127.0.0.1
Canonicalization relaxed/relaxed
SignHeaders From,To,Subject,Date,Message-ID,List-Unsubscribe,List-Unsubscribe-Post
InternalHosts 127.0.0.1
RequireSafeKeys false
Background false
Syslog false
PidFile $K/opendkim.pid
$(id opendkim >/dev/null 2>&1 && echo "UserID opendkim")
EOF
e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
opendkim -f -x "$K/opendkim.conf" >>"$CM_TMP/opendkim.log" 2>&1 &
DKIM_PID=$!
E2E_PIDS+=("$DKIM_PID")
e2e_on_exit "e2e_kill_pid $DKIM_PID 10"
e2e_wait_listen "$DPORT" "$DKIM_PID" 20
e2e_start_sink
e2e_pf_setup "inet:127.0.0.1:$MPORT, inet:127.0.0.1:$DPORT"
e2e_pf_start

e2e_send "$CM_TMP/w1.json" --from "$FROM" --rcpt alice@example.com --subject "Weekly 1"
e2e_assert_match '^250 2\.0\.0 Ok' "$(e2e_q data "$CM_TMP/w1.json")" "accepted"
mid=$(e2e_q field "$CM_TMP/w1.json" message_id)
e2e_wait_delivered 1
e2e_assert_match '^<https://news\.example\.com/consent/u/' \
	"$(e2e_q header "$SINK_DIR" "$mid" List-Unsubscribe)" "List-Unsubscribe"
e2e_assert_eq "List-Unsubscribe=One-Click" "$(e2e_q header "$SINK_DIR" "$mid" List-Unsubscribe-Post)" \
	"List-Unsubscribe-Post"
sig=$(e2e_q header "$SINK_DIR" "$mid" DKIM-Signature)
[ -n "$sig" ] || e2e_fail "no DKIM-Signature (opendkim log: $(tail -5 "$CM_TMP/opendkim.log"))"
h=$(sed -nE 's/.*[; ]h=([^;]*).*/\1/p' <<<"$sig" | tr -d ' ' | tr 'A-Z' 'a-z')
case ":$h:" in *:list-unsubscribe:*) ;; *) e2e_fail "h= lacks List-Unsubscribe: $h" ;; esac
case ":$h:" in *:list-unsubscribe-post:*) ;; *) e2e_fail "h= lacks List-Unsubscribe-Post: $h" ;; esac
echo "ok - both headers in the signed header list"
f=$(e2e_q files "$SINK_DIR" "$mid" | head -1)
"$PY" - "$f" "$K/sel.txt" <<'EOF' || e2e_fail "DKIM verification failed"
import re, sys, dkim
msg = open(sys.argv[1], "rb").read()
txt = "".join(re.findall(r'"([^"]*)"', open(sys.argv[2]).read())).encode()
def dns(name, timeout=5):
    return txt if name.startswith(b"sel._domainkey.news.example.com") else None
ok = dkim.verify(msg, dnsfunc=dns)
print("dkim.verify:", ok)
sys.exit(0 if ok else 1)
EOF
echo "ok - the signature verifies"

# The order matters: with the signer first, the headers are added after
# the signature and not covered by it.
e2e_pf_conf "smtpd_milters = inet:127.0.0.1:$DPORT, inet:127.0.0.1:$MPORT"
e2e_pf_reload
for ((i = 0; i < 100; i++)); do
	e2e_send "$CM_TMP/w2.json" --from "$FROM" --rcpt alice@example.com --subject "Weekly 2"
	mid=$(e2e_q field "$CM_TMP/w2.json" message_id)
	e2e_wait_delivered $((2 + i))
	sig=$(e2e_q header "$SINK_DIR" "$mid" DKIM-Signature)
	h=$(sed -nE 's/.*[; ]h=([^;]*).*/\1/p' <<<"$sig" | tr -d ' ' | tr 'A-Z' 'a-z')
	# a reload reaches smtpd processes one by one: until one with the
	# new order took the message
	case ":$h:" in *:list-unsubscribe-post:*) sleep 0.1 ;; *) break ;; esac
done
case ":$h:" in
*:list-unsubscribe-post:*) e2e_fail "signer first: the header is still signed: $h" ;;
esac
e2e_assert_match '^<https://news' "$(e2e_q header "$SINK_DIR" "$mid" List-Unsubscribe)" \
	"signer first: the header is added after signing, unsigned"
e2e_stop_milter
e2e_check_sanitizers
echo "ok - unsubscribe headers signed by a DKIM signer after consent-milter"
