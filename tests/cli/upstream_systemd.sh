#!/usr/bin/env bash
# consent-sync.service: passes `systemd-analyze verify` without a message,
# `systemd-analyze security --offline=yes` rates it 2.0 or lower (as
# tests/cli/systemd.sh does for the milter's unit), and it runs
# `consentctl sync --follow` as consent-milter with the index writable.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
CM_TMP=${CM_TMP:-$(mktemp -d)}
UNIT=$SRCDIR/systemd/consent-sync.service
MAX_EXPOSURE=2.0
fail=0
err() { echo "upstream_systemd.sh: $*" >&2; fail=1; }

command -v systemd-analyze >/dev/null || { echo "no systemd-analyze" >&2; exit 77; }
[ -f "$UNIT" ] || { err "missing $UNIT"; exit 1; }
need() { grep -qxF -- "$1" "$UNIT" || err "unit lacks: $1"; }
need "ExecStart=/usr/sbin/consentctl -c /etc/consent-milter/consent-milter.yaml sync --follow"
need "User=consent-milter"
need "Group=consent-milter"
need "StateDirectory=consent-milter"
need "KillSignal=SIGTERM"
need "ProtectSystem=strict"
need "NoNewPrivileges=yes"
need "CapabilityBoundingSet="
need "SystemCallFilter=@system-service"

mkdir -p "$CM_TMP/verify" "$CM_TMP/man/man5" "$CM_TMP/man/man8"
cp "$SRCDIR"/man/*.5 "$CM_TMP/man/man5/" 2>/dev/null
cp "$SRCDIR"/man/*.8 "$CM_TMP/man/man8/" 2>/dev/null
bin=$BUILD/consentctl
if [ ! -x "$bin" ]; then
	bin=$CM_TMP/consentctl
	printf '#!/bin/sh\nexit 0\n' >"$bin"
	chmod 755 "$bin"
fi
sed "s|/usr/sbin/consentctl|$bin|g" "$UNIT" >"$CM_TMP/verify/consent-sync.service"
out=$(cd "$CM_TMP/verify" && MANPATH=$CM_TMP/man SYSTEMD_LOG_COLOR=0 \
	systemd-analyze verify "$CM_TMP/verify/consent-sync.service" 2>&1)
rc=$?
[ $rc -eq 0 ] || err "systemd-analyze verify exit $rc"
[ -z "$out" ] || err "systemd-analyze verify is not clean:
$out"
[ $rc -eq 0 ] && [ -z "$out" ] && echo "systemd-analyze verify: clean"

sec=$(cd "$SRCDIR/systemd" && systemd-analyze security --offline=yes --no-pager \
	consent-sync.service 2>&1)
fig=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for consent-sync.service: \([0-9.]*\).*/\1/p')
if [ -z "$fig" ]; then
	err "systemd-analyze security printed no exposure:
$sec"
else
	echo "systemd-analyze security --offline=yes: exposure $fig (limit $MAX_EXPOSURE)"
	awk -v a="$fig" -v b="$MAX_EXPOSURE" 'BEGIN { exit !(a > b) }' &&
		err "exposure $fig is above $MAX_EXPOSURE"
fi
exit $fail
