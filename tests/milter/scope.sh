#!/usr/bin/env bash
# Scope and negotiation under a policy without header rules: accepted at
# connect when nothing can bring the connection into scope, header steps
# negotiated away, non-newsletters accepted at MAIL.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
cat > "$cfg" <<YAML
milter:
  socket: "unix:$SOCK"
database:
  path: "$DB"
scope:
  authenticated: false
  networks: [127.0.0.0/8]
  daemon_names: [submission-campaign]
unclassified_bulk: accept
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
YAML
start_milter "$cfg"
lua scope
stop_milter
echo "scope: all checks passed"
