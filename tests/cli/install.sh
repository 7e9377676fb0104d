#!/usr/bin/env bash
# make install / uninstall into a DESTDIR: the exact file list and modes,
# paths rewritten for PREFIX/SYSCONFDIR, an edited configuration survives
# a second install and uninstall, and a program that is not built makes
# install fail with a clear message.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
CM_TMP=${CM_TMP:-$(mktemp -d)}
fail=0
err() { echo "install.sh: $*" >&2; fail=1; }

# A sub-make independent of the make that runs the tests.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory "$@"; }

progs=
ls "$SRCDIR"/milter/*.c >/dev/null 2>&1 && progs="$progs consent-milter"
ls "$SRCDIR"/consentctl/*.c >/dev/null 2>&1 && progs="$progs consentctl"
ls "$SRCDIR"/web/*.c >/dev/null 2>&1 && progs="$progs consent-web"
ls "$SRCDIR"/policyd/*.c >/dev/null 2>&1 && progs="$progs consent-policy"
for p in $progs; do
	[ -x "$BUILD/$p" ] || { err "$BUILD/$p not built (run make first)"; exit 1; }
done

# FILE MODE lines of everything under a root (files only).
listing() { (cd "$1" && find . -type f -printf '%P %m\n' | LC_ALL=C sort); }

expected() {	# PREFIX SYSCONFDIR (without leading /)
	{
		for p in $progs; do echo "$1/sbin/$p 755"; done
		echo "$1/share/man/man5/consent-milter.yaml.5 644"
		echo "$1/share/man/man8/consent-milter.8 644"
		echo "$1/share/man/man8/consentctl.8 644"
		[ -f "$SRCDIR/man/consent-web.8" ] && echo "$1/share/man/man8/consent-web.8 644"
		echo "$1/lib/systemd/system/consent-milter.service 644"
		[ -f "$SRCDIR/systemd/consent-web.service" ] &&
			echo "$1/lib/systemd/system/consent-web.service 644"
		[ -f "$SRCDIR/man/consent-policy.8" ] && echo "$1/share/man/man8/consent-policy.8 644"
		[ -f "$SRCDIR/systemd/consent-policy.service" ] &&
			echo "$1/lib/systemd/system/consent-policy.service 644"
		[ -f "$SRCDIR/systemd/consent-sync.service" ] &&
			echo "$1/lib/systemd/system/consent-sync.service 644"
		echo "$1/lib/sysusers.d/consent-milter.conf 644"
		echo "$1/lib/tmpfiles.d/consent-milter.conf 644"
		echo "$2/consent-milter/consent-milter.yaml 644"
	} | LC_ALL=C sort
}

# 1. Debian layout.
root=$CM_TMP/root
args=(-C "$SRCDIR" DESTDIR="$root" PREFIX=/usr SYSCONFDIR=/etc BUILD="$BUILD")
mk "${args[@]}" install >"$CM_TMP/install.log" 2>&1 || { cat "$CM_TMP/install.log" >&2; err "make install failed"; exit 1; }
diff <(expected usr etc) <(listing "$root") >"$CM_TMP/diff" ||
	err "installed files differ from the expected list (- expected, + installed):
$(cat "$CM_TMP/diff")"
for p in $progs; do
	cmp -s "$BUILD/$p" "$root/usr/sbin/$p" || err "/usr/sbin/$p is not $BUILD/$p"
done
for m in consent-milter.8 consentctl.8; do
	cmp -s "$SRCDIR/man/$m" "$root/usr/share/man/man8/$m" || err "man8/$m differs from the source"
done
cmp -s "$SRCDIR/systemd/consent-milter.service" "$root/usr/lib/systemd/system/consent-milter.service" ||
	err "with PREFIX=/usr the unit must be installed unchanged"
cmp -s "$SRCDIR/etc/consent-milter.yaml" "$root/etc/consent-milter/consent-milter.yaml" ||
	err "installed configuration is not etc/consent-milter.yaml"

# The installed unit runs the installed daemon and names installed man
# pages: verify it with its paths moved under the DESTDIR.
if command -v systemd-analyze >/dev/null && [ -x "$root/usr/sbin/consent-milter" ]; then
	mkdir -p "$CM_TMP/unit"
	sed "s|/usr/sbin/consent-milter|$root/usr/sbin/consent-milter|g" \
		"$root/usr/lib/systemd/system/consent-milter.service" >"$CM_TMP/unit/consent-milter.service"
	out=$(cd "$CM_TMP/unit" && MANPATH=$root/usr/share/man systemd-analyze verify \
		"$CM_TMP/unit/consent-milter.service" 2>&1) && [ -z "$out" ] ||
		err "installed unit does not verify against the installed files:
$out"
fi

# 2. A second install keeps an edited configuration, restores the rest.
conf=$root/etc/consent-milter/consent-milter.yaml
echo "# edited by the administrator" >>"$conf"
cp "$conf" "$CM_TMP/edited.yaml"
rm -f "$root/usr/share/man/man8/consentctl.8"
mk "${args[@]}" install >"$CM_TMP/install2.log" 2>&1 || { cat "$CM_TMP/install2.log" >&2; err "second make install failed"; }
cmp -s "$conf" "$CM_TMP/edited.yaml" || err "second install overwrote the edited configuration"
grep -q "keeping existing" "$CM_TMP/install2.log" || err "second install did not say it kept the configuration"
[ -f "$root/usr/share/man/man8/consentctl.8" ] || err "second install did not restore consentctl.8"

# 3. uninstall removes everything but the edited configuration.
mk "${args[@]}" uninstall >"$CM_TMP/uninstall.log" 2>&1 || { cat "$CM_TMP/uninstall.log" >&2; err "make uninstall failed"; }
left=$(listing "$root")
[ "$left" = "etc/consent-milter/consent-milter.yaml 644" ] || err "after uninstall, left: $left"
cmp -s "$conf" "$CM_TMP/edited.yaml" || err "uninstall changed the edited configuration"
grep -q "keeping modified" "$CM_TMP/uninstall.log" || err "uninstall did not say it kept the configuration"

# 4. An unmodified configuration goes with uninstall, and its directory.
root2=$CM_TMP/root2
mk -C "$SRCDIR" DESTDIR="$root2" PREFIX=/usr SYSCONFDIR=/etc BUILD="$BUILD" install >/dev/null 2>&1 &&
	mk -C "$SRCDIR" DESTDIR="$root2" PREFIX=/usr SYSCONFDIR=/etc BUILD="$BUILD" uninstall >/dev/null 2>&1 ||
	err "install/uninstall into $root2 failed"
[ -z "$(listing "$root2")" ] || err "uninstall left: $(listing "$root2")"
[ -e "$root2/etc/consent-milter" ] && err "uninstall left an empty /etc/consent-milter"

# 5. The default PREFIX (/usr/local) with SYSCONFDIR below it: the unit
#    points at the installed daemon and configuration.
root3=$CM_TMP/root3
mk -C "$SRCDIR" DESTDIR="$root3" SYSCONFDIR=/usr/local/etc BUILD="$BUILD" install >"$CM_TMP/install3.log" 2>&1 ||
	{ cat "$CM_TMP/install3.log" >&2; err "make install with the default PREFIX failed"; }
diff <(expected usr/local usr/local/etc) <(listing "$root3") >"$CM_TMP/diff3" ||
	err "default PREFIX: installed files differ:
$(cat "$CM_TMP/diff3")"
unit3=$root3/usr/local/lib/systemd/system/consent-milter.service
for l in "ExecStartPre=/usr/local/sbin/consent-milter -n -c /usr/local/etc/consent-milter/consent-milter.yaml" \
	"ExecStart=/usr/local/sbin/consent-milter -f -c /usr/local/etc/consent-milter/consent-milter.yaml"; do
	grep -qxF "$l" "$unit3" 2>/dev/null || err "default PREFIX: unit lacks '$l'"
done
grep -qE '(^|[ =])(/usr/sbin/consent-milter|/etc/consent-milter/)' "$unit3" && err "default PREFIX: unit still names /usr/sbin or /etc"

# 6. A program whose sources exist but is not built: install fails clearly
#    and installs nothing.
src=$CM_TMP/src
mkdir -p "$src/milter"
cp -r "$SRCDIR/Makefile" "$SRCDIR/VERSION" "$SRCDIR/man" "$SRCDIR/systemd" "$SRCDIR/etc" "$src/"
echo 'int main(void) { return 0; }' >"$src/milter/main.c"
mkdir -p "$CM_TMP/empty-build"
if mk -C "$src" DESTDIR="$CM_TMP/root4" PREFIX=/usr BUILD="$CM_TMP/empty-build" install >"$CM_TMP/install4.log" 2>&1; then
	err "install succeeded although consent-milter is not built"
else
	grep -q "consent-milter is not built; run 'make' first" "$CM_TMP/install4.log" ||
		err "no clear message for a missing program: $(cat "$CM_TMP/install4.log")"
	[ -e "$CM_TMP/root4" ] && err "a failed install left files behind"
fi
# ... and once built, it is installed, mode 0755.
printf '#!/bin/sh\nexit 0\n' >"$CM_TMP/empty-build/consent-milter"
chmod 700 "$CM_TMP/empty-build/consent-milter"
mk -C "$src" DESTDIR="$CM_TMP/root4" PREFIX=/usr BUILD="$CM_TMP/empty-build" install >"$CM_TMP/install5.log" 2>&1 ||
	err "install of a built program failed: $(cat "$CM_TMP/install5.log")"
[ "$(stat -c %a "$CM_TMP/root4/usr/sbin/consent-milter" 2>/dev/null)" = 755 ] ||
	err "built program not installed as /usr/sbin/consent-milter 0755"

[ $fail -eq 0 ] && echo "make install/uninstall: programs:${progs:- none yet}; files, modes and config handling as expected"
exit $fail
