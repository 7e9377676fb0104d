#!/usr/bin/env bash
# One-click unsubscribe headers (milter/unsub.c): a header-typed
# newsletter left with one recipient gets List-Unsubscribe (the https
# form, with a token consent-web accepts, and its mailto form with the
# same token: tests/milter/mailto.sh) and List-Unsubscribe-Post;
# several recipients: none, and the log says so; the sender's own is
# replaced (or kept); monitor mode and links disabled add nothing.
. "$SRCDIR/tests/milter/common.bash"
CTL=$BUILD/consentctl

build_seed
seed_standard
"$CTL" -d "$DB" link new-key >/dev/null || die "cannot create a link key"

links() {	# links CONFIG ENABLED SENDER_HEADER
	cat >>"$1" <<YAML
links:
  enabled: $2
  base_url: "https://news.example.com/consent/"
  mailto_domain: "example.com"
  sender_header: $3
YAML
}
msg() {	# msg QID RCPT... -- HEADER VALUE ...
	local qid=$1 args=(); shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=(--rcpt "$1"); shift; done
	shift
	args+=(--data)
	while [ $# -gt 0 ]; do args+=(--header "$1" "$2"); shift 2; done
	proto --macro M i "$qid" --mail "<shop@example.com>" "${args[@]}" --eoh --eom ||
		die "mproto failed"
}
tok_re='[A-Za-z0-9_-]{60,90}'

write_config "$CM_TMP/cm.yaml" enforce tempfail reject
links "$CM_TMP/cm.yaml" true replace
start_milter "$CM_TMP/cm.yaml"

# one recipient
out=$(msg U1 "<Bob@Example.NET>" -- X-Newsletter-Type offers)
grep -qE "^ADDHEADER List-Unsubscribe: <https://news\.example\.com/consent/u/($tok_re)>, <mailto:unsubscribe\+\1@example\.com>\$" <<<"$out" ||
	die "no https and mailto List-Unsubscribe: $out"
expect_line "$out" "ADDHEADER List-Unsubscribe-Post: List-Unsubscribe=One-Click"
expect_line "$out" "EOM - c"
tok=$(sed -nE "s#^ADDHEADER List-Unsubscribe: <https://[^>]*/u/($tok_re)>.*#\1#p" <<<"$out")
grep -E "^(ADDHEADER|\t)" <<<"$out" | grep -qi bob && die "the address appears in clear"
expect_log 'queue_id=U1 type=offers: List-Unsubscribe added$'

# two recipients, one removed: one left -> headers
out=$(msg U2 "<Bob@Example.NET>" "<Carol@Example.NET>" -- X-Newsletter-Type offers)
expect_line "$out" "DELRCPT <Carol@Example.NET>"
grep -q "^ADDHEADER List-Unsubscribe:" <<<"$out" || die "U2: no header: $out"

# two recipients kept -> no headers, logged
out=$(msg U3 "<Bob@Example.NET>" "<zed@example.net>" -- X-Newsletter-Type customer-updates)
grep -qE "^(ADD|CHG)HEADER List-Unsubscribe" <<<"$out" && die "U3: header added to two recipients: $out"
expect_log 'queue_id=U3 type=customer-updates: 2 recipients, 1 types: no List-Unsubscribe link added'

# envelope-typed (decided at RCPT): one recipient left -> headers
env() {	# env QID FROM RCPT...
	local qid=$1 from=$2 args=(); shift 2
	for r in "$@"; do args+=(--rcpt "$r"); done
	proto --macro M i "$qid" --mail "$from" "${args[@]}" --data \
		--header Subject hi --eoh --eom || die "mproto failed"
}
out=$(env E1 "<weekly@news.example.com>" "<alice@example.net>")
grep -q "^ADDHEADER List-Unsubscribe: <https://news" <<<"$out" || die "E1: no header: $out"
expect_line "$out" "ADDHEADER List-Unsubscribe-Post: List-Unsubscribe=One-Click"
t=$(sed -nE "s#^ADDHEADER List-Unsubscribe: <https://[^>]*/u/($tok_re)>.*#\1#p" <<<"$out")
"$CTL" -d "$DB" link open "$t" | grep -q '^unsubscribe weekly-news alice@example.net ' || die "E1 token"
out=$(env E2 "<weekly@news.example.com>" "<alice@example.net>" "<dave@example.net>")
grep -q "^RCPT <dave@example.net> y 550" <<<"$out" || die "E2: dave not refused: $out"
grep -q "^ADDHEADER List-Unsubscribe:" <<<"$out" || die "E2: no header: $out"
out=$(env E3 "<weekly@news.example.com>" "<alice@example.net>" "<frank@example.net>")
grep -qE "^(ADD|CHG)HEADER List-Unsubscribe" <<<"$out" && die "E3: two recipients got a link: $out"
expect_log 'queue_id=E3 type=weekly-news: 2 recipients, 1 types: no List-Unsubscribe link added'

# the sender's own is replaced
out=$(msg U4 "<Bob@Example.NET>" -- X-Newsletter-Type offers List-Unsubscribe "<https://sender.example/u>" List-Unsubscribe-Post "List-Unsubscribe=One-Click")
expect_line "$out" "CHGHEADER 1 List-Unsubscribe: "
expect_line "$out" "CHGHEADER 1 List-Unsubscribe-Post: "
grep -q "^ADDHEADER List-Unsubscribe: <https://news" <<<"$out" || die "U4: ours not added: $out"
stop_milter

# the token is the recipient's and the type's
out=$("$CTL" -d "$DB" link open "$tok") || die "link open $tok"
grep -qE '^unsubscribe offers bob@example\.net [0-9T:-]+Z key=0$' <<<"$out" || die "token says: $out"

# keep: the sender's own stays, none added
write_config "$CM_TMP/cm.yaml" enforce tempfail reject
links "$CM_TMP/cm.yaml" true keep
start_milter "$CM_TMP/cm.yaml"
out=$(msg U5 "<Bob@Example.NET>" -- X-Newsletter-Type offers List-Unsubscribe "<https://sender.example/u>")
grep -qE "^(ADD|CHG)HEADER List-Unsubscribe" <<<"$out" && die "U5: keep changed headers: $out"
out=$(msg U6 "<Bob@Example.NET>" -- X-Newsletter-Type offers)
grep -q "^ADDHEADER List-Unsubscribe:" <<<"$out" || die "U6: no header: $out"
stop_milter

# disabled, and monitor mode: nothing
write_config "$CM_TMP/cm.yaml" enforce tempfail reject
links "$CM_TMP/cm.yaml" false replace
start_milter "$CM_TMP/cm.yaml"
out=$(msg U7 "<Bob@Example.NET>" -- X-Newsletter-Type offers)
grep -qE "^(ADD|CHG)HEADER List-Unsubscribe" <<<"$out" && die "U7: disabled but added: $out"
stop_milter
write_config "$CM_TMP/cm.yaml" monitor tempfail reject
links "$CM_TMP/cm.yaml" true replace
start_milter "$CM_TMP/cm.yaml"
out=$(msg U8 "<Bob@Example.NET>" -- X-Newsletter-Type offers)
grep -qE "^(ADD|CHG)HEADER List-Unsubscribe" <<<"$out" && die "U8: monitor but added: $out"
stop_milter
# envelope types only (no header rule, no decision log): the headers are
# still asked for, so that the sender's own List-Unsubscribe is seen
cat >"$CM_TMP/env.yaml" <<YAML
milter:
  socket: "unix:$SOCK"
database:
  path: "$DB"
scope:
  networks: [127.0.0.0/8]
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
YAML
links "$CM_TMP/env.yaml" true replace
start_milter "$CM_TMP/env.yaml"
out=$(proto --neg --macro M i E9 --mail "<weekly@news.example.com>" --rcpt "<alice@example.net>" \
	--data --header List-Unsubscribe "<https://sender.example/u>" --eoh --eom) || die "mproto failed"
grep -q "NOHDRS" <<<"$out" && die "headers negotiated away: $out"
expect_line "$out" "CHGHEADER 1 List-Unsubscribe: "
grep -q "^ADDHEADER List-Unsubscribe: <https://news" <<<"$out" || die "E9: ours not added: $out"
stop_milter
echo "unsub: all checks passed"
