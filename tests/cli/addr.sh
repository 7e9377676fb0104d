#!/usr/bin/env bash
# One person, several spellings: a withdrawal by über@ covers Über@, ÜBER@
# and the NFD form; the routing forms of an address are checked as that
# address; an index of format 1 (keys of the older normalization) is
# refused until `consentctl upgrade` re-keys it; a permission error is
# reported as such, naming the directory.
. "$(dirname "$0")/ctl-lib.bash"

NFD=$(printf 'u\314\210ber')	# u + U+0308 COMBINING DIAERESIS

step="init"
c init; rc_is 0

step="a withdrawal by über@ denies every spelling"
c grant über@example.com weekly-news --at 2026-01-01T00:00:00Z; rc_is 0
for a in ÜBER@example.com Über@Example.COM "$NFD@example.com" "<\"ÜBER\"@example.com>"; do
	c check "$a" weekly-news; rc_is 0; out_is "allow"
done
c withdraw ÜBER@example.com weekly-news --at 2026-02-01T00:00:00Z; rc_is 0
for a in über@example.com ÜBER@example.com Über@Example.COM "$NFD@example.com"; do
	c check "$a" weekly-news; rc_is 1; out_has "deny"
done
c show "$NFD@EXAMPLE.com" --json; rc_is 0
json_check 'j["address"] == "über@example.com" and j["records"][0]["state"] == "withdrawn"'

step="routing forms are checked as the address they route to"
c grant ivan@example.net offers --confirmed --at 2026-01-01T00:00:00Z; rc_is 0
# the address as written must allow too (a Postfix that does not treat
# localhost as local delivers it as it stands): it has no consent
c check 'ivan%example.net@localhost' offers; rc_is 1; out_is "deny no-consent"
c check 'ivan@example.net' offers; rc_is 0; out_is "allow"
c withdraw ivan@example.net offers --at 2026-02-01T00:00:00Z; rc_is 0
for a in 'ivan%example.net@localhost' 'example.net!ivan@localhost' 'Ivan%Example.NET@mail.example'; do
	c check "$a" offers; rc_is 1; out_has "deny"
done
c check '"ivan%example.net"@localhost' offers; rc_is 1; out_has "no-consent"
sed 's/^  routed_local_part: resolve/  routed_local_part: refuse/' "$CONF" >"$T/refuse.yaml"
grep -q 'routed_local_part: refuse' "$T/refuse.yaml" || fail "could not set routed_local_part"
run -c "$T/refuse.yaml" check 'ivan%example.net@localhost' offers
rc_is 65; err_has "routed local part"

step="upgrade of a current index changes nothing"
c upgrade; rc_is 0; out_has "format 2 -> 2"; out_has "0 re-keyed, 0 merged"

step="an index of format 1 is refused until upgraded"
# What the older version stored: local parts octet by octet.
sed -e "s#\"$DB\"#\"$T/old\"#" -e 's/^  unicode_local_part: true/  unicode_local_part: false/' \
	"$CONF" >"$T/old.yaml"
grep -q 'unicode_local_part: false' "$T/old.yaml" || fail "could not set unicode_local_part"
sed -e "s#\"$DB\"#\"$T/old\"#" "$CONF" >"$T/new.yaml"
run -c "$T/old.yaml" init; rc_is 0
run -c "$T/old.yaml" grant über@example.com offers --at 2026-01-01T00:00:00Z; rc_is 0
run -c "$T/old.yaml" withdraw Über@example.com offers --at 2026-02-01T00:00:00Z; rc_is 0
run -c "$T/old.yaml" grant "$NFD"2@example.com offers --confirmed --at 2026-01-01T00:00:00Z; rc_is 0
printf 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n format\n \\01\\00\\00\\00\nDATA=END\n' |
	mdb_load -s meta "$T/old" || fail "mdb_load"
run -c "$T/new.yaml" check ÜBER@example.com offers
rc_is 70; err_has "format 1"; err_has "consentctl upgrade"
run -c "$T/new.yaml" upgrade --dry-run; rc_is 0; out_has "format 1 -> 2 (dry run"
run -c "$T/new.yaml" check ÜBER@example.com offers; rc_is 70
run -c "$T/new.yaml" upgrade; rc_is 0; out_has "1 re-keyed, 1 merged"; out_has "3 history events"
for a in über@example.com ÜBER@example.com "$NFD@example.com"; do
	run -c "$T/new.yaml" check "$a" offers; rc_is 1; out_has "deny"
done
run -c "$T/new.yaml" check über2@example.com offers; rc_is 0; out_is "allow"
run -c "$T/new.yaml" history ÜBER@example.com; rc_is 0; out_has "withdraw"; out_has "grant"

step="permission denied is reported as such"
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
	P=$(mktemp -d /tmp/cm-perm.XXXXXX)
	chmod 0755 "$P"
	run -d "$P/db" init; rc_is 0
	chmod 0700 "$P/db"
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" -d "$P/db" stats 2>"$T/.err")
	rc=$?; err=$(cat "$T/.err")
	rm -rf "$P"
	rc_is 77; err_has "$P/db: cannot open the consent index: permission denied"
	! grep -q "no consent index" <<<"$err" || fail "permission error reported as a missing index"
else
	D=$T/permdb
	run -d "$D" init; rc_is 0
	chmod 0000 "$D"
	run -d "$D" stats
	chmod 0700 "$D"
	rc_is 77; err_has "$D: cannot open the consent index: permission denied"
fi

echo "addresses: all assertions passed"
