#!/usr/bin/env bash
# The content-aware engine through the user's path (daemon + CLI, default settings, seed 0; see
# content-aware/cli_eval.py) beside cv2.inpaint Telea r=5 on the same eval cases in one run: per-kind quality
# table (score.py's metrics), per-case times and the median ratio (daemon-reported fill seconds vs Telea's).
# usage: tests/bench/content-aware-cli-vs-telea.sh [CASES] [OUTDIR] [CLI_DLL]
set -euo pipefail
cd "$(dirname "$0")/../.."
cases=${1:-../shared/eval/cases}
out=${2:-$(mktemp -d /tmp/caf-cli-vs-telea.XXXXXX)}
cli=${3:-src/InpaintSuite.Cli/bin/Release/net10.0/inpaintsuite.dll}
py=/usr/bin/python3
mkdir -p "$out"
[ -n "${3:-}" ] || dotnet build src/InpaintSuite.Cli -c Release -nologo -v quiet >/dev/null
$py tests/bench/content-aware/telea_timed.py "$cases" "$out/telea" telea 5 > "$out/telea.times"
$py tests/bench/content-aware/cli_eval.py "$cases" "$out/cli" "$cli"
$py tests/bench/content-aware/kinds.py "$cases" telea="$out/telea" content-aware-cli="$out/cli"
$py - "$out" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys, statistics
out = sys.argv[1]
t = {l.split()[0]: float(l.split()[1]) for l in open(f"{out}/telea.times") if l.strip()}
c = {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(f"{out}/cli/times.txt") if l.strip()}
mt, mc, mw = statistics.median(t.values()), statistics.median(v[0] for v in c.values()), statistics.median(v[1] for v in c.values())
print(f"median per-case time: telea {mt:.3f} s, content-aware in the daemon {mc:.3f} s, ratio {mc / mt:.2f}x (target <= 8x);"
      f" CLI process wall incl. start {mw:.3f} s; load average {sys.argv[2]}")
print(f"outputs in {out}")
PY
