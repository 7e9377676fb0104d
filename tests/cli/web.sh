#!/usr/bin/env bash
# consent-web: one-click unsubscribe and confirmation links end to end
# through HTTP on a free loopback port: POST records (after the commit),
# GET changes nothing, bad/foreign/expired tokens get 4xx with the index
# unchanged, a replay adds no history event, a confirm link turns a
# pending record into a granted one.
source "$(dirname "$0")/ctl-lib.bash"
WEB=$BUILD/consent-web
[ -x "$WEB" ] || { echo "consent-web not built" >&2; exit 77; }
command -v curl >/dev/null || { echo "curl not installed" >&2; exit 77; }

PORT=$(net_freeport)
sed -i -e 's#^  enabled: false  #  enabled: true   #' \
    -e "s#listen: \"inet:8025@127.0.0.1\"#listen: \"inet:$PORT@127.0.0.1\"#" \
    -e "s#mailto_socket: \"/run/consent-web/mailto.sock\"#mailto_socket: \"$T/mailto.sock\"#" "$CONF"
grep -q "inet:$PORT@" "$CONF" || { echo "could not set links.listen" >&2; exit 1; }
grep -q "$T/mailto.sock" "$CONF" || { echo "could not set links.mailto_socket" >&2; exit 1; }
URL=http://127.0.0.1:$PORT
A=reader@example.org

pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; }
trap cleanup EXIT

step="setup"
c init; rc_is 0
c grant "$A" weekly-news; rc_is 0
c grant "$A" offers --pending; rc_is 0	# double opt-in
# customer-updates: no-objection, allowed until withdrawn
"$WEB" -n -c "$CONF" || fail "consent-web -n failed"

step="start"
"$WEB" -v -c "$CONF" 2>"$T/web.log" &
pid=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "$URL/" && break
	kill -0 "$pid" 2>/dev/null || fail "consent-web died: $(cat "$T/web.log")"
	sleep 0.1
done
curl -s -o /dev/null "$URL/" || fail "consent-web does not answer"

# http STATUS METHOD PATH [curl args]: the status must be STATUS; body in $body
http() {
	local want=$1 m=$2 p=$3; shift 3
	code=$(curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$URL$p")
	body=$(cat "$T/body")
	[ "$code" = "$want" ] || fail "$m $p: HTTP $code, expected $want: $body"
}
hist() { c history "$A"; rc_is 0; nhist=$(grep -c . <<<"$out"); }
post_u() { http "$1" POST "/u/$2" -d 'List-Unsubscribe=One-Click' -A 'test-agent/1.0'; }

c link unsubscribe "$A" weekly-news --token; tok=$out
c link confirm "$A" offers --token; ctok=$out
hist; before=$nhist
c show "$A"; shown=$out

step="GET changes nothing"
http 200 GET "/u/$tok"
grep -q '<form method="post">' <<<"$body" || fail "no POST form"
grep -q 'name="List-Unsubscribe" value="One-Click"' <<<"$body" || fail "no one-click field"
http 200 HEAD "/u/$tok"
hist; [ "$nhist" = "$before" ] || fail "GET changed the history"
c check "$A" weekly-news; rc_is 0

step="bad tokens: 4xx, index unchanged"
flip() { "$PY" -c 'import sys
t = sys.argv[1]; i = int(sys.argv[2]) % len(t)
a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
print(t[:i] + a[(a.index(t[i]) + 1) % 64] + t[i + 1:])' "$1" "$2"; }
for i in 2 10 30 50 $((${#tok} - 2)); do
	http 400 POST "/u/$(flip "$tok" "$i")" -d 'List-Unsubscribe=One-Click'
done
http 400 POST "/u/${tok:0:40}" -d 'List-Unsubscribe=One-Click'
http 400 POST "/u/" -d 'List-Unsubscribe=One-Click'
http 400 POST "/u/$ctok" -d 'List-Unsubscribe=One-Click'	# a confirm token
http 400 POST "/c/$tok" -d 'confirm=yes'			# an unsubscribe token
# another key: a second database's ring, same key id 0
run -d "$T/other" init; rc_is 0
run -d "$T/other" link unsubscribe "$A" weekly-news --token; rc_is 0
http 400 POST "/u/$out" -d 'List-Unsubscribe=One-Click'
# a key added after consent-web loaded the ring (link new-key, which the
# milter signs with at once): the ring is read again, the link works
c link new-key; rc_is 0
c link unsubscribe rot@example.org weekly-news --token; rc_is 0
http 200 POST "/u/$out" -d 'List-Unsubscribe=One-Click'
c history rot@example.org; rc_is 0; out_has one-click
# a key id that no ring has: 404, nothing recorded
run -d "$T/other" link new-key; rc_is 0
run -d "$T/other" link new-key; rc_is 0
run -d "$T/other" link unsubscribe nokey@example.org weekly-news --token; rc_is 0
http 404 POST "/u/$out" -d 'List-Unsubscribe=One-Click'
c history nokey@example.org; rc_is 1
rm "$DB/link-keys/1.key"
# expired (max_age 730d) and issued in the future
c link unsubscribe "$A" weekly-news --token --at 2020-01-01T00:00:00Z; rc_is 0
http 410 POST "/u/$out" -d 'List-Unsubscribe=One-Click'
c link unsubscribe "$A" weekly-news --token --at 2099-01-01T00:00:00Z; rc_is 0
http 400 POST "/u/$out" -d 'List-Unsubscribe=One-Click'
# wrong body, wrong method, unknown path, too large, too many headers
http 400 POST "/u/$tok" -d 'List-Unsubscribe=Yes'
http 400 POST "/u/$tok"
http 405 PUT "/u/$tok"
http 404 GET "/x/$tok"
http 413 POST "/u/$tok" --data-binary "List-Unsubscribe=One-Click$(head -c 2000 /dev/zero | tr '\0' x)"
hdrs=(); for i in $(seq 70); do hdrs+=(-H "X-H$i: v"); done
http 431 GET "/u/$tok" "${hdrs[@]}"
hist; [ "$nhist" = "$before" ] || fail "a refused request changed the history"
c show "$A"; [ "$out" = "$shown" ] || fail "a refused request changed the records"

step="POST unsubscribes after the commit"
post_u 200 "$tok"
grep -q Unsubscribed <<<"$body" || fail "page"
c check "$A" weekly-news; rc_is 1; out_has withdrawn
c check "$A" customer-updates; rc_is 0
c history "$A"; out_has one-click; out_has 'user-agent="test-agent/1.0"'; out_has token-issued
hist; after=$nhist
[ "$after" = $((before + 1)) ] || fail "expected one new history event ($before -> $after)"

step="replay: 200, no second event"
post_u 200 "$tok"
c link unsubscribe "$A" weekly-news --token; post_u 200 "$out"
hist; [ "$nhist" = "$after" ] || fail "replay added history events"

step="multipart form body"
c link unsubscribe "$A" customer-updates --token
http 200 POST "/u/$out" -F 'List-Unsubscribe=One-Click'
c check "$A" customer-updates; rc_is 1; out_has withdrawn

step="confirm link turns pending into granted"
c check "$A" offers; rc_is 1; out_has unconfirmed
http 200 GET "/c/$ctok"
grep -q 'name="confirm"' <<<"$body" || fail "no confirm form"
c check "$A" offers; rc_is 1; out_has unconfirmed
http 200 POST "/c/$ctok" -d 'confirm=yes'
c check "$A" offers; rc_is 0
http 200 POST "/c/$ctok" -d 'confirm=yes'	# replay
c link confirm "$A" weekly-news --token
http 409 POST "/c/$out" -d 'confirm=yes'	# withdrawn: never resurrected
c check "$A" weekly-news; rc_is 1

step="trusted proxy header"
B=second@example.org
c grant "$B" weekly-news; rc_is 0
c link unsubscribe "$B" weekly-news --token
http 200 POST "/u/$out" -d 'List-Unsubscribe=One-Click' -H 'X-Forwarded-For: 203.0.113.9, 198.51.100.7'
c history "$B"; out_has 'client="198.51.100.7"'

step="concurrent requests: group commit, one event each"
pids=()
for i in $(seq 20); do
	c link unsubscribe "c$i@example.org" customer-updates --token; rc_is 0
	for _ in 1 2 3; do
		curl -s -o /dev/null -w '%{http_code}\n' -d 'List-Unsubscribe=One-Click' \
			"$URL/u/$out" >>"$T/codes" &
		pids+=($!)
	done
done
wait "${pids[@]}"
[ "$(sort "$T/codes" | uniq -c | awk '{print $1 " " $2}')" = "60 200" ] ||
	fail "concurrent POSTs: $(sort "$T/codes" | uniq -c)"
for i in $(seq 20); do
	c history "c$i@example.org"; rc_is 0
	[ "$(grep -c one-click <<<"$out")" = 1 ] || fail "c$i: not exactly one event: $out"
	c check "c$i@example.org" customer-updates; rc_is 1
done

step="stop"
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" -eq 0 ] || fail "consent-web exited with $rc: $(tail -5 "$T/web.log")"
! grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$T/web.log" ||
	fail "sanitizer report: $(cat "$T/web.log")"

echo "consent-web: GET/POST unsubscribe and confirm, bad tokens, replay, limits"
