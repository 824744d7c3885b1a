#!/usr/bin/env bash
# Installs InpaintSuite for the current user (Linux; macOS without the systemd part):
#   - publishes the daemon + CLI (`inpaintsuite`) from this checkout into $PREFIX/app; the build fetches
#     the ONNX Runtime native library (build/OnnxRuntime.targets) into the same folder
#   - puts `inpaintsuite` on PATH via ~/.local/bin
#   - writes a systemd user unit that runs the daemon at login, and enables + starts it
#   - installs the Krita plugin into pykrita and enables it (installer/install-krita-plugin.sh)
#   - optionally installs a model set (`inpaintsuite models install NAME`)
# Re-running is safe (everything is replaced in place). --uninstall undoes it (models are kept unless --purge).
#
#   bash installer/install.sh [--yes] [--no-service] [--model NAME] [--base-url URL] [--prefix DIR]
#   bash installer/install.sh --uninstall [--yes] [--purge]
#
# PREFIX defaults to ${XDG_DATA_HOME:-~/.local/share}/inpaintsuite (app/ and models/ inside).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

yes=0; service=1; uninstall=0; purge=0; model=""; base_url=""
prefix="${INPAINTSUITE_PREFIX:-${XDG_DATA_HOME:-$HOME/.local/share}/inpaintsuite}"
while [ $# -gt 0 ]; do
  case "$1" in
    --yes|-y) yes=1 ;;
    --no-service) service=0 ;;
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    --model) model=${2:?--model needs a name}; shift ;;
    --base-url) base_url=${2:?--base-url needs a URL or folder}; shift ;;
    --prefix) prefix=${2:?--prefix needs a folder}; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

app="$prefix/app"
models="$prefix/models"
bindir="$HOME/.local/bin"
wrapper="$bindir/inpaintsuite"
unitdir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
unit="$unitdir/inpaintsuite.service"
done_list=()
did() { done_list+=("$1"); echo "  - $1"; }

have_user_systemd() {
  command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1
}

confirm() {
  [ "$yes" = 1 ] && return 0
  if [ ! -t 0 ]; then echo "install.sh: not a terminal; pass --yes to run non-interactively" >&2; exit 2; fi
  read -r -p "$1 [y/N] " answer
  case "$answer" in y|Y|yes) return 0 ;; *) echo "nothing done"; exit 1 ;; esac
}

if [ "$uninstall" = 1 ]; then
  confirm "Remove InpaintSuite from $prefix (models $( [ $purge = 1 ] && echo deleted || echo kept )), its service, CLI link and Krita plugin?"
  echo "Uninstalling InpaintSuite:"
  if [ -f "$unit" ]; then
    if [ "$service" = 1 ] && have_user_systemd; then
      systemctl --user disable --now inpaintsuite.service >/dev/null 2>&1 || true
    fi
    rm -f "$unit"
    if [ "$service" = 1 ] && have_user_systemd; then systemctl --user daemon-reload || true; fi
    did "removed the systemd user unit $unit"
  fi
  if [ -e "$wrapper" ] && grep -q "InpaintSuite installer" "$wrapper" 2>/dev/null; then rm -f "$wrapper"; did "removed $wrapper"; fi
  bash "$repo/installer/install-krita-plugin.sh" --uninstall >/dev/null && did "removed the Krita plugin and disabled it in kritarc"
  if [ -d "$app" ]; then rm -rf "$app"; did "removed $app"; fi
  if [ "$purge" = 1 ] && [ -d "$prefix" ]; then rm -rf "$prefix"; did "deleted $prefix (models included)"; fi
  [ "$purge" = 1 ] || { [ -d "$models" ] && echo "  (models kept in $models; --purge deletes them)"; }
  echo "InpaintSuite uninstalled."
  exit 0
fi

command -v dotnet >/dev/null 2>&1 || { echo "install.sh: the .NET SDK 10 ('dotnet') is needed to build InpaintSuite; install it first" >&2; exit 1; }
confirm "Install InpaintSuite into $prefix (service: $( [ $service = 1 ] && echo yes || echo no ))?"
echo "Installing InpaintSuite:"

# 1. Daemon + CLI. Published next to the old copy, then swapped in, so a failed build leaves the old one working.
mkdir -p "$prefix"
staging="$prefix/app.new"
rm -rf "$staging"
if ! dotnet publish "$repo/src/InpaintSuite.Cli/InpaintSuite.Cli.csproj" -c Release -o "$staging" -nologo -v quiet >"$prefix/publish.log" 2>&1; then
  echo "install.sh: building the daemon/CLI failed; see $prefix/publish.log" >&2
  tail -n 20 "$prefix/publish.log" >&2
  exit 1
fi
rm -rf "$app.old"; [ -d "$app" ] && mv "$app" "$app.old"
mv "$staging" "$app"; rm -rf "$app.old"
did "published the daemon and CLI into $app"
if ls "$app"/runtimes/*/native/*onnxruntime* >/dev/null 2>&1 || ls "$app"/*onnxruntime* >/dev/null 2>&1; then
  did "ONNX Runtime native library in place ($(ls "$app"/runtimes/*/native/ 2>/dev/null | grep -m1 onnxruntime || echo found))"
else
  echo "  ! no ONNX Runtime native library in $app: diffusion models need INPAINTSUITE_ORT_LIBRARY (content-aware and fill work without)"
fi
mkdir -p "$models"

# 2. CLI on PATH. A wrapper (not a symlink) so it also carries DOTNET_ROOT and the models folder.
dotnet_root=${DOTNET_ROOT:-$(dirname "$(readlink -f "$(command -v dotnet)")")}
mkdir -p "$bindir"
cat > "$wrapper" <<WRAP
#!/bin/sh
# Written by the InpaintSuite installer ($repo/installer/install.sh); --uninstall removes it.
export DOTNET_ROOT="\${DOTNET_ROOT:-$dotnet_root}"
export INPAINTSUITE_MODELS_DIR="\${INPAINTSUITE_MODELS_DIR:-$models}"
exec "$app/inpaintsuite" "\$@"
WRAP
chmod +x "$wrapper"
did "CLI on PATH: $wrapper"
case ":$PATH:" in *":$bindir:"*) ;; *) echo "  ! $bindir is not on your PATH; add it (e.g. in ~/.profile)";; esac

# 3. Daemon at login: systemd user unit (written always; registered unless --no-service).
mkdir -p "$unitdir"
cat > "$unit" <<UNIT
# Written by the InpaintSuite installer; 'install.sh --uninstall' removes it.
[Unit]
Description=InpaintSuite daemon (local inpainting backend for Krita, Paint.NET and the CLI)
Documentation=file://$repo/README.md

[Service]
Type=simple
Environment=DOTNET_ROOT=$dotnet_root
ExecStart="$app/inpaintsuite" serve --models "$models"
Restart=on-failure
RestartSec=3

[Install]
WantedBy=default.target
UNIT
did "systemd user unit $unit"
if [ "$service" = 1 ]; then
  if have_user_systemd; then
    systemctl --user daemon-reload
    systemctl --user enable inpaintsuite.service >/dev/null 2>&1
    systemctl --user restart inpaintsuite.service
    did "daemon enabled at login and started (systemctl --user status inpaintsuite)"
  else
    echo "  ! no systemd user session here: start the daemon by hand with 'inpaintsuite serve --models $models'"
  fi
else
  echo "  (--no-service: unit written but not registered; start by hand with 'inpaintsuite serve --models $models')"
fi

# 4. Krita plugin.
if bash "$repo/installer/install-krita-plugin.sh" >/dev/null; then
  did "Krita plugin installed into ${XDG_DATA_HOME:-$HOME/.local/share}/krita/pykrita and enabled in kritarc"
else
  echo "  ! Krita plugin install failed (installer/install-krita-plugin.sh)"; exit 1
fi

# 5. Optional model set.
if [ -n "$model" ]; then
  args=(models install "$model" --models "$models")
  [ -n "$base_url" ] && args+=(--base-url "$base_url")
  "$wrapper" "${args[@]}"
  did "model set $model installed into $models"
fi

echo "InpaintSuite installed (${#done_list[@]} steps). Check with: inpaintsuite health"
