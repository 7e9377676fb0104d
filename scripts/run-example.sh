#!/bin/sh
# make run: build an example consent index from examples/consents.csv,
# write a copy of examples/consent-milter.yaml that uses it, print the
# Postfix main.cf lines, and run the milter in the foreground (Ctrl-C or
# SIGTERM stops it; SIGUSR1 reloads the copied configuration).
#
# Environment: BUILD (build directory, default build).  Everything this
# writes lives in $BUILD/example/.
set -eu

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$SRCDIR/$BUILD ;; esac
MILTER=$BUILD/consent-milter
CTL=$BUILD/consentctl
RUN=$BUILD/example
CFG=$RUN/consent-milter.yaml
DB=$RUN/lib
SPOOL=$RUN/spool
CSV=$SRCDIR/examples/consents.csv

[ -x "$MILTER" ] || { echo "run-example: $MILTER is not built (run make)" >&2; exit 1; }

rm -rf "$DB" "$SPOOL"
mkdir -p "$RUN"
chmod 0750 "$RUN"
mkdir -m 0700 "$DB" "$SPOOL" "$SPOOL/dsn"

# The example configuration, with its state under $RUN (index, decision
# log and key in $DB, DSN spool in $SPOOL) and DSNs submitted to port
# 10025 (nothing listens there by default: they wait in the spool).
sed -e "s|/var/lib/consent-milter|$DB|g" \
    -e "s|/var/spool/consent-milter|$SPOOL|g" \
    -e "s|\"inet:25@127.0.0.1\"|\"inet:10025@127.0.0.1\"|" \
    "$SRCDIR/examples/consent-milter.yaml" > "$CFG"
chmod 0640 "$CFG"

if [ -x "$CTL" ]; then
	"$CTL" -c "$CFG" init >/dev/null 2>&1 || true
	"$CTL" -c "$CFG" import "$CSV"
else
	# consentctl not built: seed the same records with the test tool.
	echo "run-example: $CTL not built; seeding with tests/milter/seed.c" >&2
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE -O1 -I"$SRCDIR" -o "$RUN/seed" \
		"$SRCDIR/tests/milter/seed.c" "$BUILD/libcmcore.a" \
		$(pkg-config --libs lmdb libidn2 libcrypto) -lunistring -pthread
	awk -F, 'NR > 1 {
		if ($3 == "suppressed") { d = $1; sub(/^@/, "", d); print "suppress", d }
		else if ($2 == "*") print "object", $1
		else if ($3 == "granted") print "grant", $1, $2
		else if ($3 == "pending") print "pending", $1, $2
		else if ($3 == "confirmed") { print "pending", $1, $2; print "confirm", $1, $2 }
		else if ($3 == "withdrawn") print "withdraw", $1, $2
	}' "$CSV" | "$RUN/seed" "$DB"
fi

"$MILTER" -n -c "$CFG"
sock=$(sed -n 's/^  socket: *"inet:\([0-9]*\)@\([^"]*\)".*/\2:\1/p' "$CFG")
cat <<EOT

Postfix main.cf lines for this milter:

    smtpd_milters = inet:${sock:-127.0.0.1:8891}
    non_smtpd_milters = inet:${sock:-127.0.0.1:8891}
    milter_default_action = tempfail
    milter_protocol = 6

(non_smtpd_milters: mail from sendmail(1) is recognised and decided at
end of data: unconsented recipients removed, a DSN sent, never refused at
RCPT.)  Configuration: $CFG
Index: $DB ($(($(grep -c . "$CSV") - 1)) rows of examples/consents.csv)
Try:  consentctl -c $CFG check bob@example.net offers
Reload: kill -USR1 <pid>    Stop: Ctrl-C

EOT
exec "$MILTER" -f -c "$CFG"
