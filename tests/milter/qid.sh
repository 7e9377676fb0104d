#!/usr/bin/env bash
# Queue id on every decision line (issue 16): Postfix sends the macro "i"
# only from the second RCPT on, so the first recipient's line is held
# until the id is known and then logged with it, in order; a message
# that ends before (abort, close, next MAIL) still logs what it holds,
# and a hold that would grow beyond its bound is logged as it is.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
write_config "$CM_TMP/cm.yaml"
start_milter "$CM_TMP/cm.yaml"

# wait_log ERE: the log gets a line matching ERE (bounded wait: the
# filter logs at close, after the client is gone).
wait_log() {
	local _
	for _ in $(seq 200); do
		grep -qE -- "$1" "$LOG" && return 0
		sleep 0.05
	done
	die "log has no line matching: $1"
}
no_log() {
	grep -qE -- "$1" "$LOG" && die "log has a line matching: $1"
	return 0
}
# line_no ERE: the number of the first log line matching ERE.
line_no() {
	grep -nE -- "$1" "$LOG" | head -n1 | cut -d: -f1
}

W="--mail <weekly@news.example.com>"

# 1. As Postfix: "i" from the second RCPT on; the first line carries it.
out=$(proto $W --rcpt "<alice@example.net>" --then-macro R i QA1 \
	--then-macro T i QA1 --rcpt "<carol@example.net>" \
	--rcpt "<frank@example.net>" --data) || die "mproto failed"
expect_line "$out" 'RCPT <alice@example.net> c'
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
wait_log 'queue_id=QA1 type=weekly-news rcpt=frank@example.net verdict=allow'
expect_log 'queue_id=QA1 type=weekly-news rcpt=alice@example.net verdict=allow reason=none stage=rcpt$'
expect_log 'queue_id=QA1 type=weekly-news rcpt=carol@example.net verdict=deny reason=no-consent stage=rcpt action=reject'
no_log 'queue_id=- .*rcpt=alice@example.net'
a=$(line_no 'rcpt=alice@example.net') c=$(line_no 'rcpt=carol@example.net')
f=$(line_no 'rcpt=frank@example.net')
[ "$a" -lt "$c" ] && [ "$c" -lt "$f" ] || die "lines out of order: $a $c $f"
echo "ok - the first recipient's line carries the queue id sent later, in order"

# 2. The id comes only at DATA: every held line gets it.
out=$(proto $W --rcpt "<dave@example.net>" --rcpt "<erin@example.net>" \
	--then-macro T i QA2 --data) || die "mproto failed"
wait_log 'queue_id=QA2 type=weekly-news rcpt=erin@example.net verdict=deny reason=objection'
expect_log 'queue_id=QA2 type=weekly-news rcpt=dave@example.net verdict=deny reason=withdrawn'
echo "ok - lines held until DATA get the id sent there"

# 3. Aborted before the id came: the held line is logged all the same
# (queue_id=-); then a second message on the same connection.
out=$(proto $W --rcpt "<x@suppressed.example>" --abort \
	--then-macro R i QA3 --then-macro M i QA3 $W \
	--rcpt "<gina@example.net>") || die "mproto failed"
wait_log 'queue_id=QA3 type=weekly-news rcpt=gina@example.net verdict=deny'
expect_log 'queue_id=- type=weekly-news rcpt=x@suppressed.example verdict=deny reason=suppressed stage=rcpt action=reject'
# aborted after the id came: with it
out=$(proto $W --rcpt "<hank@example.net>" --then-macro R i QA4 \
	--rcpt "<ivan@example.net>" --abort) || die "mproto failed"
wait_log 'queue_id=QA4 type=weekly-news rcpt=ivan@example.net'
expect_log 'queue_id=QA4 type=weekly-news rcpt=hank@example.net'
echo "ok - an aborted message logs its held lines"

# 4. The connection closes in the middle of a message (no abort): the
# held line is logged at close; the next MAIL ends one too.
out=$(proto $W --rcpt "<bob@example.net>") || die "mproto failed"
wait_log 'queue_id=- type=weekly-news rcpt=bob@example.net verdict=deny'
out=$(proto $W --rcpt "<broken@example.net>" $W --then-macro R i QA5 \
	--rcpt "<erin@example.net>") || die "mproto failed"
wait_log 'queue_id=QA5 type=weekly-news rcpt=erin@example.net'
expect_log 'queue_id=- type=weekly-news rcpt=broken@example.net verdict=allow'
echo "ok - close and the next MAIL log what a message holds"

# 5. Bounded: 80 recipients before the id (more than the hold takes) are
# all logged once, the first ones as they are, the last with the id.
args=()
for i in $(seq 80); do args+=(--rcpt "<u$i@example.net>"); done
out=$(proto $W "${args[@]}" --then-macro T i QA6 --data) || die "mproto failed"
wait_log 'queue_id=QA6 type=weekly-news rcpt=u80@example.net verdict=deny'
n=$(grep -cE 'rcpt=u[0-9]+@example.net verdict=deny' "$LOG")
[ "$n" = 80 ] || die "want 80 lines, got $n"
expect_log 'queue_id=- type=weekly-news rcpt=u1@example.net verdict=deny'
for i in $(seq 80); do
	[ "$(grep -cE "rcpt=u$i@example.net " "$LOG")" = 1 ] ||
		die "u$i not logged exactly once"
done
[ "$(line_no 'rcpt=u1@')" -lt "$(line_no 'rcpt=u80@')" ] || die "out of order"
echo "ok - a full hold is logged as it is; nothing lost, order kept"

# 6. Lines that fill the hold to its last octet (4096, each with its NUL)
# are all held: the id sent with the next RCPT reaches every one of them.
# Each line is "type=weekly-news rcpt=A verdict=deny reason=no-consent
# stage=rcpt action=reject" (22 + |A| + 56 octets); local parts sized so
# that the lines before the id add up to exactly 4096.
mapfile -t fill < <(python3 -c '
n, total, c = 0, 4096, 22 + len("@example.net") + 56 + 1
while n * (c + 64) < total:
    n += 1
rest = total - n * c
for k in range(n):
    l = rest // (n - k)
    rest -= l
    print(("f%d" % k).ljust(l, "x") + "@example.net")')
args=()
sum=0
for a in "${fill[@]}"; do
	args+=(--rcpt "<$a>")
	sum=$((sum + 22 + ${#a} + 56 + 1))
done
[ "$sum" = 4096 ] || die "the lines add up to $sum, not 4096"
out=$(proto $W "${args[@]}" --then-macro R i QA7 --then-macro T i QA7 \
	--rcpt "<after@example.net>" --data) || die "mproto failed"
wait_log 'queue_id=QA7 type=weekly-news rcpt=after@example.net verdict=deny'
for a in "${fill[@]}"; do
	line=$(grep -E "rcpt=$a " "$LOG") || die "$a not logged"
	[ "$(grep -cE "rcpt=$a " "$LOG")" = 1 ] || die "$a logged twice"
	case $line in
	*"queue_id=QA7 type=weekly-news rcpt=$a verdict=deny reason=no-consent stage=rcpt action=reject") ;;
	*) die "$a: $line" ;;
	esac
done
echo "ok - a hold filled to its last octet keeps every line for the id"

stop_milter
