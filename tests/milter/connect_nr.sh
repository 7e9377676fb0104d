#!/usr/bin/env bash
# Connect without a reply (SMFIP_NR_CONN): negotiated where connect can
# never accept under the policy in force (scope.authenticated: every
# client may log in; links.mailto_domain: mail from outside the scope is
# watched too), and not where scope can exclude a client at connect
# (there an out-of-scope client is still accepted at connect).  A failure
# at connect (out of memory, made here by the test-only shim
# failalloc.so on the {daemon_name} macro) is not lost without a reply:
# MAIL answers it with the error policy (fail closed), every MAIL on that
# connection; where connect has a reply, connect answers it as before.
. "$SRCDIR/tests/milter/common.bash"
SHIM=$BUILD/tests/failalloc.so
[ -f "$SHIM" ] || die "$SHIM is not built: run make"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
news=(--mail "<weekly@news.example.com>" --rcpt "<alice@example.net>"
	--rcpt "<carol@example.net>" --eom)
carol_550='RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
has_flag() { [[ " $(grep '^NEG' <<<"$1") " == *" $2 "* ]]; }

# scope_networks CONFIG: the test policy, scope by client network only.
scope_networks() {
	write_config "$1"
	sed -i 's/^  authenticated: true$/  authenticated: false/' "$1"
	grep -q '^  authenticated: false$' "$1" || die "cannot edit the policy"
}

# 1. scope.authenticated (the tests' policy): connect always continues.
write_config "$cfg"
start_milter "$cfg"
out=$(proto --neg "${news[@]}") || die "mproto failed"
has_flag "$out" NR_CONN || die "NR_CONN not negotiated: $out"
expect_line "$out" 'CONNECT 127.0.0.1 -'
expect_line "$out" 'RCPT <alice@example.net> c'
expect_line "$out" "$carol_550"
# a client outside scope.networks, not logged in: still checked by its
# login at MAIL, so nothing is decided at connect
out=$(proto --neg --ip 192.0.2.7 "${news[@]}") || die "mproto failed"
expect_line "$out" 'CONNECT 192.0.2.7 -'
expect_line "$out" 'MAIL <weekly@news.example.com> -'
expect_line "$out" 'RCPT <alice@example.net> a'	# MAIL's answer (SMFIP_NR_MAIL)
out=$(proto --ip 192.0.2.7 --macro M '{auth_authen}' campaign-weekly "${news[@]}") ||
	die "mproto failed"
expect_line "$out" "$carol_550"
stop_milter
echo "ok - scope.authenticated: NR_CONN, connect needs no reply, MAIL decides"

# 2. Scope by network only: connect accepts a client out of scope.
scope_networks "$cfg"
start_milter "$cfg"
out=$(proto --neg --ip 192.0.2.7 "${news[@]}") || die "mproto failed"
has_flag "$out" NR_CONN && die "NR_CONN negotiated where connect can accept: $out"
expect_line "$out" 'CONNECT 192.0.2.7 a'
out=$(proto "${news[@]}") || die "mproto failed"
expect_line "$out" 'CONNECT 127.0.0.1 c'
expect_line "$out" "$carol_550"
stop_milter
echo "ok - scope by network: no NR_CONN, an out-of-scope client accepted at connect"

# 3. Scope by network, mailto unsubscribes watched: connect never accepts.
scope_networks "$cfg"
cat >>"$cfg" <<YAML
links:
  base_url: "https://news.example.com/consent"
  mailto_domain: "example.com"
  mailto_socket: "$CM_TMP/mailto.sock"
YAML
start_milter "$cfg"
out=$(proto --neg --ip 192.0.2.7 --mail "<someone@elsewhere.example>" \
	--rcpt "<alice@example.net>" --eom) || die "mproto failed"
has_flag "$out" NR_CONN || die "NR_CONN not negotiated with mailto unsubscribe: $out"
expect_line "$out" 'CONNECT 192.0.2.7 -'
expect_line "$out" 'RCPT <alice@example.net> c'
stop_milter
echo "ok - mailto unsubscribe: NR_CONN"

# 4. Out of memory at connect, connect negotiated without a reply: MAIL
# answers the failure (on_error: tempfail), on every MAIL of the
# connection; a connection without the failure is checked as usual.
export CM_TEST_FAIL_STRDUP=fail-daemon
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
write_config "$cfg"
LD_PRELOAD=$SHIM start_milter "$cfg"
/usr/bin/python3 - "$SOCK" "$HERE" >"$CM_TMP/out" 2>&1 <<'PY' || die "client failed: $(cat "$CM_TMP/out")"
import socket, struct, sys
sys.path.insert(0, sys.argv[2])
from mproto import send, recv, exchange, open_unix
s, prot = open_unix(sys.argv[1])
print("NR_CONN", "yes" if prot & 0x1000 else "no")
send(s, "D", b"C{daemon_name}\0fail-daemon\0")
r = exchange(s, prot, "C", b"client.example\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0")
print("CONNECT", r[0] if r else "-")
print("NR_MAIL", "yes" if prot & 0x4000 else "no")
for _ in range(2):
    # MAIL's answer comes at the first RCPT (SMFIP_NR_MAIL)
    r = exchange(s, prot, "M", b"<weekly@news.example.com>\0")
    if r is None:
        r = exchange(s, prot, "R", b"<alice@example.net>\0")
    print("ANSWER", r[0], r[1].rstrip(b"\0").decode())
    send(s, "A")
send(s, "Q")
s.close()
PY
out=$(cat "$CM_TMP/out")
expect_line "$out" 'NR_CONN yes'
expect_line "$out" 'CONNECT -'
expect_line "$out" 'NR_MAIL yes'
[ "$(grep -cxF 'ANSWER y 451 4.3.0 Consent check failed, try again later' <<<"$out")" = 2 ] ||
	die "a connect failure not answered at every MAIL: $out"
expect_log 'connect: out of memory; action=tempfail'
out=$(proto --macro C '{daemon_name}' submission "${news[@]}") || die "mproto failed"
expect_line "$out" "$carol_550"
stop_milter
echo "ok - out of memory at connect without a reply: MAIL tempfails (fail closed)"

# 5. The same where connect has a reply: connect answers it.
scope_networks "$cfg"
LD_PRELOAD=$SHIM start_milter "$cfg"
out=$(proto --macro C '{daemon_name}' fail-daemon "${news[@]}") || die "mproto failed"
expect_line "$out" 'CONNECT 127.0.0.1 y 451 4.3.0 Consent check failed, try again later'
stop_milter
echo "ok - out of memory at connect with a reply: connect tempfails"
# 6. on_error: accept lets the failed connect through: as after an
# answered connect, its messages are then checked, not all passed.
write_config "$cfg" enforce accept
LD_PRELOAD=$SHIM start_milter "$cfg"
out=$(proto --neg --macro C '{daemon_name}' fail-daemon "${news[@]}") || die "mproto failed"
has_flag "$out" NR_CONN || die "NR_CONN not negotiated: $out"
expect_line "$out" "$carol_550"
expect_log 'connect: out of memory; action=accept'
stop_milter
echo "ok - out of memory at connect, on_error accept: the messages are still checked"
echo "connect_nr: all checks passed"
