#!/usr/bin/env bash
# functions.sh HEADER: the names of the functions the header declares (IE_API), one a line.
set -euo pipefail
sed -n 's/^IE_API .*[ *]\(ie_[a-z0-9_]*\)(.*/\1/p' "$1" | sort -u
