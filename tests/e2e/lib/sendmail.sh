# tests/e2e/lib/sendmail.sh - a private Sendmail 8.17 instance on loopback
# for end-to-end tests, beside (not instead of) the system's Postfix.
# Source it after common.sh and e2e_init:
#
#   . "$SRCDIR/tests/e2e/lib/common.sh"
#   . "$SRCDIR/tests/e2e/lib/sendmail.sh"
#   e2e_init
#   sm_fetch                       # exit 77 if the packages cannot be had
#   e2e_start_sink
#   sm_setup "inet:$MPORT@127.0.0.1"   # SM_DIR, SM_PORT ("" = no milter)
#   sm_start                       # SM_PID
#   sm_send "$CM_TMP/r1.json" --from a@x --rcpt b@y ...
#   sm_wait_delivered 1
#
# Debian's sendmail-bin conflicts with postfix, so Sendmail is never
# installed: its packages are fetched with `apt-get download` into a cache
# directory (SM_DEB_CACHE, default $SRCDIR/build/sendmail-debs, reused
# across runs), unpacked with `dpkg -x` under $CM_TMP, and the daemon runs
# from there with LD_LIBRARY_PATH at the unpacked libraries.  The binary is
# copied first: the packaged one is setgid, and setgid programs ignore
# LD_LIBRARY_PATH.  Its .cf is built with m4 from the unpacked cf/ tree:
# its own queue, PID and status files, no aliases, no DNS (hosts from
# /etc/hosts only), no interface probing, relaying from 127.0.0.1 to the
# recording sink ($SINK_PORT) as smart host (up to 2,000 recipients in one
# transaction, as the Postfix instance), and the milter with F=T (fail
# closed: 4xx while the filter is unreachable).
#
# Sendmail sleeps 60 s at start when the host name is unqualified and does
# not resolve to a qualified name; a one-function LD_PRELOAD library gives
# it the name sm.e2e.test instead (nothing else is changed).
#
# There is no syslog in a test run: the daemon's SMTP traffic is recorded
# with -X in $SM_DIR/traffic.log and shown with the queue on failure.

SM_DIR=
SM_PORT=
SM_PID=
SM_ROOT=
SM_BIN=
SM_CF=
SM_LIBS=
SM_PRELOAD=
SM_PKGS="sendmail-bin sendmail-base sendmail-cf libwrap0 liblockfile1"

# sm__have_debs DIR PKG...: does DIR hold a .deb of every PKG?
sm__have_debs() {
	local d=$1 p f
	shift
	for p in "$@"; do
		f=$(find "$d" -maxdepth 1 -name "${p}_*.deb" 2>/dev/null | head -n 1)
		[ -n "$f" ] || return 1
	done
	return 0
}

# sm_fetch: make sure the cache holds the packages; skip the test (exit
# 77) if they cannot be downloaded.  Needs m4, dpkg-deb and cc.
sm_fetch() {
	local cache=${SM_DEB_CACHE:-$SRCDIR/build/sendmail-debs} pkgs=$SM_PKGS p missing
	command -v m4 >/dev/null 2>&1 || e2e_skip "m4 is not installed (make deps)"
	command -v dpkg-deb >/dev/null 2>&1 || e2e_skip "dpkg-deb is not available"
	command -v cc >/dev/null 2>&1 || e2e_skip "cc is not available"
	case "$(dpkg-query -W -f='${Status}' libdb5.3 2>/dev/null)" in
	*" installed") ;;
	*) pkgs="$pkgs libdb5.3" ;;
	esac
	mkdir -p "$cache" || e2e_skip "cannot create $cache"
	SM_DEB_CACHE=$cache
	# shellcheck disable=SC2086
	sm__have_debs "$cache" $pkgs && return 0
	(
		# one download at a time, whoever runs the suite
		flock -w 300 9 || exit 1
		cd "$cache" || exit 1
		missing=
		for p in $pkgs; do
			sm__have_debs . "$p" || missing="$missing $p"
		done
		[ -z "$missing" ] && exit 0
		e2e_log "downloading Debian packages into $cache:$missing"
		# shellcheck disable=SC2086
		if ! apt-get download $missing >download.log 2>&1; then
			# the package lists may be missing or stale
			apt-get update -qq >>download.log 2>&1
			# shellcheck disable=SC2086
			apt-get download $missing >>download.log 2>&1 || exit 1
		fi
	) 9>"$cache/.lock"
	# shellcheck disable=SC2086
	if ! sm__have_debs "$cache" $pkgs; then
		[ -f "$cache/download.log" ] && tail -n 5 "$cache/download.log" >&2
		e2e_skip "cannot download the Sendmail packages ($pkgs) with apt-get download into $cache"
	fi
}

# sm__unpack: unpack the cached packages into $SM_DIR/root; copy the
# daemon; build the host-name library.
sm__unpack() {
	local f p
	SM_ROOT=$SM_DIR/root
	mkdir -p "$SM_ROOT"
	# the newest cached version of each package
	for p in $SM_PKGS libdb5.3; do
		f=$(find "$SM_DEB_CACHE" -maxdepth 1 -name "${p}_*.deb" | sort -V | tail -n 1)
		[ -n "$f" ] || continue
		dpkg-deb -x "$f" "$SM_ROOT" || e2e_fail "dpkg-deb -x $f"
	done
	[ -f "$SM_ROOT/usr/libexec/sendmail/sendmail" ] || e2e_fail "no usr/libexec/sendmail/sendmail in the packages"
	SM_BIN=$SM_DIR/sendmail
	cp "$SM_ROOT/usr/libexec/sendmail/sendmail" "$SM_BIN" || e2e_fail "copy sendmail"
	chmod 0755 "$SM_BIN"
	SM_LIBS=$(find "$SM_ROOT" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
	if LD_LIBRARY_PATH=$SM_LIBS ldd "$SM_BIN" | grep -q 'not found'; then
		LD_LIBRARY_PATH=$SM_LIBS ldd "$SM_BIN" | grep 'not found' >&2
		e2e_skip "the unpacked sendmail misses shared libraries"
	fi
	cat >"$SM_DIR/hostname.c" <<'EOF'
#include <errno.h>
#include <string.h>
int gethostname(char *, size_t);
int
gethostname(char *name, size_t len)
{
	static const char h[] = "sm.e2e.test";

	if (len < sizeof(h)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(name, h, sizeof(h));
	return 0;
}
EOF
	SM_PRELOAD=$SM_DIR/hostname.so
	cc -shared -fPIC -O1 -o "$SM_PRELOAD" "$SM_DIR/hostname.c" || e2e_fail "cc hostname.so"
}

# sm_run ARGS...: run the unpacked sendmail with this instance's .cf.
sm_run() {
	LD_LIBRARY_PATH=$SM_LIBS LD_PRELOAD=$SM_PRELOAD "$SM_BIN" -C "$SM_CF" "$@"
}

# sm_setup [MILTER_SOCKET]: unpack and configure an instance under
# $CM_TMP/sm relaying to the sink (start it first).  MILTER_SOCKET is a
# Sendmail socket spec, e.g. inet:PORT@127.0.0.1; "" = no milter.  Sets
# SM_DIR, SM_PORT, SM_CF.
sm_setup() {
	local milter=${1:-} cf out
	[ -n "$SINK_PORT" ] || e2e_fail "sm_setup: start the sink first"
	[ -n "${SM_DEB_CACHE:-}" ] || e2e_fail "sm_setup: sm_fetch first"
	SM_DIR=$CM_TMP/sm
	mkdir -p "$SM_DIR/queue" "$SM_DIR/run"
	chmod 0700 "$SM_DIR/queue"
	sm__unpack
	cf=$SM_ROOT/usr/share/sendmail/cf
	SM_PORT=$(e2e_freeport)
	printf 'hosts\tfiles\naliases\tfiles\n' >"$SM_DIR/service.switch"
	{
		echo "divert(0)dnl"
		echo "include(\`$cf/m4/cf.m4')dnl"
		echo "VERSIONID(\`consent-milter end-to-end test instance')dnl"
		echo "OSTYPE(\`linux')dnl"
		echo "undefine(\`ALIAS_FILE')dnl"
		echo "define(\`confDOMAIN_NAME', \`sm.e2e.test')dnl"
		echo "define(\`confDONT_PROBE_INTERFACES', \`True')dnl"
		echo "define(\`confSERVICE_SWITCH_FILE', \`$SM_DIR/service.switch')dnl"
		echo "define(\`confHOSTS_FILE', \`/etc/hosts')dnl"
		echo "define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl"
		echo "define(\`QUEUE_DIR', \`$SM_DIR/queue')dnl"
		echo "define(\`STATUS_FILE', \`$SM_DIR/run/statistics')dnl"
		echo "define(\`confPID_FILE', \`$SM_DIR/run/sendmail.pid')dnl"
		echo "define(\`confHELP_FILE', \`')dnl"
		echo "define(\`confCW_FILE', \`')dnl"
		echo "define(\`confTO_QUEUEWARN', \`')dnl"
		echo "define(\`confDELIVERY_MODE', \`background')dnl"
		echo "define(\`confMIN_QUEUE_AGE', \`0')dnl"
		echo "define(\`confMAX_DAEMON_CHILDREN', \`0')dnl"
		echo "define(\`confCONNECTION_RATE_THROTTLE', \`0')dnl"
		echo "define(\`confQUEUE_LA', \`1000')dnl"
		echo "define(\`confREFUSE_LA', \`1000')dnl"
		echo "define(\`confDELAY_LA', \`0')dnl"
		echo "define(\`SMART_HOST', \`esmtp:[127.0.0.1]')dnl"
		echo "define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl"
		echo "define(\`RELAY_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl"
		# one transaction per message (the default splits after 100)
		echo "define(\`SMTP_MAILER_MAXRCPTS', \`2000')dnl"
		echo "define(\`confMILTER_LOG_LEVEL', \`6')dnl"
		echo "define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl"
		echo "FEATURE(\`nocanonify')dnl"
		echo "FEATURE(\`accept_unresolvable_domains')dnl"
		echo "FEATURE(\`accept_unqualified_senders')dnl"
		echo "FEATURE(\`no_default_msa')dnl"
		echo "DAEMON_OPTIONS(\`Port=$SM_PORT, Addr=127.0.0.1, Name=MTA')dnl"
		if [ -n "$milter" ]; then
			echo "INPUT_MAIL_FILTER(\`consent', \`S=$milter, F=T, T=C:10s;S:10s;R:10s;E:5m')dnl"
		fi
		echo "MAILER(\`local')dnl"
		echo "MAILER(\`smtp')dnl"
	} >"$SM_DIR/sendmail.mc"
	SM_CF=$SM_DIR/sendmail.cf
	m4 "$SM_DIR/sendmail.mc" >"$SM_CF" || e2e_fail "m4 $SM_DIR/sendmail.mc"
	out=$(sm_run -d0.1 -bt </dev/null 2>&1)
	[[ $out == *"Version 8.17"* ]] || { echo "$out" >&2; e2e_fail "sendmail -d0.1 -bt: no version 8.17"; }
	[[ $out == *MILTER* ]] || { echo "$out" >&2; e2e_fail "sendmail -d0.1 -bt: not compiled with MILTER"; }
	if [[ $out == *readcf:* ]] || [[ $out == *"Warning:"* ]]; then
		echo "$out" >&2
		e2e_fail "sendmail reports problems with $SM_CF"
	fi
	echo "ok - sendmail -d0.1 -bt: $(printf '%s\n' "$out" | sed -n 's/^Version /Version /p' | head -n 1), compiled with MILTER"
}

# sm_start: start the daemon in the foreground mode (-bD, so SM_PID is
# the daemon itself) with a queue run every minute; wait for its port.
sm_start() {
	[ -n "$SM_CF" ] || e2e_fail "sm_start: sm_setup first"
	LD_LIBRARY_PATH=$SM_LIBS LD_PRELOAD=$SM_PRELOAD \
		"$SM_BIN" -C "$SM_CF" -bD -q1m -X "$SM_DIR/traffic.log" \
		</dev/null >>"$SM_DIR/stdout" 2>&1 &
	SM_PID=$!
	e2e_on_exit "sm_stop"
	# runs inside e2e__exit, whose local rc is the exit status
	e2e_on_exit "sm_diag_maybe \${rc:-1}"
	e2e_wait_listen "$SM_PORT" "$SM_PID" 20
	e2e_log "sendmail pid $SM_PID on 127.0.0.1:$SM_PORT ($SM_DIR)"
}

# sm__children PID: PIDs of PID's child processes (from /proc).
sm__children() {
	local f st ppid
	for f in /proc/[0-9]*/stat; do
		st=$(cat "$f" 2>/dev/null) || continue
		st=${st##*) }	# after "PID (COMM) ": "STATE PPID ..."
		ppid=${st#* }
		ppid=${ppid%% *}
		if [ "$ppid" = "$1" ]; then
			f=${f#/proc/}
			echo "${f%/stat}"
		fi
	done
}

# sm_stop: stop the daemon (SIGTERM, then SIGKILL) by PID, then any
# delivery or queue-run process it forked that is still running.
sm_stop() {
	local kids k
	[ -n "$SM_PID" ] || return 0
	kids=$(sm__children "$SM_PID")
	e2e_kill_pid "$SM_PID" 10
	for k in $kids; do
		e2e_kill_pid "$k" 5
	done
	SM_PID=
}

# sm_diag_maybe RC: on failure, show what helps: queue and traffic.
sm_diag_maybe() {
	[ "$1" = 0 ] || [ "$1" = 77 ] && return 0
	[ -n "$SM_DIR" ] || return 0
	{
		echo "-------- Sendmail queue ($SM_DIR/queue)"
		sm_run -bp 2>&1 | tail -n 30
		echo "-------- Sendmail stdout"
		tail -n 20 "$SM_DIR/stdout" 2>/dev/null
		echo "-------- Sendmail SMTP traffic (last 60 lines of $SM_DIR/traffic.log)"
		tail -n 60 "$SM_DIR/traffic.log" 2>/dev/null
	} >&2
}

# sm_start_milter SOCKET_PATH CMD [ARGS...]: like e2e_start_milter, for a
# milter on a unix socket (Sendmail's usual transport): wait until the
# socket exists (a stale one is removed first).  Sets MILTER_PID,
# MILTER_LOG.
sm_start_milter() {
	local sock=$1 i
	shift
	rm -f "$sock"
	MILTER_LOG=$CM_TMP/milter.log
	echo "---- $(date +%H:%M:%S) start: $*" >>"$MILTER_LOG"
	"$@" >>"$MILTER_LOG" 2>&1 &
	MILTER_PID=$!
	E2E_PIDS+=("$MILTER_PID")
	e2e_on_exit "e2e_kill_pid $MILTER_PID 10"
	for ((i = 0; i < 400; i++)); do
		[ -S "$sock" ] && break
		kill -0 "$MILTER_PID" 2>/dev/null || e2e_fail "milter $MILTER_PID died before creating $sock"
		sleep 0.05
	done
	[ -S "$sock" ] || e2e_fail "milter $MILTER_PID: no socket $sock after 20s"
	e2e_log "milter pid $MILTER_PID on unix:$sock"
}

# sm_send OUT ARGS...: send with smtpclient.py to Sendmail; result JSON in
# OUT.
sm_send() {
	local out=$1
	shift
	"$PY" "$E2E_LIB/smtpclient.py" --port "$SM_PORT" --out "$out" "$@" ||
		e2e_fail "smtpclient failed (exit $?): $*"
}

# sm_queue_count: messages in the instance's queue (data or control files).
sm_queue_count() {
	find "$SM_DIR/queue" -maxdepth 1 -type f \( -name 'qf*' -o -name 'df*' -o -name 'tf*' \) 2>/dev/null | wc -l
}

# sm_flush: one queue run now, in the foreground.
sm_flush() { sm_run -q >/dev/null 2>&1 || e2e_fail "sendmail -q"; }

# sm_wait_delivered N [TIMEOUT_S]: wait until the sink holds at least N
# messages and the queue is empty (default 30 s); fail otherwise.
sm_wait_delivered() {
	local n=$1 t=${2:-30} i c q
	for ((i = 0; i < t * 10; i++)); do
		c=$(e2e_sink_count)
		q=$(sm_queue_count)
		[ "$c" -ge "$n" ] && [ "$q" = 0 ] && return 0
		sleep 0.1
	done
	e2e_fail "after ${t}s: sink has $c message(s) (want $n), Sendmail queue has $q file(s)"
}

# sm_settle [SECONDS]: wait (default 1 s), then require an empty queue.
sm_settle() {
	local i
	sleep "${1:-1}"
	for ((i = 0; i < 300; i++)); do
		[ "$(sm_queue_count)" = 0 ] && return 0
		sleep 0.1
	done
	e2e_fail "Sendmail queue not empty after 30s"
}
