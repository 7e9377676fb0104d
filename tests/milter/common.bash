# Shared helpers of the milter protocol tests (sourced, not run).
# Environment from tests/run: BUILD, SRCDIR, CM_TMP.
set -u

MILTER="$BUILD/consent-milter"
HERE="$SRCDIR/tests/milter"
SOCK="$CM_TMP/milter.sock"
DB="$CM_TMP/db"
LOG="$CM_TMP/milter.log"
MILTER_PID=

[ -x "$MILTER" ] || { echo "skip: $MILTER not built"; exit 77; }
command -v miltertest >/dev/null || { echo "skip: miltertest not installed"; exit 77; }

die() {
	echo "FAIL: $*" >&2
	if [ -f "$LOG" ]; then
		echo "--- milter log:" >&2
		tail -n 40 "$LOG" >&2
	fi
	exit 1
}

cleanup() {
	if [ -n "$MILTER_PID" ] && kill -0 "$MILTER_PID" 2>/dev/null; then
		kill -TERM "$MILTER_PID" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$MILTER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$MILTER_PID" 2>/dev/null
	fi
}
trap cleanup EXIT

# The test-only seed tool, built by make with the core library of this
# build (tests/milter/seed.c).
build_seed() {
	[ -x "$BUILD/tests/seed" ] || die "$BUILD/tests/seed is not built: run make"
	ln -sf "$BUILD/tests/seed" "$CM_TMP/seed"
}

# seed < commands: write records into $DB (see seed.c).
seed() {
	mkdir -p "$DB"
	"$CM_TMP/seed" "$DB" || die "seeding the index failed"
}

# write_config FILE MODE ON_ERROR BULK: the test policy.
write_config() {
	cat > "$1" <<YAML
milter:
  socket: "unix:$SOCK"
  socket_mode: "0660"
  mode: ${2:-enforce}
  on_error: ${3:-tempfail}
database:
  path: "$DB"
scope:
  authenticated: true
  networks: [127.0.0.0/8]
  daemon_names: [submission-campaign]
unclassified_bulk: ${4:-reject}
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
      - sasl_login: "campaign-weekly"
  - id: offers
    name: "Special offers"
    consent: double-opt-in
    match:
      - header:
          name: X-Newsletter-Type
          value: "offers"
      - list_id: "offers.example.com"
  - id: customer-updates
    name: "Product updates"
    consent: no-objection
    match:
      - header:
          name: X-Newsletter-Type
          value: "customer-*"
  - id: digest
    name: "Digest"
    consent: opt-in
    valid_for: 30d
    match:
      - envelope_sender: "*@digest.example.com"
YAML
}

# The standard records of these tests.
seed_standard() {
	seed <<'SEED'
grant alice@example.net weekly-news
pending bob@example.net offers
confirm bob@example.net offers
pending carol@example.net offers
grant dave@example.net weekly-news
withdraw dave@example.net weekly-news
object erin@example.net
grant frank@example.net weekly-news
suppress suppressed.example
grant gina@example.net digest 40
grant hank@example.net digest 1
withdraw ivan@example.net customer-updates
grant broken@example.net weekly-news
SEED
}

# net_freeport, net_listening PORT
. "$SRCDIR/tests/lib/net.sh"

# start_milter CONFIG [PORT]: run the daemon in the foreground and wait
# until it listens: on the unix socket $SOCK, or with PORT (a CONFIG
# whose milter.socket is inet:PORT@127.0.0.1) on that TCP port.
start_milter() {
	[ -n "${2:-}" ] || rm -f "$SOCK"
	"$MILTER" -f -c "$1" >>"$LOG" 2>&1 &
	MILTER_PID=$!
	for _ in $(seq 100); do
		if [ -n "${2:-}" ]; then
			net_listening "$2" && return 0
		else
			[ -S "$SOCK" ] && return 0
		fi
		kill -0 "$MILTER_PID" 2>/dev/null || die "milter exited at start"
		sleep 0.05
	done
	die "milter socket ${2:+127.0.0.1:}${2:-$SOCK} did not appear"
}

# stop_milter: SIGTERM, expect a clean exit 0 and no sanitizer report.
stop_milter() {
	local rc
	kill -TERM "$MILTER_PID" || die "milter not running"
	wait "$MILTER_PID"
	rc=$?
	MILTER_PID=
	[ "$rc" -eq 0 ] || die "milter exited with $rc"
	if grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$LOG"; then
		die "sanitizer report in the milter log"
	fi
}

# lua NAME: run tests/milter/NAME.lua against the socket.
lua() {
	miltertest -D sock="unix:$SOCK" -D helpers="$HERE/lib.lua" \
		-s "$HERE/$1.lua" || die "miltertest $1.lua failed"
	echo "ok - $1.lua"
}

# proto ARGS...: the Python client (prints one line per step).
proto() {
	/usr/bin/python3 "$HERE/mproto.py" "unix:$SOCK" "$@"
}

# expect_line OUTPUT LINE: LINE must be one of OUTPUT's lines.
expect_line() {
	grep -qxF -- "$2" <<<"$1" || die "expected line: $2
got:
$1"
}

expect_log() {
	grep -qE -- "$1" "$LOG" || die "log has no line matching: $1"
}
