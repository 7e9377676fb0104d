# tests/e2e/lib/common.sh - harness for end-to-end tests through a real,
# private Postfix instance on loopback.  Source it from a test script
# (bash) run by tests/run, which sets BUILD, SRCDIR and CM_TMP:
#
#   . "$SRCDIR/tests/e2e/lib/common.sh"
#   e2e_init                       # checks, trap, directories; exit 77 if
#                                  # Postfix is not installed
#   e2e_start_sink                 # SINK_DIR, SINK_PORT, SINK_PID
#   e2e_pf_setup "inet:127.0.0.1:$MPORT"   # PF_DIR, PF_PORT (no milter: "")
#   e2e_pf_start
#   e2e_send "$CM_TMP/r1.json" --from a@x --rcpt b@y ...
#   e2e_wait_delivered 1
#   e2e_assert_eq "250" "$(e2e_q rcpt "$CM_TMP/r1.json" b@y | cut -c1-3)" "RCPT b@y"
#
# Everything started here is stopped by PID in an EXIT trap, in reverse
# order; on failure the Postfix log tail, the milter's stderr and the
# sink's log are printed.  Only 127.0.0.1 is used.  The system Postfix
# (/etc/postfix, /var/spool/postfix) is never touched: the instance has its
# own config, queue and data directories under $CM_TMP and is driven with
# `postfix -c DIR`.

E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
E2E_CLEANUP=()
E2E_PIDS=()
MILTER_PID=
MILTER_LOG=
PF_DIR=
PF_PORT=
SINK_DIR=
SINK_PORT=
SINK_PID=

e2e_log() { printf '%s e2e: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# e2e_skip MSG: skip the test (exit 77).
e2e_skip() { echo "SKIP: $*" >&2; exit 77; }

e2e_init() {
	: "${CM_TMP:?CM_TMP must be set (run through tests/run)}"
	: "${SRCDIR:?SRCDIR must be set}"
	: "${BUILD:=$SRCDIR/build}"
	if ! command -v postfix >/dev/null 2>&1 && [ ! -x /usr/sbin/postfix ]; then
		e2e_skip "postfix is not installed (apt-get install postfix, or make deps)"
	fi
	[ -x "$PY" ] || e2e_skip "$PY is not installed"
	[ "$(id -u)" = 0 ] || e2e_skip "a private Postfix instance must be started as root"
	id postfix >/dev/null 2>&1 || e2e_skip "user postfix missing (Postfix package not set up)"
	PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
	export PATH
	# Postfix daemons running as user postfix reach paths under here.
	chmod 0711 "$CM_TMP"
	trap 'e2e__exit $?' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

e2e__exit() {
	local rc=$1 i
	trap - EXIT
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		e2e_diag
	fi
	for ((i = ${#E2E_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUP[$i]}" || true
	done
	exit "$rc"
}

# e2e_on_exit CMD: run CMD (a string for eval) at exit, before earlier ones.
e2e_on_exit() { E2E_CLEANUP+=("$1"); }

# e2e_diag: print what helps diagnose a failure.
e2e_diag() {
	echo "======== diagnostics" >&2
	if [ -n "$PF_DIR" ] && [ -f "$PF_DIR/maillog" ]; then
		echo "-------- Postfix log ($PF_DIR/maillog: last 80 lines other than" \
		    "$(grep -c 'status=sent' "$PF_DIR/maillog") status=sent lines)" >&2
		grep -v 'status=sent' "$PF_DIR/maillog" | tail -n 80 >&2
		echo "-------- Postfix queue" >&2
		e2e_pf_running && postqueue -c "$PF_DIR/etc" -p 2>&1 | tail -n 30 >&2
	fi
	if [ -n "$MILTER_LOG" ] && [ -f "$MILTER_LOG" ]; then
		echo "-------- milter stderr (last 60 lines of $MILTER_LOG)" >&2
		tail -n 60 "$MILTER_LOG" >&2
	fi
	if [ -n "$SINK_DIR" ] && [ -f "$SINK_DIR/sink.log" ]; then
		echo "-------- sink log (last 30 lines)" >&2
		tail -n 30 "$SINK_DIR/sink.log" >&2
	fi
	echo "======== end of diagnostics" >&2
}

# e2e_fail MSG: fail the test (diagnostics are printed by the exit trap).
e2e_fail() { echo "FAIL: $*" >&2; exit 1; }

# e2e_programs: CM and CTL, the milter and consentctl of this build.
e2e_programs() {
	CM=$BUILD/consent-milter
	CTL=$BUILD/consentctl
	[ -x "$CM" ] && [ -x "$CTL" ] || e2e_fail "$CM or $CTL not built"
}

# e2e_index_granted ADDR TYPE: DB = a new consent index in $CM_TMP/db
# (consentctl init) where ADDR has consent for TYPE.
e2e_index_granted() {
	DB=$CM_TMP/db
	mkdir -p "$DB"
	"$CTL" -d "$DB" init >/dev/null &&
		"$CTL" -d "$DB" grant "$1" "$2" --source e2e >/dev/null ||
		e2e_fail "consentctl grant"
}

# The protocol tests' seed tool (tests/milter/seed.c, built by make) as
# $CM_TMP/seed: it writes known records into a consent index.
e2e_seed_tool() {
	[ -x "$BUILD/tests/seed" ] || e2e_fail "$BUILD/tests/seed is not built: run make"
	ln -sf "$BUILD/tests/seed" "$CM_TMP/seed"
}

# e2e_assert_eq EXPECTED ACTUAL WHAT
e2e_assert_eq() {
	if [ "$1" != "$2" ]; then
		{
			echo "FAIL: $3"
			echo "  expected: $(printf '%s' "$1" | head -c 2000)"
			echo "  actual:   $(printf '%s' "$2" | head -c 2000)"
		} >&2
		exit 1
	fi
	echo "ok - $3"
}

# e2e_assert_match REGEX ACTUAL WHAT (bash ERE)
e2e_assert_match() {
	if ! [[ $2 =~ $1 ]]; then
		{
			echo "FAIL: $3"
			echo "  expected to match: $1"
			echo "  actual:            $2"
		} >&2
		exit 1
	fi
	echo "ok - $3"
}

# e2e_q ARGS: query client results and the sink (see e2eq.py).
e2e_q() { "$PY" "$E2E_LIB/e2eq.py" "$@"; }

# e2e_freeport, e2e_listening PORT: tests/lib/net.sh's
. "$E2E_LIB/../../lib/net.sh"
e2e_freeport() { net_freeport; }
e2e_listening() { net_listening "$1"; }

# e2e_wait_listen PORT [PID] [TIMEOUT_S]: wait until PORT listens; fail if
# PID dies first or after TIMEOUT_S (default 20).
e2e_wait_listen() {
	local port=$1 pid=${2:-} t=${3:-20} i
	for ((i = 0; i < t * 20; i++)); do
		e2e_listening "$port" && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			e2e_fail "process $pid died before listening on port $port"
		fi
		sleep 0.05
	done
	e2e_fail "nothing listens on 127.0.0.1:$port after ${t}s"
}

# e2e_kill_pid PID [TIMEOUT_S]: SIGTERM, wait, then SIGKILL.  Returns the
# process's exit status when it is our child, else 0.
E2E_DONE=" "	# PIDs already stopped and reaped: never signalled again
e2e_kill_pid() {
	local pid=$1 t=${2:-10} i rc=0
	[ -n "$pid" ] || return 0
	[[ $E2E_DONE == *" $pid "* ]] && return 0
	E2E_DONE+="$pid "
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < t * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		# a zombie child counts as gone
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
		e2e_log "pid $pid did not stop within ${t}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	return $rc
}

# ---------------------------------------------------------------- sink

# e2e_start_sink [NAME]: start the recording SMTP sink (dir $CM_TMP/NAME,
# default "sink").  Sets SINK_DIR, SINK_PORT, SINK_PID.
e2e_start_sink() {
	local name=${1:-sink} i
	SINK_DIR=$CM_TMP/$name
	mkdir -p "$SINK_DIR"
	"$PY" "$E2E_LIB/sink.py" --dir "$SINK_DIR" >>"$SINK_DIR/stderr" 2>&1 &
	SINK_PID=$!
	e2e_on_exit "e2e_kill_pid $SINK_PID 5"
	for ((i = 0; i < 200; i++)); do
		[ -s "$SINK_DIR/port" ] && break
		kill -0 "$SINK_PID" 2>/dev/null || { cat "$SINK_DIR/stderr" >&2; e2e_fail "sink died"; }
		sleep 0.05
	done
	[ -s "$SINK_DIR/port" ] || e2e_fail "sink did not start"
	SINK_PORT=$(cat "$SINK_DIR/port")
	e2e_log "sink pid $SINK_PID on 127.0.0.1:$SINK_PORT ($SINK_DIR)"
}

# e2e_start_aux_sink NAME: one more recording sink (e.g. a DSN target) in
# $CM_TMP/NAME, stopped at exit; sets AUX_PORT to its port.  Control it by
# files in $CM_TMP/NAME/ctl/ as e2e_sink_ctl does the main sink.  (Not in
# a command substitution: its stop at exit would be lost.)
e2e_start_aux_sink() {
	local dir=$CM_TMP/$1 pid i
	mkdir -p "$dir"
	"$PY" "$E2E_LIB/sink.py" --dir "$dir" >>"$dir.log" 2>&1 &
	pid=$!
	e2e_on_exit "e2e_kill_pid $pid 5"
	for ((i = 0; i < 200; i++)); do
		[ -s "$dir/port" ] && break
		kill -0 "$pid" 2>/dev/null || e2e_fail "sink $1 died: $(cat "$dir.log")"
		sleep 0.05
	done
	[ -s "$dir/port" ] || e2e_fail "sink $1 did not start"
	AUX_PORT=$(cat "$dir/port")
}

# e2e_sink_count: number of messages the sink has stored.
e2e_sink_count() {
	local n
	n=$(find "$SINK_DIR/msgs" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l)
	echo "$n"
}

# e2e_sink_ctl STAGE [REPLY]: make the sink answer REPLY at STAGE
# (connect, mail, rcpt, data, rcpt-ADDR); without REPLY, back to normal.
e2e_sink_ctl() {
	if [ $# -ge 2 ]; then
		printf '%s\n' "$2" >"$SINK_DIR/ctl/$1"
	else
		rm -f "$SINK_DIR/ctl/$1"
	fi
}

# ---------------------------------------------------------------- Postfix

# e2e_pf_setup [MILTERS] [SMTPD_PROCS]: write a private instance's main.cf
# and master.cf under $CM_TMP/pf from the templates.  The relay is the
# sink (start it first).  Sets PF_DIR (base), PF_PORT (its smtpd).  Change
# settings afterwards with e2e_pf_conf.
e2e_pf_setup() {
	local milters=${1:-} procs=${2:--}
	[ -n "$SINK_PORT" ] || e2e_fail "e2e_pf_setup: start the sink first"
	PF_DIR=$CM_TMP/pf
	mkdir -p "$PF_DIR/etc" "$PF_DIR/queue" "$PF_DIR/data"
	chown postfix: "$PF_DIR/data"
	PF_PORT=$(e2e_freeport)
	sed -e "s|@QUEUE_DIR@|$PF_DIR/queue|g" \
	    -e "s|@DATA_DIR@|$PF_DIR/data|g" \
	    -e "s|@LOG_FILE@|$PF_DIR/maillog|g" \
	    -e "s|@TMP@|$CM_TMP|g" \
	    -e "s|@SINK_PORT@|$SINK_PORT|g" \
	    -e "s|@MILTERS@|$milters|g" \
	    "$E2E_LIB/main.cf.in" >"$PF_DIR/etc/main.cf"
	sed -e "s|@SMTPD_PORT@|$PF_PORT|g" -e "s|@SMTPD_PROCS@|$procs|g" \
	    "$E2E_LIB/master.cf.in" >"$PF_DIR/etc/master.cf"
}

# e2e_pf_add_smtpd PORT [-o name=value]...: one more smtpd service on
# 127.0.0.1:PORT (before e2e_pf_start), e.g. with its own smtpd_milters.
e2e_pf_add_smtpd() {
	local port=$1
	shift
	echo "127.0.0.1:$port inet n - n - - smtpd $*" >>"$PF_DIR/etc/master.cf"
}

# e2e_pf_conf 'name = value' ...: change main.cf settings.
e2e_pf_conf() { postconf -c "$PF_DIR/etc" -e "$@" || e2e_fail "postconf -e $*"; }

e2e_pf_pid() {
	local f=$PF_DIR/queue/pid/master.pid
	[ -f "$f" ] && tr -dc '0-9' <"$f"
}

e2e_pf_running() {
	local pid
	pid=$(e2e_pf_pid)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# e2e_pf_start: check and start the instance; wait for its smtpd port.
e2e_pf_start() {
	local out
	[ -n "$PF_DIR" ] || e2e_fail "e2e_pf_start: e2e_pf_setup first"
	if ! out=$(postfix -c "$PF_DIR/etc" check 2>&1); then
		echo "$out" >&2
		e2e_fail "postfix -c $PF_DIR/etc check failed"
	fi
	[ -z "$out" ] || echo "$out" >&2
	if ! out=$(postfix -c "$PF_DIR/etc" start 2>&1); then
		echo "$out" >&2
		e2e_fail "postfix -c $PF_DIR/etc start failed"
	fi
	e2e_on_exit "e2e_pf_stop"
	local i
	for ((i = 0; i < 200; i++)); do
		e2e_pf_running && break
		sleep 0.05
	done
	e2e_pf_running || e2e_fail "Postfix master did not start"
	e2e_wait_listen "$PF_PORT" "$(e2e_pf_pid)" 20
	e2e_log "postfix master pid $(e2e_pf_pid), smtpd on 127.0.0.1:$PF_PORT ($PF_DIR)"
}

# e2e_pf_stop: stop the instance (postfix stop, then by PID).
e2e_pf_stop() {
	local pid i
	pid=$(e2e_pf_pid)
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	e2e_log "postfix master $pid still running: SIGKILL"
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
}

# e2e_pf_reload: make running Postfix re-read main.cf/master.cf, and wait
# until the smtpd processes started before it have exited (an idle one
# goes at once), so that the next connection meets the new settings.
e2e_pf_reload() {
	local m old p i alive
	m=$(e2e_pf_pid)
	old=$(ps -o pid=,comm= --ppid "$m" 2>/dev/null | awk '$2 == "smtpd" {print $1}')
	postfix -c "$PF_DIR/etc" reload >/dev/null 2>&1 || e2e_fail "postfix reload"
	for ((i = 0; i < 400; i++)); do
		alive=
		for p in $old; do
			kill -0 "$p" 2>/dev/null && { alive=$p; break; }
		done
		[ -z "$alive" ] && return 0
		sleep 0.05
	done
	e2e_fail "smtpd $alive, started before the reload, still runs after 20 s"
}

# e2e_queue_count: messages in the instance's queue (any state).  Queue
# files move between directories (active <-> deferred) while we look, so
# the directories are scanned in both orders and the larger count wins.
e2e_queue_count() {
	local q=$PF_DIR/queue a b
	a=$(cd "$q" && find maildrop incoming active deferred hold -type f 2>/dev/null | wc -l)
	b=$(cd "$q" && find hold deferred active incoming maildrop -type f 2>/dev/null | wc -l)
	[ "$a" -ge "$b" ] && echo "$a" || echo "$b"
}

# e2e_flush: ask Postfix to retry deferred mail now.
e2e_flush() { postqueue -c "$PF_DIR/etc" -f || e2e_fail "postqueue -f"; }

# e2e_wait_delivered N [TIMEOUT_S]: wait until the sink holds at least N
# messages and the Postfix queue is empty (default 30 s); fail otherwise.
e2e_wait_delivered() {
	local n=$1 t=${2:-30} i c q
	for ((i = 0; i < t * 10; i++)); do
		c=$(e2e_sink_count)
		q=$(e2e_queue_count)
		[ "$c" -ge "$n" ] && [ "$q" = 0 ] && [ "$(e2e_queue_count)" = 0 ] && return 0
		sleep 0.1
	done
	e2e_fail "after ${t}s: sink has $c message(s) (want $n), queue has $q"
}

# e2e_wait_queue_empty [TIMEOUT_S]
e2e_wait_queue_empty() {
	local t=${1:-30} i
	for ((i = 0; i < t * 10; i++)); do
		[ "$(e2e_queue_count)" = 0 ] && [ "$(e2e_queue_count)" = 0 ] && return 0
		sleep 0.1
	done
	e2e_fail "queue not empty after ${t}s"
}

# e2e_settle [SECONDS]: wait a little (default 1 s) and require that
# nothing is in the queue: used to prove that nothing more is delivered.
e2e_settle() {
	sleep "${1:-1}"
	e2e_wait_queue_empty 30
}

# e2e_send OUT ARGS...: send with smtpclient.py to the instance's smtpd;
# result JSON in OUT.
e2e_send() {
	local out=$1
	shift
	"$PY" "$E2E_LIB/smtpclient.py" --port "$PF_PORT" --out "$out" "$@" ||
		e2e_fail "smtpclient failed (exit $?): $*"
}

# ---------------------------------------------------------------- milter

# e2e_cm_head PORT DBDIR: the first sections of consent-milter's
# configuration for a milter on 127.0.0.1:PORT with its index in DBDIR,
# every client on loopback in scope.
e2e_cm_head() {
	cat <<EOF
milter:
  socket: "inet:$1@127.0.0.1"
database:
  path: "$2"
scope:
  authenticated: false
  networks: [127.0.0.0/8]
EOF
}

# e2e_cm_newsletters SENDER: the newsletters: section of consent-milter's
# configuration that most tests use: weekly-news, typed by the envelope
# sender SENDER, and offers, typed by the header X-Newsletter-Type: offers.
e2e_cm_newsletters() {
	cat <<EOF
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "$1"
  - id: offers
    name: "Special offers"
    consent: opt-in
    match:
      - header:
          name: X-Newsletter-Type
          value: "offers"
EOF
}

# e2e_start_milter PORT CMD [ARGS...]: start a milter listening on
# 127.0.0.1:PORT in the background; stderr+stdout to $CM_TMP/milter.log
# (appended; another file if E2E_MILTER_LOG is set).  Sets MILTER_PID and
# MILTER_LOG.
e2e_start_milter() {
	local port=$1
	shift
	MILTER_LOG=${E2E_MILTER_LOG:-$CM_TMP/milter.log}
	echo "---- $(date +%H:%M:%S) start: $*" >>"$MILTER_LOG"
	"$@" >>"$MILTER_LOG" 2>&1 &
	MILTER_PID=$!
	E2E_PIDS+=("$MILTER_PID")
	e2e_on_exit "e2e_kill_pid $MILTER_PID 10"
	e2e_wait_listen "$port" "$MILTER_PID" 20
	e2e_log "milter pid $MILTER_PID on 127.0.0.1:$port"
}

# e2e_stop_milter [SIGNAL]: stop the milter (default TERM, graceful) and
# wait; fail if a graceful stop does not exit 0.  KILL kills at once.
e2e_stop_milter() {
	local sig=${1:-TERM} rc i
	[ -n "$MILTER_PID" ] || return 0
	if [ "$sig" = KILL ]; then
		kill -KILL "$MILTER_PID" 2>/dev/null
		wait "$MILTER_PID" 2>/dev/null
		E2E_DONE+="$MILTER_PID "
		MILTER_PID=
		return 0
	fi
	kill "-$sig" "$MILTER_PID" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		[ "$(awk '{print $3}' "/proc/$MILTER_PID/stat" 2>/dev/null)" = Z ] && break
		kill -0 "$MILTER_PID" 2>/dev/null || break
		sleep 0.05
	done
	e2e_kill_pid "$MILTER_PID" 1
	rc=$?
	MILTER_PID=
	[ "$rc" = 0 ] || e2e_fail "milter exited with status $rc on SIG$sig"
}

# e2e_check_sanitizers: fail if the milter's stderr shows a sanitizer or
# valgrind report.
e2e_check_sanitizers() {
	[ -n "$MILTER_LOG" ] && [ -f "$MILTER_LOG" ] || return 0
	if grep -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' \
	    "$MILTER_LOG" >/dev/null; then
		e2e_fail "sanitizer report in $MILTER_LOG"
	fi
	echo "ok - no sanitizer report in the milter's stderr"
}
