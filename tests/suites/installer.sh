#!/usr/bin/env bash
# installer/install.sh end to end in a throw-away HOME: install (--yes --no-service), unit file valid,
# Krita plugin present and enabled, CLI on PATH, the installed daemon (started by hand) answers
# `inpaintsuite health`, re-run is safe, --uninstall removes it all. Last line: "installer: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
repo=$(pwd)
pass=0; fail=0
check() {
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}

tmp=$(mktemp -d)
daemon_pid=""
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# Keep using the machine's NuGet cache and .NET CLI state: a fresh HOME would otherwise re-download
# every package for the publish step.
export NUGET_PACKAGES="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
export DOTNET_CLI_HOME="${DOTNET_CLI_HOME:-$HOME}"
export HOME="$tmp/home"
unset XDG_DATA_HOME XDG_CONFIG_HOME INPAINTSUITE_PREFIX INPAINTSUITE_MODELS_DIR
mkdir -p "$HOME"
# The published app and the systemd unit must not depend on the repo's own build output paths.
prefix="$HOME/.local/share/inpaintsuite"
unit="$HOME/.config/systemd/user/inpaintsuite.service"
pykrita="$HOME/.local/share/krita/pykrita"
kritarc="$HOME/.config/kritarc"

echo "== install.sh --yes --no-service (HOME=$HOME)"
bash installer/install.sh --yes --no-service > "$tmp/install.log" 2>&1
rc=$?
cat "$tmp/install.log"
check "install.sh exits 0" test "$rc" -eq 0
check "daemon unit file written" test -f "$unit"
check "unit runs the installed daemon" grep -q "^ExecStart=\"$prefix/app/inpaintsuite\" serve --models \"$prefix/models\"" "$unit"
if command -v systemd-analyze >/dev/null 2>&1; then
  # Verifies syntax and that ExecStart's binary exists and is executable.
  check "unit valid (systemd-analyze verify)" systemd-analyze verify "$unit"
else
  check "unit has [Unit]/[Service]/[Install] (systemd-analyze not installed)" grep -q "^WantedBy=default.target" "$unit"
fi
check "Krita plugin in pykrita" test -f "$pykrita/inpaint_suite.desktop" -a -d "$pykrita/inpaint_suite"
check "Krita plugin enabled in kritarc" grep -q "^enable_inpaint_suite=true" "$kritarc"
check "CLI on PATH (~/.local/bin)" test "$(PATH="$HOME/.local/bin:$PATH" command -v inpaintsuite)" = "$HOME/.local/bin/inpaintsuite"
check "ONNX Runtime native library published" bash -c "ls '$prefix'/app/runtimes/*/native/ | grep -q onnxruntime"
# SkiaSharp (image files other than PNG): a native library per RID; on Linux the NoDependencies build (no fontconfig).
check "SkiaSharp native library published for linux-x64, linux-arm64, win-x64, osx" test -f "$prefix/app/runtimes/linux-x64/native/libSkiaSharp.so" \
  -a -f "$prefix/app/runtimes/linux-arm64/native/libSkiaSharp.so" -a -f "$prefix/app/runtimes/win-x64/native/libSkiaSharp.dll" -a -f "$prefix/app/runtimes/osx/native/libSkiaSharp.dylib"
check "Linux SkiaSharp needs no fontconfig/freetype" bash -c "! ldd '$prefix/app/runtimes/linux-x64/native/libSkiaSharp.so' | grep -Eq 'fontconfig|freetype|not found'"
if /usr/bin/python3 -c "import PIL" 2>/dev/null; then
  /usr/bin/python3 -c "from PIL import Image; Image.open('$repo/tests/data/sample/photo.png').convert('RGB').save('$tmp/photo.webp', quality=85)"
  PATH="$HOME/.local/bin:$PATH" inpaintsuite inpaint "$tmp/photo.webp" --mask "$repo/tests/data/sample/photo.mask.png" -o "$tmp/out.webp" --engine fill > "$tmp/webp.log" 2>&1
  check "installed CLI: inpaint photo.webp -o out.webp writes a WebP" bash -c "head -c 12 '$tmp/out.webp' | grep -q WEBP"
fi

echo "== the installed daemon, started by hand, answers health"
PATH="$HOME/.local/bin:$PATH" inpaintsuite serve --port 0 --bridge-port -1 --port-file "$tmp/ports.json" > "$tmp/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 150); do [ -s "$tmp/ports.json" ] && break; sleep 0.2; done
port=$(sed -n 's/.*"grpc": *\([0-9]*\).*/\1/p' "$tmp/ports.json" 2>/dev/null)
health=$(PATH="$HOME/.local/bin:$PATH" inpaintsuite health --daemon "http://127.0.0.1:${port:-1}" 2>&1)
echo "health: $health"
check "inpaintsuite health answers SERVING" test "$health" = "SERVING"
check "models list works from the installed CLI" bash -c "PATH='$HOME/.local/bin:$PATH' inpaintsuite models list | grep -q sd2-inpainting"
kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; daemon_pid=""

echo "== re-run is safe"
bash installer/install.sh --yes --no-service > "$tmp/install2.log" 2>&1
check "second install.sh exits 0" test $? -eq 0
check "still exactly one enable line in kritarc" test "$(grep -c '^enable_inpaint_suite=' "$kritarc")" -eq 1

echo "== --uninstall"
mkdir -p "$prefix/models/keep-me"
bash installer/install.sh --uninstall --yes --no-service > "$tmp/uninstall.log" 2>&1
rc=$?
cat "$tmp/uninstall.log"
check "uninstall exits 0" test "$rc" -eq 0
check "unit removed" test ! -e "$unit"
check "CLI wrapper removed" test ! -e "$HOME/.local/bin/inpaintsuite"
check "app removed" test ! -e "$prefix/app"
check "Krita plugin removed" test ! -e "$pykrita/inpaint_suite"
check "Krita plugin disabled in kritarc" grep -q "^enable_inpaint_suite=false" "$kritarc"
check "models kept without --purge" test -d "$prefix/models/keep-me"
bash installer/install.sh --uninstall --yes --no-service --purge > /dev/null 2>&1
check "--purge deletes the prefix" test ! -e "$prefix"

echo "installer: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
