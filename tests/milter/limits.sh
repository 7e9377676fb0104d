#!/usr/bin/env bash
# Per-message caps, and many concurrent connections while the policy is
# reloaded: every reply is the expected one, the daemon stays up.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
write_config "$cfg"
start_milter "$cfg"
lua limits
expect_log 'recipient cap reached'
expect_log 'queue_id=L2: too many classification headers to check; action=tempfail'

# 16 clients x 50 sessions in parallel, with reloads in between.
client() {
	local out
	out=$(proto --repeat 50 --mail "<weekly@news.example.com>" \
		--rcpt "<alice@example.net>" --rcpt "<carol@example.net>") ||
		return 1
	[ "$(grep -cxF 'RCPT <alice@example.net> c' <<<"$out")" -eq 50 ] ||
		return 1
	[ "$(grep -cxF 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)' <<<"$out")" -eq 50 ]
}
pids=()
for _ in $(seq 16); do
	client & pids+=($!)
done
for _ in $(seq 10); do
	kill -USR1 "$MILTER_PID"
	sleep 0.05
done
for p in "${pids[@]}"; do
	wait "$p" || die "a parallel client got an unexpected reply"
done
kill -0 "$MILTER_PID" || die "the milter died under load"
stop_milter
echo "limits: all checks passed"
