#!/usr/bin/env bash
# Type known at MAIL FROM: refusals at RCPT with the exact reply,
# allowed recipients continue, scope, null sender, several messages and
# an abort on one connection, queue id in the log.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
write_config "$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"

lua envelope

# Exact reply texts (miltertest shows only the reply code).
out=$(proto --macro M i "" --mail "<weekly@news.example.com>" \
	--rcpt "<Alice@Example.NET>" --rcpt "<carol@example.net>" \
	--rcpt "<dave@example.net>" --rcpt "<erin@example.net>" \
	--rcpt "<x@suppressed.example>" --rcpt '<we%ird@example.net>' \
	--rcpt "<frank@example.net>") || die "mproto failed"
expect_line "$out" 'MAIL <weekly@news.example.com> -'
expect_line "$out" 'RCPT <Alice@Example.NET> c'
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
expect_line "$out" 'RCPT <dave@example.net> y 550 5.7.1 <dave@example.net>: no consent for newsletter "weekly-news" (withdrawn)'
expect_line "$out" 'RCPT <erin@example.net> y 550 5.7.1 <erin@example.net>: no consent for newsletter "weekly-news" (objection)'
expect_line "$out" 'RCPT <x@suppressed.example> y 550 5.7.1 <x@suppressed.example>: no consent for newsletter "weekly-news" (suppressed)'
expect_line "$out" 'RCPT <we%ird@example.net> y 550 5.7.1 <we%%ird@example.net>: no consent for newsletter "weekly-news" (no-consent)'
expect_line "$out" 'RCPT <frank@example.net> c'

out=$(proto --mail "<news@digest.example.com>" --rcpt "<gina@example.net>") ||
	die "mproto failed"
expect_line "$out" 'RCPT <gina@example.net> y 550 5.7.1 <gina@example.net>: no consent for newsletter "digest" (expired)'

# A sender longer than the milter's copy of it (SMTP allows no such path,
# Postfix passes one up to its line length limit) is still matched by
# the envelope rules: it must not pass as mail of no type.
long="<$(printf 'b%.0s' $(seq 1 1100))@digest.example.com>"
out=$(proto --mail "$long" --rcpt "<carol@example.net>") || die "mproto failed"
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "digest" (no-consent)'

# One decision line each, with the queue id once the MTA sent it.
expect_log 'queue_id=- type=weekly-news rcpt=alice@example.net verdict=allow reason=none'
expect_log 'queue_id=- type=weekly-news rcpt=carol@example.net verdict=deny reason=no-consent'
expect_log 'queue_id=Q4 type=weekly-news rcpt=erin@example.net verdict=deny reason=objection'
expect_log 'queue_id=Q5 type=digest rcpt=gina@example.net verdict=deny reason=expired'
expect_log 'queue_id=Q5 type=digest rcpt=hank@example.net verdict=allow reason=none'

# Consent changes need no reload: carol opts in, then out again.
seed <<'SEED'
grant carol@example.net weekly-news
SEED
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<carol@example.net>") ||
	die "mproto failed"
expect_line "$out" 'RCPT <carol@example.net> c'
seed <<'SEED'
withdraw carol@example.net weekly-news
SEED
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<carol@example.net>") ||
	die "mproto failed"
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (withdrawn)'

# One person, several spellings: a withdrawal by über@ denies Über@, ÜBER@
# and the NFD form; a withdrawal by ivan2@example.net denies its routing
# forms, which Postfix delivers to ivan2@example.net.
seed <<'SEED'
grant über@example.com weekly-news
grant ivan2@example.net weekly-news
SEED
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<ÜBER@example.com>") ||
	die "mproto failed"
expect_line "$out" 'RCPT <ÜBER@example.com> c'
seed <<'SEED'
withdraw über@example.com weekly-news
withdraw ivan2@example.net weekly-news
SEED
nfd=$(printf 'u\314\210ber@example.com')
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<ÜBER@example.com>" \
	--rcpt "<Über@Example.COM>" --rcpt "<$nfd>" \
	--rcpt '<ivan2%example.net@localhost>' --rcpt '<example.net!ivan2@localhost>') ||
	die "mproto failed"
# (replies are ASCII: other characters are shown as '?')
expect_line "$out" 'RCPT <ÜBER@example.com> y 550 5.7.1 <?BER@example.com>: no consent for newsletter "weekly-news" (withdrawn)'
expect_line "$out" 'RCPT <Über@Example.COM> y 550 5.7.1 <?ber@Example.COM>: no consent for newsletter "weekly-news" (withdrawn)'
expect_line "$out" "RCPT <$nfd> y 550 5.7.1 <u?ber@example.com>: no consent for newsletter \"weekly-news\" (withdrawn)"
expect_line "$out" 'RCPT <ivan2%example.net@localhost> y 550 5.7.1 <ivan2%%example.net@localhost>: no consent for newsletter "weekly-news" (withdrawn)'
expect_line "$out" 'RCPT <example.net!ivan2@localhost> y 550 5.7.1 <example.net!ivan2@localhost>: no consent for newsletter "weekly-news" (withdrawn)'
expect_log 'type=weekly-news rcpt=über@example.com verdict=deny reason=withdrawn'
expect_log 'type=weekly-news rcpt=ivan2@example.net verdict=deny reason=withdrawn'

# The same through consentctl (the operator's tool), when it is built.
CTL="$BUILD/consentctl"
if [ -x "$CTL" ]; then
	"$CTL" -d "$DB" grant Carol@Example.NET weekly-news --source test >/dev/null ||
		die "consentctl grant failed"
	out=$(proto --mail "<weekly@news.example.com>" --rcpt "<carol@example.net>") ||
		die "mproto failed"
	expect_line "$out" 'RCPT <carol@example.net> c'
	"$CTL" -d "$DB" withdraw carol@example.net --all >/dev/null ||
		die "consentctl withdraw --all failed"
	out=$(proto --mail "<weekly@news.example.com>" --rcpt "<carol@example.net>") ||
		die "mproto failed"
	expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (objection)'
	# consentctl check decides exactly as the milter did
	out=$("$CTL" -c "$CM_TMP/cm.yaml" check carol@example.net weekly-news)
	grep -q "deny" <<<"$out" && grep -q "objection" <<<"$out" ||
		die "consentctl check says: $out"
fi

stop_milter
expect_log 'SIGTERM received; stopping'
expect_log 'stopped'
echo "envelope: all checks passed"
