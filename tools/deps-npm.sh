#!/bin/bash
# For each folder given that has a package-lock.json (tests/browser): `npm ci` when its
# node_modules is missing or was installed from another package.json / package-lock.json
# (a stamp in node_modules records which).  No root needed; npm comes from Debian's
# packages (tools/deps.sh).  playwright-core downloads no browser: the tests drive
# /usr/bin/chromium.
set -eu
for dir in "$@"; do
    [ -f "$dir/package-lock.json" ] || continue
    stamp="$dir/node_modules/.ptech-installed"
    want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
    if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        continue
    fi
    if ! command -v npm >/dev/null; then
        echo "deps: npm is missing (Debian's nodejs and npm packages); run as root:" >&2
        echo "    apt-get update && apt-get install -y --no-install-recommends nodejs npm" >&2
        exit 1
    fi
    echo "deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
done
