#!/usr/bin/env bash
# bench/postfix.sh - Postfix throughput with and without a filter, every
# configuration side by side in one run (SPEC §8, issue 17).
# smtp-source -> a private Postfix on loopback -> smtp-sink, one
# connection per message, one index of INDEX records (default 1,000,000)
# for every filter.
#
# Configurations (each its own smtpd on the same Postfix instance):
#   alone         Postfix without a filter
#   noop-policy   check_policy_service with bench/noop_policy: one LMDB
#                 lookup per recipient, DUNNO (the floor of a policy
#                 server)
#   noop          smtpd_milters with bench/noop_milter, RCPT only: one
#                 LMDB lookup per recipient, accept at DATA (the floor of
#                 any libmilter milter that looks at recipients)
#   noop-mail     bench/noop_milter -m: accepts every message at MAIL FROM
#                 (the floor for mail that is no newsletter)
#   cm-news       consent-milter, newsletter typed by its envelope sender,
#                 every recipient consented (all allowed); floor: noop
#   cm-other      consent-milter, mail that is no newsletter; floor:
#                 noop-mail
#   before-news, before-other
#                 the same with the consent-milter binary CM_BEFORE (e.g.
#                 a build of the commit before a change): before and after
#                 in the same run; only when CM_BEFORE is set
#   cp-only       consent-policy alone (issue 17 item 3): Postfix with
#                 check_policy_service consent-policy and no milter,
#                 newsletter typed by its envelope sender, every recipient
#                 consented; floor: noop-policy (like for like: a policy
#                 server against a policy server).  Its filter CPU is
#                 consent-policy's process only
#   cm-policy     consent-policy together with the milter's fast path
#                 (policy.decides_envelope_types: the milter accepts
#                 envelope-typed mail at MAIL FROM): what an operator runs;
#                 floor: noop-policy; its filter CPU is both processes'.
#                 cp-only and cm-policy share one consent-policy process
#                 and one configuration file (cm-policy.yaml).  They run
#                 only when $BUILD/consent-policy exists and accepts the
#                 configuration (cm-policy: consent-milter too); skipped
#                 with a note otherwise
# and, when named in BENCH_CONFIGS only:
#   noop-eoh      noop_milter -e: reads the headers, accepts at their end
#   noop-nr       noop_milter -n: connect and MAIL FROM come as well, each
#                 without a reply (what a step costs that the MTA sends
#                 but does not wait for)
#   cm-log        cm-news with the decision log on (log: section); floor:
#                 noop-eoh; afterwards the log must hold one record with a
#                 Message-ID per recipient sent
#
# ROUNDS rounds (default 3); in each, every configuration runs once, the
# order rotated by one per round.  A run: SESS sessions x MSGS messages x
# RCPTS recipients, from the start of smtp-source until the queue is empty
# (msg/s end to end); every recipient must have reached the sink.  The
# filter's CPU is utime+stime of its process(es) (/proc/PID/stat) over the
# run, per recipient.  The machine's capacity against the floor is the
# floor's CPU per message of the whole machine (user, system and
# interrupts of every process: Postfix, the filter, smtp-source and
# smtp-sink; not the time the hypervisor gave others) divided by the
# configuration's: the throughput it reaches where the CPU is the limit,
# steadier than the wall clock on a shared machine.  Ratios are taken per
# round (a configuration against Postfix alone and against its floor in
# the same round) and printed as min / median / max over the rounds, then
# as a table for the README; against each target, the median's 90 %
# bootstrap interval says whether so many rounds can tell.
#
# Then consent-milter alone, driven over the milter protocol by
# bench/milterload.py (a connection per message, as Postfix does with
# smtp-source): msg/s, CPU per recipient, and its resident memory after
# 1,000 and after RSS_MSGS messages (a fresh daemon): anonymous (its own),
# and in all (with the index pages mapped in: page cache, shared, and as
# large as the part of the index looked at)
#
# Then consent-policy alone, the same way: a fresh consent-policy with
# the decision log on (log: section, decides_envelope_types so that it
# records the allowed recipients), driven over the policy-delegation
# protocol by bench/policyload.py (SESS connections, one request at a
# time each, a new connection every CP_RECONNECT requests: by default
# 100 x RCPTS, as smtpd reconnects when it exits after max_use = 100
# sessions of one message; 0: never): requests/s, CPU per request, its
# resident memory after 1,000 x RCPTS and after RSS_MSGS x RCPTS requests
# (as many recipient decisions as the milter's part), and the decision
# log must hold one record per request sent
#
# Sizes: SESS=10 RCPTS=10 MSGS=1500 ROUNDS=3 INDEX=1000000
# RSS_MSGS=100000 by default (a few minutes); BENCH_FULL=1: MSGS=3000 (the
# issue's 10 x 3,000 x 10); BENCH_QUICK=1: MSGS=300 ROUNDS=1
# RSS_MSGS=10000 INDEX=100000.  Each can be set on its own.
# BENCH_CONFIGS="alone noop ...": only these configurations.
# FLOOR_INDEX=same (default) | own: where the do-nothing filters make
# their lookup (below).  PF_CONF="name = value": a main.cf setting for the
# Postfix instance (default none).
#
# Prints figures only.  Needs root (a private Postfix instance) and the
# Postfix package; prints a note and exits 0 without them.
set -u
: "${SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$SRCDIR/build}"
export SRCDIR BUILD

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${MSGS:=300}" "${ROUNDS:=1}" "${RSS_MSGS:=10000}" "${INDEX:=100000}"
elif [ "${BENCH_FULL:-0}" = 1 ]; then
	: "${MSGS:=3000}"
fi
: "${SESS:=10}" "${RCPTS:=10}" "${MSGS:=1500}" "${ROUNDS:=3}"
: "${RSS_MSGS:=100000}" "${INDEX:=1000000}"
[ $((MSGS * RCPTS)) -le "$INDEX" ] || { echo "postfix bench: MSGS x RCPTS > INDEX"; exit 1; }

if ! command -v smtp-source >/dev/null 2>&1 || ! command -v postfix >/dev/null 2>&1 ||
    [ "$(id -u)" != 0 ]; then
	echo "postfix bench: needs root and Postfix (smtp-source, smtp-sink): skipped"
	exit 0
fi
NOOP=$BUILD/bench/noop_milter
NOOP_POL=$BUILD/bench/noop_policy
CM=$BUILD/consent-milter
CP=$BUILD/consent-policy
CTL=$BUILD/consentctl
for f in "$NOOP" "$NOOP_POL" "$CM" "$CTL"; do
	[ -x "$f" ] || { echo "postfix bench: $f not built (make)"; exit 1; }
done
if [ -n "${CM_BEFORE:-}" ] && [ ! -x "$CM_BEFORE" ]; then
	echo "postfix bench: CM_BEFORE=$CM_BEFORE is not a program"
	exit 1
fi

# tmpfs when available: the figures then measure CPU, not the fsync
# latency of the disk under the queue
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	CM_TMP=$(mktemp -d /dev/shm/cm-bench.XXXXXX)
else
	CM_TMP=$(mktemp -d /tmp/cm-bench.XXXXXX)
fi
export CM_TMP
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_on_exit "rm -rf '$CM_TMP'"
e2e_init
e2e_diag() {	# keep the figures readable; point at the logs instead
	echo "postfix bench failed; logs were in $CM_TMP (removed)" >&2
	[ -f "$PF_DIR/maillog" ] && tail -n 20 "$PF_DIR/maillog" >&2
	for f in "$CM_TMP"/*.log; do [ -f "$f" ] && { echo "-- $f" >&2; tail -n 20 "$f" >&2; }; done
}

CLK_TCK=$(getconf CLK_TCK)
DOMAIN=bench.example
NEWS_FROM=news@$DOMAIN
OTHER_FROM=orders@shop.example

# ---- the relay target: Postfix's own smtp-sink
SINK_PORT=$(e2e_freeport)
smtp-sink -u postfix -c "127.0.0.1:$SINK_PORT" 1000 >"$CM_TMP/smtp-sink.out" 2>&1 &
SINK_PID=$!
e2e_on_exit "e2e_kill_pid $SINK_PID 5"
e2e_wait_listen "$SINK_PORT" "$SINK_PID" 10

# ---- the index: INDEX recipients, 1rcpt@ .. INDEXrcpt@ (smtp-source -N
# numbers a run's recipients from 1rcpt@), and rcpt@ (without -N)
{
	echo "rcpt@$DOMAIN"
	seq -f "%.0frcpt@$DOMAIN" 1 "$INDEX"
} >"$CM_TMP/rcpts.txt"
mkdir -p "$CM_TMP/cmdb"

# cm_conf PORT [EXTRA]: consent-milter's configuration on PORT
. "$SRCDIR/bench/conf.bash"
cm_conf() { bench_conf "$1" "$CM_TMP/cmdb" "$NEWS_FROM" "${2:-}"; }
CM_PORT=$(e2e_freeport)
cm_conf "$CM_PORT" >"$CM_TMP/cm.yaml"
{
	echo "email,type,state,time,source,basis,purpose,evidence"
	sed 's/$/,bench-news,granted,2026-01-01T00:00:00Z,import,consent,newsletter,bench/' \
		"$CM_TMP/rcpts.txt"
} >"$CM_TMP/consent.csv"
t0=$(date +%s.%N)
"$CTL" -c "$CM_TMP/cm.yaml" import "$CM_TMP/consent.csv" >"$CM_TMP/import.log" 2>&1 ||
	{ cat "$CM_TMP/import.log" >&2; e2e_fail "consentctl import"; }
t1=$(date +%s.%N)
rm -f "$CM_TMP/consent.csv"
printf 'index: %d consent records imported in %.2f s\n' "$((INDEX + 1))" \
	"$(echo "$t1 - $t0" | bc -l)"

# ---- the do-nothing filters' one lookup per recipient: in the consent
# index itself, by its own address keys (FLOOR_INDEX=same, the default:
# the same tree, pages and scattered keys as consent-milter's), or in an
# environment of their own keyed by the address, one octet a value
# (FLOOR_INDEX=own: a far smaller tree, and the recipients of a message
# next to each other in it)
case ${FLOOR_INDEX:=same} in
same)
	key=$("$BUILD/bench/bench_core" sipkey "$CM_TMP/cmdb") || e2e_fail "bench_core sipkey"
	FLOOR_DB=(-d "$CM_TMP/cmdb" -b index -K "$key") ;;
own)
	mkdir -p "$CM_TMP/noopdb"
	"$NOOP" -d "$CM_TMP/noopdb" -l <"$CM_TMP/rcpts.txt" 2>/dev/null || e2e_fail "noop_milter -l"
	FLOOR_DB=(-d "$CM_TMP/noopdb") ;;
*) e2e_fail "FLOOR_INDEX=$FLOOR_INDEX: same or own" ;;
esac

# ---- which configurations
configs=(alone noop-policy noop noop-mail cm-news cm-other)
[ -n "${CM_BEFORE:-}" ] && configs+=(before-news before-other)
HAVE_CP=0	# 1: consent-policy accepts the configuration
CP_NOTE="consent-policy: $CP not built: cp-only and cm-policy skipped"
if [ -x "$CP" ]; then
	# consent-policy (issue 17 item 3), alone and beside the milter's
	# fast path: one process, one file
	CP_PORT=$(e2e_freeport) CMP_PORT=$(e2e_freeport)
	cm_conf "$CMP_PORT" "policy:
  socket: \"inet:$CP_PORT@127.0.0.1\"
  stamp: \"$CM_TMP/policy.stamp\"
  decides_envelope_types: true" >"$CM_TMP/cm-policy.yaml"
	if "$CP" -n -c "$CM_TMP/cm-policy.yaml" >"$CM_TMP/cp-check.log" 2>&1; then
		HAVE_CP=1
		configs+=(cp-only)
		CP_NOTE=
		if "$CM" -n -c "$CM_TMP/cm-policy.yaml" >>"$CM_TMP/cp-check.log" 2>&1; then
			configs+=(cm-policy)
		else
			CP_NOTE="consent-milter does not accept the configuration (consent-milter -n): cm-policy skipped: $(tr '\n' ' ' <"$CM_TMP/cp-check.log" | cut -c1-300)"
		fi
	else
		CP_NOTE="consent-policy: the configuration is not accepted (consent-policy -n): cp-only and cm-policy skipped: $(tr '\n' ' ' <"$CM_TMP/cp-check.log" | cut -c1-300)"
	fi
fi
if [ -n "${BENCH_CONFIGS:-}" ]; then
	all=" ${configs[*]} noop-eoh noop-nr cm-log "
	# shellcheck disable=SC2206
	configs=($BENCH_CONFIGS)
	for c in "${configs[@]}"; do
		[[ $all == *" $c "* ]] || e2e_fail "BENCH_CONFIGS: $c is not one of:$all"
	done
fi
has_cfg() { [[ " ${configs[*]} " == *" $1 "* ]]; }
floor_of() {
	case $1 in
	cm-news | before-news) echo noop ;;
	cm-other | before-other) echo noop-mail ;;
	cp-only | cm-policy) echo noop-policy ;;
	cm-log) echo noop-eoh ;;
	*) echo "" ;;
	esac
}

# ---- the filters
declare -A PORT PIDS
start() {	# start NAME PORT CMD...: a filter; its PID into PIDS[NAME]
	local name=$1 port=$2
	shift 2
	E2E_MILTER_LOG=$CM_TMP/$name.log e2e_start_milter "$port" "$@"
	PIDS[$name]="${PIDS[$name]:-} $MILTER_PID"
}
if has_cfg noop-policy; then
	p=$(e2e_freeport)
	start noop-policy "$p" "$NOOP_POL" -s "inet:$p@127.0.0.1" "${FLOOR_DB[@]}"
	PORT[noop-policy]=$p
fi
for v in noop:"" noop-mail:-m noop-eoh:-e noop-nr:-n; do
	name=${v%%:*} flag=${v#*:}
	has_cfg "$name" || continue
	p=$(e2e_freeport)
	# shellcheck disable=SC2086
	start "$name" "$p" "$NOOP" -s "inet:$p@127.0.0.1" "${FLOOR_DB[@]}" $flag
	PORT[$name]=$p
done
if has_cfg cm-news || has_cfg cm-other; then
	start cm "$CM_PORT" "$CM" -f -c "$CM_TMP/cm.yaml"
	PORT[cm]=$CM_PORT
fi
if has_cfg before-news || has_cfg before-other; then
	p=$(e2e_freeport)
	cm_conf "$p" >"$CM_TMP/before.yaml"
	start before "$p" "$CM_BEFORE" -f -c "$CM_TMP/before.yaml"
	PORT[before]=$p
fi
if has_cfg cm-log; then
	p=$(e2e_freeport)
	cm_conf "$p" "log:
  path: \"$CM_TMP/decisions\"
  retention_days: 1" >"$CM_TMP/cm-log.yaml"
	start cm-log "$p" "$CM" -f -c "$CM_TMP/cm-log.yaml"
	PORT[cm-log]=$p
fi
# consent-policy (cp) serves cp-only and cm-policy; the milter beside it
# (cmp) only cm-policy
if has_cfg cp-only || has_cfg cm-policy; then
	start cp "$CP_PORT" "$CP" -f -c "$CM_TMP/cm-policy.yaml"
fi
if has_cfg cm-policy; then
	start cmp "$CMP_PORT" "$CM" -f -c "$CM_TMP/cm-policy.yaml"
fi

# ---- Postfix: one smtpd per configuration, same instance
# shellcheck disable=SC2034 # the harness's: no recording sink here
SINK_DIR=
e2e_pf_setup ""
# Postfix's defaults unless PF_CONF says otherwise.  In short runs
# in_flow_delay (1 s) stalls a fast configuration now and then (half the
# machine idle for a run); PF_CONF="in_flow_delay = 0" takes that away but
# lets the queue grow, and every process then costs more CPU per message.
: "${PF_CONF:=}"
[ -z "$PF_CONF" ] || e2e_pf_conf "$PF_CONF"
declare -A SMTPD
for c in "${configs[@]}"; do
	case $c in
	alone) SMTPD[$c]=$PF_PORT; continue ;;
	noop-policy) opt=(-o "smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:${PORT[noop-policy]}") ;;
	cm-news | cm-other) opt=(-o "smtpd_milters=inet:127.0.0.1:${PORT[cm]}") ;;
	before-news | before-other) opt=(-o "smtpd_milters=inet:127.0.0.1:${PORT[before]}") ;;
	cp-only) opt=(-o "smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:$CP_PORT") ;;
	cm-policy)
		opt=(-o "smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:$CP_PORT"
			-o "smtpd_milters=inet:127.0.0.1:$CMP_PORT") ;;
	*) opt=(-o "smtpd_milters=inet:127.0.0.1:${PORT[$c]}") ;;
	esac
	SMTPD[$c]=$(e2e_freeport)
	e2e_pf_add_smtpd "${SMTPD[$c]}" "${opt[@]}"
done
e2e_pf_start

cfg_pids() {
	case $1 in
	alone) echo "" ;;
	cm-news | cm-other) echo "${PIDS[cm]}" ;;
	before-news | before-other) echo "${PIDS[before]}" ;;
	cp-only) echo "${PIDS[cp]}" ;;
	cm-policy) echo "${PIDS[cp]} ${PIDS[cmp]}" ;;
	*) echo "${PIDS[$1]}" ;;
	esac
}
cfg_from() { [[ $1 == *-other ]] && echo "$OTHER_FROM" || echo "$NEWS_FROM"; }

cpu_ticks() {	# the summed utime+stime of PIDS
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}
# RSS in KiB: anonymous (the daemon's own memory) and all (with the
# index pages it has mapped in, which are the page cache's, not its own)
rss_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
rss_all() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# CPU ticks of the whole machine: "BUSY TOTAL WORK" (WORK: user, nice,
# system, irq and softirq; BUSY adds the time the hypervisor gave others)
sys_ticks() { awk '/^cpu / {w = $2 + $3 + $4 + $7 + $8; b = w + $9; print b, b + $5 + $6, w; exit}' /proc/stat; }
# CPU ticks of the Postfix instance: the master, its children (alive), and
# the children it has reaped (the master's cutime and cstime).
pf_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v m="$(e2e_pf_pid)" '{
		pid = $1
		sub(/^.*\) /, "")
		if (pid == m || $2 == m)
			t += $12 + $13 + $14 + $15
	} END { print t + 0 }'
}

# Wait until Postfix's queue is empty (incoming, active, maildrop and
# deferred), polling without a fork per poll beyond sleep.
wait_drained() {
	local q=$PF_DIR/queue f i
	shopt -s nullglob
	for ((i = 0; i < 60000; i++)); do
		f=("$q"/incoming/* "$q"/active/* "$q"/maildrop/*)
		[ ${#f[@]} = 0 ] && { f=("$q"/deferred/*/*); [ ${#f[@]} = 0 ] && break; }
		sleep 0.01
	done
	shopt -u nullglob
	[ "$i" -lt 60000 ] || e2e_fail "queue not drained after 600 s"
}

# run CONFIG MSGS: one measured run; sets R_RATE (msg/s), R_CPU (µs per
# recipient of the filter), R_PF (Postfix CPU ms per message), R_MCPU (the
# whole machine's CPU ms per message: Postfix, the filter, smtp-source and
# smtp-sink), R_BUSY (the machine's busy share, %)
run() {
	local c=$1 msgs=$2 off t0 t2 c0=0 c1=0 p0 p1 s0 s1 sent rej pids i
	pids=$(cfg_pids "$c")
	off=$(stat -c %s "$PF_DIR/maillog")
	# shellcheck disable=SC2086
	[ -n "$pids" ] && c0=$(cpu_ticks $pids)
	p0=$(pf_ticks)
	s0=$(sys_ticks)
	t0=$(date +%s.%N)
	smtp-source -s "$SESS" -m "$msgs" -r "$RCPTS" -N -f "$(cfg_from "$c")" \
		-t "rcpt@$DOMAIN" -M "$DOMAIN" -l 2000 "127.0.0.1:${SMTPD[$c]}" \
		>"$CM_TMP/source.out" 2>&1 ||
		{ cat "$CM_TMP/source.out" >&2; e2e_fail "$c: smtp-source failed"; }
	wait_drained
	t2=$(date +%s.%N)
	# shellcheck disable=SC2086
	[ -n "$pids" ] && c1=$(cpu_ticks $pids)
	p1=$(pf_ticks)
	s1=$(sys_ticks)
	# every recipient of every message must have reached the sink (the
	# log lines may come a moment after the queue is empty)
	for ((i = 0; i < 200; i++)); do
		sent=$(tail -c +"$((off + 1))" "$PF_DIR/maillog" | grep -c 'status=sent')
		[ "$sent" -ge $((msgs * RCPTS)) ] && break
		sleep 0.05
	done
	rej=$(tail -c +"$((off + 1))" "$PF_DIR/maillog" | grep -c -e 'milter-reject' -e 'reject:')
	[ "$sent" = $((msgs * RCPTS)) ] && [ "$rej" = 0 ] ||
		e2e_fail "$c: $sent recipients delivered (want $((msgs * RCPTS))), $rej rejected"
	R_RATE=$(echo "$msgs / ($t2 - $t0)" | bc -l)
	R_CPU=$(echo "($c1 - $c0) * 1000000 / $CLK_TCK / ($msgs * $RCPTS)" | bc -l)
	R_PF=$(echo "($p1 - $p0) * 1000 / $CLK_TCK / $msgs" | bc -l)
	R_MCPU=$(echo "(${s1##* } - ${s0##* }) * 1000 / $CLK_TCK / $msgs" | bc -l)
	s0=${s0% *} s1=${s1% *}
	R_BUSY=$(echo "(${s1% *} - ${s0% *}) * 100 / (${s1#* } - ${s0#* })" | bc -l)
}

# spread VALUES: "min / median / max" (of an even count, the median is
# the mean of the middle two); "- / - / -" for none
spread() {
	[ $# -gt 0 ] || { echo "- / - / -"; return; }
	printf '%s\n' "$@" | sort -g | awk -v f="${SPREAD_FMT:-%.3f}" '{a[NR] = $1} END {
		m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf f " / " f " / " f, a[1], m, a[NR] }'
}

# interval VALUES: the 90 % bootstrap interval of their median, "lo–hi"
# (2,000 resamplings with replacement, a fixed seed): how far the median
# of so many rounds can be trusted; "–" for fewer than three values
interval() {
	[ $# -ge 3 ] || { echo "–"; return; }
	printf '%s\n' "$@" | awk '
	function isort(x, n,    i, j, v) {	# insertion sort of x[1..n]
		for (i = 2; i <= n; i++) {
			v = x[i]
			for (j = i - 1; j >= 1 && x[j] > v; j--) x[j + 1] = x[j]
			x[j + 1] = v
		}
	}
	BEGIN { srand(17) } { a[NR] = $1 } END {
		n = NR
		for (b = 1; b <= 2000; b++) {
			for (i = 1; i <= n; i++) s[i] = a[int(rand() * n) + 1]
			isort(s, n)
			m[b] = n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
		}
		isort(m, 2000)
		printf "%.3f–%.3f", m[100], m[1901] }'
}

LOG_WANT=0	# recipients sent to cm-log: the decision log must hold as many
declare -A rate cpu mcpu
echo "postfix bench: $SESS sessions x $MSGS messages x $RCPTS recipients, one connection per message, $ROUNDS round(s), order rotated; index of $((INDEX + 1)) records; the floors' lookups in $([ "$FLOOR_INDEX" = same ] && echo "the same index" || echo "an index of their own"); Postfix: ${PF_CONF:-its defaults}; $(nproc) CPU(s)"
[ -n "${CM_BEFORE:-}" ] && echo "before: $CM_BEFORE"
[ -z "$CP_NOTE" ] || echo "$CP_NOTE"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# warm-up: start smtpd/cleanup/smtp processes, fault index pages in
for c in "${configs[@]}"; do
	run "$c" $((MSGS < 200 ? MSGS : 200))
	[ "$c" = cm-log ] && LOG_WANT=$((LOG_WANT + (MSGS < 200 ? MSGS : 200) * RCPTS))
done
n=${#configs[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	for ((k = 0; k < n; k++)); do
		c=${configs[$(((k + r - 1) % n))]}
		run "$c" "$MSGS"
		[ "$c" = cm-log ] && LOG_WANT=$((LOG_WANT + MSGS * RCPTS))
		# shellcheck disable=SC2034 # read through namerefs below
		rate[$c,$r]=$R_RATE cpu[$c,$r]=$R_CPU mcpu[$c,$r]=$R_MCPU
		printf '  round %d %-13s %7.1f msg/s; filter %7.1f us/rcpt; Postfix %6.3f ms/msg; machine %6.3f ms/msg, busy %3.0f %%\n' \
			"$r" "$c" "$R_RATE" "$R_CPU" "$R_PF" "$R_MCPU" "$R_BUSY"
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# per-round ratios: ratios OUT A B ARRAY: ${ARRAY[A,r]} / ${ARRAY[B,r]},
# leaving out a round whose B measured 0 (a run too short for a tick)
ratios() {
	local -n out=$1 arr=$4
	local r
	out=()
	for ((r = 1; r <= ROUNDS; r++)); do
		[ "$(echo "${arr[$3,$r]} == 0" | bc)" = 1 ] && continue
		out+=("$(echo "${arr[$2,$r]} / ${arr[$3,$r]}" | bc -l)")
	done
}
vals() {	# vals OUT CONFIG ARRAY
	# shellcheck disable=SC2178
	local -n out=$1 arr=$3
	local r
	out=()
	for ((r = 1; r <= ROUNDS; r++)); do out+=("${arr[$2,$r]}"); done
}

echo
echo "per round, min / median / max over $ROUNDS round(s):"
printf '%-13s %-24s %-24s %-26s %-24s\n' config "msg/s" "vs Postfix alone" "filter CPU us/rcpt" "vs its floor: msg/s, CPU"
declare -A T_ALONE T_FLOOR T_CPU T_CPUF T_CAP I_FLOOR I_CPUF
v=() x=()
for c in "${configs[@]}"; do
	vals v "$c" rate
	line=$(printf '%-13s %-24s' "$c" "$(SPREAD_FMT=%.1f spread "${v[@]}")")
	if has_cfg alone && [ "$c" != alone ]; then
		ratios x "$c" alone rate
		T_ALONE[$c]=$(spread "${x[@]}")
		line+=$(printf ' %-24s' "${T_ALONE[$c]}")
	else
		line+=$(printf ' %-24s' "-")
	fi
	if [ "$c" != alone ]; then
		vals v "$c" cpu
		T_CPU[$c]=$(SPREAD_FMT=%.1f spread "${v[@]}")
		line+=$(printf ' %-26s' "${T_CPU[$c]}")
	else
		line+=$(printf ' %-26s' "-")
	fi
	fl=$(floor_of "$c")
	if [ -n "$fl" ] && has_cfg "$fl"; then
		ratios x "$c" "$fl" rate
		T_FLOOR[$c]=$(spread "${x[@]}")
		I_FLOOR[$c]=$(interval "${x[@]}")
		ratios x "$c" "$fl" cpu
		T_CPUF[$c]=$(spread "${x[@]}")
		I_CPUF[$c]=$(interval "${x[@]}")
		ratios x "$fl" "$c" mcpu
		T_CAP[$c]=$(spread "${x[@]}")
		line+=" ${T_FLOOR[$c]} ($fl); CPU ${T_CPUF[$c]}; capacity ${T_CAP[$c]}"
	fi
	echo "$line"
done

targets() {
	case $1 in
	cm-news) echo "target >= 0.99 x noop, CPU <= 1.05 x" ;;
	cm-other) echo "target >= 0.99 x noop-mail" ;;
	cp-only | cm-policy) echo "target >= 0.98 x noop-policy" ;;
	*) echo "" ;;
	esac
}
label() {
	case $1 in
	alone) echo "Postfix alone" ;;
	noop-policy) echo "+ a do-nothing policy-delegation server, 1 LMDB lookup per recipient" ;;
	noop) echo "+ a do-nothing libmilter milter, RCPT only, 1 LMDB lookup per recipient" ;;
	noop-mail) echo "+ a do-nothing milter that accepts at MAIL FROM" ;;
	noop-eoh) echo "+ a do-nothing milter reading the headers, accepting at their end" ;;
	noop-nr) echo "+ the do-nothing milter also sent connect and MAIL FROM, without a reply" ;;
	cm-news) echo "+ consent-milter, newsletter typed by sender, all recipients consented" ;;
	cm-other) echo "+ consent-milter, mail that is no newsletter" ;;
	before-news) echo "+ consent-milter before (CM_BEFORE), newsletter typed by sender" ;;
	before-other) echo "+ consent-milter before (CM_BEFORE), mail that is no newsletter" ;;
	cm-log) echo "+ consent-milter, newsletter typed by sender, decision log on" ;;
	cp-only) echo "+ consent-policy alone (check_policy_service), newsletter typed by sender" ;;
	cm-policy) echo "+ consent-policy (check_policy_service) and the milter's fast path" ;;
	esac
}
echo
echo "README table (medians; [min-max] per round):"
echo "| configuration | throughput vs Postfix alone | vs its floor | CPU of the filter per recipient | CPU vs its floor | machine capacity vs its floor |"
echo "|---|---|---|---|---|---|"
brk() {	# "a / b / c" -> "b [a-c]"
	[ -n "$1" ] || { echo "–"; return; }
	awk -F' / ' -v s="${2:-}" '{printf "%s%s [%s–%s]", $2, s, $1, $3}' <<<"$1"
}
for c in "${configs[@]}"; do
	fl=$(floor_of "$c")
	if [ "$c" = alone ]; then
		echo "| $(label "$c") | 1.000 | – | – | – | – |"
		continue
	fi
	printf '| %s | %s | %s | %s | %s | %s |\n' "$(label "$c")" \
		"$(brk "${T_ALONE[$c]:-}")" \
		"$([ -n "${T_FLOOR[$c]:-}" ] && echo "$(brk "${T_FLOOR[$c]}") × $fl" || echo –)" \
		"$(brk "${T_CPU[$c]:-}" " µs")" \
		"$([ -n "${T_CPUF[$c]:-}" ] && echo "$(brk "${T_CPUF[$c]}") ×" || echo –)" \
		"$([ -n "${T_CAP[$c]:-}" ] && echo "$(brk "${T_CAP[$c]}") ×" || echo –)"
done
for c in "${configs[@]}"; do
	t=$(targets "$c")
	[ -n "$t" ] && [ -n "${T_FLOOR[$c]:-}" ] &&
		echo "$c: $t; median per round: $(awk -F' / ' '{print $2}' <<<"${T_FLOOR[$c]}") x msg/s (90 % interval ${I_FLOOR[$c]}), $(awk -F' / ' '{print $2}' <<<"${T_CPUF[$c]}") x CPU (${I_CPUF[$c]}), $(awk -F' / ' '{print $2}' <<<"${T_CAP[$c]}") x capacity"
done

if has_cfg cm-log; then
	# the log must really have been written: one record per recipient sent
	# to cm-log, each with its message's Message-ID (stopping the daemon
	# flushes what is still queued)
	for p in ${PIDS[cm-log]}; do e2e_kill_pid "$p" 20; done
	got=$(cat "$CM_TMP"/decisions/*.jsonl 2>/dev/null | wc -l)
	nomid=$(cat "$CM_TMP"/decisions/*.jsonl 2>/dev/null | grep -c '"message_id":null')
	printf 'decision log: %d records (%d recipients sent), %d without Message-ID\n' \
		"$got" "$LOG_WANT" "$nomid"
	[ "$got" = "$LOG_WANT" ] && [ "$nomid" = 0 ] ||
		e2e_fail "the decision log does not hold one record with a Message-ID per recipient"
fi

# ---- consent-milter alone, and its memory: a fresh daemon driven over
# the milter protocol (bench/milterload.py, as Postfix speaks it: a
# connection per message), RSS after 1,000 and after RSS_MSGS messages
if [ "${RSS_MSGS:-0}" -gt 1000 ]; then
	for p in ${PIDS[cm]:-}; do e2e_kill_pid "$p" 20; done
	ALONE_PORT=$(e2e_freeport)
	cm_conf "$ALONE_PORT" >"$CM_TMP/cm-alone.yaml"
	start cm-alone "$ALONE_PORT" "$CM" -f -c "$CM_TMP/cm-alone.yaml"
	APID=$MILTER_PID
	load() {
		"$PY" "$SRCDIR/bench/milterload.py" --port "$ALONE_PORT" --conns "$SESS" \
			--rcpts "$RCPTS" --keys "$INDEX" --from "$NEWS_FROM" --msgs "$1" \
			--reconnect >"$CM_TMP/load.out" 2>&1 ||
			{ cat "$CM_TMP/load.out" >&2; e2e_fail "milterload"; }
	}
	load 1000
	rss1=$(rss_anon "$APID") all1=$(rss_all "$APID")
	c0=$(cpu_ticks "$APID")
	load $((RSS_MSGS - 1000))
	c1=$(cpu_ticks "$APID")
	rss2=$(rss_anon "$APID") all2=$(rss_all "$APID")
	echo
	echo "consent-milter alone (milter protocol, $SESS connections at a time, one per message): $(cat "$CM_TMP/load.out")"
	printf 'consent-milter alone: %.2f us CPU per recipient\n' \
		"$(echo "($c1 - $c0) * 1000000 / $CLK_TCK / (($RSS_MSGS - 1000) * $RCPTS)" | bc -l)"
	printf 'consent-milter anonymous RSS: %d KiB after 1,000 messages, %d KiB after %d (%+.1f %%; target within 10 %%)\n' \
		"$rss1" "$rss2" "$RSS_MSGS" "$(echo "($rss2 - $rss1) * 100 / $rss1" | bc -l)"
	printf 'consent-milter RSS with the mapped index pages: %d KiB, %d KiB\n' "$all1" "$all2"
fi

# ---- consent-policy alone, and its memory: a fresh server with the
# decision log on, driven over the policy-delegation protocol
# (bench/policyload.py: SESS connections, a request per recipient, a new
# connection every CP_RECONNECT requests), RSS after 1,000 x RCPTS and
# after RSS_MSGS x RCPTS requests
if [ "${RSS_MSGS:-0}" -gt 1000 ] && [ $HAVE_CP = 1 ]; then
	: "${CP_RECONNECT:=$((100 * RCPTS))}"
	for p in ${PIDS[cp]:-} ${PIDS[cmp]:-}; do e2e_kill_pid "$p" 20; done
	PALONE_PORT=$(e2e_freeport)
	cm_conf "$(e2e_freeport)" "policy:
  socket: \"inet:$PALONE_PORT@127.0.0.1\"
  stamp: \"$CM_TMP/cp-alone.stamp\"
  decides_envelope_types: true
log:
  path: \"$CM_TMP/cp-decisions\"
  retention_days: 1" >"$CM_TMP/cp-alone.yaml"
	start cp-alone "$PALONE_PORT" "$CP" -f -c "$CM_TMP/cp-alone.yaml"
	PPID_ALONE=$MILTER_PID
	pload() {	# pload MSGS FIRST: MSGS x RCPTS requests from recipient FIRST+1
		"$PY" "$SRCDIR/bench/policyload.py" --port "$PALONE_PORT" --conns "$SESS" \
			--rcpts "$RCPTS" --keys "$INDEX" --first "$2" --from "$NEWS_FROM" \
			--msgs "$1" --reconnect "$CP_RECONNECT" >"$CM_TMP/pload.out" 2>&1 ||
			{ cat "$CM_TMP/pload.out" >&2; e2e_fail "policyload"; }
	}
	pload 1000 0
	rss1=$(rss_anon "$PPID_ALONE") all1=$(rss_all "$PPID_ALONE")
	c0=$(cpu_ticks "$PPID_ALONE")
	pload $((RSS_MSGS - 1000)) $((1000 * RCPTS))
	c1=$(cpu_ticks "$PPID_ALONE")
	rss2=$(rss_anon "$PPID_ALONE") all2=$(rss_all "$PPID_ALONE")
	echo
	echo "consent-policy alone (policy delegation, $SESS connections at a time, a new one every $CP_RECONNECT requests; decision log on): $(cat "$CM_TMP/pload.out")"
	printf 'consent-policy alone: %.2f us CPU per request\n' \
		"$(echo "($c1 - $c0) * 1000000 / $CLK_TCK / (($RSS_MSGS - 1000) * $RCPTS)" | bc -l)"
	printf 'consent-policy anonymous RSS: %d KiB after %d requests, %d KiB after %d (%+.1f %%; target within 10 %%)\n' \
		"$rss1" $((1000 * RCPTS)) "$rss2" $((RSS_MSGS * RCPTS)) \
		"$(echo "($rss2 - $rss1) * 100 / $rss1" | bc -l)"
	printf 'consent-policy RSS with the mapped index pages: %d KiB, %d KiB (%+.1f %%)\n' \
		"$all1" "$all2" "$(echo "($all2 - $all1) * 100 / $all1" | bc -l)"
	# the log must hold one record per request sent (stopping the daemon
	# flushes what is still queued); the first recipient of each message
	# has no queue id yet (smtpd opens the queue file after it)
	e2e_kill_pid "$PPID_ALONE" 20 || e2e_fail "consent-policy did not stop cleanly"
	got=$(cat "$CM_TMP"/cp-decisions/*.jsonl 2>/dev/null | wc -l)
	noqid=$(cat "$CM_TMP"/cp-decisions/*.jsonl 2>/dev/null | grep -c '"queue_id":null')
	printf 'consent-policy decision log: %d records (%d requests sent), %d without queue id (%d messages)\n' \
		"$got" $((RSS_MSGS * RCPTS)) "$noqid" "$RSS_MSGS"
	[ "$got" = $((RSS_MSGS * RCPTS)) ] && [ "$noqid" = "$RSS_MSGS" ] ||
		e2e_fail "the consent-policy decision log does not hold one record per request"
fi

# the do-nothing filters' own counts: they really looked every recipient up
for c in noop-policy noop; do
	has_cfg "$c" || continue
	p=${PIDS[$c]# }
	e2e_kill_pid "$p" 15
	counts=$(grep -h -e 'lookups=' "$CM_TMP/$c.log" | tail -n 1 | sed 's/^noop_[a-z]*: //')
	echo "$c: $counts"
	# every lookup found its recipient (a floor that finds nothing is
	# cheaper than one that does)
	[[ $counts =~ lookups=([0-9]+)\ hits=([0-9]+)\ errors=0 ]] &&
		[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
		[ "${BASH_REMATCH[1]}" -gt 0 ] ||
		e2e_fail "$c did not find every recipient it looked up: $counts"
done
exit 0
