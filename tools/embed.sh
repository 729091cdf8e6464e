#!/bin/sh
# Turns stdin into a C string constant named $1 (used to build the catalog schema into liblti,
# so validation never depends on a file path at run time).
echo "/* generated from conf/catalog.rng by tools/embed.sh; do not edit */"
echo "static const char $1[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/'
echo "    ;"
