#!/usr/bin/env bash
# Instructions a message of consent-milter and a request of consent-policy,
# each beside its do-nothing floor, counted by callgrind.  Through Postfix
# (bench/postfix.sh) a filter's CPU time moves 10-15 % between runs; an
# instruction count barely moves from run to run whatever else the machine
# does (within half a per cent: each run builds its index anew, with a new
# key), so this is where a change to the per-recipient path shows.  It
# counts the daemons' own work in user space only: the system calls both
# sides make (the milter protocol's reads and writes) are the kernel's.
#
# Each daemon runs under valgrind --tool=callgrind on one index of INDEX
# consent records; once it listens and has served WARM=10 messages, its
# counters are zeroed (callgrind_control -z), so start-up and each
# function's first call are left out; then
#   consent-milter and noop_milter (RCPT only, one lookup a recipient in
#     the same index): bench/milterload.py, one connection a message as
#     smtp-source through Postfix makes, MSGS messages x RCPTS recipients,
#     newsletter typed by its envelope sender, every recipient consented;
#   consent-policy and noop_policy: bench/policyload.py, the same
#     recipients as RCPT requests on reused connections;
# and the counts are dumped (callgrind_control -d) before a clean stop.
#   MSGS=2000 RCPTS=10 INDEX=100000; BENCH_QUICK=1: MSGS=200 INDEX=10000
# Prints figures only; without valgrind it prints a note and exits 0.
# INSTR_KEEP=DIR keeps the callgrind dumps there (callgrind_annotate).
set -u
: "${SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$SRCDIR/build}"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${MSGS:=200}" "${INDEX:=10000}"
fi
: "${MSGS:=2000}" "${RCPTS:=10}" "${INDEX:=100000}"
[ $((MSGS * RCPTS)) -le "$INDEX" ] || { echo "instr bench: MSGS x RCPTS > INDEX"; exit 1; }
if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_control >/dev/null 2>&1; then
	echo "instr bench: needs valgrind (callgrind_control): skipped"
	exit 0
fi
CM=$BUILD/consent-milter CP=$BUILD/consent-policy CTL=$BUILD/consentctl
NOOP=$BUILD/bench/noop_milter NOOP_POL=$BUILD/bench/noop_policy
for f in "$CM" "$CP" "$CTL" "$NOOP" "$NOOP_POL" "$BUILD/bench/bench_core"; do
	[ -x "$f" ] || { echo "instr bench: $f not built (make)"; exit 1; }
done
T=$(mktemp -d /tmp/cm-instr.XXXXXX)
# e2e_freeport, e2e_wait_listen, e2e_kill_pid (sourcing defines them
# and nothing else; no Postfix here); bench_conf
. "$SRCDIR/tests/e2e/lib/common.sh"
. "$SRCDIR/bench/conf.bash"
PIDS=()
# shellcheck disable=SC2317 # the EXIT trap calls it
cleanup() {	# on failure, the daemons' logs first
	local rc=$? p f
	for p in "${PIDS[@]}"; do e2e_kill_pid "$p" 10; done
	if [ "$rc" != 0 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] && { echo "-- $f" >&2; tail -n 20 "$f" >&2; }
		done
	fi
	if [ -n "${INSTR_KEEP:-}" ]; then
		mkdir -p "$INSTR_KEEP" && cp "$T"/cg.* "$INSTR_KEEP"/ 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "instr bench: $*" >&2; exit 1; }

# ---- one index, consent to the newsletter for every recipient
DOMAIN=bench.example FROM=news@bench.example
CM_PORT=$(e2e_freeport) CP_PORT=$(e2e_freeport)
mkdir -p "$T/db"
bench_conf "$CM_PORT" "$T/db" "$FROM" "policy:
  socket: \"inet:$CP_PORT@127.0.0.1\"
  stamp: \"$T/policy.stamp\"
  decides_envelope_types: true" >"$T/cm.yaml"
{
	echo "email,type,state,time,source,basis,purpose,evidence"
	seq -f "%.0frcpt@$DOMAIN,bench-news,granted,2026-01-01T00:00:00Z,import,consent,newsletter,bench" 1 "$INDEX"
} >"$T/consent.csv"
"$CTL" -c "$T/cm.yaml" import "$T/consent.csv" >"$T/import.log" 2>&1 ||
	fail "consentctl import"
rm -f "$T/consent.csv"
KEY=$("$BUILD/bench/bench_core" sipkey "$T/db") || fail "bench_core sipkey"

# count NAME PORT LOAD CMD...: the instructions CMD executes between
# listening on PORT and its clean stop, while LOAD (a load generator's
# arguments after --port) runs against it; into COUNT.  Every step has a
# time limit: a stuck valgrind fails the run instead of hanging it.
count() {
	local name=$1 port=$2 load=$3 pid out rc
	shift 3
	valgrind --tool=callgrind --callgrind-out-file="$T/cg.$name" \
		"$@" >"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	e2e_wait_listen "$port" "$pid" 60	# valgrind starts slowly
	# the port is ours only if the process still runs after it listens
	kill -0 "$pid" 2>/dev/null || fail "$name died; something else listens on $port"
	# a few messages first (each function's first call binds its
	# symbols), then the counters from zero, dumped before the stop
	# shellcheck disable=SC2086
	timeout 300 "$PY" $load --port "$port" --msgs "$WARM" >/dev/null || fail "$name: warm-up failed"
	timeout 60 callgrind_control -z "$pid" >/dev/null 2>&1 || fail "callgrind_control -z $name"
	# shellcheck disable=SC2086
	out=$(timeout 1800 "$PY" $load --port "$port") || { echo "$out" >&2; fail "$name: load failed"; }
	timeout 60 callgrind_control -d "$pid" >/dev/null 2>&1 || fail "callgrind_control -d $name"
	# SIGTERM, SIGKILL after 60 s; reaped, never signalled again
	e2e_kill_pid "$pid" 60
	rc=$?
	[ "$rc" = 0 ] || fail "$name exited $rc"
	COUNT=$(awk '/^(summary|totals):/ { print $2; exit }' "$T/cg.$name.1")
	[[ $COUNT =~ ^[0-9]+$ ]] || fail "$name: no count in its callgrind dump"
	LOADOUT=$out
}
WARM=10

per() { echo $(($1 / $2)); }	# shell arithmetic: no bc needed
ratio() {			# A / B to three decimals
	local m=$(($1 * 1000 / $2))
	printf '%d.%03d' $((m / 1000)) $((m % 1000))
}

MLOAD="$SRCDIR/bench/milterload.py --conns 2 --msgs $MSGS --rcpts $RCPTS --keys $INDEX --from $FROM --reconnect"
PLOAD="$SRCDIR/bench/policyload.py --conns 2 --msgs $MSGS --rcpts $RCPTS --keys $INDEX --from $FROM"

count cm "$CM_PORT" "$MLOAD" "$CM" -f -c "$T/cm.yaml"
cm=$COUNT cm_load=$LOADOUT
p=$(e2e_freeport)
count noop "$p" "$MLOAD" "$NOOP" -s "inet:$p@127.0.0.1" -d "$T/db" -b index -K "$KEY" -M 4096
noop=$COUNT
grep -q "hits=$(((MSGS + WARM) * RCPTS)) errors=0" "$T/noop.log" || fail "noop_milter did not find every recipient: $(tail -n 1 "$T/noop.log")"
count cp "$CP_PORT" "$PLOAD" "$CP" -f -c "$T/cm.yaml"
cp=$COUNT cp_load=$LOADOUT
p=$(e2e_freeport)
count noop-policy "$p" "$PLOAD" "$NOOP_POL" -s "inet:$p@127.0.0.1" -d "$T/db" -b index -K "$KEY" -M 4096
noop_pol=$COUNT
grep -q "hits=$(((MSGS + WARM) * RCPTS)) errors=0" "$T/noop-policy.log" || fail "noop_policy did not find every recipient: $(tail -n 1 "$T/noop-policy.log")"
n_allow=$(grep -c "verdict=allow" "$T/cm.log")
[ "$n_allow" = $(((MSGS + WARM) * RCPTS)) ] || fail "consent-milter allowed $n_allow of $(((MSGS + WARM) * RCPTS)) recipients"

echo "instr bench: $MSGS messages x $RCPTS recipients, one connection a message; index of $INDEX records; instructions counted by callgrind over the load alone"
echo "  consent-milter: $cm_load"
echo "  consent-policy: $cp_load"
printf '%-58s %12s %10s\n' "instructions" "a message" "vs floor"
printf '%-58s %12s %10s\n' "consent-milter, newsletter typed by sender" "$(per "$cm" "$MSGS")" "$(ratio "$cm" "$noop") x"
printf '%-58s %12s %10s\n' "noop_milter, RCPT only, 1 lookup a recipient (floor)" "$(per "$noop" "$MSGS")" "-"
printf '%-58s %12s %10s\n' "instructions" "a request" "vs floor"
printf '%-58s %12s %10s\n' "consent-policy, newsletter typed by sender" "$(per "$cp" $((MSGS * RCPTS)))" "$(ratio "$cp" "$noop_pol") x"
printf '%-58s %12s %10s\n' "noop_policy, 1 lookup a request (floor)" "$(per "$noop_pol" $((MSGS * RCPTS)))" "-"
exit 0
