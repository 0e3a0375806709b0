#!/usr/bin/env bash
# A/B in-process timings: alternate two source trees, ROUNDS times each, on one database.
#   bench/ab_inprocess.sh BEFORE_TREE AFTER_TREE DATABASE_URL [ROUNDS] [extra ab_inprocess.py args]
# Prints one JSON line per run, tagged with its side; compare the medians per scenario.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
before="$1" after="$2" url="$3" rounds="${4:-5}"
shift $(( $# < 4 ? $# : 4 ))
python="${PYTHON:-python}"
for round in $(seq 1 "$rounds"); do
  for side in before after; do
    tree="$before"; [ "$side" = after ] && tree="$after"
    line="$(cd "$here" && PYTHONPATH="$tree" "$python" ab_inprocess.py --database-url "$url" "$@" 2>/dev/null)"
    echo "$side $round $line"
  done
done
