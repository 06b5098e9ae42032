#!/usr/bin/env bash
# Runs the libFuzzer targets built in WORK (make fuzz-build) for SECONDS
# each, starting from the committed seeds (test/fuzz/seeds/<target>) and
# whatever WORK/corpus_<target> already holds. Prints each target's
# executions and, on a failure, the finding (the harness's message, the
# sanitizer's summary, the input in base64); the reproducer is the
# crash-*/leak-*/timeout-* file libFuzzer leaves in WORK. Ends with
# "fuzz: N passed, N failed" and exits non-zero when a target failed.
# Usage: run.sh WORK SECONDS TARGET...
# With FUZZ_RUNS set, each target stops after that many inputs (SECONDS
# stays the cap) from the fixed seed FUZZ_SEED (default 1): the same build
# explores the same inputs every time, so make test cannot fail at random.
set -u

work=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)

npass=0
nfail=0
failed=()
for t in "$@"; do
  mkdir -p "$work/corpus_$t"
  echo "=== fuzz $t ($seconds s)"
  # -timeout: an input running 25 s is a hang, reported as a failure
  (cd "$work" && "./fuzz_$t" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
      ${FUZZ_RUNS:+-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}"} \
      "corpus_$t" "$root/test/fuzz/seeds/$t" > "fuzz_$t.log" 2>&1)
  rc=$?
  grep -E '^(Done |stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|fuzz_[a-z]+: |input: |detail: |got: |want: |Base64: )' \
    "$work/fuzz_$t.log" | cut -c1-400
  if [ "$rc" -eq 0 ]; then
    npass=$((npass + 1))
  else
    nfail=$((nfail + 1))
    failed+=("$t")
    echo "fuzz $t failed (exit $rc): log $work/fuzz_$t.log, reproducer:" \
      $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null)
  fi
done
echo "fuzz: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
