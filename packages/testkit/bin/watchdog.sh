#!/bin/sh
# Runs a command in its own process group and stops that group when this script's stdin closes (the
# test process that started it died, however it died) or when it gets TERM/INT. testkit starts every
# real dependency through it, so no server outlives the run that started it.
exec 3<&0
setsid "$@" </dev/null &
child=$!
(
  while read -r _ <&3; do :; done
  kill -TERM -- "-$child" 2>/dev/null
) &
watcher=$!
trap 'kill -TERM -- "-$child" 2>/dev/null' TERM INT
status=0
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
  status=$?
done
kill "$watcher" 2>/dev/null
exit "$status"
