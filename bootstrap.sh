#!/bin/sh
# Runs the execd daemon.
#   ./bootstrap.sh [flags]        build (if needed) and run the daemon in the foreground; flags are passed to it
#   ./bootstrap.sh -c "cmd"       start the daemon in the background, then run cmd (as upstream's container entrypoint); a daemon
#                                 that dies while cmd runs is started again (same flags); when cmd ends the daemon is stopped
#                                 (SIGTERM) and the script exits with cmd's status. Restarts back off 1 s, 2 s, 4 s, ... up to
#                                 EXECD_RESTART_MAX_DELAY (default 30) seconds; after EXECD_RESTART_LIMIT (default 5; 0: never
#                                 restart) exits in a row each within EXECD_RESTART_QUICK (default 10) seconds of its start, the
#                                 daemon is left down (cmd goes on).
#   ./bootstrap.sh --build-only   build the daemon, its plugins and the PowerShell module (execd.psd1), run nothing
# With EXECD set (e.g. EXECD=/opt/opensandbox/execd), that published daemon is run instead of the development build;
# EXECD names the executable or the published folder. EXECD_ARGS: flags for the daemon started by -c.
set -e
here=$(cd "$(dirname "$0")" && pwd)

build_only=
[ "${1:-}" = --build-only ] && build_only=1

if [ -z "${EXECD:-}" ]; then
  # Development build: only the .NET SDK is needed. The daemon's build builds its plugins; the PowerShell module
  # (what `Import-Module ./execd.psd1` loads, in modules/Execd.PowerShell/bin/module/) is a project of its own.
  for project in src/Execd.Server/Execd.Server.csproj modules/Execd.PowerShell/Execd.PowerShell.csproj; do
    if ! dotnet build "$here/$project" -c Release -nologo -v quiet -clp:ErrorsOnly >&2; then
      echo "bootstrap: build of $project failed" >&2
      exit 1
    fi
  done
  EXECD="$here/src/Execd.Server/bin/Release/net10.0/execd"
  if [ -n "$build_only" ]; then
    echo "bootstrap: built $EXECD, its plugins and the PowerShell module (Import-Module ./execd.psd1)" >&2
    exit 0
  fi
else
  [ -z "$build_only" ] || { echo "bootstrap: --build-only builds the development tree; unset EXECD" >&2; exit 2; }
  # A published folder (dotnet publish -r <rid>) or its executable.
  [ -d "$EXECD" ] && EXECD="${EXECD%/}/execd"
  [ -x "$EXECD" ] || { echo "bootstrap: $EXECD is not an executable execd" >&2; exit 1; }
  # Container mode, as upstream: an env file for commands, prepared if missing.
  EXECD_ENVS="${EXECD_ENVS:-/opt/opensandbox/.env}"
  if mkdir -p "$(dirname "$EXECD_ENVS")" 2>/dev/null && touch "$EXECD_ENVS" 2>/dev/null; then
    export EXECD_ENVS
  else
    echo "bootstrap: warning: cannot prepare EXECD_ENVS=$EXECD_ENVS" >&2
  fi
  if [ -n "${EXECD_BOOTSTRAP_PRE_SCRIPT:-}" ] && [ -r "$EXECD_BOOTSTRAP_PRE_SCRIPT" ]; then
    case "$EXECD_BOOTSTRAP_PRE_SCRIPT" in */*) ;; *) EXECD_BOOTSTRAP_PRE_SCRIPT="./$EXECD_BOOTSTRAP_PRE_SCRIPT" ;; esac
    . "$EXECD_BOOTSTRAP_PRE_SCRIPT"
  fi
fi

# Output storage: the first directory of the chain that can be created and written becomes EXECD_LOG_DIR
# (the daemon's first storage directory; --log-dir still wins). If none works, the daemon falls back by itself.
prepare_log_dir() {
  [ -n "$1" ] || return 1
  # -m gives a new directory its mode without needing chmod; an existing one is tightened if chmod is there.
  mkdir -p -m 700 "$1" 2>/dev/null || return 1
  chmod 700 "$1" 2>/dev/null || true
  probe="$1/.bootstrap-probe.$$"
  ( : > "$probe" ) 2>/dev/null && rm -f "$probe"
}
chosen=
for dir in "${EXECD_LOG_DIR:-}" "${TMPDIR:-/tmp}/execd" "$PWD/.tmp" /var/tmp/execd "${HOME:+$HOME/.execd/logs}"; do
  [ -n "$dir" ] || continue
  if prepare_log_dir "$dir"; then
    chosen=$dir
    break
  fi
  echo "bootstrap: warning: cannot prepare log directory $dir; trying the next one" >&2
done
if [ -n "$chosen" ]; then
  EXECD_LOG_DIR=$chosen
  export EXECD_LOG_DIR
  echo "bootstrap: log directory: $EXECD_LOG_DIR" >&2
else
  echo "bootstrap: warning: no log directory could be prepared; output is kept in memory" >&2
fi

if [ "${1:-}" != "-c" ] && [ -z "${BOOTSTRAP_CMD:-}" ]; then
  exec "$EXECD" "$@"
fi

# -c "cmd": the daemon in the background under a supervisor that starts it again if it dies while cmd runs, the user command
# in the foreground, SIGTERM forwarded to it. When cmd ends, the daemon is stopped (SIGTERM) and cmd's status is the script's.
now() { date +%s 2>/dev/null || echo 0; }
supervise() {
  set +e
  limit=${EXECD_RESTART_LIMIT:-5}
  max_delay=${EXECD_RESTART_MAX_DELAY:-30}
  quick=${EXECD_RESTART_QUICK:-10}
  failures=0
  stopping=
  daemon=
  pause=
  trap 'stopping=1; [ -z "$pause" ] || kill "$pause" 2>/dev/null; [ -z "$daemon" ] || kill -TERM "$daemon" 2>/dev/null' TERM
  while :; do
    started=$(now)
    "$EXECD" ${EXECD_ARGS:-} &
    daemon=$!
    # wait returns early when the TERM trap runs: wait again until the daemon has really exited.
    while :; do
      wait "$daemon"
      status=$?
      kill -0 "$daemon" 2>/dev/null || break
    done
    [ -z "$stopping" ] || exit 0
    ran=$(( $(now) - started ))
    [ "$ran" -lt "$quick" ] || failures=0
    failures=$((failures + 1))
    if [ "$failures" -gt "$limit" ]; then
      echo "bootstrap: daemon (pid $daemon) exited with status $status after ${ran}s, $failures times in a row within ${quick}s of its start; not restarting it (EXECD_RESTART_LIMIT=$limit)" >&2
      exit 1
    fi
    delay=1
    i=1
    while [ "$i" -lt "$failures" ] && [ "$delay" -lt "$max_delay" ]; do
      delay=$((delay * 2))
      i=$((i + 1))
    done
    [ "$delay" -le "$max_delay" ] || delay=$max_delay
    echo "bootstrap: daemon (pid $daemon) exited with status $status after ${ran}s; restarting it in ${delay}s (quick failure $failures of $limit)" >&2
    daemon=
    sleep "$delay" &
    pause=$!
    wait "$pause"
    pause=
    [ -z "$stopping" ] || exit 0
  done
}
supervise &
supervisor=$!
stop_daemon() {
  kill -TERM "$supervisor" 2>/dev/null
  wait "$supervisor"
}
if [ -n "${BOOTSTRAP_CMD:-}" ]; then
  CMD=$BOOTSTRAP_CMD
else
  shift
  CMD="$*"
fi
SHELL_BIN=${BOOTSTRAP_SHELL:-}
[ -n "$SHELL_BIN" ] || SHELL_BIN=$(command -v bash || command -v sh || true)
[ -n "$SHELL_BIN" ] || { echo "bootstrap: no shell found" >&2; stop_daemon; exit 1; }
"$SHELL_BIN" -c "$CMD" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; stop_daemon; exit 0' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
set +e
# wait returns early when the INT trap runs: wait again until cmd has really ended.
while :; do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || break
done
stop_daemon
exit $status
