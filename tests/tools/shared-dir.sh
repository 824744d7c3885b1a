#!/usr/bin/env bash
# Prints where the reference data is, for scripts (the same rule as TestPaths.Shared):
# INPAINTSUITE_SHARED_DIR, else ../shared beside the repository, else the copy vendored in tests/data/shared.
#   tests/tools/shared-dir.sh        -> the folder holding reference/ (and eval/ unless vendored)
#   tests/tools/shared-dir.sh eval   -> an eval folder with score.py and cases/ (made from the vendored copy if needed)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
vendored="$root/tests/data/shared"
if [ -n "${INPAINTSUITE_SHARED_DIR:-}" ]; then shared=$INPAINTSUITE_SHARED_DIR
elif [ -d "$root/../shared/reference" ]; then shared=$(cd "$root/../shared" && pwd)
else shared=$vendored; fi
if [ "${1:-}" != eval ]; then echo "$shared"; exit 0; fi
if [ "$shared" != "$vendored" ]; then echo "$shared/eval"; exit 0; fi
target="$root/.cache/eval"
if [ ! -f "$target/cases/cases.json" ]; then
  tmp="$target.tmp-$$"
  /usr/bin/python3 "$root/tests/tools/materialize_eval.py" "$vendored/eval" "$tmp" >/dev/null
  mv -T "$tmp" "$target" 2>/dev/null || rm -rf "$tmp"
fi
echo "$target"
