#!/usr/bin/env bash
# Internal errors: an unreadable record -> on_error (tempfail, reject,
# accept); start-up failures and -n with their exit codes.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
seed <<'SEED'
corrupt broken@example.net
SEED
cfg="$CM_TMP/cm.yaml"

# on_error: tempfail (default)
write_config "$cfg" enforce tempfail reject
start_milter "$cfg"
lua errors
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<Broken@example.net>" \
	--rcpt "<alice@example.net>") || die "mproto failed"
expect_line "$out" 'RCPT <Broken@example.net> y 451 4.3.0 <Broken@example.net>: consent check failed, try again later'
expect_line "$out" 'RCPT <alice@example.net> c'
expect_log 'queue_id=E1 type=weekly-news rcpt=broken@example.net verdict=error reason=lookup-failed stage=rcpt action=tempfail error="stored data has an unknown format or is corrupt"$'
expect_log 'queue_id=E2 type=offers rcpt=broken@example.net verdict=error reason=lookup-failed stage=eom action=tempfail error="stored data has an unknown format or is corrupt"$'
expect_log 'queue_id=E2: 1 lookup\(s\) failed; whole message action=tempfail'
stop_milter

# on_error: reject
write_config "$cfg" enforce reject reject
start_milter "$cfg"
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<broken@example.net>") ||
	die "mproto failed"
expect_line "$out" 'RCPT <broken@example.net> y 550 5.7.1 <broken@example.net>: consent check failed'
stop_milter

# on_error: accept
write_config "$cfg" enforce accept reject
start_milter "$cfg"
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<broken@example.net>" \
	--rcpt "<carol@example.net>") || die "mproto failed"
expect_line "$out" 'RCPT <broken@example.net> c'
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
stop_milter

# -n: valid configuration and index
write_config "$cfg"
out=$("$MILTER" -n -c "$cfg" 2>&1) || die "-n on a valid config failed: $out"
grep -q "OK" <<<"$out" || die "-n printed: $out"

# -n: invalid configuration -> non-zero, file:line:column errors
cat > "$CM_TMP/bad.yaml" <<YAML
milter:
  socket: "unix:$SOCK"
  mode: sometimes
database:
  path: "$DB"
newsletters: []
bogus_key: 1
YAML
if out=$("$MILTER" -n -c "$CM_TMP/bad.yaml" 2>&1); then
	die "-n accepted an invalid config: $out"
fi
grep -qE "^$CM_TMP/bad.yaml:[0-9]+:[0-9]+: " <<<"$out" ||
	die "-n errors lack file:line:column: $out"

# -n and start with an index directory that holds no index -> 74
mkdir -p "$CM_TMP/empty"
sed "s|path: \"$DB\"|path: \"$CM_TMP/empty\"|" "$cfg" > "$CM_TMP/empty.yaml"
"$MILTER" -n -c "$CM_TMP/empty.yaml" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 74 ] || die "-n with no index: exit $rc, want 74"
"$MILTER" -f -c "$CM_TMP/empty.yaml" >>"$LOG" 2>&1
rc=$?
[ "$rc" -eq 74 ] || die "start with no index: exit $rc, want 74"

# missing configuration -> 66; bad option -> 64
"$MILTER" -n -c "$CM_TMP/nonexistent.yaml" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 66 ] || die "missing config: exit $rc, want 66"
"$MILTER" -Z >/dev/null 2>&1
rc=$?
[ "$rc" -eq 64 ] || die "bad option: exit $rc, want 64"

# a configuration file others may write -> refused (78)
chmod o+w "$cfg"
out=$("$MILTER" -f -c "$cfg" 2>&1)
rc=$?
[ "$rc" -eq 78 ] || die "world-writable config: exit $rc, want 78 ($out)"
grep -q "writable by others" <<<"$out" || die "no clear message: $out"
chmod o-w "$cfg"

# an index directory others may write -> refused (78)
chmod o+w "$DB"
"$MILTER" -n -c "$cfg" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 78 ] || die "world-writable index dir: exit $rc, want 78"
chmod o-w "$DB"
echo "errors: all checks passed"
