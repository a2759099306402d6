#!/bin/bash
# Runs inside in-private-root.sh (a throw-away overlay of the root): deletes /tmp, starts the real daemon with
# TMPDIR unset (so it really uses /tmp/execd), then deletes /tmp again every 0.2 s while $KEEP/delete
# exists, until $KEEP/stop appears (at most 3 minutes). $KEEP is bound from the outside.
#   usage: private-tmp-daemon.sh EXECD PORT KEEP
set -u
execd=$1; port=$2; keep=$3
rm -rf /tmp
[ ! -e /tmp ] || { echo "could not delete /tmp" >&2; exit 3; }
echo "tmp-deleted-before-start" >> "$keep/events"
cd "$keep"
env -u TMPDIR HOME=/root "$execd" --port "$port" --host 127.0.0.1 \
  --config Storage:Health:Interval=00:00:01 > "$keep/execd.log" 2>&1 &
pid=$!
for _ in $(seq 1 900); do
  [ -e "$keep/stop" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "daemon exited" >&2; exit 4; }
  if [ -e "$keep/delete" ]; then
    rm -rf /tmp && echo "tmp-deleted" >> "$keep/events"
  fi
  sleep 0.2
done
kill "$pid"
wait "$pid"
exit 0
