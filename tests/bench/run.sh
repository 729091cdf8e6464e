#!/bin/sh
# make bench: see bench.py.  Only loopback traffic, bounded in time.
exec "${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/bench.py"
