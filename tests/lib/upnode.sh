# upnode.sh - what the tests and the benchmark of the shared store
# (upstream:) share, sourced after tests/lib/pg.sh with CTL set:
#   wait_for SECONDS CMD...  until CMD succeeds, at most SECONDS (1 if not)
#   ctl NODE ARG...          consentctl with NODE's configuration
#   up_node_config NODE      $CM_TMP/NODE.yaml: an index in $CM_TMP/NODE/db
#                            attached to the private PostgreSQL as node-NODE,
#                            one newsletter type (weekly-news)

wait_for() {
	local end=$((${EPOCHREALTIME/./} + $1 * 1000000)); shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
		sleep 0.02
	done
}

ctl() { local n=$1; shift; "$CTL" -c "$CM_TMP/$n.yaml" "$@"; }

up_node_config() {
	mkdir -p "$CM_TMP/$1/db"
	cat >"$CM_TMP/$1.yaml" <<YAML
milter:
  socket: "unix:$CM_TMP/$1/milter.sock"
database:
  path: "$CM_TMP/$1/db"
upstream:
  conninfo: "$PG_CONNINFO"
  password_file: "$PG_PWFILE"
  node: node-$1
  poll_interval: 1h
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
YAML
}
