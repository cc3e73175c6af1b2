#!/usr/bin/env bash
# The browser tests drive Debian's Chromium. Install it when we can (root with apt); otherwise say
# clearly that those tests will be skipped and why.
set -u
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing; installing Debian's chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  if (apt-get install -y -qq chromium >/dev/null 2>&1 || \
      (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) \
     && [ -x "$CHROMIUM" ]; then
    echo "Installed $("$CHROMIUM" --version 2>/dev/null)."
    exit 0
  fi
  echo "WARNING: could not install chromium with apt-get; the browser tests will be skipped."
  exit 0
fi
echo "WARNING: $CHROMIUM not found and this user cannot install it (needs root and apt-get)."
echo "         The browser tests will be skipped. Install Debian's 'chromium' package to run them."
exit 0
