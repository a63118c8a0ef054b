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
.venv/bin/python -m pytest "$@"
# When .venv has another interpreter than python3 (3.11 on Debian 12), the
# 0.76 interop tests and the interpreter-specific paths run on python3
# too, in .venv-python3 (about a minute); not when tests were named.
case " $* " in
    *tests*|*.py*|*" -k"*|*" -m"*) exit 0 ;;
esac
if [ -n "$(command -v python3)" ] && [ "$(.venv/bin/python -c 'import sys; print(sys.version)')" != \
        "$(python3 -c 'import sys; print(sys.version)')" ]; then
    echo "test.sh: again on $(python3 -c 'import sys; print("python3", sys.version.split()[0])'):" \
        "the interop tests and the interpreter-specific ones" >&2
    SVTOOLS_PYTHON=$(command -v python3) SVTOOLS_VENV=.venv-python3 . tools/bootstrap.sh
    .venv-python3/bin/python -m pytest -q -p no:cacheprovider -m interop tests
    exec .venv-python3/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_spawn.py tests/test_prewarm.py tests/test_import_diet.py \
        tests/test_launchers.py tests/test_knob_pages.py tests/test_forked_pages.py \
        tests/test_immortal.py tests/test_notify_preset.py tests/test_loop.py
fi
