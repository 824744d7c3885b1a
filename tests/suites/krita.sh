#!/usr/bin/env bash
# Krita plugin: the pure-Python core's unit tests (unittest, Debian's /usr/bin/python3), then the real
# Krita runs (plugins/krita/tests/run-headless.sh). Last line: "krita: N passed, N failed" (both summed).
set -u
cd "$(dirname "$0")/../.."
passed=0; failed=0
mkdir -p TestResults/krita-unit
echo "== krita plugin unit tests"
/usr/bin/python3 -m unittest discover -s plugins/krita/tests -p 'test_*.py' -v >TestResults/krita-unit/unittest.log 2>&1
rc=$?
ran=$(sed -n -E 's/^Ran ([0-9]+) tests? in .*/\1/p' TestResults/krita-unit/unittest.log | tail -n 1)
bad=$(sed -n -E 's/^FAILED \((.*)\)$/\1/p' TestResults/krita-unit/unittest.log | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
ran=${ran:-0}; bad=${bad:-0}
grep -E "(FAIL|ERROR)" TestResults/krita-unit/unittest.log | head -n 20
if [ "$ran" -eq 0 ] || { [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; }; then bad=$((bad + 1)); tail -n 20 TestResults/krita-unit/unittest.log; fi
echo "unit tests: $((ran - (bad > ran ? ran : bad))) passed, $bad failed (of $ran)"
passed=$((passed + ran - (bad > ran ? ran : bad))); failed=$((failed + bad))

echo "== krita in a real Krita"
bash plugins/krita/tests/run-headless.sh 2>&1 | tee TestResults/krita-unit/run-headless.log
line=$(grep -E '^krita: [0-9]+ passed, [0-9]+ failed' TestResults/krita-unit/run-headless.log | tail -n 1)
if [ -n "$line" ]; then
  passed=$((passed + $(echo "$line" | sed -E 's/krita: ([0-9]+) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')))
else
  echo "run-headless.sh printed no totals"; failed=$((failed + 1))
fi
echo "krita: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
