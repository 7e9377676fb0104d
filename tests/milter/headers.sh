#!/usr/bin/env bash
# Type known from the headers: removal at end of data with the raw
# address, all removed -> refused, trace header, unclassified bulk
# (reject, then accept), abort.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
write_config "$CM_TMP/cm.yaml" enforce tempfail reject
start_milter "$CM_TMP/cm.yaml"
lua headers
expect_log 'queue_id=H1 type=offers rcpt=carol@example.net verdict=deny reason=unconfirmed stage=eom action=remove'
expect_log 'queue_id=H1 type=offers rcpt=bob@example.net verdict=allow reason=none stage=eom'
expect_log 'queue_id=H4 type=- rcpt=- verdict=deny reason=unclassified-bulk'

# A message waiting for its headers that ends without them (an MTA that
# sent none) cannot be classified: tempfailed, never passed unchecked.
out=$(proto --mail "<shop@example.com>" --rcpt "<zoe@example.net>" --eom) ||
	die "mproto failed"
expect_line "$out" 'EOM - y 451 4.3.0 Consent check failed, try again later'
expect_log 'the MTA sent no headers, the message cannot be classified; action=tempfail'
stop_milter

# unclassified_bulk: accept
: >"$LOG"
write_config "$CM_TMP/cm.yaml" enforce tempfail accept
start_milter "$CM_TMP/cm.yaml"
lua bulk_accept
stop_milter
echo "headers: all checks passed"
