"""svscanboot: svscan under readproctitle, svscan's warnings visible in ps."""

import os
import subprocess

from helpers import prog, wait_for, write_script


def tree(pid):
    out = []
    for task in os.listdir("/proc"):
        if task.isdigit():
            try:
                with open("/proc/%s/stat" % task, "rb") as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % task, "rb") as f:
                    cmd = f.read().rstrip(b"\0").replace(b"\0", b" ")
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2:].split()[3]) == pid:   # session id
                out.append((int(task), cmd))
    return out


def test_svscanboot_runs_services_and_shows_errors(procs, tmp_path):
    sv = tmp_path / "service"
    (sv / "a").mkdir(parents=True)
    write_script(sv / "a" / "run", "env > env\nexec sleep 1000\n")
    os.symlink(tmp_path / "nowhere", sv / "broken")
    p = procs.start([prog("svscanboot"), str(sv)], stdin=subprocess.DEVNULL)
    want = b"svscan: warning: unable to stat broken: file does not exist\n"

    def shown():
        return [cmd for pid, cmd in tree(p.pid) if pid == p.pid and cmd.endswith(want)]
    wait_for(shown, 10, what="warning on the readproctitle line")
    line = shown()[0]
    assert line.startswith(b"readproctitle service errors: ...")
    assert len(line) == len(b"readproctitle service errors: ") + 400
    wait_for(lambda: (sv / "a" / "env").exists(), 5, what="service started")
    wait_for(lambda: (sv / "a" / "env").read_text().endswith("\n"), 2, what="env written")
    names = sorted(v.split("=", 1)[0] for v in (sv / "a" / "env").read_text().splitlines())
    assert names == ["PATH", "PWD"]
    assert any(cmd == b"svscan " + bytes(sv) for _, cmd in tree(p.pid))
