#!/usr/bin/env bash
# A classification header folded over several lines (RFC 5322 2.2.3) is
# matched unfolded: a type whose header value contains a space is found
# whether or not the sender folded the header at that space.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
write_config "$CM_TMP/cm.yaml" enforce tempfail accept
sed -i 's/value: "offers"/value: "special offers"/' "$CM_TMP/cm.yaml"
grep -q 'value: "special offers"' "$CM_TMP/cm.yaml" || die "config not changed"
start_milter "$CM_TMP/cm.yaml"
lua folded
expect_log 'queue_id=F1 type=offers rcpt=zoe@example.net verdict=deny reason=no-consent stage=eom action=remove'
expect_log 'queue_id=F2 type=offers rcpt=zoe@example.net verdict=deny reason=no-consent stage=eom action=remove'
stop_milter
echo "folded: all checks passed"
