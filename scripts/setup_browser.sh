#!/usr/bin/env bash
# Chromium for the JupyterLab browser test (tests/test_browser.py drives /usr/bin/chromium through
# Playwright; Playwright's own browser download is not possible offline, Debian's package is).
# Installs it with apt as root, or through passwordless sudo. Never fails the set-up: where it
# cannot install, it says so and the browser test skips with that reason.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
  echo "==> installing chromium with apt (for the browser test)"
  ($SUDO apt-get update -qq \
    && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
       >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped"
  if [ -x /usr/bin/chromium ] && ! /usr/bin/chromium --headless --no-sandbox --version >/dev/null 2>&1; then
    echo "warning: /usr/bin/chromium is installed but does not start (a snap stub?); the browser test will fail"
  fi
else
  echo "note: no root, sudo or apt: the browser test will be skipped (install chromium at /usr/bin/chromium)"
fi
exit 0
