"""Lean launchers for the svtools console scripts.

    python -m svtools._launchers [ --check ] [ BINDIR ]

The wrappers pip writes for console_scripts run the interpreter with site
processing and import re before our code: about twice the start-up of
`python -I -S -c pass`, more than the whole of svc.  No wheel can avoid
that: pip rewrites a script's `#!python` line to its interpreter and drops
any flags.  So this tool replaces each svtools wrapper in BINDIR with a
launcher that starts the same interpreter with -I -S (no site, no user
paths) and puts the directory holding the svtools package on sys.path.
svscan, supervise and multilog get -OO as well (see _OO), and the
package's -OO byte code is written with the launchers.
Every `pip install` writes pip's wrappers again: run it after each one
(tools/bootstrap.sh does).  The README's performance table has the figures.

BINDIR defaults to the directory of this interpreter.  Only files that are
pip wrappers for svtools programs are touched; running it twice is
harmless.  It says what it did, and if it rewrote nothing, why.

--check changes nothing: it lists every svtools program in BINDIR that is
not a lean launcher, and why.

Exit codes: 0 when every svtools program in BINDIR is a lean launcher
afterwards (with --check: already); 1 otherwise (nothing found, a legacy
easy-install wrapper, an interpreter path too long for a #! line).
"""

import os
import sys

# The programs that stay in memory once per service (svscan, and the
# supervise and multilog it forks or that run on their own) start with -OO
# too: no docstrings among the objects a forked supervise touches.
# Measured (bench/policy.py memory, five pairs of trees): about 34 KiB less
# per supervise with every knob file, 11 with none; bench/run.py's figure
# did not move (docs/performance.md, "Seventh round").  svtools reads no
# __doc__ and has no assert (tests/test_launchers.py checks both);
# third-party code (svweb's, svctl's) keeps -IS.
_OO = ("svscan", "supervise", "multilog")
_TEMPLATE = """#!{python} {flags}
# svtools launcher: started without site processing, for speed.
import sys
sys.path.insert(0, {root!r})
from svtools.{module} import main
sys.exit(main())
"""

_MARK = "from svtools."
_LEAN = "# svtools launcher:"
_EASY = "# EASY-INSTALL-ENTRY-SCRIPT: 'svtools"
_SHEBANG_MAX = 250       # what the kernel reads of a #! line, less a margin


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


def survey(bindir):
    """[(name, kind, python, module)] for the svtools programs in BINDIR.

    KIND is "lean" (our launcher), "wrapper" (pip's, can be rewritten),
    "easy-install" (written by a legacy `setup.py install`: it loads
    svtools through pkg_resources, rewrite by reinstalling with a pip that
    builds a wheel) or "long" (the interpreter path is too long for -IS).
    """
    found = []
    for name in sorted(os.listdir(bindir)):
        path = os.path.join(bindir, name)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        try:
            with open(path) as f:
                text = f.read(4096)
        except (OSError, UnicodeDecodeError):
            continue
        if _EASY in text:
            found.append((name, "easy-install", None, None))
            continue
        parsed = _parse(text)
        if parsed is None or not os.path.isabs(parsed[0]):
            continue
        python, module = parsed
        if _LEAN in text and text.startswith("#!%s %s\n" % (python, flags(module))):
            kind = "lean"
        elif len("#!%s %s" % (python, flags(module))) > _SHEBANG_MAX:
            kind = "long"
        else:
            kind = "wrapper"
        found.append((name, kind, python, module))
    return found


def rewrite(bindir, root=None):
    """Rewrite every svtools wrapper in BINDIR; returns the names rewritten
    (our own launchers included: they are written again, pointing at ROOT)."""
    if root is None:
        root = installed_root()
    done = []
    for name, kind, python, module in survey(bindir):
        if kind not in ("wrapper", "lean"):
            continue
        path = os.path.join(bindir, name)
        tmp = path + ".svtools-new"
        with open(tmp, "w") as f:
            f.write(_TEMPLATE.format(python=python, flags=flags(module), root=root,
                                     module=module))
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.rename(tmp, path)
        done.append(name)
    if done:
        compile_optimized(root)
    return done


def flags(module):
    """The interpreter flags of the launcher for svtools.MODULE."""
    return "-ISOO" if module in _OO else "-IS"


def compile_optimized(root):
    """Write the -OO byte code (.opt-2.pyc) of the svtools package under
    ROOT, which pip does not, so that the -OO programs need not compile
    their modules from source at each start (when the package directory is
    not writable for the user running them).  Failures are ignored: the
    programs then compile, as they would anyway."""
    import compileall
    try:
        compileall.compile_dir(os.path.join(root, "svtools"), quiet=2, optimize=2,
                               maxlevels=0)
    except OSError:
        pass


_WHY = {
    "wrapper": "pip's console-script wrapper (site and re are loaded first: slow)",
    "easy-install": ("a legacy easy-install wrapper, written by `setup.py install`; "
                     "reinstall with `pip install .` from a checkout that has "
                     "pyproject.toml, then run this tool"),
    "long": "the interpreter's path is too long for a #! line with -IS; left as it is",
}


def _cli(argv=None):
    for f in (sys.stdout, sys.stderr):
        f.reconfigure(errors="surrogateescape")     # paths are bytes
    args = list(sys.argv[1:] if argv is None else argv[1:])
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    target = args[0] if args else os.path.dirname(sys.executable)
    try:
        before = survey(target)
    except OSError as e:
        print("svtools: unable to read %s: %s" % (target, e.strerror), file=sys.stderr)
        return 1
    if not check:
        names = rewrite(target)
        after = survey(target)
        print("svtools: %d lean launchers written in %s" % (len(names), target))
    else:
        after = before
    slow = [(name, kind) for name, kind, _, _ in after if kind != "lean"]
    for name, kind in slow:
        print("svtools: %s/%s is not a lean launcher: %s" % (target, name, _WHY[kind]))
    if not after:
        print("svtools: no svtools program found in %s (is svtools installed with "
              "this interpreter? give the bin directory as an argument)" % target)
        return 1
    if check and not slow:
        print("svtools: all %d svtools programs in %s are lean launchers" % (len(after), target))
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(_cli())
