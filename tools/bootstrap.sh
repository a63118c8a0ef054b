#!/bin/sh
# Make .venv with svtools installed (editable) and lean launchers.
# Sourced by test.sh and demo.sh from the top of the checkout.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[test]'
# Replace pip's console-script wrappers by lean launchers (see svtools/_launchers.py).
.venv/bin/python -m svtools._launchers >/dev/null
