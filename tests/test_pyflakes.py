"""No undefined name in the code: a NameError on a rarely taken path (a
warning nobody had printed yet) once killed supervise.  pyflakes reads the
source without running it; only the errors that are certain bugs fail."""

import os

import pytest

api = pytest.importorskip("pyflakes.api")
reporter = pytest.importorskip("pyflakes.reporter")

ROOT = os.path.join(os.path.dirname(__file__), "..")
FATAL = ("undefined name", "undefined local variable", "syntax error", "invalid syntax")


class Collect(reporter.Reporter):
    def __init__(self):
        self.lines = []

    def flake(self, message):
        self.lines.append(str(message))

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.lines.append("%s:%s: syntax error: %s" % (filename, lineno, msg))

    def unexpectedError(self, filename, msg):
        self.lines.append("%s: %s" % (filename, msg))


@pytest.mark.parametrize("tree", ["svtools", "bench", "tests"])
def test_no_undefined_names(tree):
    out = Collect()
    api.checkRecursive([os.path.join(ROOT, tree)], out)
    bad = [line for line in out.lines if any(f in line for f in FATAL)]
    assert bad == []
