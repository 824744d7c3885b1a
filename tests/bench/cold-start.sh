#!/usr/bin/env bash
# CLI cold start: one 512x512 content-aware fill from a fresh process, the JIT-only publish output (baseline) beside
# the ReadyToRun one (-p:PublishReadyToRun=true), run interleaved in the same run; plus the warm per-call
# engine time of the same job sent to a running daemon of each output (`--daemon`). Reports medians and ratios.
# usage: tests/bench/cold-start.sh [ROUNDS=7]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-7}
py=/usr/bin/python3
work=$(mktemp -d /tmp/cold-start.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
echo "== publishing (JIT baseline: -p:PublishReadyToRun=false)"
dotnet publish src/InpaintSuite.Cli -c Release -p:PublishReadyToRun=false -o "$work/jit" -nologo -v quiet >/dev/null
dotnet publish src/InpaintSuite.Cli -c Release -p:PublishReadyToRun=true -o "$work/r2r" -nologo -v quiet >/dev/null
# A 512x512 crop of the README sample and of its mask.
$py - "$work" <<'PY'
import sys
from PIL import Image
w = sys.argv[1]
Image.open("tests/data/sample/photo.png").convert("RGB").crop((120, 20, 632, 532)).save(f"{w}/photo.png")
Image.open("tests/data/sample/photo.mask.png").convert("L").crop((120, 20, 632, 532)).save(f"{w}/mask.png")
PY
job=(inpaint "$work/photo.png" --mask "$work/mask.png" --seed 1 --json)
: > "$work/cold.txt"
for r in $(seq 1 "$rounds"); do
  for v in jit r2r; do
    start=$(date +%s.%N)
    out=$("$work/$v/inpaintsuite" "${job[@]}" -o "$work/$v-$r.png")
    end=$(date +%s.%N)
    echo "$v $(echo "$end - $start" | bc) $(echo "$out" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p')" >> "$work/cold.txt"
  done
done
: > "$work/warm.txt"
for v in jit r2r; do
  "$work/$v/inpaintsuite" serve --port 0 --bridge-port -1 --port-file "$work/$v.ports" > "$work/$v.daemon.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do [ -s "$work/$v.ports" ] && break; sleep 0.2; done
  port=$(sed -n 's/.*"grpc": *\([0-9]*\).*/\1/p' "$work/$v.ports")
  for r in $(seq 1 $((rounds + 2))); do
    out=$("$work/$v/inpaintsuite" "${job[@]}" --daemon "http://127.0.0.1:$port" -o "$work/$v-warm-$r.png")
    [ "$r" -gt 2 ] && echo "$v $(echo "$out" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p')" >> "$work/warm.txt"
  done
done
cmp -s "$work/jit-1.png" "$work/r2r-1.png" || { echo "ReadyToRun and JIT outputs differ"; exit 1; }
$py - "$work" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys, statistics as st
w, load = sys.argv[1], sys.argv[2]
cold = {"jit": ([], []), "r2r": ([], [])}
for line in open(f"{w}/cold.txt"):
    v, wall, eng = line.split(); cold[v][0].append(float(wall)); cold[v][1].append(float(eng))
warm = {"jit": [], "r2r": []}
for line in open(f"{w}/warm.txt"):
    v, eng = line.split(); warm[v].append(float(eng))
m = lambda xs: st.median(xs)
print(f"load average {load}; medians of {len(cold['jit'][0])} fresh processes (interleaved) and {len(warm['jit'])} warm daemon calls")
print("| publish output | cold wall s | cold engine s | warm engine s (daemon) | cold engine / warm |")
print("|---|---|---|---|---|")
for v, name in (("jit", "JIT only (baseline)"), ("r2r", "ReadyToRun")):
    print(f"| {name} | {m(cold[v][0]):.3f} | {m(cold[v][1]):.3f} | {m(warm[v]):.3f} | {m(cold[v][1]) / m(warm[v]):.2f} |")
print(f"ReadyToRun / JIT: cold wall {m(cold['r2r'][0]) / m(cold['jit'][0]):.2f}, cold engine {m(cold['r2r'][1]) / m(cold['jit'][1]):.2f}")
PY
