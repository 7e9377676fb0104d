# tests/lib/pg.sh - a private PostgreSQL server for a test (sourced by
# bash test scripts; Debian's postgresql-15 binaries, `make deps`).
#
#   pg_start    initdb (the first time) and start the server: listening on
#               127.0.0.1 only, on a free port, its unix socket in its own
#               directory; waits until it accepts connections (bounded).
#               Exits 77 (skip) if the server binaries are missing.  Run
#               as root (CI), the server runs as the unprivileged
#               "postgres" account (or "nobody"): PostgreSQL refuses root.
#               Called again after pg_stop, it starts the same cluster on
#               the same port (the store "comes back").
#   pg_stop     fast shutdown by PID, bounded (then SIGKILL); idempotent
#   pg_psql ARG...  psql as the superuser through the unix socket, on
#               the test database (e.g. pg_psql -tAc 'SELECT 1')
#   pg_dump_db  pg_dump of the test database on stdout
#   pg_ctl_script FILE  write FILE, a script a test program can run to stop
#               (FILE stop) or start again (FILE start) this server
#   pg_cleanup  pg_stop and remove the cluster; set as the EXIT trap by
#               pg_start, which also makes SIGINT and SIGTERM exit through
#               it (a script with an EXIT trap of its own calls it)
#
# After pg_start: PG_PORT, PG_PID, PG_BASE (the cluster's directory),
# PG_SOCK (socket directory), PG_DB and PG_USER (a database owned by a
# login role with a SCRAM password: password authentication is required
# on 127.0.0.1), PG_PWFILE (the password, mode 0600: consentctl's
# upstream password_file), PG_CONNINFO (host, port, dbname, user: the
# password comes from PG_PWFILE).
PG_BIN=${PG_BIN:-}
if [ -z "$PG_BIN" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && PG_BIN=$d
	done
fi
PG_DB=cmtest
PG_USER=cmtest
PG_PORT= PG_PID= PG_BASE= PG_SOCK= PG_PWFILE= PG_CONNINFO=

# _pg_as CMD...: run CMD as the server's owner
_pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$_PG_OSUSER" -- "$@"
	else
		"$@"
	fi
}

. "$(dirname "${BASH_SOURCE[0]}")/net.sh"	# net_freeport

# _pg_launch: start the postmaster of $PG_BASE/data on $PG_PORT and wait
# until it accepts connections; 1 if it did not come up (log on stderr)
_pg_launch() {
	local i
	rm -f "$PG_BASE/data/postmaster.pid" 2>/dev/null
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_BASE/data" -l "$PG_BASE/log" -W \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCK -c fsync=off -c full_page_writes=off" \
		start >/dev/null || return 1
	for ((i = 0; i < 300; i++)); do
		if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1; then
			PG_PID=$(head -1 "$PG_BASE/data/postmaster.pid" 2>/dev/null)
			[ -n "$PG_PID" ] && return 0
		fi
		# gave up (e.g. the port was taken meanwhile)
		if [ "$i" -gt 5 ] && [ ! -e "$PG_BASE/data/postmaster.pid" ]; then
			break
		fi
		sleep 0.1
	done
	tail -5 "$PG_BASE/log" >&2
	return 1
}

pg_start() {
	local try pw
	if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
		echo "# PostgreSQL server binaries not installed (make deps): skipped"
		exit 77
	fi
	if [ -n "$PG_BASE" ]; then	# again, after pg_stop
		_pg_launch || { echo "pg.sh: PostgreSQL did not start again" >&2; exit 1; }
		return 0
	fi
	_PG_OSUSER=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		if id -u postgres >/dev/null 2>&1; then _PG_OSUSER=postgres; else _PG_OSUSER=nobody; fi
	fi
	PG_BASE=$(mktemp -d /tmp/cm-pg.XXXXXX) || exit 1
	trap pg_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	PG_SOCK=$PG_BASE/sock
	mkdir -p "$PG_SOCK"
	chmod 0700 "$PG_BASE"
	[ "$(id -u)" -eq 0 ] && chown -R "$_PG_OSUSER" "$PG_BASE"
	if ! _pg_as "$PG_BIN/initdb" -D "$PG_BASE/data" -U postgres -E UTF8 --no-locale \
		--auth-local=trust --auth-host=scram-sha-256 --no-sync >"$PG_BASE/initdb.log" 2>&1; then
		cat "$PG_BASE/initdb.log" >&2
		echo "pg.sh: initdb failed" >&2
		exit 1
	fi
	for try in 1 2 3; do
		PG_PORT=$(net_freeport)
		_pg_launch && break
		PG_PORT=
	done
	[ -n "$PG_PORT" ] || { echo "pg.sh: PostgreSQL did not start" >&2; exit 1; }
	pw=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	pg_psql -d postgres -qc "CREATE ROLE $PG_USER LOGIN PASSWORD '$pw'" >/dev/null &&
		pg_psql -d postgres -qc "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null ||
		{ echo "pg.sh: cannot create the test role and database" >&2; exit 1; }
	PG_PWFILE=$PG_BASE/password
	(umask 077 && printf '%s\n' "$pw" >"$PG_PWFILE")
	PG_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=$PG_DB user=$PG_USER"
	export PG_PORT PG_PID PG_BASE PG_SOCK PG_DB PG_USER PG_PWFILE PG_CONNINFO
}

pg_psql() {
	"$PG_BIN/psql" -X -h "$PG_SOCK" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -d "$PG_DB" "$@"
}

pg_dump_db() {
	"$PG_BIN/pg_dump" -h "$PG_SOCK" -p "$PG_PORT" -U postgres "$PG_DB"
}

# _pg_gone PID: the process has exited (a zombie counts: the postmaster
# is not our child and PID 1 of a container may not reap it)
_pg_gone() {
	local st
	kill -0 "$1" 2>/dev/null || return 0
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	[ "${st%% *}" = Z ]
}

pg_stop() {
	local i
	# the PID of the server running now (another process may have
	# restarted it: pg_ctl_script)
	[ -n "$PG_BASE" ] && [ -f "$PG_BASE/data/postmaster.pid" ] &&
		PG_PID=$(head -1 "$PG_BASE/data/postmaster.pid" 2>/dev/null)
	[ -n "$PG_PID" ] || return 0
	kill -INT "$PG_PID" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		_pg_gone "$PG_PID" && { PG_PID=; return 0; }
		sleep 0.1
	done
	echo "pg.sh: PostgreSQL $PG_PID did not stop: killed" >&2
	kill -KILL "$PG_PID" 2>/dev/null
	PG_PID=
}

_PG_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pg.sh
pg_ctl_script() {
	cat >"$1" <<EOF
#!/usr/bin/env bash
# stop or start the test PostgreSQL of $PG_BASE
. "$_PG_LIB"
PG_BIN="$PG_BIN" PG_BASE="$PG_BASE" PG_SOCK="$PG_SOCK" PG_PORT="$PG_PORT"
_PG_OSUSER="$_PG_OSUSER"
case "\$1" in
stop) pg_stop ;;
start) pg_start ;;
*) echo "usage: \$0 stop|start" >&2; exit 64 ;;
esac
EOF
	chmod 0755 "$1"
}

pg_cleanup() {
	pg_stop
	[ -n "$PG_BASE" ] && case "$PG_BASE" in /tmp/cm-pg.*) rm -rf "$PG_BASE" ;; esac
	PG_BASE=
}
