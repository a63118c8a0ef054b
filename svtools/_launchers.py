"""Lean launchers for the svtools console scripts.

The wrappers pip writes for console_scripts run the interpreter with site
processing and import re before our code: about 12 ms, more than the whole
of svc.  rewrite() replaces each svtools wrapper in a bin directory with a
launcher that starts the same interpreter with -I -S (no site, no user
paths) and puts the directory holding the svtools package on sys.path.

    python -m svtools._launchers [BINDIR]

BINDIR defaults to the directory of this interpreter.  Only files that are
pip wrappers for svtools programs are touched; running it twice is harmless.
"""

import os
import sys

_TEMPLATE = """#!{python} -IS
# svtools launcher: started without site processing, for speed.
import sys
sys.path.insert(0, {root!r})
from svtools.{module} import main
sys.exit(main())
"""

_MARK = "from svtools."


def _parse(text):
    """(interpreter, module) of a pip wrapper or one of our launchers."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#!/"):
        return None
    python = lines[0][2:].split()[0] if lines[0][2:].strip() else ""
    for line in lines[1:]:
        if line.startswith(_MARK) and line.endswith(" import main"):
            module = line[len(_MARK):-len(" import main")]
            if module.isidentifier():
                return python, module
    return None


def installed_root():
    """The directory the interpreter imports svtools from when it runs a
    script: sys.path without the entry `python -m` puts first (the current
    directory, which may be a checkout other than the installed copy)."""
    from importlib.machinery import PathFinder
    spec = PathFinder.find_spec("svtools", sys.path[1:])
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("svtools: cannot find the installed svtools package")
    return os.path.dirname(os.path.abspath(spec.submodule_search_locations[0]))


def rewrite(bindir, root=None):
    """Rewrite every svtools wrapper in BINDIR; returns the names rewritten."""
    if root is None:
        root = installed_root()
    done = []
    for name in sorted(os.listdir(bindir)):
        path = os.path.join(bindir, name)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        try:
            with open(path) as f:
                text = f.read(4096)
        except (OSError, UnicodeDecodeError):
            continue
        parsed = _parse(text)
        if parsed is None or not os.path.isabs(parsed[0]):
            continue
        python, module = parsed
        new = _TEMPLATE.format(python=python, root=root, module=module)
        if len(new.split("\n", 1)[0]) > 250:
            continue  # beyond what the kernel reads of a #! line
        tmp = path + ".svtools-new"
        with open(tmp, "w") as f:
            f.write(new)
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.rename(tmp, path)
        done.append(name)
    return done


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(sys.executable)
    names = rewrite(target)
    print("svtools: %d launchers rewritten in %s" % (len(names), target))
