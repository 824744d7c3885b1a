#!/usr/bin/env bash
# Content-aware fill vs cv2.inpaint Telea (r=5, as ../shared/eval/baseline_cv2.py) on the same eval cases in one
# run: per-case times (fill only, no PNG I/O, for both), medians and their ratio, and score.py's summary of each.
# usage: tests/bench/content-aware-vs-telea.sh [CASES] [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
cases=${1:-$(tests/tools/shared-dir.sh eval)/cases}
out=${2:-$(mktemp -d /tmp/caf-vs-telea.XXXXXX)}
py=/usr/bin/python3
mkdir -p "$out/content-aware" "$out/telea"
dotnet build tests/InpaintSuite.Benchmarks -c Release -nologo -v quiet >/dev/null
bench=tests/InpaintSuite.Benchmarks/bin/Release/net10.0/InpaintSuite.Benchmarks.dll
echo "== cv2.inpaint Telea"
$py tests/bench/content-aware/telea_timed.py "$cases" "$out/telea" telea 5 > "$out/telea.times"
echo "== content-aware"
dotnet "$bench" eval-content-aware "$cases" "$out/content-aware" > "$out/content-aware.times"
score() { $py "$cases/../score.py" "$cases" "$1" | tail -n 1; }
$py - "$out" "$(score "$out/telea")" "$(score "$out/content-aware")" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys, json, statistics
out = sys.argv[1]
def times(name):
    rows = [l.split() for l in open(f"{out}/{name}.times") if l.strip() and not l.startswith("median")]
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}
t, c = times("telea"), times("content-aware")
print(f"{'case':26} {'telea s':>8} {'c-a s':>8} {'telea cpu':>10} {'c-a cpu':>8}")
for k in t:
    print(f"{k:26} {t[k][0]:8.3f} {c[k][0]:8.3f} {t[k][1]:10.3f} {c[k][1]:8.3f}")
med = lambda d, i: statistics.median(v[i] for v in d.values())
mt, mc = med(t, 0), med(c, 0)
print(f"median per-case time: telea {mt:.3f} s, content-aware {mc:.3f} s, ratio {mc / mt:.2f}x (target <= 8x)")
print(f"median per-case cpu:  telea {med(t, 1):.3f} s, content-aware {med(c, 1):.3f} s (content-aware uses all cores)")
print(f"load average while measuring: {sys.argv[4]} (2 cores shared with other work)")
for name, s in (("telea", sys.argv[2]), ("content-aware", sys.argv[3])):
    s = json.loads(s)
    print(f"{name:14} psnr {s['psnr']:.2f} ssim {s['ssim']:.4f} texture {s['texture']:.3f} seam {s['seam']:.3f} outside_max {s['outside_max']}")
print(f"outputs in {out}")
PY
