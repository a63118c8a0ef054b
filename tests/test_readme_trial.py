"""What the README says and a new user checked: the runtime dependencies
are setup.cfg's, and `svctl stop` leaves a failed service failed."""

import configparser
import os
import re

import pytest

from test_svctl_live import Scan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAKY_ONCE = "if [ -e ok ]; then exec sleep 1000; fi\ntouch ok\nexit 3\n"


def test_readme_names_every_runtime_dependency_of_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    needed = [re.match(r"[A-Za-z0-9_.-]+", line).group(0)
              for line in cfg["options"]["install_requires"].split("\n") if line.strip()]
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = " ".join(f.read().split())
    named = readme.split("The runtime dependencies are", 1)[1].split("Tests run", 1)[0]
    assert needed and [n for n in needed if "`%s`" % n not in named] == [], named


@pytest.fixture
def scan(tmp_path, procs):
    return Scan(tmp_path, procs)


def test_stop_leaves_failed_and_start_clears_it(scan):
    scan.service("flaky", FLAKY_ONCE, fail_limit="1 60\n")
    scan.start()
    scan.wait("flaky", lambda s: s["state"] == "failed", "flaky failed")
    out, err, code = scan.svctl("stop", "flaky")
    assert re.fullmatch(r"flaky: failed \(fail-limit reached: 1 exit within 60s; "
                        r"last exit 3 after \d+\.\ds\)\n", out) and code == 0, out
    assert scan.snap("flaky")["state"] == "failed"
    out, err, code = scan.svctl("start", "flaky")
    assert re.fullmatch(r"flaky: up \(pid \d+\)\n", out) and code == 0, out
    scan.svctl("remove", "flaky")
