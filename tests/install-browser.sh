#!/usr/bin/env bash
# The rendered-book test (tests/test_rendered_book.py) drives Debian's Chromium. Install it where it is
# missing and this user may (root with apt-get, as on the CI machine); elsewhere say that the test will skip.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    chromium --version
else
    echo "Chromium is not installed and cannot be installed here (needs root and apt-get):" \
         "tests/test_rendered_book.py will be skipped. Install Debian's 'chromium' package to run it." >&2
fi
