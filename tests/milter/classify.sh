#!/usr/bin/env bash
# Classification fails closed (issue 12): the sender in normalized form,
# several types (all checked, or refused with multiple_types: refuse),
# a header type after an envelope type, the null sender, List-Id per
# RFC 2919, a sender that cannot be normalized, and non-SMTP submissions
# (Postfix non_smtpd_milters: never refused at RCPT, removed at EOM).
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
seed <<'SEED'
pending ivan@example.net offers
confirm ivan@example.net offers
grant bob@example.net weekly-news
SEED
write_config "$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"

lua classify
expect_log 'queue_id=C1 type=offers,customer-updates rcpt=ivan@example.net verdict=deny reason=withdrawn stage=eom action=remove'
expect_log 'queue_id=C2 type=weekly-news rcpt=carol@example.net verdict=deny reason=no-consent stage=rcpt action=reject'
expect_log 'queue_id=C2 type=weekly-news,offers rcpt=alice@example.net verdict=deny reason=no-consent stage=eom action=remove'

deny() { printf '550 5.7.1 <%s>: no consent for newsletter "%s" (%s)' "$1" "$2" "$3"; }

# 1. one sender, several spellings: each matches envelope_sender:
#    weekly@news.example.com (the normalized form recipients get)
for s in '<"weekly"@news.example.com>' '<weekly@news.example.com.>' \
	'<Weekly@NEWS.example.com>' '<weekly+x1@news.example.com>' \
	'<@relay.example:weekly@news.example.com>'; do
	out=$(proto --mail "$s" --rcpt "<carol@example.net>" --rcpt "<alice@example.net>") ||
		die "mproto failed"
	expect_line "$out" "RCPT <carol@example.net> y $(deny carol@example.net weekly-news no-consent)"
	expect_line "$out" 'RCPT <alice@example.net> c'
	echo "ok - sender $s is weekly-news"
done
# a glob rule matches the normalized form too
out=$(proto --mail '<"news"@Digest.Example.COM.>' --rcpt "<carol@example.net>") || die "mproto failed"
expect_line "$out" "RCPT <carol@example.net> y $(deny carol@example.net digest no-consent)"

# a sender that cannot be normalized and matches no rule as written:
# on_error (tempfail), never "not a newsletter"
out=$(proto --mail '<weekly@news..example.com>' --rcpt "<carol@example.net>") || die "mproto failed"
expect_line "$out" 'MAIL <weekly@news..example.com> -'
expect_line "$out" 'RCPT <carol@example.net> y 451 4.3.0 Consent check failed, try again later'
expect_log 'envelope sender cannot be normalized \(.*\); action=tempfail'
echo "ok - an unreadable sender is tempfailed (MAIL's answer, given at RCPT)"

# 2. several envelope types (sender: digest, SASL login: weekly-news):
#    a recipient needs both; the reply names both
out=$(proto --macro M '{auth_authen}' campaign-weekly --mail '<x@digest.example.com>' \
	--rcpt "<alice@example.net>" --rcpt "<gina@example.net>") || die "mproto failed"
expect_line "$out" "RCPT <alice@example.net> y $(deny alice@example.net weekly-news,digest no-consent)"
expect_line "$out" "RCPT <gina@example.net> y $(deny gina@example.net weekly-news,digest no-consent)"
echo "ok - two envelope types: consent for each needed"

# 4. a List-Id that cannot be read (two identifiers) while a list_id
#    rule exists: on_error (tempfail), never "no newsletter"
out=$(proto --mail '<shop@example.com>' --rcpt "<carol@example.net>" --data \
	--header List-Id '<a.example> <offers.example.com>' --eoh) || die "mproto failed"
expect_line "$out" 'EOH - y 451 4.3.0 Consent check failed, try again later'
expect_log 'unreadable List-Id header; action=tempfail'
echo "ok - an unreadable List-Id is tempfailed"

# 6. non-SMTP submission (Postfix's emulated connect: port 0): nothing
#    refused at RCPT, the unconsented removed at end of data
out=$(proto --port 0 --mail 'weekly@news.example.com' --rcpt 'carol@example.net' \
	--rcpt 'alice@example.net' --data --header Subject hi --eoh --eom) || die "mproto failed"
expect_line "$out" 'RCPT carol@example.net c'
expect_line "$out" 'RCPT alice@example.net c'
expect_line "$out" 'DELRCPT carol@example.net'
expect_line "$out" 'ADDHEADER X-Consent-Milter: type=weekly-news; removed=1; kept=1'
expect_line "$out" 'EOM - c'
grep -q 'DELRCPT alice' <<<"$out" && die "alice removed: $out"
echo "ok - non-SMTP (port 0): removed at end of data, not refused at RCPT"
# nobody left: the message is refused at end of data
out=$(proto --port 0 --mail 'weekly@news.example.com' --rcpt 'carol@example.net' \
	--data --eoh --eom) || die "mproto failed"
expect_line "$out" 'RCPT carol@example.net c'
expect_line "$out" 'EOM - y 550 5.7.1 No recipient has consent for newsletter "weekly-news"'
# marked by daemon name (scope.non_smtp_daemon_names), no headers sent
stop_milter
cat >>"$CM_TMP/cm.yaml" <<'YAML'
multiple_types: refuse
YAML
sed -i 's/^  daemon_names: \[submission-campaign\]/&\n  non_smtp_daemon_names: [local-submit]/' "$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"
out=$(proto --macro C '{daemon_name}' local-submit --mail '<weekly@news.example.com>' \
	--rcpt '<carol@example.net>' --rcpt '<alice@example.net>' --eom) || die "mproto failed"
expect_line "$out" 'RCPT <carol@example.net> c'
expect_line "$out" 'DELRCPT <carol@example.net>'
expect_line "$out" 'EOM - c'
echo "ok - non-SMTP by daemon name, decided at end of data without headers"

# 2b. multiple_types: refuse -> refused as ambiguous, at MAIL or EOH
out=$(proto --macro M '{auth_authen}' campaign-weekly --mail '<x@digest.example.com>' \
	--rcpt "<alice@example.net>") || die "mproto failed"
expect_line "$out" 'RCPT <alice@example.net> y 550 5.7.1 Message matches several newsletter types "weekly-news,digest"'
out=$(proto --mail '<weekly@news.example.com>' --rcpt "<bob@example.net>" --data \
	--header X-Newsletter-Type offers --eoh) || die "mproto failed"
expect_line "$out" 'RCPT <bob@example.net> c'
expect_line "$out" 'EOH - y 550 5.7.1 Message matches several newsletter types "weekly-news,offers"'
out=$(proto --mail '<weekly@news.example.com>' --rcpt "<bob@example.net>" --data \
	--header Subject x --eoh) || die "mproto failed"
expect_line "$out" 'EOH - a'
echo "ok - multiple_types: refuse"
stop_milter
echo "classify: all checks passed"
