#!/bin/sh
# Ryuk's job without Ryuk's image (no registry here to pull it from): removes the containers and networks
# of one test run when that run ends, however it ends. testkit starts this script detached (a Ctrl-C to
# the run's process group does not reach it) with a pipe on stdin, and writes one line per Docker object
# it creates: "container <id>" or "network <name>". The pipe closes when the run's process exits, is
# killed or crashes; then every object named is removed (objects already removed are ignored).
containers=''
networks=''
while read -r kind name; do
  case "$kind" in
    container) containers="$containers $name" ;;
    network) networks="$networks $name" ;;
  esac
done
# Containers first: a network with containers attached cannot be removed.
# shellcheck disable=SC2086 # one argument per id
[ -n "$containers" ] && docker rm --force --volumes $containers >/dev/null 2>&1
for network in $networks; do
  # An engine may keep endpoints of removed containers; they would block the removal.
  for endpoint in $(docker network inspect --format '{{range .Containers}}{{.Name}} {{end}}' "$network" 2>/dev/null); do
    docker network disconnect --force "$network" "$endpoint" >/dev/null 2>&1
  done
  docker network rm "$network" >/dev/null 2>&1
done
exit 0
