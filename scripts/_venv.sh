# Sourced by scripts/serve and scripts/test: create .venv and install the project (again only
# when pyproject.toml or the C source changed, or when extras not installed yet are asked for).
# $1 = extras, e.g. "test,lint". One install at a time (flock): serve and test may start together.
set -euo pipefail
extras="${1:-}"
mkdir -p .venv
exec 9>.venv/.install-lock
flock 9
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
# (the C source counts too: an editable install compiles ivr/ami/_speedups.c in place)
stamp=".venv/.installed-$(cat pyproject.toml ivr/ami/_speedups.c | sha1sum | cut -c1-12)"
installed="$(cat "$stamp" 2>/dev/null || true)"
wanted="$(printf '%s\n' ${extras//,/ } ${installed//,/ } | sort -u | tr '\n' ',' | sed 's/,$//')"
if [ ! -f "$stamp" ] || [ "$wanted" != "$installed" ]; then
  if [ -n "$wanted" ]; then spec=".[${wanted}]"; else spec="."; fi
  echo "installing the project into .venv (${spec}); log: .venv/install.log"
  if ! .venv/bin/python -m pip install -q -e "$spec" > .venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
  fi
  printf '%s' "$wanted" > "$stamp"
fi
flock -u 9
