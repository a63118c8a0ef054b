#!/bin/sh
# Make .venv with svtools installed (editable) and lean launchers.
# Sourced by test.sh and demo.sh from the top of the checkout.
#
# The interpreter: $SVTOOLS_PYTHON if set; else the newest CPython 3.13 or
# 3.12 found (on PATH, or installed by pyenv without being selected), where
# svscan makes its objects immortal before it forks and each supervise
# shares about 270 KiB more with it (svtools/_immortal.py,
# docs/performance.md); else python3.  A .venv made with another
# interpreter is made again.  $SVTOOLS_VENV names another directory
# (test.sh's second interpreter).  At the end, the interpreter is made
# reachable for services that run as other users (below).
svtools_python() {
    if [ -n "$SVTOOLS_PYTHON" ]; then
        echo "$SVTOOLS_PYTHON"
        return
    fi
    for v in 3.13 3.12; do
        found=
        if python$v -c '' >/dev/null 2>&1; then
            command -v python$v
            return
        fi
        if command -v pyenv >/dev/null 2>&1; then
            for p in "$(pyenv root)"/versions/$v.*/bin/python$v; do
                [ -x "$p" ] && found=$p
            done
            if [ -n "$found" ] && "$found" -c '' >/dev/null 2>&1; then
                echo "$found"
                return
            fi
        fi
    done
    command -v python3
}
svtools_venv=${SVTOOLS_VENV:-.venv}
svtools_py=$(svtools_python)
svtools_want=$("$svtools_py" -c 'import sys; print(sys.version.split()[0])')
if [ ! -x "$svtools_venv/bin/python" ] ||
   [ "$("$svtools_venv/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)" != "$svtools_want" ]; then
    if ! "$svtools_py" -m venv --clear "$svtools_venv"; then
        echo "bootstrap: warning: $svtools_py cannot make a virtualenv; using python3" >&2
        python3 -m venv --clear "$svtools_venv"
    fi
fi
"$svtools_venv/bin/python" -m pip install -q --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[test]'
# Replace pip's console-script wrappers by lean launchers (see svtools/_launchers.py).
"$svtools_venv/bin/python" -m svtools._launchers >/dev/null
# Services drop privileges (setuidgid) before they run svtools' programs,
# and so do the tests (as nobody).  An interpreter below a directory that
# only root may search (pyenv's, in /root) does not start for them: as
# root, make the directories on its path searchable (o+x: not readable),
# with a warning.
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ] &&
   ! setpriv --reuid=65534 --regid=65534 --clear-groups "$svtools_venv/bin/python" -c '' 2>/dev/null; then
    dir=$(dirname "$(readlink -f "$svtools_venv/bin/python")")
    while [ "$dir" != / ]; do
        if [ -n "$(find "$dir" -maxdepth 0 ! -perm -o+x)" ]; then
            echo "bootstrap: warning: making $dir searchable by other users, for svtools' interpreter" >&2
            chmod o+x "$dir"
        fi
        dir=$(dirname "$dir")
    done
fi
