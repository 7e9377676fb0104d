#!/usr/bin/env bash
# The unit's system call filter lets the daemon do its work: run the
# built consent-milter under strace through a config check (ExecStartPre),
# start-up, two milter sessions, a reload (SIGUSR1) and a stop (SIGTERM),
# and check that every system call it made is allowed by the
# SystemCallFilter= lines of systemd/consent-milter.service (a call
# outside them would fail with EPERM under systemd).
# Skipped when the daemon or consentctl is not built, for sanitizer builds
# (their runtime makes calls the production build does not), and when
# strace, miltertest or systemd-analyze is missing.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
. "$SRCDIR/tests/lib/net.sh"	# net_freeport
CM_TMP=${CM_TMP:-$(mktemp -d)}
UNIT=$SRCDIR/systemd/consent-milter.service
MILTER=$BUILD/consent-milter
CTL=$BUILD/consentctl
skip() { echo "syscalls.sh: skipped: $*"; exit 77; }

[ -x "$MILTER" ] || skip "$MILTER not built"
[ -x "$CTL" ] || skip "$CTL not built"
case $BUILD in */san | */san/) skip "sanitizer build" ;; esac
for t in strace miltertest systemd-analyze; do
	command -v $t >/dev/null || skip "$t not installed"
done
strace -qq -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"

pid= mpid=	# strace, and the milter it runs
cleanup() {
	for p in $mpid $pid; do
		kill -0 "$p" 2>/dev/null || continue
		kill -TERM "$p" 2>/dev/null
		sleep 1
		kill -KILL "$p" 2>/dev/null
	done
}
trap cleanup EXIT

# The allowed set: the unit's SystemCallFilter= lines applied in order,
# groups expanded with systemd-analyze.
/usr/bin/python3 - "$UNIT" >"$CM_TMP/allowed" <<'EOF' || { echo "syscalls.sh: cannot compute the allowed set" >&2; exit 1; }
import subprocess, sys

cache = {}
def expand(name):
    if not name.startswith("@"):
        return {name}
    if name in cache:
        return cache[name]
    out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                         capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        names |= expand(w)
    cache[name] = names
    return names

allowed = None
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line.startswith("SystemCallFilter="):
        continue
    v = line.split("=", 1)[1].strip()
    deny = v.startswith("~")
    names = set()
    for w in v.lstrip("~").split():
        names |= expand(w)
    if allowed is None:
        if deny:
            sys.exit("a deny-list first is not handled")
        allowed = set()
    if deny:
        allowed -= names
    else:
        allowed |= names
if not allowed:
    sys.exit("no SystemCallFilter= in the unit")
print("\n".join(sorted(allowed)))
EOF

# A configuration (socket filled in per run), an index with one record.
# The decision log and bounces (DSN) are on, so their threads run too;
# the DSN target is a closed loopback port (sending fails, is retried).
mkdir -m 0700 "$CM_TMP/db" "$CM_TMP/log" "$CM_TMP/dsn"
dsnport=$(net_freeport)
cat >"$CM_TMP/cm.yaml.in" <<EOF
milter:
  socket: "@SOCKET@"
database:
  path: "$CM_TMP/db"
log:
  path: "$CM_TMP/log"
  hash_recipients: true
  key_file: "$CM_TMP/db/declog.key"
dsn:
  target: "inet:$dsnport@127.0.0.1"
  spool: "$CM_TMP/dsn"
  retry_delay: 1s
scope:
  authenticated: true
  networks: [127.0.0.0/8]
newsletters:
  - id: weekly
    name: "Weekly"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
  - id: offers
    name: "Offers"
    consent: opt-in
    match:
      - header:
          name: X-Newsletter-Type
          value: offers
EOF
config() {	# SOCKET
	sed "s|@SOCKET@|$1|" "$CM_TMP/cm.yaml.in" >"$CM_TMP/cm.yaml"
	chmod 0600 "$CM_TMP/cm.yaml"
}
config "unix:$CM_TMP/milter.sock"
"$CTL" -c "$CM_TMP/cm.yaml" init >"$CM_TMP/ctl.log" 2>&1 &&
	"$CTL" -c "$CM_TMP/cm.yaml" grant bob@example.net weekly >>"$CM_TMP/ctl.log" 2>&1 &&
	"$CTL" -c "$CM_TMP/cm.yaml" grant bob@example.net offers >>"$CM_TMP/ctl.log" 2>&1 ||
	{ cat "$CM_TMP/ctl.log" >&2; echo "syscalls.sh: consentctl could not prepare the index" >&2; exit 1; }

# ExecStartPre: the configuration check.
strace -f -qq -o "$CM_TMP/trace.check" "$MILTER" -n -c "$CM_TMP/cm.yaml" >"$CM_TMP/check.log" 2>&1 ||
	{ cat "$CM_TMP/check.log" >&2; echo "syscalls.sh: consent-milter -n failed" >&2; exit 1; }

cat >"$CM_TMP/session.lua" <<'EOF'
local conn = mt.connect(sock)
if conn == nil then error("cannot connect") end
mt.macro(conn, SMFIC_CONNECT, "j", "mx.example.com", "{daemon_name}", "test")
if mt.conninfo(conn, "localhost", "127.0.0.1") ~= nil then error("conninfo") end
-- envelope-typed newsletter: decided at RCPT
mt.macro(conn, SMFIC_MAIL, "i", "ABC123")
if mt.mailfrom(conn, "<weekly@news.example.com>") ~= nil then error("mailfrom") end
mt.rcptto(conn, "<bob@example.net>")
mt.rcptto(conn, "<carol@example.net>")
mt.abort(conn)
-- header-typed newsletter: decided at end of data
if mt.mailfrom(conn, "<shop@example.com>") ~= nil then error("mailfrom 2") end
mt.rcptto(conn, "<bob@example.net>")
mt.rcptto(conn, "<carol@example.net>")
if not mt.test_option(conn, SMFIP_NOHDRS) then
	mt.header(conn, "X-Newsletter-Type", "offers")
	mt.header(conn, "Subject", "Offers")
end
if not mt.test_option(conn, SMFIP_NOEOH) then mt.eoh(conn) end
if not mt.test_option(conn, SMFIP_NOBODY) then mt.bodystring(conn, "Hello\r\n") end
mt.eom(conn)
mt.disconnect(conn)
EOF

# ExecStart: start, two sessions around a reload, stop; once on a unix
# socket and once on loopback TCP.
run() {	# NAME MILTER-SOCKET MILTERTEST-SOCKET READY-COMMAND
	local name=$1 spec=$2 mtsock=$3 ready=$4 rc
	config "$spec"
	strace -f -qq -o "$CM_TMP/trace.$name" "$MILTER" -f -c "$CM_TMP/cm.yaml" \
	    >"$CM_TMP/milter.$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		eval "$ready" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	eval "$ready" || { cat "$CM_TMP/milter.$name.log" >&2; echo "syscalls.sh: $name: the milter did not open its socket" >&2; exit 1; }
	mpid=$(pgrep -P "$pid" | head -1)
	[ -n "$mpid" ] || { echo "syscalls.sh: cannot find the milter's process under strace $pid" >&2; exit 1; }
	for i in 1 2; do
		miltertest -D sock="$mtsock" -s "$CM_TMP/session.lua" >>"$CM_TMP/mt.log" 2>&1 ||
			echo "syscalls.sh: note: $name: miltertest session $i ended with an error (see below)"
		if [ $i = 1 ]; then
			kill -USR1 "$mpid"
			sleep 0.5
		fi
	done
	kill -TERM "$mpid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "syscalls.sh: $name: the milter did not stop on SIGTERM" >&2
		exit 1
	fi
	wait "$pid"
	rc=$?
	pid= mpid=
	grep -q 'reload' "$CM_TMP/milter.$name.log" || echo "syscalls.sh: note: $name: no reload in the milter's log"
	[ $rc -eq 0 ] || { sed 's/^/  milter: /' "$CM_TMP/milter.$name.log"; echo "syscalls.sh: $name: the milter exited with $rc" >&2; exit 1; }
}
run unix "unix:$CM_TMP/milter.sock" "unix:$CM_TMP/milter.sock" '[ -S "$CM_TMP/milter.sock" ]'
port=$(net_freeport)
run inet "inet:$port@127.0.0.1" "inet:$port@127.0.0.1" \
	'(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null'
[ -s "$CM_TMP/mt.log" ] && sed 's/^/  miltertest: /' "$CM_TMP/mt.log"

# Every system call made after exec, against the allowed set.
used=$(cat "$CM_TMP/trace.check" "$CM_TMP/trace.unix" "$CM_TMP/trace.inet" |
	sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' | sort -u)
n=$(wc -l <<<"$used")
[ "$n" -ge 20 ] || { echo "syscalls.sh: only $n system calls traced" >&2; exit 1; }
bad=$(comm -23 <(printf '%s\n' "$used") <(sort -u "$CM_TMP/allowed"))
if [ -n "$bad" ]; then
	echo "syscalls.sh: system calls outside the unit's SystemCallFilter=:" >&2
	for s in $bad; do
		echo "  $s: $(grep -m1 -E "^[0-9]+ +$s\(" "$CM_TMP"/trace.* | cut -c1-160)" >&2
	done
	exit 1
fi

# Socket address families against RestrictAddressFamilies=.
fams=$(sed -n 's/^RestrictAddressFamilies=//p' "$UNIT")
usedfams=$(cat "$CM_TMP"/trace.* |
	sed -nE 's/^[0-9]+ +socket\((AF_[A-Z0-9]+),.*/\1/p' | sort -u)
# One exception: glibc's getaddrinfo (AI_ADDRCONFIG, used for the DSN
# target) asks the kernel for the interface addresses over AF_NETLINK; when
# the unit refuses that socket, glibc assumes IPv4 and IPv6 are both
# present and goes on, so the daemon works without AF_NETLINK.
for f in $usedfams; do
	case " $fams AF_NETLINK " in
	*" $f "*) ;;
	*) echo "syscalls.sh: socket family $f is not in RestrictAddressFamilies=$fams" >&2; exit 1 ;;
	esac
done
echo "system call filter: all $n distinct system calls of check, start, sessions, reload and stop (unix and inet socket) are allowed"
echo "address families used: $(echo $usedfams) (allowed: $fams)"
