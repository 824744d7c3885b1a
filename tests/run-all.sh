#!/usr/bin/env bash
# Runs every test suite of the project and ends with one line: "N passed, N failed".
#   .NET: every test project in InpaintSuite.sln (xunit; interop tests drive Debian's python3-grpcio,
#         OpenCV, Pillow and skimage through /usr/bin/python3)
#   Krita plugin: the pure-Python core (unittest) and the headless Krita run (kritarunner)
# Exit code: 0 only when nothing failed and something ran.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
results="$root/TestResults"
rm -rf "$results"; mkdir -p "$results"
passed=0; failed=0

echo "== build"
if ! dotnet build InpaintSuite.sln -c Release -nologo -v quiet; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

echo "== dotnet test"
dotnet test InpaintSuite.sln -c Release --no-build -nologo \
  --logger "trx" --logger "console;verbosity=minimal" --results-directory "$results/dotnet"
dotnet_rc=$?
for trx in "$results"/dotnet/*.trx; do
  [ -f "$trx" ] || continue
  p=$(grep -o '<Counters [^>]*' "$trx" | sed -n 's/.* passed="\([0-9]*\)".*/\1/p')
  f=$(grep -o '<Counters [^>]*' "$trx" | sed -n 's/.* failed="\([0-9]*\)".*/\1/p')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
# A crashed or aborted test host may leave no failed count in its trx: the exit code still counts.
if [ "$dotnet_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then echo "dotnet test exited $dotnet_rc"; failed=$((failed + 1)); fi

# Python suites report "name: N passed, N failed" as their last line; add them up.
run_suite() {
  local name=$1; shift
  echo "== $name"
  local log="$results/$name.log"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$name: printed no totals (exit $rc)"; failed=$((failed + 1)); return
  fi
  local p f
  p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
}

for suite in tests/suites/*.sh; do
  [ -f "$suite" ] || continue
  run_suite "$(basename "$suite" .sh)" bash "$suite"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
