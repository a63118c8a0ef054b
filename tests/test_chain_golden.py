"""Golden transcripts for the chain-loading tools.

Each case is a shell command run in a fresh directory with a minimal
environment whose PATH finds one implementation first: command, stdout,
stderr, exit code.  Our tools must give the literal transcript; the C tools
(interop) must give it too, which keeps the literals honest.  The first
cases are daemontools' own regression tests for these programs; the rest
cover every message of spec sections 12-18.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from helpers import BIN, C_BIN

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USAGE_SOFTLIMIT = (
    "softlimit: usage: softlimit [-a allbytes] [-c corebytes] [-d databytes]"
    " [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes]"
    " [-r residentbytes] [-s stackbytes] [-t cpusecs] child\n")
USAGE_SETLOCK = "setlock: usage: setlock [ -nNxX ] file program [ arg ... ]\n"

# (id, command, stdout, stderr, exit code)
CASES = [
    # daemontools 0.76 regression cases
    ("envdir-requires-arguments", "envdir whatever",
     "", "envdir: usage: envdir dir child\n", 111),
    ("envdir-cannot-read-directory", "ln -s env1 env1; envdir env1 echo yes",
     "", "envdir: fatal: unable to switch to directory env1: symbolic link loop\n", 111),
    ("envdir-cannot-read-file", "mkdir env1; ln -s Message env1/Message; envdir env1 echo yes",
     "", "envdir: fatal: unable to read env1/Message: symbolic link loop\n", 111),
    ("envdir-adds-variables",
     "mkdir env1; echo This is a test. This is only a test. > env1/Message;"
     " envdir env1 sh -c 'echo $Message'",
     "This is a test. This is only a test.\n", "", 0),
    ("envdir-removes-variables",
     "mkdir env1 env2; echo hello > env1/Message; touch env2/Message;"
     " envdir env1 envdir env2 sh -c 'echo \"[${Message-unset}]\"'",
     "[unset]\n", "", 0),
    ("envuidgid-no-arguments", "envuidgid",
     "", "envuidgid: usage: envuidgid account child\n", 100),
    ("envuidgid-one-argument", "envuidgid root",
     "", "envuidgid: usage: envuidgid account child\n", 100),
    ("envuidgid-root", "envuidgid root sh -c 'echo $UID $GID'", "0 0\n", "", 0),
    ("envuidgid-cannot-run", "envuidgid root ./nonexistent",
     "", "envuidgid: fatal: unable to run ./nonexistent: file does not exist\n", 111),
    ("fghack-insists-on-argument", "fghack", "", "fghack: usage: fghack child\n", 100),
    ("fghack-runs-program", "fghack sh -c 'echo hi &'", "hi\n", "", 0),
    ("pgrphack-insists-on-argument", "pgrphack", "", "pgrphack: usage: pgrphack child\n", 100),
    ("pgrphack-runs-program", "pgrphack echo ok", "ok\n", "", 0),
    ("setlock-requires-arguments", "setlock whatever", "", USAGE_SETLOCK, 100),
    ("setlock-cannot-create", "setlock nonexistent/lock echo wrong",
     "", "setlock: fatal: unable to open nonexistent/lock: file does not exist\n", 111),
    ("setlock-x-cannot-create", "setlock -x nonexistent/lock echo wrong", "", "", 0),
    ("setlock-creates", "setlock lock echo ok; ls lock", "ok\nlock\n", "", 0),
    ("setlock-no-truncate", "echo ok > lock; setlock lock cat lock", "ok\n", "", 0),
    ("setlock-nx-held", "setlock lock sh -c 'setlock -nx lock echo wrong; echo $?'",
     "0\n", "", 0),
    ("setlock-n-held", "setlock lock sh -c 'setlock -n lock echo wrong; echo $?'",
     "111\n", "setlock: fatal: unable to lock lock: temporary failure\n", 0),
    ("setuidgid-no-arguments", "setuidgid",
     "", "setuidgid: usage: setuidgid account child\n", 100),
    ("setuidgid-one-argument", "setuidgid root",
     "", "setuidgid: usage: setuidgid account child\n", 100),
    ("setuidgid-unknown-account", "setuidgid nonexistent true",
     "", "setuidgid: fatal: unknown account nonexistent\n", 111),
    ("setuidgid-runs-program", "setuidgid root echo ok", "ok\n", "", 0),
    ("softlimit-insists-on-argument", "softlimit", "", USAGE_SOFTLIMIT, 100),
    ("softlimit-cannot-run", "softlimit ./nonexistent",
     "", "softlimit: fatal: unable to run ./nonexistent: file does not exist\n", 111),
    ("softlimit-p0-still-execs", "softlimit -p0 echo ./nonexistent", "./nonexistent\n", "", 0),

    # every other message and rule of sections 12-18
    ("setuidgid-empty-account", "setuidgid '' true",
     "", "setuidgid: fatal: unknown account \n", 111),
    ("setuidgid-cannot-run", "setuidgid root ./nonexistent",
     "", "setuidgid: fatal: unable to run ./nonexistent: file does not exist\n", 111),
    ("setuidgid-nobody-status",
     "setuidgid nobody grep -E '^(Uid|Gid|Groups)' /proc/self/status",
     "Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t65534 \n",
     "", 0),
    ("envuidgid-unknown-account", "envuidgid nonexistent true",
     "", "envuidgid: fatal: unknown account nonexistent\n", 111),
    ("envuidgid-replaces-order",
     "env -i UID=1 A=2 GID=3 B=4 $(command -v envuidgid) nobody /usr/bin/env",
     "GID=65534\nA=2\nB=4\nUID=65534\n", "", 0),
    ("envuidgid-empty-name", "envuidgid root ''",
     "", "envuidgid: fatal: unable to run : access denied\n", 111),
    ("pgrphack-cannot-run", "pgrphack ./nonexistent",
     "", "pgrphack: fatal: unable to run ./nonexistent: file does not exist\n", 111),
    ("pgrphack-session-leader",
     "pgrphack sh -c 'read -r pid comm state ppid pgrp sid rest < /proc/$$/stat;"
     " [ $pgrp = $$ ] && [ $sid = $$ ] && echo leader'",
     "leader\n", "", 0),
    ("fghack-cannot-run", "fghack ./nonexistent",
     "", "fghack: fatal: unable to run ./nonexistent: file does not exist\n", 111),
    ("fghack-exit-code", "fghack sh -c 'exit 5'", "", "", 5),
    ("fghack-crash", "fghack sh -c 'kill -9 $$'", "", "fghack: fatal: child crashed\n", 111),
    ("fghack-31-write-fds",
     "fghack sh -c 'p=$(readlink /proc/$$/fd/4); for f in /proc/$$/fd/*;"
     " do [ \"$(readlink $f)\" = \"$p\" ] && echo ${f##*/}; done | sort -n | tr \"\\n\" \" \"'",
     " ".join(str(n) for n in range(3, 34)) + " ", "", 0),
    ("setlock-illegal-option", "setlock -q x y",
     "", "setlock: illegal option -- q\n" + USAGE_SETLOCK, 100),
    ("setlock-no-arguments", "setlock", "", USAGE_SETLOCK, 100),
    ("setlock-cannot-run", "setlock lock ./nonexistent",
     "", "setlock: fatal: unable to run ./nonexistent: file does not exist\n", 111),
    ("setlock-x-cannot-run", "setlock -x lock ./nonexistent",
     "", "setlock: fatal: unable to run ./nonexistent: file does not exist\n", 111),
    ("setlock-last-option-wins",
     "setlock lock sh -c 'setlock -xnNnX lock echo wrong; echo $?'",
     "111\n", "setlock: fatal: unable to lock lock: temporary failure\n", 0),
    ("setlock-fd3-inherited", "setlock -nNxX -- lock sh -c 'grep flags /proc/$$/fdinfo/3'",
     "flags:\t0106001\n", "", 0),
    ("setlock-mode-0600", "umask 022; setlock lock true; stat -c %a lock", "600\n", "", 0),
    ("softlimit-illegal-option", "softlimit -q",
     "", "softlimit: illegal option -- q\n" + USAGE_SOFTLIMIT, 100),
    ("softlimit-missing-value", "softlimit -o",
     "", "softlimit: option requires an argument -- o\n" + USAGE_SOFTLIMIT, 100),
    ("softlimit-non-numeric", "softlimit -o x true", "", USAGE_SOFTLIMIT, 100),
    ("softlimit-bad-value-before-bad-option", "softlimit -o x -q true", "", USAGE_SOFTLIMIT, 100),
    ("softlimit-sign-is-not-a-digit", "softlimit -o +5 true", "", USAGE_SOFTLIMIT, 100),
    ("softlimit-trailing-junk", "softlimit -o 5x true", "", USAGE_SOFTLIMIT, 100),
    ("softlimit-no-child", "softlimit -o 5", "", USAGE_SOFTLIMIT, 100),
    ("softlimit-dash-is-child", "softlimit - true",
     "", "softlimit: fatal: unable to run -: file does not exist\n", 111),
    ("softlimit-double-dash", "softlimit -- echo ok", "ok\n", "", 0),
    ("softlimit-empty-is-zero", "softlimit -c '' sh -c 'ulimit -c'", "0\n", "", 0),
    ("softlimit-wraps", "softlimit -t 18446744073709551617 sh -c 'ulimit -t'", "1\n", "", 0),
    ("envdir-no-arguments", "envdir", "", "envdir: usage: envdir dir child\n", 111),
    ("envdir-missing-directory", "envdir nonexistent true",
     "", "envdir: fatal: unable to switch to directory nonexistent: file does not exist\n", 111),
    ("envdir-not-a-directory", "touch f; envdir f true",
     "", "envdir: fatal: unable to switch to directory f: not a directory\n", 111),
    ("envdir-subdirectory", "mkdir -p e/sub; envdir e true",
     "", "envdir: fatal: unable to read e/sub: is a directory\n", 111),
    ("envdir-cannot-run", "mkdir e; envdir e ./nonexistent",
     "", "envdir: fatal: unable to run ./nonexistent: file does not exist\n", 111),
    ("envdir-path-search-uses-old-path",
     "mkdir e; printf /nonexistent > e/PATH; envdir e sh -c 'echo $PATH'",
     "/nonexistent\n", "", 0),
    ("envdir-child-runs-in-starting-directory",
     "mkdir e; printf '#!/bin/sh\\necho here\\n' > prog; chmod +x prog; envdir e ./prog",
     "here\n", "", 0),
    ("envdir-value-rules",
     "mkdir e; printf ' a b \\t \\nsecond\\n' > e/T; printf 'x\\0y\\0\\n' > e/N;"
     " printf '\\n' > e/E; printf '\\t lead' > e/L; : > e/Z; mkfifo e/P;"
     " env -i Z=1 P=3 $(command -v envdir) e /bin/sh -c"
     " 'printf \"[%s]\" \"$T\" \"$N\" \"$E\" \"$L\" \"${Z-unset}\" \"${P-unset}\"'",
     "[ a b][x\ny\n][][\t lead][unset][unset]", "", 0),
    ("envdir-lone-dangling-symlink-removes",
     "mkdir e; ln -s nowhere e/D; env -i D=1 $(command -v envdir) e /usr/bin/env", "", "", 0),
    ("envdir-skips-dot-files",
     "mkdir e; echo q > e/.hidden; env -i $(command -v envdir) e /usr/bin/env",
     "", "", 0),
    ("envdir-names-with-equals",
     "mkdir e; : > e/F=G; echo val > e/H=I;"
     " env -i F=1 H=2 $(command -v envdir) e /usr/bin/env | sort",
     "F=G\nH=I=val\n", "", 0),
    ("no-locale-variable-added",
     "mkdir e; env -i $(command -v envdir) e $(command -v softlimit) -o = "
     "$(command -v setlock) lock $(command -v pgrphack) $(command -v setuidgid) root "
     "$(command -v fghack) /usr/bin/env; echo $?",
     "0\n", "", 0),
]


def transcript(bindir, cmd, cwd, extra_env=None):
    env = {"PATH": bindir + ":/usr/bin:/bin"}
    env.update(extra_env or {})
    p = subprocess.run(["sh", "-c", cmd], cwd=cwd, env=env, capture_output=True, timeout=20)
    return p.stdout.decode("utf-8", "surrogateescape"), p.stderr.decode("utf-8", "surrogateescape"), p.returncode


ROOT_CASES = ("setuidgid-nobody", "setuidgid-runs-program", "setuidgid-cannot-run",
              "no-locale-variable-added")  # setuidgid really switching accounts


def needs_root(case_id):
    return case_id.startswith(ROOT_CASES) and os.geteuid() != 0


@pytest.mark.parametrize("cid,cmd,out,err,rc", CASES, ids=[c[0] for c in CASES])
def test_ours(tmp_path, cid, cmd, out, err, rc):
    if needs_root(cid):
        pytest.skip("needs root")
    assert transcript(BIN, cmd, tmp_path) == (out, err, rc)


@pytest.mark.interop
@pytest.mark.parametrize("cid,cmd,out,err,rc", CASES, ids=[c[0] for c in CASES])
def test_c_agrees(tmp_path, cid, cmd, out, err, rc):
    if needs_root(cid):
        pytest.skip("needs root")
    (tmp_path / "c").mkdir()
    (tmp_path / "ours").mkdir()
    theirs = transcript(C_BIN, cmd, tmp_path / "c")
    assert theirs == (out, err, rc)
    assert transcript(BIN, cmd, tmp_path / "ours") == theirs


# Cases that need an unprivileged user: run as nobody through the C
# setuidgid, in a directory nobody can enter.  {T} is the tool: the C one, or
# ours through an interpreter nobody may run.

def become_nobody():
    """setuidgid for the nobody cases: the C one when installed, ours otherwise
    (it only runs as root to drop to nobody; the tool under test is {T})."""
    c = os.path.join(C_BIN, "setuidgid")
    return c if os.path.exists(c) else os.path.join(BIN, "setuidgid")


NOBODY_CASES = [
    ("setuidgid-cannot-setgid", "{setuidgid} root true",
     "", "setuidgid: fatal: unable to setgid: permission denied\n", 111),
    ("envdir-unreadable-directory", "{envdir} noread true",
     "", "envdir: fatal: unable to read directory noread: access denied\n", 111),
    ("envdir-unsearchable-directory", "{envdir} nox true",
     "", "envdir: fatal: unable to switch to directory nox: access denied\n", 111),
    ("envdir-unreadable-file", "{envdir} e true",
     "", "envdir: fatal: unable to read e/A: access denied\n", 111),
    ("envdir-unreadable-cwd", "cd cwdnoread && {envdir} ../e true",
     "", "envdir: fatal: unable to switch to current directory: access denied\n", 111),
    ("setlock-open-denied", "{setlock} noread/lock true",
     "", "setlock: fatal: unable to open noread/lock: access denied\n", 111),
    ("setlock-x-open-denied", "{setlock} -x noread/lock true", "", "", 0),
]
TOOLS = ("setuidgid", "envdir", "setlock")


@pytest.fixture(scope="module")
def nobody_python():
    """An interpreter that nobody can run with our package importable."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody")
    for py in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        p = subprocess.run([become_nobody(), "nobody", py, "-c",
                            "import sys, svtools.envdir; assert sys.version_info >= (3, 11)"],
                           env={"PYTHONPATH": REPO, "PATH": "/usr/bin:/bin"},
                           capture_output=True, cwd="/")
        if p.returncode == 0:
            return py
    pytest.skip("no Python interpreter that nobody can run")


@pytest.fixture
def world_dir():
    """A scratch directory nobody can reach (pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="svtools-chain-")
    os.chmod(d, 0o755)
    for sub in ("noread", "nox", "cwdnoread", "e"):
        os.mkdir(os.path.join(d, sub))
    with open(os.path.join(d, "e", "A"), "w") as f:
        f.write("secret\n")
    os.chmod(os.path.join(d, "e", "A"), 0)
    os.chmod(os.path.join(d, "noread"), 0o711)
    os.chmod(os.path.join(d, "nox"), 0)
    os.chmod(os.path.join(d, "cwdnoread"), 0o311)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def as_nobody(cmd, cwd, tools, extra_env=None):
    for name, path in tools.items():
        cmd = cmd.replace("{%s}" % name, path)
    return transcript("/usr/bin", "%s nobody sh -c '%s'" % (become_nobody(), cmd),
                      cwd, extra_env)


@pytest.mark.parametrize("cid,cmd,out,err,rc", NOBODY_CASES, ids=[c[0] for c in NOBODY_CASES])
def test_ours_as_nobody(nobody_python, world_dir, cid, cmd, out, err, rc):
    tools = {t: "%s -m svtools.%s" % (nobody_python, t) for t in TOOLS}
    assert as_nobody(cmd, world_dir, tools, {"PYTHONPATH": REPO}) == (out, err, rc)


@pytest.mark.interop
@pytest.mark.parametrize("cid,cmd,out,err,rc", NOBODY_CASES, ids=[c[0] for c in NOBODY_CASES])
def test_c_agrees_as_nobody(world_dir, cid, cmd, out, err, rc):
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody")
    tools = {t: os.path.join(C_BIN, t) for t in TOOLS}
    assert as_nobody(cmd, world_dir, tools) == (out, err, rc)
