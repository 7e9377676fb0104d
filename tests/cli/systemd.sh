#!/usr/bin/env bash
# systemd files: the unit passes `systemd-analyze verify` without a single
# message, `systemd-analyze security --offline=yes` rates it 2.0 or lower,
# and the sysusers.d and tmpfiles.d files create the account and the
# directories the unit and the man pages name.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
CM_TMP=${CM_TMP:-$(mktemp -d)}
UNIT=$SRCDIR/systemd/consent-milter.service
SYSUSERS=$SRCDIR/systemd/consent-milter.sysusers
TMPFILES=$SRCDIR/systemd/consent-milter.tmpfiles
MAX_EXPOSURE=2.0
fail=0
err() { echo "systemd.sh: $*" >&2; fail=1; }

command -v systemd-analyze >/dev/null || { echo "systemd.sh: no systemd-analyze" >&2; exit 77; }
for f in "$UNIT" "$SYSUSERS" "$TMPFILES"; do
	[ -f "$f" ] || { err "missing $f"; exit 1; }
done

# The interface other parts rely on.
need() { grep -qxF -- "$1" "$UNIT" || err "unit lacks: $1"; }
need "Type=notify"
need "User=consent-milter"
need "Group=consent-milter"
need "ExecStartPre=/usr/sbin/consent-milter -n -c /etc/consent-milter/consent-milter.yaml"
need "ExecStart=/usr/sbin/consent-milter -f -c /etc/consent-milter/consent-milter.yaml"
need 'ExecReload=/bin/kill -USR1 $MAINPID'
need "StateDirectory=consent-milter"
need "RuntimeDirectory=consent-milter"
need "ProtectSystem=strict"
need "NoNewPrivileges=yes"
need "MemoryDenyWriteExecute=yes"
need "CapabilityBoundingSet="
need "SystemCallFilter=@system-service"
grep -q '^ExecReload=.*HUP' "$UNIT" && err "SIGHUP stops a libmilter daemon; reload is SIGUSR1"

# verify: the Exec paths must exist, so check a copy whose daemon path is
# the built program (or, before the daemon is built, a stand-in), and
# whose Documentation= pages are found in this tree's man/.
mkdir -p "$CM_TMP/verify" "$CM_TMP/man/man5" "$CM_TMP/man/man8"
cp "$SRCDIR"/man/*.5 "$CM_TMP/man/man5/" 2>/dev/null
cp "$SRCDIR"/man/*.8 "$CM_TMP/man/man8/" 2>/dev/null
bin=$BUILD/consent-milter
if [ ! -x "$bin" ]; then
	bin=$CM_TMP/consent-milter
	printf '#!/bin/sh\nexit 0\n' >"$bin"
	chmod 755 "$bin"
	echo "systemd.sh: $BUILD/consent-milter not built; verifying with a stand-in"
fi
sed "s|/usr/sbin/consent-milter|$bin|g" "$UNIT" >"$CM_TMP/verify/consent-milter.service"
out=$(cd "$CM_TMP/verify" && MANPATH=$CM_TMP/man SYSTEMD_LOG_COLOR=0 \
	systemd-analyze verify "$CM_TMP/verify/consent-milter.service" 2>&1)
rc=$?
[ $rc -eq 0 ] || err "systemd-analyze verify exit $rc"
[ -z "$out" ] || err "systemd-analyze verify is not clean:
$out"
[ $rc -eq 0 ] && [ -z "$out" ] && echo "systemd-analyze verify: clean"

# security: the overall exposure of the unit file as installed.
sec=$(cd "$SRCDIR/systemd" && systemd-analyze security --offline=yes --no-pager \
	consent-milter.service 2>&1)
rc=$?
fig=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for consent-milter.service: \([0-9.]*\).*/\1/p')
if [ -z "$fig" ]; then
	err "systemd-analyze security printed no exposure (exit $rc):
$sec"
else
	echo "systemd-analyze security --offline=yes: exposure $fig (limit $MAX_EXPOSURE)"
	if awk -v a="$fig" -v b="$MAX_EXPOSURE" 'BEGIN { exit !(a > b) }'; then
		err "exposure $fig is above $MAX_EXPOSURE:"
		printf '%s\n' "$sec" | grep '✗' >&2
	fi
fi

# sysusers.d and tmpfiles.d, applied to an empty root.
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	root=$CM_TMP/root
	mkdir -p "$root/etc"
	systemd-sysusers --root="$root" "$SYSUSERS" >"$CM_TMP/sysusers.log" 2>&1 ||
		err "systemd-sysusers failed: $(cat "$CM_TMP/sysusers.log")"
	uid=$(awk -F: '$1 == "consent-milter" { print $3 }' "$root/etc/passwd" 2>/dev/null)
	gid=$(awk -F: '$1 == "consent-milter" { print $3 }' "$root/etc/group" 2>/dev/null)
	shell=$(awk -F: '$1 == "consent-milter" { print $7 }' "$root/etc/passwd" 2>/dev/null)
	if [ -z "$uid" ] || [ -z "$gid" ]; then
		err "sysusers did not create user and group consent-milter"
	else
		[ "$uid" -lt 1000 ] || err "consent-milter uid $uid is not a system uid"
		[ "$shell" = /usr/sbin/nologin ] || err "consent-milter shell is $shell"
		systemd-tmpfiles --root="$root" --create "$TMPFILES" >"$CM_TMP/tmpfiles.log" 2>&1 ||
			err "systemd-tmpfiles failed: $(cat "$CM_TMP/tmpfiles.log")"
		for d in "run/consent-milter 755" "var/lib/consent-milter 750" "var/spool/consent-milter 750"; do
			set -- $d
			st=$(stat -c '%a %u %g' "$root/$1" 2>/dev/null)
			[ "$st" = "$2 $uid $gid" ] || err "/$1: got '$st', want '$2 $uid $gid'"
		done
		[ $fail -eq 0 ] && echo "sysusers.d and tmpfiles.d: user $uid:$gid, directories as expected"
	fi
else
	echo "systemd.sh: systemd-sysusers/systemd-tmpfiles absent; not applied"
fi

# Every file or directory the example configuration makes the daemon
# write (index, decision log, keys, DSN spool, unix socket) is writable
# under the unit: below StateDirectory, RuntimeDirectory or a
# ReadWritePaths entry.
writable=$(sed -nE 's|^StateDirectory=(.*)|/var/lib/\1|p; s|^RuntimeDirectory=(.*)|/run/\1|p;
	s|^ReadWritePaths=-?(.*)|\1|p' "$UNIT")
paths=$(/usr/bin/python3 - "$SRCDIR/examples/consent-milter.yaml" <<'EOF'
import re, sys
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r'^\s*(path|spool|key_file|socket):\s*"?([^"#\s]+)', line)
    if not m:
        continue
    v = m.group(2)
    if m.group(1) == "socket":
        if not v.startswith("unix:"):
            continue
        v = v[5:]
    print(v)
EOF
)
[ -n "$paths" ] || err "no paths found in the example configuration"
for p in $paths; do
	ok=
	for w in $writable; do
		case "$p/" in "$w"/*) ok=1 ;; esac
	done
	[ -n "$ok" ] || err "example path $p is not writable under the unit (writable: $(echo $writable))"
done
[ $fail -eq 0 ] && echo "example paths writable under the unit: $(echo $paths)"

exit $fail
