#!/usr/bin/env bash
# consentctl link: init creates the first link key, links are printed from
# the links: section, new-key rotates, bad links: settings are named.
source "$(dirname "$0")/ctl-lib.bash"

step="init creates the key ring"
c init; rc_is 0; out_has "link key 0 created in $DB/link-keys"
[ "$(stat -c %a "$DB/link-keys")" = 700 ] || fail "link-keys mode $(stat -c %a "$DB/link-keys")"
[ "$(stat -c %a "$DB/link-keys/0.key")" = 600 ] || fail "0.key mode"
[ "$(stat -c %s "$DB/link-keys/0.key")" = 32 ] || fail "0.key size"
c init; rc_is 0; out_lacks "link key"

step="unsubscribe link"
c link unsubscribe Bob@Example.COM weekly-news; rc_is 0
[ "$(wc -l <<<"$out")" -eq 2 ] || fail "expected two lines"
grep -qE '^https://news\.example\.com/consent/u/[A-Za-z0-9_-]{60,90}$' <<<"$out" || fail "https link"
grep -qE '^mailto:unsubscribe\+[A-Za-z0-9_-]{60,90}@example\.com$' <<<"$out" || fail "mailto link"
out_lacks "bob"
tok1=$(sed -n 's#.*/u/##p' <<<"$out")

step="confirm link"
c link confirm bob@example.com weekly-news; rc_is 0
grep -qE '^https://news\.example\.com/consent/c/[A-Za-z0-9_-]+$' <<<"$out" || fail "confirm link"
[ "$(wc -l <<<"$out")" -eq 1 ] || fail "confirm: one line"

step="--token, and -d without configuration"
run -d "$DB" link unsubscribe bob@example.com weekly-news --token; rc_is 0
grep -qE '^[A-Za-z0-9_-]{60,90}$' <<<"$out" || fail "token"
run -d "$DB" link unsubscribe bob@example.com weekly-news; rc_is 78; err_has "no links: section"

step="bad input"
c link unsubscribe not-an-address news; rc_is 65
c link unsubscribe bob@example.com no-such-type; [ "$rc" -ne 0 ] || fail "unknown type accepted"
c link; rc_is 64
c link frobnicate a b; rc_is 64; err_has "unknown link 'frobnicate'"

step="rotation"
c link new-key; rc_is 0; out_has "link key 1 created"
c link unsubscribe bob@example.com weekly-news --token; rc_is 0
tok2=$out
[ "${tok1:0:2}" != "${tok2:0:2}" ] || fail "new token sealed by the old key id"

step="a key others can read is refused"
chmod 0644 "$DB/link-keys/1.key"
c link unsubscribe bob@example.com weekly-news; [ "$rc" -ne 0 ] || fail "accepted"
err_has "1.key"
chmod 0600 "$DB/link-keys/1.key"

step="bad links: settings name file, line and column"
bad=$T/bad.yaml
sed -e 's#base_url: "https://news.example.com/consent"#base_url: "http://news.example.com/x?a=b"#' \
    -e 's#mailto_local: unsubscribe #mailto_local: "un+sub"#' "$CONF" >"$bad"
out=$("$BUILD/consent-milter" -n -c "$bad" 2>&1); rc=$?
[ "$rc" -ne 0 ] || fail "bad config accepted"
grep -qE "bad.yaml:[0-9]+:[0-9]+: key 'base_url': expected an https URL" <<<"$out" || fail "base_url error: $out"
grep -qE "bad.yaml:[0-9]+:[0-9]+: key 'mailto_local': expected a local part" <<<"$out" || fail "mailto_local error: $out"
echo "consentctl link: keys, links, rotation, errors"
