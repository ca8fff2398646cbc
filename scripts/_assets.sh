# Sourced by scripts/serve and scripts/test: install the console's browser libraries (pinned in
# hotline/web/assets/package-lock.json) with npm ci, again only when the lock file changed.
# No CDN at run time: the app serves these files itself (hotline/web/assets.py).
assets_dir="hotline/web/assets"
assets_stamp="$assets_dir/node_modules/.installed-$(sha1sum "$assets_dir/package-lock.json" | cut -c1-12)"
if [ ! -f "$assets_stamp" ]; then
  if command -v npm >/dev/null 2>&1; then
    (cd "$assets_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$assets_stamp"
  else
    echo "warning: npm not found: the console's map, charts and API docs need Node.js/npm to install" \
         "their files (hotline/web/assets); pages still work as plain forms" >&2
  fi
fi
