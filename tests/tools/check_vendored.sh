#!/usr/bin/env bash
# The reference data vendored in tests/data/shared must be a faithful copy of ../shared (where that exists):
# byte-identical reference files, and eval cases that materialize pixel-identical to ../shared/eval/cases.
# Ends with "check-vendored: N passed, N failed" like the other suites.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
shared="${INPAINTSUITE_VENDOR_CHECK_DIR:-$root/../shared}"; vendored="$root/tests/data/shared"
if [ ! -d "$shared/reference" ]; then echo "no ../shared (or INPAINTSUITE_VENDOR_CHECK_DIR) to compare with"; echo "check-vendored: 0 passed, 0 failed"; exit 0; fi
passed=0; failed=0; bad=0
# One check per line below: reference files identical, every reference file vendored, eval pixel-identical, scripts identical.
while IFS= read -r -d '' f; do
  rel=${f#"$vendored/reference/"}
  cmp -s "$f" "$shared/reference/$rel" || { echo "differs from ../shared: reference/$rel"; bad=$((bad+1)); }
done < <(find "$vendored/reference" -type f -print0)
[ "$bad" -eq 0 ] && passed=$((passed+1)) || failed=$((failed+1))
bad=0
# Every reference folder the tests read is vendored in full (a new file in ../shared must be copied too).
for d in diffusers sdxl lora onnx-conformance; do
  while IFS= read -r -d '' f; do
    rel=${f#"$shared/reference/"}
    case "$rel" in diffusers/tokenizer/bpe_simple_vocab_16e6.txt.gz) continue;; esac
    [ -f "$vendored/reference/$rel" ] || { echo "not vendored: reference/$rel"; bad=$((bad+1)); }
  done < <(find "$shared/reference/$d" -type f -print0)
done
[ "$bad" -eq 0 ] && passed=$((passed+1)) || failed=$((failed+1))
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$root/tests/tools/materialize_eval.py" "$vendored/eval" "$tmp" >/dev/null
if /usr/bin/python3 - "$shared/eval/cases" "$tmp/cases" <<'PY'
import sys, os, glob
import numpy as np
from PIL import Image
a_dir, b_dir = sys.argv[1], sys.argv[2]
bad = 0
files = sorted(glob.glob(os.path.join(a_dir, "*.png")))
for f in files:
    g = os.path.join(b_dir, os.path.basename(f))
    if not os.path.exists(g) or not np.array_equal(np.array(Image.open(f)), np.array(Image.open(g))):
        print("eval case differs:", os.path.basename(f)); bad += 1
print(f"{len(files) - bad} of {len(files)} eval files pixel-identical")
sys.exit(1 if bad or not files else 0)
PY
then passed=$((passed+1)); else failed=$((failed+1)); fi
bad=0
for f in score.py baseline_cv2.py README.md; do cmp -s "$vendored/eval/$f" "$shared/eval/$f" || { echo "differs: eval/$f"; bad=$((bad+1)); }; done
cmp -s "$vendored/eval/cases.json" "$shared/eval/cases/cases.json" || { echo "differs: eval/cases.json"; bad=$((bad+1)); }
[ "$bad" -eq 0 ] && passed=$((passed+1)) || failed=$((failed+1))
echo "check-vendored: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
