#!/usr/bin/env bash
# Start-up time of a published execd: launched with `env -i` (nothing from .NET, no PATH), time until the first
# GET /ping answers 200. Prints each run (wall time, and the CPU time the daemon used until then, which depends
# less on how busy the machine is) and the medians in milliseconds.
#   tests/Execd.Deploy.Tests/measure-startup.sh <published folder> [runs=11] [port=44990]
set -euo pipefail
dir=$(cd "$1" && pwd)
runs=${2:-11}
port=${3:-44990}
work=$(mktemp -d "$(dirname "$dir")/startup.XXXXXX")   # beside the folder: never the machine's /tmp
trap 'rm -rf "$work"' EXIT
times=(); cpus=()
tick=$(getconf CLK_TCK)
for i in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  env -i HOME="$work" TMPDIR="$work" "$dir/execd" --port "$port" --host 127.0.0.1 --log-level 3 >"$work/log" 2>&1 &
  pid=$!
  tries=0
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ping")" = 200 ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 6000 ] || ! kill -0 "$pid" 2>/dev/null; then echo "no ping; log:" >&2; cat "$work/log" >&2; exit 1; fi
    sleep 0.005
  done
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  read -r -a stat < "/proc/$pid/stat"
  cpu=$(( (stat[13] + stat[14]) * 1000 / tick ))   # utime + stime
  times+=("$ms"); cpus+=("$cpu")
  echo "run $i: ${ms} ms (cpu ${cpu} ms)"
  kill -TERM "$pid"; wait "$pid" || true
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( $# / 2 + 1 ))p"; }
echo "median: $(median "${times[@]}") ms wall, $(median "${cpus[@]}") ms cpu over $runs runs"
