#!/usr/bin/env bash
# installer/install.ps1 under PowerShell 7 (the dotnet tool .ci/install-deps.sh installs) on Linux, every folder in a
# throw-away root: parses; -WhatIf changes nothing; a real install (-Yes -NoService) publishes a working CLI, copies
# a Paint.NET plugin build into a fake Paint.NET Effects folder and the Krita plugin into pykrita (kritarc enabled,
# other lines kept); re-run is safe; -Uninstall removes it all, models kept; -Purge deletes the prefix.
# Windows-only and not run here: the scheduled task, the user PATH / environment (registry), building the Paint.NET
# plugin against a real Paint.NET. Last line: "install-ps1: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
repo=$(pwd)
pass=0; fail=0
check() {
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}
pwsh=${INPAINTSUITE_PWSH:-}
[ -n "$pwsh" ] || pwsh=$(command -v pwsh || true)
[ -n "$pwsh" ] || [ ! -x /opt/pwsh/pwsh ] || pwsh=/opt/pwsh/pwsh
if [ -z "$pwsh" ]; then echo "FAIL pwsh not found (.ci/install-deps.sh installs PowerShell 7 into /opt/pwsh)"; echo "install-ps1: 0 passed, 1 failed"; exit 1; fi
echo "PowerShell $("$pwsh" -NoProfile -Command '$PSVersionTable.PSVersion.ToString()')"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/InpaintSuite"; effects="$tmp/Documents/paint.net App Files/Effects/InpaintSuite"
pykrita="$tmp/AppData/krita/pykrita"; kritarc="$tmp/AppData/Local/kritarc"
pdnbuild="$tmp/pdn-build"
mkdir -p "$pdnbuild" "$(dirname "$kritarc")"
# Stand-ins for a Paint.NET plugin build (the real one needs Paint.NET's DLLs): the script's copy step is what runs.
for f in InpaintSuite.PaintDotNet.dll InpaintSuite.PaintDotNet.Core.dll InpaintSuite.Protocol.dll Google.Protobuf.dll; do echo "$f" > "$pdnbuild/$f"; done
printf '[General]\nsomeSetting=1\n\n[python]\nenable_other_plugin=true\n' > "$kritarc"
ps1() { "$pwsh" -NoProfile -NonInteractive -File installer/install.ps1 -Prefix "$prefix" -PdnEffects "$effects" -KritaPykrita "$pykrita" -KritaRc "$kritarc" "$@"; }

echo "== parse"
check "install.ps1 parses with no errors" "$pwsh" -NoProfile -Command \
  '$e=$null; [void][System.Management.Automation.Language.Parser]::ParseFile("installer/install.ps1",[ref]$null,[ref]$e); if ($e.Count) { $e | % { $_.ToString() }; exit 1 }'

echo "== -WhatIf"
ps1 -Yes -NoService -PdnPluginBuild "$pdnbuild" -WhatIf > "$tmp/whatif.log" 2>&1
rc=$?
cat "$tmp/whatif.log"
check "-WhatIf exits 0" test "$rc" -eq 0
check "-WhatIf names the publish step" grep -q "What if: .*publish the daemon and CLI" "$tmp/whatif.log"
check "-WhatIf names the Krita step" grep -q "What if: .*install the Krita plugin" "$tmp/whatif.log"
check "-WhatIf created no prefix" test ! -e "$prefix"
check "-WhatIf left kritarc as it was" grep -qx "enable_other_plugin=true" "$kritarc"
check "-WhatIf wrote no enable line" bash -c "! grep -q enable_inpaint_suite '$kritarc'"

echo "== install -Yes -NoService"
ps1 -Yes -NoService -PdnPluginBuild "$pdnbuild" > "$tmp/install.log" 2>&1
rc=$?
cat "$tmp/install.log"
check "install exits 0" test "$rc" -eq 0
check "CLI published and runs (--version)" "$prefix/app/inpaintsuite" --version
check "ONNX Runtime native library published (the script says so)" grep -q "ONNX Runtime native library in place" "$tmp/install.log"
check "Paint.NET plugin copied into the Effects folder" bash -c "for f in InpaintSuite.PaintDotNet.dll InpaintSuite.PaintDotNet.Core.dll InpaintSuite.Protocol.dll Google.Protobuf.dll; do cmp -s '$pdnbuild'/\$f '$effects'/\$f || exit 1; done"
check "Krita plugin in pykrita" test -f "$pykrita/inpaint_suite.desktop" -a -f "$pykrita/inpaint_suite/__init__.py"
check "Krita plugin enabled in kritarc" grep -qx "enable_inpaint_suite=true" "$kritarc"
check "kritarc keeps its other lines" bash -c "grep -qx 'someSetting=1' '$kritarc' && grep -qx 'enable_other_plugin=true' '$kritarc'"
check "Windows-only steps said so" grep -q "Windows scheduled task: skipped\|-NoService" "$tmp/install.log"

echo "== re-run is safe"
ps1 -Yes -NoService -PdnPluginBuild "$pdnbuild" > "$tmp/install2.log" 2>&1
check "second install exits 0" test $? -eq 0
check "still exactly one enable line in kritarc" test "$(grep -c '^enable_inpaint_suite=' "$kritarc")" -eq 1
check "one [python] group in kritarc" test "$(grep -cx '\[python\]' "$kritarc")" -eq 1

echo "== a broken plugin build is an error"
rm "$pdnbuild/Google.Protobuf.dll"
ps1 -Yes -NoService -PdnPluginBuild "$pdnbuild" > "$tmp/install3.log" 2>&1
rc=$?
check "install with an incomplete plugin build fails" test "$rc" -ne 0
check "and names the missing file" grep -q "Google.Protobuf.dll" "$tmp/install3.log"

echo "== -Uninstall"
mkdir -p "$prefix/models/keep-me"
ps1 -Uninstall -Yes > "$tmp/uninstall.log" 2>&1
rc=$?
cat "$tmp/uninstall.log"
check "uninstall exits 0" test "$rc" -eq 0
check "app removed" test ! -e "$prefix/app"
check "Paint.NET plugin removed" test ! -e "$effects"
check "Krita plugin removed" test ! -e "$pykrita/inpaint_suite" -a ! -e "$pykrita/inpaint_suite.desktop"
check "Krita plugin disabled in kritarc" grep -qx "enable_inpaint_suite=false" "$kritarc"
check "models kept without -Purge" test -d "$prefix/models/keep-me"
ps1 -Uninstall -Yes -Purge > /dev/null 2>&1
check "-Purge deletes the prefix" test ! -e "$prefix"

echo "install-ps1: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
