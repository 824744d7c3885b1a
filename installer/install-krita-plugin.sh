#!/usr/bin/env bash
# Installs the InpaintSuite Krita plugin into the user's pykrita folder and enables it in kritarc.
#   bash installer/install-krita-plugin.sh            install (copy) and enable
#   bash installer/install-krita-plugin.sh --link     symlink instead of copy (plugin development)
#   bash installer/install-krita-plugin.sh --uninstall
# Folders follow Krita on Linux: ${XDG_DATA_HOME:-~/.local/share}/krita/pykrita and
# ${XDG_CONFIG_HOME:-~/.config}/kritarc. Restart Krita afterwards; the docker is under
# Settings > Dockers > InpaintSuite. The daemon address defaults to http://127.0.0.1:50152
# (editable in the docker, or INPAINTSUITE_BRIDGE_URL).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/plugins/krita"
pykrita="${XDG_DATA_HOME:-$HOME/.local/share}/krita/pykrita"
kritarc="${XDG_CONFIG_HOME:-$HOME/.config}/kritarc"
mode=copy
case "${1:-}" in
  --uninstall) mode=uninstall ;;
  --link) mode=link ;;
  "") ;;
  *) echo "usage: $0 [--link|--uninstall]" >&2; exit 2 ;;
esac

# Sets enable_inpaint_suite in kritarc's [python] group, keeping every other line as it is.
set_enabled() {
  local value=$1
  mkdir -p "$(dirname "$kritarc")"
  touch "$kritarc"
  awk -v value="$value" '
    BEGIN { in_python = 0; done = 0 }
    /^\[/ {
      if (in_python && !done) { print "enable_inpaint_suite=" value; done = 1 }
      in_python = ($0 == "[python]")
    }
    in_python && /^enable_inpaint_suite=/ { if (!done) { print "enable_inpaint_suite=" value; done = 1 }; next }
    { print }
    END {
      if (!done) {
        if (!in_python) { print ""; print "[python]" }
        print "enable_inpaint_suite=" value
      }
    }' "$kritarc" > "$kritarc.tmp"
  mv "$kritarc.tmp" "$kritarc"
}

remove_files() {
  rm -rf "$pykrita/inpaint_suite" "$pykrita/inpaint_suite.desktop"
}

if [ "$mode" = uninstall ]; then
  remove_files
  [ -f "$kritarc" ] && set_enabled false
  echo "InpaintSuite Krita plugin removed from $pykrita"
  exit 0
fi

mkdir -p "$pykrita"
remove_files
if [ "$mode" = link ]; then
  ln -s "$src/inpaint_suite" "$pykrita/inpaint_suite"
  ln -s "$src/inpaint_suite.desktop" "$pykrita/inpaint_suite.desktop"
else
  cp -r "$src/inpaint_suite" "$pykrita/inpaint_suite"
  cp "$src/inpaint_suite.desktop" "$pykrita/inpaint_suite.desktop"
  find "$pykrita/inpaint_suite" -name __pycache__ -type d -prune -exec rm -rf {} +
fi
set_enabled true
echo "InpaintSuite Krita plugin installed into $pykrita and enabled in $kritarc"
