# Helpers for the consentctl CLI tests (sourced; not a test by itself).
# Needs BUILD, SRCDIR, CM_TMP (set by tests/run).
set -u
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BUILD:=$SRCDIR/build}"
: "${CM_TMP:=$(mktemp -d)}"
CTL=$BUILD/consentctl
[ -x "$CTL" ] || { echo "consentctl not built: $CTL" >&2; exit 77; }
PY=/usr/bin/python3
. "$SRCDIR/tests/lib/net.sh"	# net_freeport
T=$CM_TMP
CONF=$T/policy.yaml
DB=$T/db
step=""

# A private policy: the example with database.path at $T/db.
sed "s#\"/var/lib/consent-milter\"#\"$DB\"#" "$SRCDIR/examples/consent-milter.yaml" >"$CONF"
grep -q "$DB" "$CONF" || { echo "could not point database.path at $DB" >&2; exit 1; }

fail() {
	echo "FAIL [$step]: $*" >&2
	echo "  stdout: $(printf '%s' "${out-}" | head -c 2000)" >&2
	echo "  stderr: $(printf '%s' "${err-}" | head -c 2000)" >&2
	exit 1
}

# run ARGS...: runs consentctl; sets out, err, rc.
run() {
	out=$("$CTL" "$@" 2>"$T/.err")
	rc=$?
	err=$(cat "$T/.err")
}
# c ARGS...: run with the private policy.
c() { run -c "$CONF" "$@"; }

rc_is() { [ "$rc" -eq "$1" ] || fail "exit status $rc, expected $1"; }
out_is() { [ "$out" = "$1" ] || fail "stdout is '$out', expected '$1'"; }
out_has() { grep -qF -- "$1" <<<"$out" || fail "stdout lacks '$1'"; }
out_lacks() { ! grep -qF -- "$1" <<<"$out" || fail "stdout has '$1'"; }
err_has() { grep -qF -- "$1" <<<"$err" || fail "stderr lacks '$1'"; }
err_empty() { [ -z "$err" ] || fail "stderr is not empty"; }

# json_check PYTHON-EXPR: $out parses as one JSON value j and EXPR holds.
json_check() {
	printf '%s' "$out" | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
ok = eval(sys.argv[1])
sys.exit(0 if ok else 1)' "$1" || fail "JSON check failed: $1"
}
# jsonl_check PYTHON-EXPR: every line of $out is a JSON object; EXPR over
# the list L holds.
jsonl_check() {
	printf '%s\n' "$out" | "$PY" -c '
import json, sys
L = [json.loads(l) for l in sys.stdin if l.strip()]
assert all(isinstance(o, dict) for o in L)
ok = eval(sys.argv[1])
sys.exit(0 if ok else 1)' "$1" || fail "JSON Lines check failed: $1"
}
