#!/bin/bash
# Run a benchmark on a quiet machine: pause (SIGSTOP) every process whose command line matches
# $QUIET_PATTERN (default: running `neuromod train` jobs) and resume them however the benchmark ends.
#   benchmarks/quiet.sh python benchmarks/bench_training.py --note "reproduction jobs paused"
pattern=${QUIET_PATTERN:-neuromod train}
pids=$(pgrep -f "$pattern" | grep -v "^$$\$")
trap '[ -n "$pids" ] && kill -CONT $pids 2>/dev/null' EXIT
[ -n "$pids" ] && kill -STOP $pids && sleep 5
"$@"
