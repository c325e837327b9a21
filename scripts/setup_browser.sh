#!/usr/bin/env bash
# Chromium and a CJK font for the JupyterLab browser test (tests/course/test_browser.py drives /usr/bin/chromium through
# Playwright; Playwright's own browser download is not possible offline, Debian's package is).
# Installs it with apt as root, or through passwordless sudo. Never fails the set-up: where it
# cannot install, it says so and the browser test skips with that reason.
set -uo pipefail
# Also a CJK font: the course quotes its Chinese source documents, and without one chromium draws
# every Chinese character as an empty box (tests/course/test_browser.py checks the glyphs).
need=""
[ -x /usr/bin/chromium ] || need="chromium"
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then need="$need fonts-noto-cjk"; fi
if [ -z "$need" ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
  echo "==> installing$need with apt (for the browser test)"
  # shellcheck disable=SC2086  # $need is a list of package names
  ($SUDO apt-get update -qq \
    && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need \
       >/dev/null) \
    || echo "warning: could not install$need; the browser test will be skipped or fail on Chinese text"
  if [ -x /usr/bin/chromium ] && ! /usr/bin/chromium --headless --no-sandbox --version >/dev/null 2>&1; then
    echo "warning: /usr/bin/chromium is installed but does not start (a snap stub?); the browser test will fail"
  fi
else
  echo "note: no root, sudo or apt: install$need yourself (the browser test needs /usr/bin/chromium and a CJK font)"
fi
exit 0
