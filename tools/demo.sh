#!/bin/bash
# make demo: the store, the catalog and httpd in the foreground on 127.0.0.1:$PORT.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
mkdir -p "$PTECH_VAR/htdocs"
VAR=$(cd "$PTECH_VAR" && pwd)
BUILD=$(cd "$PTECH_BUILD" && pwd)
HTTPD=$(command -v apache2 || command -v httpd || echo /usr/sbin/apache2)
USERLINE=""
if [ "$(id -u)" -eq 0 ]; then
    # httpd serves as www-data: it must own the folder of the store (-wal, -shm).
    chown www-data:www-data "$VAR"
    USERLINE=$'User www-data\nGroup www-data'
fi
if [ ! -s "$VAR/secret.key" ]; then
    (umask 077; openssl rand -hex 32 > "$VAR/secret.key")
fi
"$BUILD/ptechctl" --db "sqlite3:$VAR/ptech.db" migrate >/dev/null
"$BUILD/ptechctl" --db "sqlite3:$VAR/ptech.db" catalog load conf/catalog.xml >/dev/null
sed -e "s|@VAR@|$VAR|g" -e "s|@PORT@|$PORT|g" -e "s|@BUILD@|$BUILD|g" -e "s|@ROOT@|$ROOT|g" \
    conf/demo.conf | awk -v u="$USERLINE" '{ if ($0 == "@USER@") print u; else print }' \
    > "$VAR/demo.conf"
"$HTTPD" -t -f "$VAR/demo.conf" >/dev/null
echo "mod_ptech demo: http://127.0.0.1:$PORT/ptech/demo"
echo "(errors: $VAR/error.log; stop with Ctrl-C)" >&2
exec "$HTTPD" -f "$VAR/demo.conf" -DFOREGROUND
