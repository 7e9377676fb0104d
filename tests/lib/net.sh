# shellcheck shell=bash
# tests/lib/net.sh - loopback ports for tests and benchmarks (sourced by
# the harnesses: tests/e2e/lib/common.sh, tests/milter/common.bash,
# tests/lib/pg.sh, and scripts of tests/cli/ and bench/).

# net_freeport: a TCP port on 127.0.0.1 that nothing listens on now.
net_freeport() {
	/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# net_listening PORT: does something listen on 127.0.0.1:PORT (or
# *:PORT)?  Read from /proc/net/tcp: no connection is made to find out.
net_listening() {
	awk -v p=":$(printf '%04X' "$1")" '
		NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
		END { exit !f }' /proc/net/tcp
}
