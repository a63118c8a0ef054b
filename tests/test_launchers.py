"""The lean console-script launchers and the import diet of the clients."""

import os
import subprocess
import sys

import pytest

from svtools import _launchers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PIP_WRAPPER = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from svtools.{module} import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def test_rewrite_turns_pip_wrappers_into_lean_launchers(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "svok").write_text(PIP_WRAPPER.format(python=sys.executable, module="svok"))
    (bindir / "svok").chmod(0o755)
    (bindir / "other").write_text("#!/bin/sh\necho hi\n")
    assert _launchers.rewrite(str(bindir), root=ROOT) == ["svok"]
    text = (bindir / "svok").read_text()
    assert text.startswith("#!%s -IS\n" % sys.executable)
    assert "import re" not in text
    assert (bindir / "other").read_text() == "#!/bin/sh\necho hi\n"
    assert os.stat(bindir / "svok").st_mode & 0o777 == 0o755
    r = subprocess.run([str(bindir / "svok")], capture_output=True)
    assert (r.returncode, r.stderr) == (100, b"svok: usage: svok dir\n")
    # idempotent
    assert _launchers.rewrite(str(bindir), root=ROOT) == ["svok"]
    assert (bindir / "svok").read_text() == text


def test_the_per_service_programs_start_with_OO_and_find_their_byte_code(tmp_path):
    # svscan, supervise and multilog run once per service: -OO keeps the
    # docstrings out of what a forked supervise touches (docs/performance.md);
    # the .opt-2.pyc files pip does not write are written with the launchers.
    import importlib.util
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for module in ("svscan", "supervise", "multilog", "svctl"):
        (bindir / module).write_text(PIP_WRAPPER.format(python=sys.executable, module=module))
        (bindir / module).chmod(0o755)
    cached = importlib.util.cache_from_source(os.path.join(ROOT, "svtools", "supervise.py"),
                                              optimization=2)
    if os.path.exists(cached):
        os.unlink(cached)
    assert sorted(_launchers.rewrite(str(bindir), root=ROOT)) == [
        "multilog", "supervise", "svctl", "svscan"]
    for module in ("svscan", "supervise", "multilog"):
        assert (bindir / module).read_text().startswith("#!%s -ISOO\n" % sys.executable)
    assert (bindir / "svctl").read_text().startswith("#!%s -IS\n" % sys.executable)
    assert os.path.exists(cached)
    assert {kind for _, kind, _, _ in _launchers.survey(str(bindir))} == {"lean"}
    r = subprocess.run([str(bindir / "supervise")], capture_output=True)
    assert (r.returncode, r.stderr) == (100, b"supervise: usage: supervise dir\n")
    r = subprocess.run([str(bindir / "multilog"), "e"], input=b"a line\n", capture_output=True)
    assert (r.returncode, r.stderr) == (0, b"a line\n")


def _svtools_sources():
    folder = os.path.join(ROOT, "svtools")
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".py")]


def test_svtools_reads_no_docstring_and_asserts_nothing():
    # What -OO takes away must not be used: no `assert` statement, no __doc__.
    import ast
    found = []
    for path in _svtools_sources():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert):
                found.append("%s:%d: assert" % (path, node.lineno))
            elif isinstance(node, (ast.Attribute, ast.Name)) and \
                    getattr(node, "attr", getattr(node, "id", None)) == "__doc__":
                found.append("%s:%d: __doc__" % (path, node.lineno))
    assert found == []


FORBIDDEN = {"argparse", "typing", "dataclasses", "logging", "subprocess", "pathlib",
             "importlib.metadata", "re", "enum", "site", "selectors", "inotify_simple"}


@pytest.mark.parametrize("module", ["svc", "svok", "svstat"])
def test_clients_import_only_light_modules(module):
    code = ("import sys; sys.path.insert(0, %r); import svtools.%s; print(' '.join(sorted(sys.modules)))"
            % (ROOT, module))
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, check=True).stdout
    loaded = set(out.decode().split())
    assert not loaded & FORBIDDEN, loaded & FORBIDDEN


def test_launchers_run_from_another_checkout_point_at_the_installed_copy(tmp_path):
    # `python -m svtools._launchers` run inside some other checkout must point
    # the launchers at the installed svtools, not at that checkout.
    fake = tmp_path / "checkout"
    (fake / "svtools").mkdir(parents=True)
    for name in ("__init__.py", "_launchers.py"):
        with open(os.path.join(ROOT, "svtools", name)) as f:
            (fake / "svtools" / name).write_text(f.read())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "svok").write_text(PIP_WRAPPER.format(python=sys.executable, module="svok"))
    subprocess.run([sys.executable, "-m", "svtools._launchers", str(bindir)],
                   cwd=str(fake), check=True, capture_output=True)
    text = (bindir / "svok").read_text()
    assert str(fake) not in text
    assert "sys.path.insert(0, %r)" % _launchers.installed_root() in text


def tool(*args):
    return subprocess.run([sys.executable, "-m", "svtools._launchers"] + list(args),
                          capture_output=True, text=True, timeout=20, cwd="/")


def test_check_reports_slow_wrappers_and_changes_nothing(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = PIP_WRAPPER.format(python=sys.executable, module="svok")
    (bindir / "svok").write_text(wrapper)
    r = tool("--check", str(bindir))
    assert r.returncode == 1
    assert r.stdout == ("svtools: %s/svok is not a lean launcher: pip's console-script wrapper"
                        " (site and re are loaded first: slow)\n" % bindir)
    assert (bindir / "svok").read_text() == wrapper
    r = tool(str(bindir))
    assert (r.returncode, r.stdout) == (0, "svtools: 1 lean launchers written in %s\n" % bindir)
    r = tool("--check", str(bindir))
    assert (r.returncode, r.stdout) == (
        0, "svtools: all 1 svtools programs in %s are lean launchers\n" % bindir)


def test_says_why_when_it_rewrites_nothing(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    r = tool(str(bindir))
    assert r.returncode == 1
    assert "no svtools program found in %s" % bindir in r.stdout
    (bindir / "svok").write_text(
        "#!%s\n# EASY-INSTALL-ENTRY-SCRIPT: 'svtools==0.1.0','console_scripts','svok'\n"
        "import re\nimport sys\nfrom pkg_resources import load_entry_point\n" % sys.executable)
    r = tool(str(bindir))
    assert r.returncode == 1
    assert r.stdout.splitlines()[1] == (
        "svtools: %s/svok is not a lean launcher: a legacy easy-install wrapper, written by"
        " `setup.py install`; reinstall with `pip install .` from a checkout that has"
        " pyproject.toml, then run this tool" % bindir)


def test_pyproject_makes_every_pip_build_a_wheel():
    # Without a [build-system] table, pip 23.0 (Debian 12's) falls back to
    # `setup.py install`, whose easy-install wrappers the tool cannot rewrite.
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        build = tomllib.load(f)["build-system"]
    assert build["build-backend"] == "setuptools.build_meta"
    assert any(r.startswith("setuptools") for r in build["requires"])


def test_pip_wrappers_still_work_without_the_launchers(tmp_path):
    # The fallback when the tool was not run: pip's own wrapper, with site.
    wrapper = tmp_path / "svok"
    wrapper.write_text(PIP_WRAPPER.format(python=sys.executable, module="svok"))
    wrapper.chmod(0o755)
    r = subprocess.run([str(wrapper), str(tmp_path)], capture_output=True, timeout=20)
    assert (r.returncode, r.stdout, r.stderr) == (100, b"", b"")
