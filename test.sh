#!/bin/sh
# Run the whole svtools test suite.  Installs what it needs on a fresh
# machine: Debian's daemontools (the reference, for the interop tests) and a
# virtualenv in .venv with svtools and pytest.  Extra arguments go to pytest.
set -e
cd "$(dirname "$0")"
# SVTOOLS_C_BIN=/nonexistent runs the suite as on a machine without it.
c_bin=${SVTOOLS_C_BIN:-/usr/bin}
if [ ! -x "$c_bin/supervise" ] || [ ! -x "$c_bin/multilog" ]; then
    if [ "$(id -u)" = 0 ] && [ -z "$SVTOOLS_C_BIN" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq daemontools >/dev/null
    else
        echo "test.sh: warning: Debian's daemontools is missing from $c_bin; interop tests will be skipped" >&2
    fi
fi
# svweb's browser tests and /metrics checks: Debian's chromium, chromedriver, promtool.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/promtool ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver prometheus >/dev/null
    else
        echo "test.sh: warning: chromium, chromium-driver or prometheus is missing; svweb's browser and promtool tests will be skipped" >&2
    fi
fi
. tools/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
