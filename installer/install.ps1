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
  Re-running is safe. -Uninstall undoes it (models kept unless -Purge).
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Yes
  powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Uninstall -Yes
#>
[CmdletBinding()]
param(
  [switch]$Yes,
  [switch]$NoService,
  [switch]$Uninstall,
  [switch]$Purge,
  [string]$Model = "",
  [string]$BaseUrl = "",
  [string]$Prefix = (Join-Path $env:LOCALAPPDATA "InpaintSuite"),
  [string]$PdnRoot = "C:\Program Files\paint.net"
)
$ErrorActionPreference = "Stop"
$repo = Split-Path -Parent $PSScriptRoot
$app = Join-Path $Prefix "app"
$models = Join-Path $Prefix "models"
$taskName = "InpaintSuite Daemon"
$pdnEffects = Join-Path ([Environment]::GetFolderPath("MyDocuments")) "paint.net App Files\Effects\InpaintSuite"
$pykrita = Join-Path $env:APPDATA "krita\pykrita"
$kritarc = Join-Path $env:LOCALAPPDATA "kritarc"
$done = New-Object System.Collections.Generic.List[string]
function Did([string]$what) { $done.Add($what); Write-Host "  - $what" }

function Confirm-Step([string]$question) {
  if ($Yes) { return }
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

if ($Uninstall) {
  Confirm-Step "Remove InpaintSuite from $Prefix, its startup task, PATH entry and plugins?"
  Write-Host "Uninstalling InpaintSuite:"
  if (Get-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue) {
    Stop-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue
    Unregister-ScheduledTask -TaskName $taskName -Confirm:$false
    Did "removed the startup task '$taskName'"
  }
  Get-Process inpaintsuite -ErrorAction SilentlyContinue | Where-Object { $_.Path -like "$app*" } | Stop-Process -Force
  Remove-FromUserPath $app; Did "removed $app from the user PATH"
  if (Test-Path $pdnEffects) { Remove-Item -Recurse -Force $pdnEffects; Did "removed the Paint.NET plugin ($pdnEffects)" }
  foreach ($p in @((Join-Path $pykrita "inpaint_suite"), (Join-Path $pykrita "inpaint_suite.desktop"))) { if (Test-Path $p) { Remove-Item -Recurse -Force $p } }
  if (Test-Path $kritarc) { Set-KritaEnabled "false" }
  Did "removed the Krita plugin and disabled it in kritarc"
  if (Test-Path $app) { Remove-Item -Recurse -Force $app; Did "removed $app" }
  if ($Purge -and (Test-Path $Prefix)) { Remove-Item -Recurse -Force $Prefix; Did "deleted $Prefix (models included)" }
  Write-Host "InpaintSuite uninstalled."
  exit 0
}

if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) { throw "The .NET SDK 10 ('dotnet') is needed to build InpaintSuite; install it first." }
Confirm-Step "Install InpaintSuite into $Prefix?"
Write-Host "Installing InpaintSuite:"

# 1. Daemon + CLI, published beside the old copy and swapped in.
New-Item -ItemType Directory -Force -Path $Prefix, $models | Out-Null
$staging = "$app.new"
if (Test-Path $staging) { Remove-Item -Recurse -Force $staging }
& dotnet publish (Join-Path $repo "src\InpaintSuite.Cli\InpaintSuite.Cli.csproj") -c Release -o $staging -nologo -v quiet
if ($LASTEXITCODE -ne 0) { throw "building the daemon/CLI failed (dotnet publish exit $LASTEXITCODE)" }
if (Get-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue) { Stop-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue }
Get-Process inpaintsuite -ErrorAction SilentlyContinue | Where-Object { $_.Path -like "$app*" } | Stop-Process -Force
if (Test-Path $app) { Remove-Item -Recurse -Force $app }
Move-Item $staging $app
Did "published the daemon and CLI into $app"
if (Get-ChildItem -Recurse -Path $app -Filter "onnxruntime*.dll" -ErrorAction SilentlyContinue) { Did "ONNX Runtime native library in place" }
else { Write-Host "  ! no onnxruntime.dll in $app: diffusion models need INPAINTSUITE_ORT_LIBRARY (content-aware and fill work without)" }

# 2. CLI on PATH (user PATH; new terminals see it).
$userPath = [Environment]::GetEnvironmentVariable("Path", "User")
if (-not (($userPath -split ';') -contains $app)) { [Environment]::SetEnvironmentVariable("Path", (($userPath, $app) -join ';').Trim(';'), "User") }
[Environment]::SetEnvironmentVariable("INPAINTSUITE_MODELS_DIR", $models, "User")
Did "CLI on the user PATH ($app\inpaintsuite.exe); INPAINTSUITE_MODELS_DIR=$models"

# 3. Daemon at logon: a per-user scheduled task (no admin rights needed), hidden window, restarted on failure.
$exe = Join-Path $app "inpaintsuite.exe"
if (-not $NoService) {
  $action = New-ScheduledTaskAction -Execute $exe -Argument "serve --models `"$models`"" -WorkingDirectory $app
  $trigger = New-ScheduledTaskTrigger -AtLogOn -User $env:USERNAME
  $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 3 -RestartInterval (New-TimeSpan -Minutes 1) -Hidden
  Register-ScheduledTask -TaskName $taskName -Action $action -Trigger $trigger -Settings $settings -Description "InpaintSuite daemon (local inpainting backend)" -Force | Out-Null
  Start-ScheduledTask -TaskName $taskName
  Did "startup task '$taskName' registered and started"
} else {
  Write-Host "  (-NoService: start the daemon by hand with 'inpaintsuite serve --models `"$models`"')"
}

# 4. Paint.NET plugin (built against the installed Paint.NET; skipped with a message when it is absent).
if (Test-Path (Join-Path $PdnRoot "PaintDotNet.Base.dll")) {
  $pdnOut = Join-Path $Prefix "paintdotnet-build"
  & dotnet build (Join-Path $repo "plugins\PaintDotNet\InpaintSuite.PaintDotNet\InpaintSuite.PaintDotNet.csproj") -c Release -o $pdnOut -nologo -v quiet "-p:PdnRoot=$PdnRoot"
  if ($LASTEXITCODE -ne 0) { throw "building the Paint.NET plugin failed (dotnet build exit $LASTEXITCODE)" }
  New-Item -ItemType Directory -Force -Path $pdnEffects | Out-Null
  foreach ($f in @("InpaintSuite.PaintDotNet.dll", "InpaintSuite.PaintDotNet.Core.dll", "InpaintSuite.Protocol.dll", "Google.Protobuf.dll")) {
    Copy-Item -Force (Join-Path $pdnOut $f) $pdnEffects
  }
  Did "Paint.NET plugin in $pdnEffects (restart Paint.NET; Effects > Object > InpaintSuite Generative Fill)"
} else {
  Write-Host "  (Paint.NET 5.1 not found at $PdnRoot: Paint.NET plugin skipped; pass -PdnRoot)"
}

# 5. Krita plugin.
New-Item -ItemType Directory -Force -Path $pykrita | Out-Null
foreach ($p in @((Join-Path $pykrita "inpaint_suite"), (Join-Path $pykrita "inpaint_suite.desktop"))) { if (Test-Path $p) { Remove-Item -Recurse -Force $p } }
Copy-Item -Recurse (Join-Path $repo "plugins\krita\inpaint_suite") (Join-Path $pykrita "inpaint_suite")
Copy-Item (Join-Path $repo "plugins\krita\inpaint_suite.desktop") $pykrita
Set-KritaEnabled "true"
Did "Krita plugin in $pykrita, enabled in $kritarc"

# 6. Optional model set.
if ($Model) {
  $args = @("models", "install", $Model, "--models", $models)
  if ($BaseUrl) { $args += @("--base-url", $BaseUrl) }
  & $exe @args
  if ($LASTEXITCODE -ne 0) { throw "model install failed (exit $LASTEXITCODE)" }
  Did "model set $Model installed into $models"
}
Write-Host "InpaintSuite installed ($($done.Count) steps). Check with: inpaintsuite health"
