#!/usr/bin/env bash
# Man pages: render without a single groff warning, parse for whatis, and
# document every configuration key, every consentctl command, the exit
# codes and signals.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CM_TMP=${CM_TMP:-$(mktemp -d)}
MAN=$SRCDIR/man
PAGES="consent-milter.8 consentctl.8 consent-milter.yaml.5 $( [ -f "$MAN/consent-web.8" ] && echo consent-web.8) \
	$( [ -f "$MAN/consent-policy.8" ] && echo consent-policy.8)"
fail=0
err() { echo "man.sh: $*" >&2; fail=1; }

command -v groff >/dev/null || { echo "man.sh: groff not installed" >&2; exit 77; }

# Plain text of a page: no overstriking, no hyphenation, long lines.
text() { groff -man -Tascii -P-cbou -rLL=250n -rHY=0 "$MAN/$1" 2>/dev/null; }

for p in $PAGES; do
	f=$MAN/$p
	[ -f "$f" ] || { err "$p: missing"; continue; }

	# groff -ww -z prints nothing at all for a clean page.
	out=$(groff -ww -z -man "$f" 2>&1)
	rc=$?
	[ $rc -eq 0 ] || err "$p: groff exit $rc"
	[ -z "$out" ] || err "$p: groff warnings:
$out"

	# man -l: renders, no warnings, at a narrow and a wide width.
	if command -v man >/dev/null; then
		for w in 66 80 132; do
			MANWIDTH=$w MAN_KEEP_FORMATTING=0 man --warnings=w -l "$f" \
			    >"$CM_TMP/out" 2>"$CM_TMP/err" </dev/null
			rc=$?
			[ $rc -eq 0 ] || err "$p: man -l exit $rc (width $w)"
			[ -s "$CM_TMP/err" ] && err "$p: man -l width $w: $(cat "$CM_TMP/err")"
			[ "$(wc -l <"$CM_TMP/out")" -gt 20 ] || err "$p: man -l output too short"
		done
	fi
	if command -v lexgrog >/dev/null; then
		lexgrog "$f" >/dev/null 2>&1 || err "$p: lexgrog cannot parse NAME"
	fi

	# Every page: the sections an administrator looks for.
	t=$(text "$p")
	sects="NAME SYNOPSIS DESCRIPTION FILES EXAMPLES SEE_ALSO"
	case $p in *.8) sects="$sects EXIT_STATUS" ;; esac
	for s in $sects; do
		s=${s/_/ }
		grep -q "^$s" <<<"$t" || err "$p: no section $s"
	done
	# No roff left in the text: a request that was not understood shows up
	# as a line starting with a dot or a macro name in the output.
	grep -nE '^ *\.(B|I|BR|IR|RB|BI|TP|PP|IP|SH|SS|RS|RE|EX|EE)( |$)' <<<"$t" &&
		err "$p: roff request in the rendered text"
done

# mandoc (if installed): no error-level finding, and a .TH date it
# parses (YYYY-MM-DD or "Month DD, YYYY"; "November 2026" is not one).
if command -v mandoc >/dev/null; then
	for p in $PAGES; do
		out=$(mandoc -Tlint -Werror "$MAN/$p" 2>&1)
		[ -z "$out" ] || err "$p: mandoc -Tlint errors:
$out"
		out=$(mandoc -Tlint -Wwarning "$MAN/$p" 2>&1 | grep 'cannot parse date')
		[ -z "$out" ] || err "$p: $out"
	done
else
	echo "man.sh: mandoc not installed, its lint skipped" >&2
fi

# consent-milter.yaml(5): every key of the example configuration, as
# section.key for the four sections and plain for newsletter keys.
yaml5=$(text consent-milter.yaml.5)
keys=$(/usr/bin/python3 - "$SRCDIR/examples/consent-milter.yaml" <<'EOF'
import re, sys
stack = []      # (indent, key)
seen = []
for line in open(sys.argv[1], encoding="utf-8"):
    s = line.split("#", 1)[0].rstrip()
    m = re.match(r'^(\s*)(- )?([A-Za-z_]+):', s)
    if not m:
        continue
    ind = len(m.group(1)) + (2 if m.group(2) else 0)
    while stack and stack[-1][0] >= ind:
        stack.pop()
    path = [k for _, k in stack] + [m.group(3)]
    stack.append((ind, m.group(3)))
    if path[0] in ("milter", "database", "scope", "addresses") and len(path) == 2:
        k = ".".join(path)
    else:
        k = path[-1]
    if k not in seen:
        seen.append(k)
print("\n".join(seen))
EOF
)
[ "$(wc -l <<<"$keys")" -ge 25 ] || err "found only $(wc -l <<<"$keys") keys in the example"
for k in $keys; do
	grep -qE "(^|[^a-z_.])$k([^a-z_]|$)" <<<"$yaml5" || err "consent-milter.yaml.5: key $k not documented"
done
# Types, defaults and bounds of the typed keys.
for pat in 'milter.socket (string, required)' 'milter.socket_mode (string, default "0660")' \
	'milter.mode (enforce | monitor, default enforce)' \
	'milter.on_error (tempfail | accept | reject, default tempfail)' \
	'database.path (string, required)' 'database.map_size (size, default 64MiB)' \
	'database.max_readers (integer, default 510)' 'database.clock_skew (duration, default 5m)' \
	'scope.authenticated (boolean, default true)' \
	'addresses.fold_local_case (boolean, default true)' \
	'addresses.subaddress_separator (string, default "+")' \
	'unclassified_bulk (accept | reject, default accept)' \
	'consent (opt-in | double-opt-in | no-objection, required)' 'valid_for (duration, optional)'; do
	grep -qF -- "$pat" <<<"$yaml5" || err "consent-milter.yaml.5: no '$pat'"
done

# consentctl(8): every command, the options of SPEC section 2, exit codes.
ctl=$(text consentctl.8)
for c in init grant withdraw confirm check show history import export bulk-update types domains \
	erase stats report suppress-domain unsuppress-domain future; do
	grep -qE "^       $c( |$)" <<<"$ctl" || err "consentctl.8: command $c not documented"
done
for o in -c -d --help --source --basis --purpose --evidence --at --all --json --dry-run \
	--skip-invalid --format --type --state --granted-before --granted-after \
	--since --until --campaign --reason --verdict --rcpt --summary --pending --confirmed \
	--requirement --valid-for --batch --all-records --new-source --new-evidence; do
	grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" <<<"$ctl" || err "consentctl.8: option $o not documented"
done
for c in 0 1 64 65 66 70 71 73 74 75 77 78; do
	grep -qE "^       $c +[A-Za-z]" <<<"$ctl" || err "consentctl.8: exit code $c not documented"
done

# The built consentctl, if there is one: every command its --help lists
# and every option each command's --help names is in the man page.
CTL=${BUILD:-$SRCDIR/build}/consentctl
if [ -x "$CTL" ]; then
	cmds=$("$CTL" --help 2>/dev/null | sed -n '/^commands:/,/^$/p' | sed -nE 's/^  ([a-z][a-z-]*) .*/\1/p')
	[ -n "$cmds" ] || err "consentctl --help lists no commands"
	for c in $cmds; do
		grep -qE "^       $c( |$)" <<<"$ctl" || err "consentctl.8: command $c (from consentctl --help) not documented"
		for o in $("$CTL" "$c" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
			grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" <<<"$ctl" ||
				err "consentctl.8: option $o of '$c' (from consentctl $c --help) not documented"
		done
	done
fi

# consent-milter(8): options, signals, exit codes, the decision line.
cm=$(text consent-milter.8)
for o in "-c file" "-f" "-n"; do
	grep -qE -- "^       $o" <<<"$cm" || err "consent-milter.8: option $o not documented"
done
for s in SIGUSR1 SIGTERM SIGHUP; do
	grep -qE "^       ($s|.*, $s|$s, )" <<<"$cm" || err "consent-milter.8: signal $s not documented"
done
for c in 0 64 78; do
	grep -qE "^       $c +[A-Za-z]" <<<"$cm" || err "consent-milter.8: exit code $c not documented"
done
grep -qF 'queue_id=' <<<"$cm" || err "consent-milter.8: decision log line not documented"
grep -qF '550 5.7.1 <rcpt>: no consent for newsletter "T" (reason)' <<<"$cm" ||
	err "consent-milter.8: RCPT reply not documented"

# Cross-references point at pages this package installs or that exist.
for p in $PAGES; do
	for ref in $(text "$p" | sed -n '/^SEE ALSO/,$p' | grep -oE '[a-z][a-z.-]*\([0-9]\)'); do
		case $ref in
		consent-milter\(8\)) [ -f "$MAN/consent-milter.8" ] || err "$p: dangling $ref" ;;
		consentctl\(8\)) [ -f "$MAN/consentctl.8" ] || err "$p: dangling $ref" ;;
		consent-milter.yaml\(5\)) [ -f "$MAN/consent-milter.yaml.5" ] || err "$p: dangling $ref" ;;
		esac
	done
done

[ $fail -eq 0 ] && echo "man pages: $PAGES render cleanly and are complete"
exit $fail
