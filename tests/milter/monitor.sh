#!/usr/bin/env bash
# monitor mode: decide and log everything, change nothing, trace header.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
seed <<'SEED'
corrupt broken@example.net
SEED
write_config "$CM_TMP/cm.yaml" monitor tempfail reject
start_milter "$CM_TMP/cm.yaml"
lua monitor
expect_log 'queue_id=M1 type=weekly-news rcpt=carol@example.net verdict=deny reason=no-consent stage=rcpt mode=monitor action=none'
expect_log 'queue_id=M1 type=weekly-news rcpt=broken@example.net verdict=error .* mode=monitor action=none'
expect_log 'queue_id=M2 type=offers rcpt=zoe@example.net verdict=deny reason=no-consent stage=eom mode=monitor action=none'
expect_log 'queue_id=M3 type=- rcpt=- verdict=deny reason=unclassified-bulk stage=eoh mode=monitor action=none'
# a fault outside the decision lines logs the same action word: "none"
# (no longer "none (monitor)"), and nothing is refused
out=$(proto --mail '<weekly@news..example.com>' --rcpt "<carol@example.net>") || die "mproto failed"
grep -q '^MAIL <weekly@news..example.com> y 4' <<<"$out" && die "refused in monitor mode: $out"
expect_log 'envelope sender cannot be normalized \(.*\); action=none$'
stop_milter
echo "monitor: all checks passed"
