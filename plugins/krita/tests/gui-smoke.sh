#!/usr/bin/env bash
# GUI smoke test: a real Krita window under Xvfb with the plugin installed and enabled (temp HOME,
# kritarc written by installer/install-krita-plugin.sh). The docker writes what it did to a JSON
# file (INPAINTSUITE_SMOKE_RESULT): created, reached the daemon, listed engines, ran Inpaint on a
# photo through its own button path, undo removed the layer, redo restored it. Takes a screenshot,
# then ends Krita itself; a timeout ends a stuck run.
#   gui-smoke.sh BRIDGE_URL OUT_DIR [ENGINE]
set -u
url=$1; out=$2; engine=${3:-content-aware}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
timeout_s=${KRITA_GUI_TIMEOUT:-240}
photo=${KRITA_TEST_PHOTO:-/usr/lib/python3/dist-packages/skimage/data/chelsea.png}
mkdir -p "$out"
result="$out/gui-smoke.json"
rm -f "$result"
home=$(mktemp -d /tmp/inpaintsuite-krita-gui.XXXXXX)
export HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share"
export XDG_RUNTIME_DIR="$home/run"; mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
bash "$repo/installer/install-krita-plugin.sh" >/dev/null
# Krita autosaves next to the file it opened: give it a copy in the temp HOME.
cp "$photo" "$home/$(basename "$photo")"; photo="$home/$(basename "$photo")"
export INPAINTSUITE_BRIDGE_URL="$url" INPAINTSUITE_SMOKE_RESULT="$result"
export INPAINTSUITE_SMOKE_PHOTO="$photo" INPAINTSUITE_SMOKE_ENGINE="$engine"
export SHOT="$out/gui-smoke.png" RESULT="$result" TIMEOUT_S="$timeout_s"

# Inside the X session: start Krita, wait for the docker's "done", screenshot, end Krita by pid.
# xvfb-run -a can race another Xvfb for a display number; then Krita cannot connect: try again.
for attempt in 1 2 3; do
  timeout $((timeout_s + 60)) xvfb-run -a -s "-screen 0 1600x1000x24" bash -c '
    krita --nosplash > "$HOME/krita.log" 2>&1 &
    pid=$!
    for i in $(seq 1 "$TIMEOUT_S"); do
      if [ -f "$RESULT" ] && grep -q "\"done\": true" "$RESULT"; then break; fi
      kill -0 $pid 2>/dev/null || break
      sleep 1
    done
    sleep 2
    if command -v import >/dev/null; then import -window root "$SHOT" 2>/dev/null; fi
    kill $pid 2>/dev/null; sleep 2; kill -9 $pid 2>/dev/null
    true'
  grep -q "could not connect to display" "$home/krita.log" 2>/dev/null || break
  echo "Krita could not reach the Xvfb display (attempt $attempt); retrying"
  sleep $((attempt * 3))
done
cp "$home/krita.log" "$out/gui-krita.log" 2>/dev/null

pass=0; fail=0
check() { if [ "$2" = 1 ]; then echo "PASS gui $1"; pass=$((pass+1)); else echo "FAIL gui $1"; fail=$((fail+1)); fi; }
py() { /usr/bin/python3 -c "import json,sys; s=json.load(open('$result')); print(1 if ($1) else 0)" 2>/dev/null || echo 0; }
if [ -f "$result" ]; then
  cat "$result"
  check "docker created" "$(py 's["docker_created"]')"
  check "docker reached the daemon (health)" "$(py 's["health"] and "error" not in s["health"]')"
  check "engines listed" "$(py '"content-aware" in s["engines"] or "fill" in s["engines"]')"
  check "inpaint from the docker made a layer" "$(py 's.get("inpaint",{}).get("layer","") and s["inpaint"]["layer"].startswith("Inpaint") and s["inpaint"]["layer"] in s["inpaint"]["layers_after"]')"
  check "seed typed in the docker used (64-bit)" "$(py '"seed 12345678901234567" in s["inpaint"]["layer"]')"
  check "one undo removes the layer" "$(py 's["inpaint"]["layer"] not in s.get("layers_after_undo",[s["inpaint"]["layer"]])')"
  check "redo restores it" "$(py 's["inpaint"]["layer"] in s.get("layers_after_redo",[])')"
  check "no errors shown in the docker" "$(py 'not s["errors"]')"
else
  check "docker wrote its result file" 0
fi
[ -f "$out/gui-smoke.png" ] && echo "screenshot: $out/gui-smoke.png"
rm -rf "$home"
echo "gui: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
