#!/usr/bin/env bash
# Started as root with milter.user set: the socket gets its mode and
# group, then the daemon runs as that user (and cannot regain root).
. "$SRCDIR/tests/milter/common.bash"

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "skip: no user nobody"; exit 77; }
group=$(id -gn nobody)

build_seed
seed_standard
chmod 0711 "$CM_TMP"
cfg="$CM_TMP/cm.yaml"
write_config "$cfg"
sed -i "s|^  socket_mode: .*|  socket_mode: \"0620\"\n  socket_group: \"$group\"\n  user: \"nobody\"|" "$cfg"

# -n checks the index as milter.user: root's files are not usable.
"$MILTER" -n -c "$cfg" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 74 ] || die "-n as root on an index nobody cannot open: exit $rc"
# The unprivileged daemon must read the index and write its lock file.
chown -R nobody "$DB"
"$MILTER" -n -c "$cfg" >/dev/null 2>&1 || die "-n failed on nobody's index"
start_milter "$cfg"

# The socket exists before the daemon drops root: wait (bounded) for the
# drop before looking at its ids.
want=$(id -u nobody)
for _ in $(seq 100); do
	[ "$(awk '/^Uid:/ {print $2}' "/proc/$MILTER_PID/status")" = "$want" ] && break
	sleep 0.05
done
uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$MILTER_PID/status")
want=$(id -u nobody)
[ "$uid" = "$want $want $want $want" ] || die "daemon uids are '$uid', want all $want"
gid=$(awk '/^Gid:/ {print $2}' "/proc/$MILTER_PID/status")
[ "$gid" = "$(id -g nobody)" ] || die "daemon gid is $gid"
groups=$(awk '/^Groups:/ {$1=""; print}' "/proc/$MILTER_PID/status" | xargs)
[ "$groups" = "$(id -g nobody)" ] || die "supplementary groups: '$groups'"
mode=$(stat -c %a "$SOCK")
[ "$mode" = 620 ] || die "socket mode $mode, want 620"
sgroup=$(stat -c %G "$SOCK")
[ "$sgroup" = "$group" ] || die "socket group $sgroup, want $group"
expect_log "running as user nobody"

lua envelope
stop_milter
echo "privdrop: all checks passed"
