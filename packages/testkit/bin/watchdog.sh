#!/bin/sh
# Runs a command in its own process group and stops that group when this script's stdin closes (the
# test process that started it died, however it died) or when it gets TERM/INT. testkit starts every
# real dependency through it, so no server outlives the run that started it.
# WATCHDOG_STOP_SIGNAL picks the signal sent to the group on stop (default TERM; PostgreSQL wants INT).
# A line TERM, INT or KILL on stdin sends that signal to the group at once (a crash is a KILL).
sig="${WATCHDOG_STOP_SIGNAL:-TERM}"
exec 3<&0
setsid "$@" </dev/null &
child=$!
stop_group() {
  # dash's kill takes no "--": a negative number after the signal names the process group.
  kill -"$sig" -"$child" 2>/dev/null || kill -"$sig" "$child" 2>/dev/null
}
(
  while read -r line <&3; do
    case "$line" in
      TERM | INT | KILL) kill -"$line" -"$child" 2>/dev/null ;;
    esac
  done
  stop_group
) &
watcher=$!
trap stop_group TERM INT
status=0
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
  status=$?
done
kill "$watcher" 2>/dev/null
exit "$status"
