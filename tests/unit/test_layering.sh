#!/bin/sh
# Layering: liblti (lti/) must never include an httpd header (STYLE.md).
cd "$(dirname "$0")/../.."
hits=$(grep -nE '#[[:space:]]*include[[:space:]]*[<"](httpd|http_[a-z_]+|ap_[a-z_]+|util_[a-z_]+|mod_[a-z_]+|mpm_[a-z_]+|scoreboard|unixd)\.h' lti/*.c lti/*.h)
if [ -n "$hits" ]; then
    echo "layering: lti/ includes httpd headers:"; echo "$hits"; exit 1
fi
echo "layering: lti/ includes no httpd header"
