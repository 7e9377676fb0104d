#!/bin/sh
# Install the Debian 12 packages that consent-milter needs to build and to
# run its tests, if any is missing.  Idempotent and silent when all are
# present.  Never starts the system's Postfix or PostgreSQL (policy-rc.d).
set -eu

PKGS="build-essential pkg-config
libmilter-dev liblmdb-dev lmdb-utils libyaml-dev libcmocka-dev libidn2-dev
libssl-dev libsystemd-dev libunistring-dev libmicrohttpd-dev libpq-dev
miltertest postfix postgresql python3 valgrind groff-base man-db mandoc systemd m4
clang libclang-rt-14-dev
opendkim opendkim-tools python3-dkim curl bc
dpkg-dev debhelper lintian"

missing=
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run 'make deps' as root (or: apt-get install$missing)" >&2
	exit 1
fi

echo "deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix: no debconf questions, no configuration, and do not start it.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
policy=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	created_policy=1
fi
trap '[ -n "$created_policy" ] && rm -f "$policy"' EXIT
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
