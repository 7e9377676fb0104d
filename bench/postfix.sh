#!/usr/bin/env bash
# bench/postfix.sh - Postfix throughput with and without milters (SPEC §8,
# issue 4).  smtp-source -> private Postfix on loopback -> smtp-sink.
#
# Configurations, interleaved, median of REPS runs each:
#   alone       Postfix without a milter
#   noop        with bench/noop_milter (one LMDB lookup per recipient: the
#               floor any libmilter milter pays)
#   noop-eoh    the same milter reading the headers and accepting at
#               their end (noop_milter -e), as a milter must that logs
#               each message's Message-ID: noop-eoh / noop is the floor of
#               cm-log / cm-news
#   cm-news     with consent-milter, newsletter known from the envelope
#               sender, every recipient consented (all allowed)
#   cm-other    with consent-milter, mail that is no newsletter
#   cm-log      as cm-news, with the decision log on (log: section; the
#               milter then also reads the headers for Message-ID and
#               campaign, and writes one JSON line per recipient)
# Each run: SESS sessions, MSGS messages, RCPTS recipients per message.
# A run lasts from the start of smtp-source until the queue is empty
# (msg/s end to end); "accept" is the rate at which smtpd accepted them.
# Each run also counts the CPU time it cost, per message: of Postfix (the
# master and every process it started, reaped ones included), of the
# milter, and in all (Postfix, milter, smtp-source, smtp-sink).  CPU time
# is much less noisy than msg/s on a shared machine: it does not depend
# on what else runs beside the benchmark.
# The decision log's cost (cm-log against cm-news) is then measured again
# in PAIRS more pairs of runs (order alternating: news-log, log-news, ...),
# and every pair (those of the REPS rounds too) gives one ratio; their
# minimum, median and maximum are printed, so noise can be told from a
# difference.  The same for noop-eoh against noop, the floor.  After the
# runs, the decision log must hold one record per recipient sent to
# cm-log, each with the message's Message-ID.
# Then consent-milter alone, driven over the milter protocol by
# bench/milterload.py: msg/s, CPU per recipient, and its RSS after 1,000
# and after RSS_MSGS messages (a fresh daemon).
#
# Prints figures only.  BENCH_QUICK=1: a smaller run.  Needs root (a
# private Postfix instance) and the Postfix package; prints a note and
# exits 0 without them.
set -u
: "${SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$SRCDIR/build}"
export SRCDIR BUILD

SESS=10 RCPTS=10
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	MSGS=${MSGS:-1000} REPS=${REPS:-1} PAIRS=${PAIRS:-2} RSS_MSGS=${RSS_MSGS:-10000}
else
	MSGS=${MSGS:-4000} REPS=${REPS:-3} PAIRS=${PAIRS:-6} RSS_MSGS=${RSS_MSGS:-100000}
fi
# BENCH_CONFIGS: the configurations to run (default: all of them).

if ! command -v smtp-source >/dev/null 2>&1 || ! command -v postfix >/dev/null 2>&1 ||
    [ "$(id -u)" != 0 ]; then
	echo "postfix bench: needs root and Postfix (smtp-source, smtp-sink): skipped"
	exit 0
fi
NOOP=$BUILD/bench/noop_milter
CM=$BUILD/consent-milter
CTL=$BUILD/consentctl
[ -x "$NOOP" ] || { echo "postfix bench: $NOOP not built (make)"; exit 1; }
have_cm=1
if [ ! -x "$CM" ] || [ ! -x "$CTL" ]; then
	echo "postfix bench: $CM or $CTL not built: consent-milter runs skipped"
	have_cm=0
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

# ---- recipients: smtp-source -N numbers them 1rcpt@ .. (MSGS*RCPTS)rcpt@
# per run; without -N a message goes to rcpt@, 2rcpt@ .. RCPTS rcpt@.
n_keys=$((MSGS * RCPTS))
{
	echo "rcpt@$DOMAIN"
	seq -f "%.0frcpt@$DOMAIN" 1 "$n_keys"
} >"$CM_TMP/rcpts.txt"

mkdir -p "$CM_TMP/noopdb"
"$NOOP" -d "$CM_TMP/noopdb" -l <"$CM_TMP/rcpts.txt" 2>/dev/null || e2e_fail "noop_milter -l"

NOOP_PORT=$(e2e_freeport)
E2E_MILTER_LOG=$CM_TMP/noop.log e2e_start_milter "$NOOP_PORT" \
	"$NOOP" -s "inet:$NOOP_PORT@127.0.0.1" -d "$CM_TMP/noopdb"
NOOP_PID=$MILTER_PID
NOOPE_PORT=$(e2e_freeport)
E2E_MILTER_LOG=$CM_TMP/noop-eoh.log e2e_start_milter "$NOOPE_PORT" \
	"$NOOP" -s "inet:$NOOPE_PORT@127.0.0.1" -d "$CM_TMP/noopdb" -e
NOOPE_PID=$MILTER_PID

CM_PORT=$(e2e_freeport)
CM_PID=
start_cm() {
	E2E_MILTER_LOG=$CM_TMP/cm.log e2e_start_milter "$CM_PORT" "$CM" -f -c "$CM_TMP/cm.yaml"
	CM_PID=$MILTER_PID
}
if [ $have_cm = 1 ]; then
	mkdir -p "$CM_TMP/cmdb"
	cat >"$CM_TMP/cm.yaml" <<EOF
milter:
  socket: "inet:$CM_PORT@127.0.0.1"
  mode: enforce
  on_error: tempfail
database:
  path: "$CM_TMP/cmdb"
scope:
  authenticated: true
  networks:
    - 127.0.0.0/8
unclassified_bulk: accept
newsletters:
  - id: bench-news
    name: "Benchmark news"
    consent: opt-in
    match:
      - envelope_sender: "$NEWS_FROM"
EOF
	{
		echo "email,type,state,time,source,basis,purpose,evidence"
		sed 's/$/,bench-news,granted,2026-01-01T00:00:00Z,import,consent,newsletter,bench/' \
			"$CM_TMP/rcpts.txt"
	} >"$CM_TMP/consent.csv"
	# the same with the decision log on (its own daemon and port)
	CMLOG_PORT=$(e2e_freeport)
	sed -e "s|inet:$CM_PORT@|inet:$CMLOG_PORT@|" "$CM_TMP/cm.yaml" >"$CM_TMP/cm-log.yaml"
	printf 'log:\n  path: "%s"\n  retention_days: 1\n' "$CM_TMP/decisions" >>"$CM_TMP/cm-log.yaml"
	t0=$(date +%s.%N)
	"$CTL" -c "$CM_TMP/cm.yaml" import "$CM_TMP/consent.csv" >"$CM_TMP/import.log" 2>&1 ||
		{ cat "$CM_TMP/import.log" >&2; e2e_fail "consentctl import"; }
	t1=$(date +%s.%N)
	printf 'index: %d consent records imported in %.2f s\n' "$((n_keys + 1))" \
		"$(echo "$t1 - $t0" | bc -l)"
	E2E_MILTER_LOG=$CM_TMP/cm-log.log e2e_start_milter "$CMLOG_PORT" "$CM" -f -c "$CM_TMP/cm-log.yaml"
	CMLOG_PID=$MILTER_PID
	start_cm	# last: e2e_stop_milter below stops this one
fi

# ---- Postfix: one smtpd per configuration, same instance
SINK_DIR=
e2e_pf_setup ""
P_ALONE=$PF_PORT
P_NOOP=$(e2e_freeport)
e2e_pf_add_smtpd "$P_NOOP" -o "smtpd_milters=inet:127.0.0.1:$NOOP_PORT"
P_NOOPE=$(e2e_freeport)
e2e_pf_add_smtpd "$P_NOOPE" -o "smtpd_milters=inet:127.0.0.1:$NOOPE_PORT"
if [ $have_cm = 1 ]; then
	P_CM=$(e2e_freeport)
	e2e_pf_add_smtpd "$P_CM" -o "smtpd_milters=inet:127.0.0.1:$CM_PORT"
	P_CMLOG=$(e2e_freeport)
	e2e_pf_add_smtpd "$P_CMLOG" -o "smtpd_milters=inet:127.0.0.1:$CMLOG_PORT"
fi
e2e_pf_start

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# CPU ticks of the whole machine: "BUSY TOTAL" (busy includes steal: time
# the hypervisor gave to other guests)
sys_ticks() { awk '/^cpu / {b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit}' /proc/stat; }
# CPU ticks of the Postfix instance: the master, its children (alive), and
# the children it has reaped (the master's cutime and cstime).  The command
# name in /proc/PID/stat is removed first (it may hold spaces).
pf_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v m="$(e2e_pf_pid)" '{
		pid = $1
		sub(/^.*\) /, "")
		if (pid == m || $2 == m)
			t += $12 + $13 + $14 + $15
	} END { print t + 0 }'
}

# Wait until Postfix's queue is empty, polling cheaply (no fork per poll
# beyond sleep): incoming and active are flat; nothing is deferred here.
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

# run NAME PORT FROM MSGS [-N]: one measured run; sets R_RATE, R_ACC,
# R_CPU (µs per recipient of the milter PID in R_PID, if any), and CPU
# per message in ms: R_PF (Postfix), R_MI (the milter), R_ALL (Postfix,
# milter, smtp-source and smtp-sink), R_OTHER (the rest of the machine's
# busy time: other load, this script, kernel threads), and R_BUSY (the
# machine's busy share, %: below 100 the run was not bound by CPU alone).
R_PID=
run() {
	local name=$1 port=$2 from=$3 msgs=$4 nflag=${5:-} off t0 t1 t2 c0=0 c1=0 sent rej
	local p0 p1 k0 k1 src s0 s1
	off=$(stat -c %s "$PF_DIR/maillog")
	[ -n "$R_PID" ] && c0=$(cpu_ticks "$R_PID")
	p0=$(pf_ticks)
	k0=$(cpu_ticks "$SINK_PID")
	s0=$(sys_ticks)
	t0=$(date +%s.%N)
	{
		TIMEFORMAT='%3U %3S'
		time smtp-source -s "$SESS" -m "$msgs" -r "$RCPTS" $nflag -f "$from" \
			-t "rcpt@$DOMAIN" -M "$DOMAIN" -l 2000 "127.0.0.1:$port" \
			>"$CM_TMP/source.out" 2>&1
	} 2>"$CM_TMP/source.time" ||
		{ cat "$CM_TMP/source.out" >&2; e2e_fail "$name: smtp-source failed"; }
	t1=$(date +%s.%N)
	wait_drained
	t2=$(date +%s.%N)
	[ -n "$R_PID" ] && c1=$(cpu_ticks "$R_PID")
	p1=$(pf_ticks)
	k1=$(cpu_ticks "$SINK_PID")
	s1=$(sys_ticks)
	src=$(awk '{print $1 + $2}' "$CM_TMP/source.time")
	# every recipient of every message must have reached the sink
	sleep 0.2
	sent=$(tail -c +"$((off + 1))" "$PF_DIR/maillog" | grep -c 'status=sent')
	rej=$(tail -c +"$((off + 1))" "$PF_DIR/maillog" | grep -c -e 'milter-reject' -e 'reject:')
	[ "$sent" = $((msgs * RCPTS)) ] && [ "$rej" = 0 ] ||
		e2e_fail "$name: $sent recipients delivered (want $((msgs * RCPTS))), $rej rejected"
	R_RATE=$(echo "$msgs / ($t2 - $t0)" | bc -l)
	R_ACC=$(echo "$msgs / ($t1 - $t0)" | bc -l)
	R_CPU=$(echo "($c1 - $c0) * 1000000 / $CLK_TCK / ($msgs * $RCPTS)" | bc -l)
	R_PF=$(echo "($p1 - $p0) * 1000 / $CLK_TCK / $msgs" | bc -l)
	R_MI=$(echo "($c1 - $c0) * 1000 / $CLK_TCK / $msgs" | bc -l)
	R_ALL=$(echo "(($p1 - $p0 + $c1 - $c0 + $k1 - $k0) / $CLK_TCK + $src) * 1000 / $msgs" | bc -l)
	R_OTHER=$(echo "(${s1% *} - ${s0% *}) * 1000 / $CLK_TCK / $msgs - $R_ALL" | bc -l)
	R_BUSY=$(echo "(${s1% *} - ${s0% *}) * 100 / (${s1#* } - ${s0#* })" | bc -l)
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# spread VALUES: "min / median / max (n)"
spread() {
	printf '%s\n' "$@" | sort -g | awk -v f="${SPREAD_FMT:-%.3f}" '{a[NR] = $1} END {
		printf f " / " f " / " f " (%d)", a[1], a[int((NR + 1) / 2)], a[NR], NR }'
}

configs=(alone noop noop-eoh)
[ $have_cm = 1 ] && configs+=(cm-news cm-other cm-log)
if [ -n "${BENCH_CONFIGS:-}" ]; then
	# shellcheck disable=SC2206
	want=($BENCH_CONFIGS)
	for c in "${want[@]}"; do
		[[ " ${configs[*]} " == *" $c "* ]] || e2e_fail "BENCH_CONFIGS: $c is not one of: ${configs[*]}"
	done
	configs=("${want[@]}")
fi
has_cfg() { [[ " ${configs[*]} " == *" $1 "* ]]; }
cfg_port() {
	case $1 in
	alone) echo "$P_ALONE" ;; noop) echo "$P_NOOP" ;; cm-log) echo "$P_CMLOG" ;;
	noop-eoh) echo "$P_NOOPE" ;;
	*) echo "$P_CM" ;;
	esac
}
cfg_from() { [ "$1" = cm-other ] && echo "$OTHER_FROM" || echo "$NEWS_FROM"; }
cfg_pid() {
	case $1 in
	alone) echo "" ;; noop) echo "$NOOP_PID" ;; cm-log) echo "$CMLOG_PID" ;;
	noop-eoh) echo "$NOOPE_PID" ;;
	*) echo "$CM_PID" ;;
	esac
}

LOG_WANT=0	# recipients sent to cm-log: the decision log must hold as many records
declare -A rates accs cpus pfs mis alls
# one LABEL CONFIG MSGS KEY: a run of CONFIG; its figures kept under KEY
one() {
	local label=$1 c=$2 msgs=$3 key=$4
	R_PID=$(cfg_pid "$c")
	run "$c" "$(cfg_port "$c")" "$(cfg_from "$c")" "$msgs" -N
	[ "$c" = cm-log ] && LOG_WANT=$((LOG_WANT + msgs * RCPTS))
	[ -n "$key" ] || return 0
	rates[$key]=$R_RATE accs[$key]=$R_ACC cpus[$key]=$R_CPU
	pfs[$key]=$R_PF mis[$key]=$R_MI alls[$key]=$R_ALL
	printf '  %-7s %-9s %7.1f msg/s (accept %7.1f); CPU ms/msg: Postfix %6.3f' \
		"$label" "$c" "$R_RATE" "$R_ACC" "$R_PF"
	[ -n "$R_PID" ] && printf ', milter %6.3f (%.1f us/rcpt)' "$R_MI" "$R_CPU"
	printf ', all %6.3f; other %6.3f; machine busy %3.0f %%\n' "$R_ALL" "$R_OTHER" "$R_BUSY"
}

echo "postfix bench: $SESS sessions, $MSGS messages x $RCPTS recipients, median of $REPS, $(nproc) CPU(s)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# warm-up: start smtpd/cleanup/smtp processes, fault pages in
for c in "${configs[@]}"; do
	one warm-up "$c" $((MSGS < 200 ? MSGS : 200)) ""
done

for ((rep = 1; rep <= REPS; rep++)); do
	# rotate the order so no configuration always runs first
	n=${#configs[@]}
	for ((k = 0; k < n; k++)); do
		c=${configs[$(((k + rep - 1) % n))]}
		one "run $rep" "$c" "$MSGS" "$c,$rep"
	done
done

# vals CONFIG ARRAY FIRST LAST: the values of CONFIG in runs FIRST..LAST
vals() {
	local -n arr=$2
	local i
	for ((i = $3; i <= $4; i++)); do
		[ -n "${arr[$1,$i]:-}" ] && printf '%s ' "${arr[$1,$i]}"
	done
}

echo
printf '%-10s %8s %8s %12s %28s\n' config "msg/s" "accept" "milter us/" "CPU ms/msg (medians)"
printf '%-10s %8s %8s %12s %9s %9s %9s\n' "" "" "" "rcpt" Postfix milter all
declare -A med
for c in "${configs[@]}"; do
	# shellcheck disable=SC2046
	med[$c]=$(median $(vals "$c" rates 1 "$REPS"))
	# shellcheck disable=SC2046
	a=$(median $(vals "$c" accs 1 "$REPS"))
	# shellcheck disable=SC2046
	u=$(median $(vals "$c" cpus 1 "$REPS"))
	# shellcheck disable=SC2046
	printf '%-10s %8.1f %8.1f %12s %9.3f %9s %9.3f\n' "$c" "${med[$c]}" "$a" \
		"$([ "$c" = alone ] && echo - || printf '%.2f' "$u")" \
		"$(median $(vals "$c" pfs 1 "$REPS"))" \
		"$([ "$c" = alone ] && echo - || printf '%.3f' "$(median $(vals "$c" mis 1 "$REPS"))")" \
		"$(median $(vals "$c" alls 1 "$REPS"))"
done
echo
ratio() { echo "${med[$1]} / ${med[$2]}" | bc -l; }
has_cfg noop && has_cfg alone && printf 'noop / alone            %.3f\n' "$(ratio noop alone)"
has_cfg noop && has_cfg noop-eoh &&
	printf 'noop-eoh / noop         %.3f   (what reading the headers costs any milter)\n' "$(ratio noop-eoh noop)"
if [ $have_cm = 1 ]; then
	has_cfg cm-news && has_cfg alone &&
		printf 'cm-news / alone         %.3f   (SPEC target >= 0.95)\n' "$(ratio cm-news alone)"
	has_cfg cm-news && has_cfg noop &&
		printf 'cm-news / noop          %.3f   (target >= 0.97)\n' "$(ratio cm-news noop)"
	has_cfg cm-other && has_cfg noop &&
		printf 'cm-other / noop         %.3f   (target >= 0.99)\n' "$(ratio cm-other noop)"
fi
if [ $have_cm = 1 ] && has_cfg cm-news && has_cfg cm-log; then
	# more pairs, order alternating, then the spread of the per-pair figures
	floor=0
	has_cfg noop && has_cfg noop-eoh && floor=1
	if [ "$PAIRS" -gt 0 ]; then
		echo
		echo "decision log: $PAIRS more pairs of cm-news and cm-log runs$([ $floor = 1 ] &&
			echo ", each beside a pair of noop and noop-eoh runs")"
	fi
	for ((p = REPS + 1; p <= REPS + PAIRS; p++)); do
		if ((p % 2)); then
			pair=(cm-news cm-log noop noop-eoh)
		else
			pair=(noop-eoh noop cm-log cm-news)
		fi
		for c in "${pair[@]}"; do
			[[ $c == noop* ]] && [ $floor = 0 ] && continue
			one "pair $((p - REPS))" "$c" "$MSGS" "$c,$p"
		done
	done
	r_rate=() r_all=() r_pf=() r_mi=() r_floor=()
	for ((p = 1; p <= REPS + PAIRS; p++)); do
		[ $floor = 1 ] &&
			r_floor+=("$(echo "${rates[noop-eoh,$p]} / ${rates[noop,$p]}" | bc -l)")
		r_rate+=("$(echo "${rates[cm-log,$p]} / ${rates[cm-news,$p]}" | bc -l)")
		r_all+=("$(echo "(${alls[cm-log,$p]} - ${alls[cm-news,$p]}) * 100 / ${alls[cm-news,$p]}" | bc -l)")
		r_pf+=("$(echo "${pfs[cm-log,$p]} - ${pfs[cm-news,$p]}" | bc -l)")
		r_mi+=("$(echo "${mis[cm-log,$p]} - ${mis[cm-news,$p]}" | bc -l)")
	done
	echo
	echo "decision log on vs off, per pair of runs (min / median / max (pairs)):"
	printf '  cm-log / cm-news msg/s       %s   (target >= 0.97)\n' "$(spread "${r_rate[@]}")"
	[ $floor = 1 ] &&
		printf '  floor: noop-eoh / noop msg/s %s   (what reading the headers costs any milter)\n' "$(spread "${r_floor[@]}")"
	printf '  extra CPU per message, all   %s %%\n' "$(SPREAD_FMT=%+.1f spread "${r_all[@]}")"
	printf '  extra CPU ms/msg, Postfix    %s\n' "$(SPREAD_FMT=%+.3f spread "${r_pf[@]}")"
	printf '  extra CPU ms/msg, milter     %s\n' "$(SPREAD_FMT=%+.3f spread "${r_mi[@]}")"
	# shellcheck disable=SC2046
	printf '  medians of all %d runs each: %.1f msg/s with the log, %.1f without (%.3f)\n' \
		"$((REPS + PAIRS))" "$(median $(vals cm-log rates 1 $((REPS + PAIRS))))" \
		"$(median $(vals cm-news rates 1 $((REPS + PAIRS))))" \
		"$(echo "$(median $(vals cm-log rates 1 $((REPS + PAIRS)))) / $(median $(vals cm-news rates 1 $((REPS + PAIRS))))" | bc -l)"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ $have_cm = 1 ] && has_cfg cm-log; then
	# the log must really have been written: one record per recipient sent
	# to cm-log, each with its message's Message-ID (stopping the daemon
	# flushes what is still queued)
	e2e_kill_pid "$CMLOG_PID" 20
	got=$(cat "$CM_TMP"/decisions/*.jsonl 2>/dev/null | wc -l)
	nomid=$(cat "$CM_TMP"/decisions/*.jsonl 2>/dev/null | grep -c '"message_id":null')
	printf 'decision log: %d records (%d recipients sent), %d without Message-ID, in %s\n' \
		"$got" "$LOG_WANT" "$nomid" "$(ls "$CM_TMP"/decisions 2>/dev/null | tr '\n' ' ')"
	[ "$got" = "$LOG_WANT" ] && [ "$nomid" = 0 ] ||
		e2e_fail "the decision log does not hold one record with a Message-ID per recipient"
fi
if [ $have_cm = 1 ]; then
	# ---- the milter alone, and its memory: a fresh daemon driven over
	# the milter protocol (bench/milterload.py, as Postfix speaks it), RSS
	# after 1,000 and after RSS_MSGS messages
	e2e_stop_milter TERM
	start_cm
	load() {
		"$PY" "$SRCDIR/bench/milterload.py" --port "$CM_PORT" --conns "$SESS" \
			--rcpts "$RCPTS" --keys "$n_keys" --from "$NEWS_FROM" --msgs "$1" \
			>"$CM_TMP/load.out" 2>&1 || { cat "$CM_TMP/load.out" >&2; e2e_fail "milterload"; }
	}
	load 1000
	rss1=$(rss_kib "$CM_PID")
	c0=$(cpu_ticks "$CM_PID")
	load $((RSS_MSGS - 1000))
	c1=$(cpu_ticks "$CM_PID")
	rss2=$(rss_kib "$CM_PID")
	echo
	echo "consent-milter alone (milter protocol, $SESS connections): $(cat "$CM_TMP/load.out")"
	printf 'consent-milter alone: %.2f us CPU per recipient\n' \
		"$(echo "($c1 - $c0) * 1000000 / $CLK_TCK / (($RSS_MSGS - 1000) * $RCPTS)" | bc -l)"
	printf 'consent-milter RSS: %d KiB after 1,000 messages, %d KiB after %d (%+.1f %%; target within 10 %%)\n' \
		"$rss1" "$rss2" "$RSS_MSGS" "$(echo "($rss2 - $rss1) * 100 / $rss1" | bc -l)"
	e2e_stop_milter TERM
fi
# the do-nothing milter's own count: it really looked every recipient up
kill -TERM "$NOOP_PID" 2>/dev/null
for ((i = 0; i < 300; i++)); do kill -0 "$NOOP_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$NOOP_PID" 2>/dev/null || echo "noop milter: $(grep 'lookups=' "$CM_TMP/noop.log" | tail -n 1 | sed 's/^noop_milter: //')"
exit 0
