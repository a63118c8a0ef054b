#!/bin/sh
# Run the whole svtools test suite.  Installs what it needs on a fresh
# machine: Debian's daemontools (the reference, for the interop tests) and a
# virtualenv in .venv with svtools and pytest.  Extra arguments go to pytest.
set -e
cd "$(dirname "$0")"
if [ ! -x /usr/bin/supervise ] || [ ! -x /usr/bin/multilog ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq daemontools >/dev/null
    else
        echo "test.sh: warning: Debian's daemontools is missing; interop tests will be skipped" >&2
    fi
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[test]'
# Replace pip's console-script wrappers by lean launchers (see svtools/_launchers.py).
.venv/bin/python -m svtools._launchers >/dev/null
exec .venv/bin/python -m pytest "$@"
