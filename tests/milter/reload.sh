#!/usr/bin/env bash
# SIGUSR1 reloads the policy: a valid file takes effect for new messages;
# an invalid one is logged with its errors, the old policy stays and the
# daemon lives on.  SIGHUP is not a reload (libmilter stops on it).
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
seed <<'SEED'
grant alice@example.net flash-sale
SEED
cfg="$CM_TMP/cm.yaml"
write_config "$cfg"
start_milter "$cfg"

# wait_log PATTERN COUNT: until the log has COUNT lines matching PATTERN.
wait_log() {
	for _ in $(seq 100); do
		[ "$(grep -cE -- "$1" "$LOG")" -ge "$2" ] && return 0
		sleep 0.05
	done
	die "log never had $2 line(s) matching: $1"
}

# Before: flash@sale.example is no envelope-typed newsletter.
out=$(proto --mail "<flash@sale.example>" --rcpt "<carol@example.net>") ||
	die "mproto failed"
expect_line "$out" 'RCPT <carol@example.net> c'

# A valid new file with a new type.
write_config "$CM_TMP/new.yaml"
cat >> "$CM_TMP/new.yaml" <<'YAML'
  - id: flash-sale
    name: "Flash sale"
    consent: opt-in
    match:
      - envelope_sender: "flash@sale.example"
YAML
cp "$CM_TMP/new.yaml" "$cfg"
kill -USR1 "$MILTER_PID"
wait_log 'reloaded .*types=5' 1
out=$(proto --mail "<flash@sale.example>" --rcpt "<carol@example.net>" \
	--rcpt "<alice@example.net>") || die "mproto failed"
expect_line "$out" 'MAIL <flash@sale.example> -'
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "flash-sale" (no-consent)'
expect_line "$out" 'RCPT <alice@example.net> c'

# An invalid file: errors logged with file:line:column, old policy stays.
cat > "$cfg" <<YAML
milter:
  socket: "unix:$SOCK"
  mode: enforce
database:
  path: "$DB"
newsletters:
  - id: flash-sale
    name: "Flash sale"
    consent: maybe
    match: []
YAML
kill -USR1 "$MILTER_PID"
wait_log 'reload failed; the previous policy stays in force' 1
expect_log "$cfg:[0-9]+:[0-9]+: "
kill -0 "$MILTER_PID" || die "the milter died on an invalid reload"
out=$(proto --mail "<flash@sale.example>" --rcpt "<carol@example.net>") ||
	die "mproto failed"
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "flash-sale" (no-consent)'

# Many reloads while miltertest runs: the daemon keeps serving.
cp "$CM_TMP/new.yaml" "$cfg"
for _ in $(seq 10); do kill -USR1 "$MILTER_PID"; sleep 0.02; done
lua envelope
wait_log 'reloaded .*types=5' 11

# A missing file on reload is an error too, not a crash.
mv "$cfg" "$cfg.away"
kill -USR1 "$MILTER_PID"
wait_log 'reload failed; the previous policy stays in force' 2
mv "$cfg.away" "$cfg"
kill -0 "$MILTER_PID" || die "the milter died on a missing file"

stop_milter
echo "reload: all checks passed"
