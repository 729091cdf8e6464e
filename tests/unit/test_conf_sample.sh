#!/bin/sh
# The sample config and the README document every directive the module defines.
cd "$(dirname "$0")/../.."
names=$(grep -oE '"PTech[A-Za-z]+"' mod_ptech/ptech_config.c | tr -d '"' | sort -u)
[ -n "$names" ] || { echo "conf sample: no directive found in ptech_config.c"; exit 1; }
bad=0
for n in $names; do
    grep -q "$n" conf/ptech.conf || { echo "conf sample: $n missing from conf/ptech.conf"; bad=1; }
    grep -q "$n" README.md || { echo "conf sample: $n missing from README.md"; bad=1; }
done
[ $bad -eq 0 ] && echo "conf sample: all $(echo "$names" | wc -l) directives documented"
exit $bad
