#!/usr/bin/env bash
# The Krita plugin in a real Krita, against a real daemon:
#   1. headless: QT_QPA_PLATFORM=offscreen kritarunner runs tests/headless_krita.py (the plugin's own
#      inpaint and outpaint code path on a photo, 8-bit and 16-bit documents, plus error cases);
#   2. GUI smoke: tests/gui-smoke.sh (xvfb-run krita --nosplash with the plugin installed).
# Starts its own daemon on a free loopback port through the CLI (`inpaintsuite serve`) unless
# INPAINTSUITE_DAEMON names a running one (its JSON bridge URL, e.g. http://127.0.0.1:50152).
# Artifacts (PNGs, logs, results) go to TestResults/krita/. Exits non-zero on any failure; the last
# line is "krita: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
plugin=$(cd "$here/.." && pwd)
repo=$(cd "$plugin/../.." && pwd)
out="${KRITA_TEST_OUT:-$repo/TestResults/krita}"
photo=${KRITA_TEST_PHOTO:-/usr/lib/python3/dist-packages/skimage/data/chelsea.png}
rm -rf "$out"; mkdir -p "$out"
passed=0; failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
finish() { echo "krita: $passed passed, $failed failed"; [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; exit $?; }

for tool in kritarunner krita xvfb-run; do
  command -v "$tool" >/dev/null || { fail "$tool is missing: apt-get install krita xvfb xauth (see .ci/install-deps.sh)"; finish; }
done
/usr/bin/python3 -c "import PyQt5.QtNetwork" 2>/dev/null \
  || { fail "Krita's Python has no PyQt5: apt-get install python3-pyqt5"; finish; }
[ -f "$photo" ] || { fail "test photo $photo is missing: apt-get install python3-skimage"; finish; }

daemon_pid=""
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null; }
trap cleanup EXIT

http_get() { /usr/bin/python3 - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        sys.stdout.write(r.read().decode())
except Exception as e:
    sys.stderr.write(str(e)); sys.exit(1)
PY
}

if [ -n "${INPAINTSUITE_DAEMON:-}" ]; then
  url=${INPAINTSUITE_DAEMON%/}
  echo "using the daemon at $url"
else
  free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  grpc_port=$(free_port); bridge_port=$(free_port)
  while [ "$bridge_port" = "$grpc_port" ]; do bridge_port=$(free_port); done
  url="http://127.0.0.1:$bridge_port"
  cli_dll=$(ls "$repo"/src/InpaintSuite.Cli/bin/Release/net*/inpaintsuite.dll 2>/dev/null | head -n 1)
  if [ -z "$cli_dll" ]; then
    echo "building the CLI (Release)"
    dotnet build "$repo/src/InpaintSuite.Cli/InpaintSuite.Cli.csproj" -c Release -nologo -v quiet >"$out/cli-build.log" 2>&1
    cli_dll=$(ls "$repo"/src/InpaintSuite.Cli/bin/Release/net*/inpaintsuite.dll 2>/dev/null | head -n 1)
  fi
  [ -n "$cli_dll" ] || { fail "could not build the CLI (see $out/cli-build.log)"; finish; }
  echo "starting the daemon: inpaintsuite serve --port $grpc_port --bridge-port $bridge_port"
  dotnet "$cli_dll" serve --port "$grpc_port" --bridge-port "$bridge_port" >"$out/daemon.log" 2>&1 &
  daemon_pid=$!
fi

healthy=0
for i in $(seq 1 120); do
  if http_get "$url/v1/health" >/dev/null 2>&1; then healthy=1; break; fi
  [ -n "$daemon_pid" ] && ! kill -0 "$daemon_pid" 2>/dev/null && break
  sleep 1
done
if [ "$healthy" -ne 1 ]; then
  fail "daemon at $url never became healthy (log: $out/daemon.log)"
  [ -f "$out/daemon.log" ] && tail -n 20 "$out/daemon.log"
  finish
fi
caps=$(http_get "$url/v1/capabilities")
echo "daemon capabilities: $caps"
if echo "$caps" | grep -q '"content-aware"'; then engine=content-aware
else engine=fill; echo "NOTE: the daemon offers no content-aware engine; testing with \"fill\""; fi

# 1. headless kritarunner
home=$(mktemp -d /tmp/inpaintsuite-krita-headless.XXXXXX)
echo "== headless kritarunner (engine $engine)"
HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" XDG_RUNTIME_DIR="$home" \
  QT_QPA_PLATFORM=offscreen PYTHONPATH="$plugin:$here" INPAINTSUITE_NO_REGISTER=1 \
  timeout "${KRITA_HEADLESS_TIMEOUT:-900}" kritarunner -s headless_krita -f main "$url" "$photo" "$out" "$engine" \
  >"$out/headless.log" 2>&1
rc=$?
rm -rf "$home"
grep -E "^(PASS|FAIL|headless:|daemon error text|inpaint-)" "$out/headless.log"
if [ -f "$out/results.json" ]; then
  p=$(/usr/bin/python3 -c "import json; print(len(json.load(open('$out/results.json'))['passed']))")
  f=$(/usr/bin/python3 -c "import json; print(len(json.load(open('$out/results.json'))['failed']))")
  passed=$((passed + p)); failed=$((failed + f))
  [ "$p" -gt 0 ] || fail "headless run passed nothing"
else
  fail "headless kritarunner wrote no results (exit $rc); last lines of $out/headless.log:"
  grep -v "krita.lib.resources" "$out/headless.log" | tail -n 15
fi
rm -f "$out"/work-*

# 2. GUI smoke under Xvfb
echo "== GUI smoke (xvfb-run krita --nosplash)"
bash "$here/gui-smoke.sh" "$url" "$out" "$engine" | tee "$out/gui-smoke.log"
line=$(grep -E '^gui: [0-9]+ passed, [0-9]+ failed' "$out/gui-smoke.log" | tail -n 1)
if [ -n "$line" ]; then
  passed=$((passed + $(echo "$line" | sed -E 's/gui: ([0-9]+) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')))
else
  fail "GUI smoke printed no totals"
fi
echo "artifacts: $out"
finish
