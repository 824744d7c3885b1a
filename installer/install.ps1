<#
.SYNOPSIS
  Installs InpaintSuite for the current Windows user.
.DESCRIPTION
  - publishes the daemon + CLI (inpaintsuite.exe) from this checkout into $Prefix\app (the build
    fetches the ONNX Runtime native library, build/OnnxRuntime.targets, into the same folder)
  - puts the app folder on the user's PATH
  - registers a per-user scheduled task "InpaintSuite Daemon" that starts the daemon at logon, and starts it
  - installs the Paint.NET plugin into Documents\paint.net App Files\Effects\InpaintSuite\ when Paint.NET 5.1
    is found (-PdnRoot; built against it), and the Krita plugin into %APPDATA%\krita\pykrita (enabled in kritarc)
  - optionally installs a model set (-Model NAME [-BaseUrl URL|folder])
  Re-running is safe. -Uninstall undoes it (models kept unless -Purge). -WhatIf prints every step and changes nothing.
  The folders can be given explicitly (-Prefix, -PdnEffects, -KritaPykrita, -KritaRc): CI runs this script under
  PowerShell 7 on Linux with all of them in a temporary folder (tests/suites/install-ps1.sh).
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Yes
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Yes -WhatIf
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Uninstall -Yes
#>
[CmdletBinding(SupportsShouldProcess)]
param(
  [switch]$Yes,
  [switch]$NoService,
  [switch]$Uninstall,
  [switch]$Purge,
  [string]$Model = "",
  [string]$BaseUrl = "",
  [string]$Prefix = "",
  [string]$PdnRoot = "C:\Program Files\paint.net",
  # A folder holding an already built Paint.NET plugin (its four DLLs): copied instead of building against -PdnRoot.
  [string]$PdnPluginBuild = "",
  [string]$PdnEffects = "",
  [string]$KritaPykrita = "",
  [string]$KritaRc = ""
)
$ErrorActionPreference = "Stop"
# Windows PowerShell 5.1 has no $IsWindows; there it is always Windows.
$onWindows = ($PSVersionTable.PSEdition -eq "Desktop") -or $IsWindows
function Get-KnownFolder([string]$envName, [Environment+SpecialFolder]$folder) {
  $v = [Environment]::GetEnvironmentVariable($envName)
  if (-not $v) { $v = [Environment]::GetFolderPath($folder) }
  if (-not $v) { throw "cannot tell where $envName is on this system: pass the folder explicitly (see Get-Help install.ps1)" }
  return $v
}
if (-not $Prefix) { $Prefix = Join-Path (Get-KnownFolder "LOCALAPPDATA" LocalApplicationData) "InpaintSuite" }
if (-not $PdnEffects) { $PdnEffects = Join-Path (Get-KnownFolder "USERPROFILE_DOCUMENTS" MyDocuments) "paint.net App Files\Effects\InpaintSuite" }
if (-not $KritaPykrita) { $KritaPykrita = Join-Path (Get-KnownFolder "APPDATA" ApplicationData) "krita\pykrita" }
if (-not $KritaRc) { $KritaRc = Join-Path (Get-KnownFolder "LOCALAPPDATA" LocalApplicationData) "kritarc" }
$repo = Split-Path -Parent $PSScriptRoot
$app = Join-Path $Prefix "app"
$models = Join-Path $Prefix "models"
$taskName = "InpaintSuite Daemon"
$pdnEffects = $PdnEffects
$pykrita = $KritaPykrita
$kritarc = $KritaRc
$exeName = if ($onWindows) { "inpaintsuite.exe" } else { "inpaintsuite" }
$pdnPluginFiles = @("InpaintSuite.PaintDotNet.dll", "InpaintSuite.PaintDotNet.Core.dll", "InpaintSuite.Protocol.dll", "Google.Protobuf.dll")
$done = New-Object System.Collections.Generic.List[string]
function Did([string]$what) { $done.Add($what); Write-Host "  - $what" }
# Every step that changes the system asks ShouldProcess first, so -WhatIf prints it and does nothing.
function Should([string]$target, [string]$action) { return $PSCmdlet.ShouldProcess($target, $action) }

function Confirm-Step([string]$question) {
  if ($Yes -or $WhatIfPreference) { return }
  $a = Read-Host "$question [y/N]"
  if ($a -notmatch '^(y|yes)$') { Write-Host "nothing done"; exit 1 }
}

# Sets enable_inpaint_suite in kritarc's [python] group, keeping every other line.
function Set-KritaEnabled([string]$value) {
  $lines = @()
  if (Test-Path $kritarc) { $lines = Get-Content $kritarc }
  $out = New-Object System.Collections.Generic.List[string]
  $inPython = $false; $written = $false
  foreach ($l in $lines) {
    if ($l -match '^\[') {
      if ($inPython -and -not $written) { $out.Add("enable_inpaint_suite=$value"); $written = $true }
      $inPython = ($l -eq "[python]")
    }
    if ($inPython -and $l -match '^enable_inpaint_suite=') { if (-not $written) { $out.Add("enable_inpaint_suite=$value"); $written = $true }; continue }
    $out.Add($l)
  }
  if (-not $written) { if (-not $inPython) { $out.Add(""); $out.Add("[python]") }; $out.Add("enable_inpaint_suite=$value") }
  New-Item -ItemType Directory -Force -Path (Split-Path $kritarc) | Out-Null
  Set-Content -Path $kritarc -Value $out -Encoding UTF8
}

function Remove-FromUserPath([string]$dir) {
  $p = [Environment]::GetEnvironmentVariable("Path", "User")
  if ($p) {
    $parts = $p.Split(';') | Where-Object { $_ -and ($_.TrimEnd('\') -ne $dir.TrimEnd('\')) }
    [Environment]::SetEnvironmentVariable("Path", ($parts -join ';'), "User")
  }
}

function Remove-KritaPlugin {
  foreach ($p in @((Join-Path $pykrita "inpaint_suite"), (Join-Path $pykrita "inpaint_suite.desktop"))) { if (Test-Path $p) { Remove-Item -Recurse -Force $p } }
}

if ($Uninstall) {
  Confirm-Step "Remove InpaintSuite from $Prefix, its startup task, PATH entry and plugins?"
  Write-Host "Uninstalling InpaintSuite:"
  if ($onWindows -and (Get-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue) -and (Should $taskName "remove the startup task")) {
    Stop-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue
    Unregister-ScheduledTask -TaskName $taskName -Confirm:$false
    Did "removed the startup task '$taskName'"
  }
  if (Should $app "stop its running daemon") {
    Get-Process inpaintsuite -ErrorAction SilentlyContinue | Where-Object { $_.Path -like "$app*" } | Stop-Process -Force
  }
  if ($onWindows -and (Should "user PATH" "remove $app")) { Remove-FromUserPath $app; Did "removed $app from the user PATH" }
  if ((Test-Path $pdnEffects) -and (Should $pdnEffects "remove the Paint.NET plugin")) { Remove-Item -Recurse -Force $pdnEffects; Did "removed the Paint.NET plugin ($pdnEffects)" }
  if (Should $pykrita "remove the Krita plugin and disable it in kritarc") {
    Remove-KritaPlugin
    if (Test-Path $kritarc) { Set-KritaEnabled "false" }
    Did "removed the Krita plugin and disabled it in kritarc"
  }
  if ((Test-Path $app) -and (Should $app "delete")) { Remove-Item -Recurse -Force $app; Did "removed $app" }
  if ($Purge -and (Test-Path $Prefix) -and (Should $Prefix "delete (models included)")) { Remove-Item -Recurse -Force $Prefix; Did "deleted $Prefix (models included)" }
  Write-Host "InpaintSuite uninstalled."
  exit 0
}

if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) { throw "The .NET SDK 10 ('dotnet') is needed to build InpaintSuite; install it first." }
Confirm-Step "Install InpaintSuite into $Prefix?"
Write-Host "Installing InpaintSuite:"

# 1. Daemon + CLI, published beside the old copy and swapped in.
if (Should $app "publish the daemon and CLI") {
  New-Item -ItemType Directory -Force -Path $Prefix, $models | Out-Null
  $staging = "$app.new"
  if (Test-Path $staging) { Remove-Item -Recurse -Force $staging }
  & dotnet publish ([IO.Path]::Combine($repo, "src", "InpaintSuite.Cli", "InpaintSuite.Cli.csproj")) -c Release -o $staging -nologo -v quiet
  if ($LASTEXITCODE -ne 0) { throw "building the daemon/CLI failed (dotnet publish exit $LASTEXITCODE)" }
  if ($onWindows -and (Get-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue)) { Stop-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue }
  Get-Process inpaintsuite -ErrorAction SilentlyContinue | Where-Object { $_.Path -like "$app*" } | Stop-Process -Force
  if (Test-Path $app) { Remove-Item -Recurse -Force $app }
  Move-Item $staging $app
  Did "published the daemon and CLI into $app"
  if (Get-ChildItem -Recurse -Path $app -Filter "*onnxruntime*" -ErrorAction SilentlyContinue | Where-Object { $_.Name -match '^(lib)?onnxruntime\.(dll|dylib|so(\.[0-9.]+)?)$' }) { Did "ONNX Runtime native library in place" }
  else { Write-Host "  ! no ONNX Runtime native library in ${app}: diffusion models need INPAINTSUITE_ORT_LIBRARY (content-aware and fill work without)" }
}

# 2. CLI on PATH (user PATH; new terminals see it). The user environment is a Windows registry key.
$exe = Join-Path $app $exeName
if (-not $onWindows) {
  Write-Host "  (user PATH and INPAINTSUITE_MODELS_DIR are set in the Windows registry: skipped here; run $exe)"
} elseif (Should "user PATH" "add $app and set INPAINTSUITE_MODELS_DIR=$models") {
  $userPath = [Environment]::GetEnvironmentVariable("Path", "User")
  if (-not (($userPath -split ';') -contains $app)) { [Environment]::SetEnvironmentVariable("Path", (($userPath, $app) -join ';').Trim(';'), "User") }
  [Environment]::SetEnvironmentVariable("INPAINTSUITE_MODELS_DIR", $models, "User")
  Did "CLI on the user PATH ($exe); INPAINTSUITE_MODELS_DIR=$models"
}

# 3. Daemon at logon: a per-user scheduled task (no admin rights needed), hidden window, restarted on failure.
if ($NoService) {
  Write-Host "  (-NoService: start the daemon by hand with 'inpaintsuite serve --models `"$models`"')"
} elseif (-not $onWindows) {
  Write-Host "  (the startup task is a Windows scheduled task: skipped here; use installer/install.sh on Linux)"
} elseif (Should $taskName "register and start the startup task") {
  $action = New-ScheduledTaskAction -Execute $exe -Argument "serve --models `"$models`"" -WorkingDirectory $app
  $trigger = New-ScheduledTaskTrigger -AtLogOn -User $env:USERNAME
  $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 3 -RestartInterval (New-TimeSpan -Minutes 1) -Hidden
  Register-ScheduledTask -TaskName $taskName -Action $action -Trigger $trigger -Settings $settings -Description "InpaintSuite daemon (local inpainting backend)" -Force | Out-Null
  Start-ScheduledTask -TaskName $taskName
  Did "startup task '$taskName' registered and started"
}

# 4. Paint.NET plugin: built against the installed Paint.NET (or taken from -PdnPluginBuild), skipped when absent.
$pdnOut = $PdnPluginBuild
if (-not $pdnOut -and (Test-Path (Join-Path $PdnRoot "PaintDotNet.Base.dll")) -and (Should $PdnRoot "build the Paint.NET plugin against it")) {
  $pdnOut = Join-Path $Prefix "paintdotnet-build"
  & dotnet build ([IO.Path]::Combine($repo, "plugins", "PaintDotNet", "InpaintSuite.PaintDotNet", "InpaintSuite.PaintDotNet.csproj")) -c Release -o $pdnOut -nologo -v quiet "-p:PdnRoot=$PdnRoot"
  if ($LASTEXITCODE -ne 0) { throw "building the Paint.NET plugin failed (dotnet build exit $LASTEXITCODE)" }
}
if ($pdnOut -and (Should $pdnEffects "install the Paint.NET plugin")) {
  $missing = @($pdnPluginFiles | Where-Object { -not (Test-Path (Join-Path $pdnOut $_)) })
  if ($missing.Count -gt 0) { throw "the Paint.NET plugin build in $pdnOut lacks $($missing -join ', ')" }
  New-Item -ItemType Directory -Force -Path $pdnEffects | Out-Null
  foreach ($f in $pdnPluginFiles) { Copy-Item -Force (Join-Path $pdnOut $f) $pdnEffects }
  Did "Paint.NET plugin in $pdnEffects (restart Paint.NET; Effects > Object > InpaintSuite Generative Fill)"
} elseif (-not $pdnOut) {
  Write-Host "  (Paint.NET 5.1 not found at ${PdnRoot}: Paint.NET plugin skipped; pass -PdnRoot)"
}

# 5. Krita plugin.
if (Should $pykrita "install the Krita plugin and enable it in $kritarc") {
  New-Item -ItemType Directory -Force -Path $pykrita | Out-Null
  Remove-KritaPlugin
  Copy-Item -Recurse ([IO.Path]::Combine($repo, "plugins", "krita", "inpaint_suite")) (Join-Path $pykrita "inpaint_suite")
  Copy-Item ([IO.Path]::Combine($repo, "plugins", "krita", "inpaint_suite.desktop")) $pykrita
  Set-KritaEnabled "true"
  Did "Krita plugin in $pykrita, enabled in $kritarc"
}

# 6. Optional model set.
if ($Model -and (Should $models "install the model set $Model")) {
  $installArgs = @("models", "install", $Model, "--models", $models)
  if ($BaseUrl) { $installArgs += @("--base-url", $BaseUrl) }
  & $exe @installArgs
  if ($LASTEXITCODE -ne 0) { throw "model install failed (exit $LASTEXITCODE)" }
  Did "model set $Model installed into $models"
}
Write-Host "InpaintSuite installed ($($done.Count) steps). Check with: inpaintsuite health"
