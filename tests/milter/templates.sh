#!/usr/bin/env bash
# templates: the RCPT refusal text and the trace header follow the
# configured templates (placeholders, %% for a percent sign).
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
write_config "$cfg"
cat >> "$cfg" <<'YAML'
templates:
  reply: 'No consent: <%{rcpt}> for "%{name}" (%{reason}), 100%% sure'
  trace_header: "t=%{type} name=%{name} r=%{removed} k=%{kept} m=%{mode}"
YAML
start_milter "$cfg"
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<Carol@Example.NET>" \
	--rcpt '<a%b@example.net>') || die "mproto failed"
expect_line "$out" 'RCPT <Carol@Example.NET> y 550 5.7.1 No consent: <Carol@Example.NET> for "Weekly news" (no-consent), 100%% sure'
expect_line "$out" 'RCPT <a%b@example.net> y 550 5.7.1 No consent: <a%%b@example.net> for "Weekly news" (no-consent), 100%% sure'
lua templates
stop_milter
echo "templates: all checks passed"
