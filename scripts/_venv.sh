# Sourced by scripts/serve and scripts/test: create .venv and install the project
# (again only when pyproject.toml changed). $1 = extras, e.g. "test,lint".
set -euo pipefail
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
# (the C source counts too: an editable install compiles ivr/ami/_speedups.c in place)
stamp=".venv/.installed-$(cat pyproject.toml ivr/ami/_speedups.c | sha1sum | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  if [ -n "$extras" ]; then spec=".[${extras}]"; else spec="."; fi
  .venv/bin/python -m pip install -q -e "$spec"
  touch "$stamp"
fi
