#!/usr/bin/env bash
# Chromium for the JupyterLab browser test (Debian's package; Playwright's own browser download is
# not possible offline). Skipped quietly where apt is unavailable: the browser test then skips.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "==> installing chromium (for the browser test)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped"
else
  echo "note: no root/apt: the browser test will be skipped (install chromium at /usr/bin/chromium)"
fi
exit 0
