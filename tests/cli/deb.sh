#!/usr/bin/env bash
# The Debian package: the version is the same in VERSION, debian/changelog
# and both programs; `dpkg-buildpackage -us -uc -b` builds it from a copy
# of the tree; lintian reports no errors; it ships the expected files;
# `dpkg -i` creates the account, the directories and an empty index, and
# the installed programs work on the installed configuration (which
# enforces nothing); `dpkg -r` keeps the data; `dpkg --purge` leaves
# nothing behind.
#
# Needs root, dpkg-buildpackage, debhelper and lintian (make deps installs
# them); skipped (77) without them, and on a machine where consent-milter
# is installed or its account or directories exist already (the purge at
# the end would remove them).  No service is started (policy-rc.d).
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
CM_TMP=${CM_TMP:-$(mktemp -d)}
fail=0
err() { echo "deb.sh: $*" >&2; fail=1; }
skip() { echo "deb.sh: skipped: $*" >&2; exit 77; }

# 1. One version everywhere.
version=$(cat "$SRCDIR/VERSION")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || err "VERSION '$version' is not N.N.N"
chver=$(sed -n '1s/^consent-milter (\([^)]*\)).*/\1/p' "$SRCDIR/debian/changelog")
[ "$chver" = "$version" ] || err "debian/changelog says '$chver', VERSION says '$version'"
if [ -x "$BUILD/consent-milter" ]; then
	out=$("$BUILD/consent-milter" -V)
	[ "$out" = "consent-milter $version" ] || err "consent-milter -V: '$out'"
fi
if [ -x "$BUILD/consentctl" ]; then
	out=$("$BUILD/consentctl" --version)
	[ "$out" = "consentctl $version" ] || err "consentctl --version: '$out'"
fi

# The package is built from the sources with its own flags: once per
# suite is enough, not again under SANITIZE=1.
if [ "${SANITIZE:-}" = 1 ] || [[ $BUILD == */san ]]; then
	[ $fail -eq 0 ] && echo "deb: versions agree; the package itself is tested by the plain suite"
	exit $fail
fi
[ "$(id -u)" -eq 0 ] || skip "not root"
for t in dpkg-buildpackage dh lintian; do
	command -v $t >/dev/null || skip "no $t (make deps installs it)"
done
st=$(dpkg-query -W -f='${Status}' consent-milter 2>/dev/null || true)
case $st in *not-installed | "") ;; *) skip "package consent-milter is on this machine ($st)" ;; esac
getent passwd consent-milter >/dev/null && skip "user consent-milter exists"
getent group consent-milter >/dev/null && skip "group consent-milter exists"
for d in /etc/consent-milter /var/lib/consent-milter /var/spool/consent-milter /usr/sbin/consent-milter; do
	[ -e "$d" ] && skip "$d exists"
done

# 2. Build from a copy (dpkg-buildpackage writes into the parent
#    directory and cleans the tree).  The unit tests run in the suite.
src=$CM_TMP/pkg/consent-milter
mkdir -p "$src"
tar -C "$SRCDIR" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
(cd "$src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >"$CM_TMP/build.log" 2>&1 ||
	{ tail -40 "$CM_TMP/build.log" >&2; err "dpkg-buildpackage failed"; exit 1; }
deb=$CM_TMP/pkg/consent-milter_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || { err "no $deb"; ls "$CM_TMP/pkg" >&2; exit 1; }
grep -q -- '-Werror ' "$CM_TMP/build.log" && err "the package build compiles with -Werror"
grep -q -- '-D_FORTIFY_SOURCE=2 .*-ffile-prefix-map' "$CM_TMP/build.log" ||
	err "the package build does not use dpkg-buildflags' CPPFLAGS and CFLAGS"
grep -q -- '-Wl,-z,relro' "$CM_TMP/build.log" || err "no dpkg-buildflags LDFLAGS in the link"

# 3. lintian: no errors.
lintian "${deb%.deb}.changes" >"$CM_TMP/lintian.log" 2>&1
if grep -q '^E: ' "$CM_TMP/lintian.log"; then
	err "lintian errors:
$(grep '^E: ' "$CM_TMP/lintian.log")"
fi

# 4. The files.
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$CM_TMP/files"
for f in /usr/sbin/consent-milter /usr/sbin/consentctl /usr/sbin/consent-web \
	/usr/share/man/man8/consent-web.8.gz /lib/systemd/system/consent-web.service \
	/usr/sbin/consent-policy /usr/share/man/man8/consent-policy.8.gz \
	/lib/systemd/system/consent-policy.service /lib/systemd/system/consent-sync.service \
	/usr/share/man/man8/consent-milter.8.gz /usr/share/man/man8/consentctl.8.gz \
	/usr/share/man/man5/consent-milter.yaml.5.gz \
	/lib/systemd/system/consent-milter.service \
	/usr/lib/sysusers.d/consent-milter.conf /usr/lib/tmpfiles.d/consent-milter.conf \
	/etc/consent-milter/consent-milter.yaml \
	/usr/share/doc/consent-milter/copyright \
	/usr/share/doc/consent-milter/examples/consent-milter.yaml; do
	grep -qxF "$f" "$CM_TMP/files" || err "the package lacks $f"
done
grep -qE '^/usr/share/doc/consent-milter/README\.md(\.gz)?$' "$CM_TMP/files" || err "the package lacks the README"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/consent-milter/consent-milter.yaml ||
	err "/etc/consent-milter/consent-milter.yaml is not a conffile"

# 5. Install, without starting anything.
policy=/usr/sbin/policy-rc.d
made_policy=
installed=
cleanup() {
	[ -n "$installed" ] && dpkg --purge consent-milter >/dev/null 2>&1
	[ -n "$made_policy" ] && rm -f "$policy"
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
fi
installed=1
dpkg -i "$deb" >"$CM_TMP/install.log" 2>&1 || { cat "$CM_TMP/install.log" >&2; err "dpkg -i failed"; exit 1; }

getent passwd consent-milter >/dev/null || err "no user consent-milter after install"
[ -e /etc/systemd/system/multi-user.target.wants/consent-web.service ] &&
	err "dpkg -i enabled consent-web (it needs a links: section first)"
[ -e /etc/systemd/system/multi-user.target.wants/consent-policy.service ] &&
	err "dpkg -i enabled consent-policy (it needs a policy: section first)"
[ -e /etc/systemd/system/multi-user.target.wants/consent-sync.service ] &&
	err "dpkg -i enabled consent-sync (it needs an upstream: section first)"
for d in /var/lib/consent-milter /var/spool/consent-milter /run/consent-milter; do
	[ "$(stat -c %U:%G "$d" 2>/dev/null)" = consent-milter:consent-milter ] ||
		err "$d is not a directory of consent-milter"
done
[ "$(stat -c %U "/var/lib/consent-milter/data.mdb" 2>/dev/null)" = consent-milter ] ||
	err "no index owned by consent-milter in /var/lib/consent-milter"
conf=/etc/consent-milter/consent-milter.yaml
out=$(/usr/sbin/consent-milter -n -c "$conf" 2>&1)
[ "$out" = "$conf: OK (mode enforce, 0 newsletter types, index /var/lib/consent-milter)" ] ||
	err "consent-milter -n on the installed configuration: $out"
[ "$(/usr/sbin/consent-milter -V)" = "consent-milter $version" ] || err "installed consent-milter -V"
[ "$(/usr/sbin/consentctl --version)" = "consentctl $version" ] || err "installed consentctl --version"
# The safe defaults: its own user, a unix socket in /run/consent-milter,
# no DSN, no example types.
grep -qx '  socket: "unix:/run/consent-milter/milter.sock"' "$conf" || err "installed socket is not in /run/consent-milter"
grep -qx '  user: consent-milter' "$conf" || err "installed configuration does not name its user"
grep -q '^dsn:' "$conf" && err "installed configuration sends DSNs"
grep -v '^ *#' "$conf" | grep -q 'example' && err "installed configuration names example domains"
# consentctl on the installed paths (default configuration, default index).
/usr/sbin/consentctl types >"$CM_TMP/types" 2>&1 || err "consentctl types: $(cat "$CM_TMP/types")"
/usr/sbin/consentctl suppress-domain spam.invalid >"$CM_TMP/sup" 2>&1 || err "consentctl suppress-domain: $(cat "$CM_TMP/sup")"
/usr/sbin/consentctl domains 2>&1 | grep -q spam.invalid || err "consentctl domains does not list spam.invalid"
/usr/sbin/consentctl stats >"$CM_TMP/stats" 2>&1 || err "consentctl stats: $(cat "$CM_TMP/stats")"
grep -q '^index: *\/var\/lib\/consent-milter$' "$CM_TMP/stats" || err "consentctl stats: not the installed index"
# Files consentctl made as root belong to the daemon's user.
bad=$(find /var/lib/consent-milter ! -user consent-milter)
[ -z "$bad" ] || err "not owned by consent-milter: $bad"

# 6. Remove keeps the data and the account; purge removes everything.
dpkg -r consent-milter >"$CM_TMP/remove.log" 2>&1 || { cat "$CM_TMP/remove.log" >&2; err "dpkg -r failed"; }
[ -e /usr/sbin/consent-milter ] && err "dpkg -r left /usr/sbin/consent-milter"
[ -f /var/lib/consent-milter/data.mdb ] || err "dpkg -r removed the consent index"
getent passwd consent-milter >/dev/null || err "dpkg -r removed the user"
dpkg --purge consent-milter >"$CM_TMP/purge.log" 2>&1 || { cat "$CM_TMP/purge.log" >&2; err "dpkg --purge failed"; }
installed=
for p in /etc/consent-milter /var/lib/consent-milter /var/spool/consent-milter /run/consent-milter \
	/lib/systemd/system/consent-milter.service /lib/systemd/system/consent-web.service \
	/usr/sbin/consent-web /usr/lib/sysusers.d/consent-milter.conf \
	/usr/sbin/consent-policy /lib/systemd/system/consent-policy.service \
	/lib/systemd/system/consent-sync.service \
	/usr/lib/tmpfiles.d/consent-milter.conf /usr/share/doc/consent-milter \
	/etc/systemd/system/multi-user.target.wants/consent-milter.service; do
	[ -e "$p" ] && err "purge left $p"
done
getent passwd consent-milter >/dev/null && err "purge left the user consent-milter"
getent group consent-milter >/dev/null && err "purge left the group consent-milter"
dpkg-query -W consent-milter >/dev/null 2>&1 && err "dpkg still knows consent-milter after purge"

[ $fail -eq 0 ] && echo "deb: consent-milter $version built, lintian $(grep -c '^[EW]: ' "$CM_TMP/lintian.log") warnings/errors ($(grep -c '^E: ' "$CM_TMP/lintian.log") errors), installed, used, purged"
exit $fail
