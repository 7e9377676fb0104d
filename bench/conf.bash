# shellcheck shell=bash
# bench/conf.bash - the configuration the benchmarks run consent-milter
# and consent-policy with (sourced by bench/postfix.sh and bench/instr.sh).

# bench_conf PORT DB FROM [EXTRA]: the milter on inet:PORT@127.0.0.1, the
# index in DB, enforcing, loopback clients in scope, one newsletter type
# (bench-news, opt-in) for mail from the envelope sender FROM; EXTRA
# (YAML: a policy: or log: section) appended.
bench_conf() {
	cat <<EOF
milter:
  socket: "inet:$1@127.0.0.1"
  mode: enforce
  on_error: tempfail
database:
  path: "$2"
scope:
  authenticated: true
  networks:
    - 127.0.0.0/8
unclassified_bulk: accept
newsletters:
  - id: bench-news
    name: "Benchmark news"
    consent: opt-in
    match:
      - envelope_sender: "$3"
${4:-}
EOF
}
