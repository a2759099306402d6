#!/bin/bash
# in-private-root.sh — the project's own harness for "the real /tmp is deleted" scenarios. Runs a script as
# root in a private mount + pid namespace whose root file system is an overlay of the machine's root with its
# writes kept in a tmpfs, so `rm -rf /tmp` (or /var/tmp, /dev/shm) inside touches only the overlay: the
# machine's real /tmp is never modified. Everything the script starts dies with the pid namespace.
#
#   usage: in-private-root.sh STATE_DIR KEEP_DIR SCRIPT [ARGS...]
#     STATE_DIR  an empty directory the caller owns: the overlay's tmpfs is mounted on it (gone afterwards)
#     KEEP_DIR   a directory bound into the private root at the same path (results that must survive);
#                the script starts in it
#   Loopback (127.0.0.1) is shared with the outside: a client outside can reach a server started inside.
set -euo pipefail

fail() { echo "in-private-root: $*" >&2; exit 2; }

inside() {
  local state=$1 keep=$2; shift 2
  # The tmpfs holds the overlay's upper layer: every write inside the private root lands there.
  mount -t tmpfs -o "size=${PRIVATE_ROOT_SIZE:-2g},mode=0700" execd-private-root "$state"
  mkdir "$state/changes" "$state/scratch" "$state/root"
  mount -t overlay execd-private-root -o "lowerdir=/,upperdir=$state/changes,workdir=$state/scratch" "$state/root"
  local r=$state/root
  [ "$(stat -f -c %T "$r")" = overlayfs ] || fail "the new root is not an overlay; refusing to go on"
  for fs in proc sys dev; do mount --rbind "/$fs" "$r/$fs"; done
  # A /dev/shm of its own: the machine's /dev/shm stays untouched too.
  mount -t tmpfs -o mode=1777 execd-private-shm "$r/dev/shm"
  mkdir -p "$r$keep"
  mount --bind "$keep" "$r$keep"
  exec chroot "$r" /bin/bash -c '
    [ "$(stat -f -c %T /)" = overlayfs ] || { echo "in-private-root: / is not the overlay" >&2; exit 2; }
    cd "$1" && shift && exec /bin/bash "$@"' in-private-root "$keep" "$@"
}

if [ "${1:-}" = --inside ]; then
  shift
  inside "$@"
fi

[ $# -ge 3 ] || { sed -n '2,12p' "$0"; exit 2; }
[ "$(id -u)" = 0 ] || fail "needs root (mount and unshare)"
state=$(realpath "$1"); keep=$(realpath "$2"); script=$(realpath "$3"); shift 3
[ -d "$state" ] && [ -z "$(ls -A "$state")" ] || fail "STATE_DIR $state must be an existing empty directory"
[ -d "$keep" ] || fail "KEEP_DIR $keep is not a directory"
# Mounts made inside a private mount namespace vanish with it; nothing is left mounted on the machine.
exec unshare --mount --pid --fork --propagation private --mount-proc \
  "$(realpath "$0")" --inside "$state" "$keep" "$script" "$@"
