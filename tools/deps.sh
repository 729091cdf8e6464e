#!/bin/bash
# Installs the Debian packages named in $PKGS that are missing.  As root: apt-get update
# (only when something is missing) and apt-get install.  Otherwise: print the line to run.
# A name that an installed package provides counts as there (npm, when the machine's nodejs
# is a build that ships npm itself and conflicts with Debian's npm package).
set -eu
provided=" $(dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null \
    | sed -n 's/^ii *|//p' | tr ',' '\n' | sed 's/(.*)//; s/ //g' | sort -u | tr '\n' ' ') "
missing=()
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        && [[ "$provided" != *" $p "* ]]; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "deps: missing Debian packages; run as root:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
