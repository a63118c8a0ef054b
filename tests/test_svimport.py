"""svimport without svscan: parsing, expansion, translation, the writer, bad input."""

import os
import resource
import stat

import pytest

import helpers
from helpers import prog
from svtools import _svimport_config as cfg, _svimport_types as types
from svtools._svimport_translate import envdir_file, translate
from svtools import envdir

DATA = os.path.join(os.path.dirname(__file__), "data", "svimport")


def svimport(*args, env=None):
    r = helpers.run([prog("svimport")] + list(args), env=env or helpers.env())
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def conf(tmp_path, text, name="supervisord.conf"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def by_name(config_path, environ=None):
    c = cfg.read(config_path, environ or {"HOME": "/root"})
    return c, {i.name: i for i in cfg.instances(c)}


def services(config_path, environ=None):
    c, insts = by_name(config_path, environ)
    genv = cfg.global_environment(c)
    out = {}
    for name, inst in insts.items():
        if inst.error is None:
            svcs, report = translate(inst, genv, inst.values["umask"] or 0o22,
                                     c.sections.get("supervisord", {}).get("directory"), c.here)
            out[name] = (svcs, report)
    return out


def test_seed_airflow_report_and_files(tmp_path):
    env = helpers.env(AIRFLOW_HOME="/opt/airflow", AIRFLOW_LOGS="/var/log/airflow")
    code, out, err = svimport("-o", str(tmp_path / "sv"), os.path.join(DATA, "airflow.conf"), env=env)
    assert code == 0, out + err
    web = tmp_path / "sv" / "airflow-webserver"
    run = (web / "run").read_text()
    assert run.splitlines() == [
        "#!/bin/sh",
        "# made by svimport from [program:airflow-webserver] (airflow-webserver)",
        "exec 2<>../airflow-webserver.stderr/fifo",
        "umask 022",
        'set -- "$PWD/env" ${OLDPWD+"$OLDPWD"}',
        "cd /opt/airflow || exit 111",
        'if [ $# = 2 ]; then OLDPWD=$2; else unset OLDPWD; fi',
        'exec envdir "$1" setuidgid airflow airflow webserver -p 8080',
    ]
    assert (web / "down-signal").read_text() == "QUIT\n"
    assert (web / "timeout-kill").read_text() == "60000\n"
    assert (web / "process-group").exists()
    assert (web / "log" / "run").read_text() == \
        "#!/bin/sh\nexec multilog t s10485760 n6 /var/log/airflow/webserver.log.d\n"
    assert (web / "env" / "AIRFLOW__CORE__LOAD_EXAMPLES").read_bytes() == b"False\n"
    assert (web / "env" / "SUPERVISOR_PROCESS_NAME").read_bytes() == b"airflow-webserver\n"
    assert stat.S_IMODE(os.stat(web / "env").st_mode) == 0o700
    err_svc = tmp_path / "sv" / "airflow-webserver.stderr"
    assert stat.S_ISFIFO(os.stat(err_svc / "fifo").st_mode)
    assert "/var/log/airflow/webserver.err.d <>./fifo" in (err_svc / "run").read_text()
    assert "kept     stopsignal=QUIT: down-signal: QUIT" in out
    assert "user=airflow: run: setuidgid airflow" in out
    assert not list((tmp_path / "sv").glob(".*"))


def test_seed_tornado_four_processes(tmp_path):
    code, out, _ = svimport("-n", "-o", str(tmp_path / "sv"), os.path.join(DATA, "tornado.conf"))
    assert code == 0
    for port in range(8080, 8084):
        assert "[program:tornado] tornado-%d -> " % port in out
        assert "app.py --port=%d" % port in out
    assert not (tmp_path / "sv").exists(), "--dry-run wrote something"


def test_includes_here_per_file_and_nested_include_not_followed():
    c, insts = by_name(os.path.join(DATA, "includes.conf"))
    assert sorted(insts) == ["inc-a", "inc-b", "inc-nested"]
    assert insts["inc-a"].values["command"] == "/bin/echo " + os.path.join(DATA, "conf.d")
    assert insts["inc-b"].values["directory"] == os.path.join(DATA, "conf.d")
    assert any("not followed" in n for n in c.notes)
    assert "loopy" not in insts


def test_include_loop_and_glob_matching_nothing():
    code, out, _ = svimport("-n", os.path.join(DATA, "loop.conf"))
    assert code == 1
    assert "loop.conf was already read: skipped (include loop)" in out
    assert "*.nomatch matches no file" in out
    assert "[program:loopy] loopy -> /etc/sv/loopy" in out


def test_numprocs_format_specs_and_group_name():
    _, insts = by_name(os.path.join(DATA, "numprocs.conf"))
    assert sorted(insts) == ["worker_01", "worker_02", "worker_03"]
    assert insts["worker_02"].values["command"] == "/bin/echo worker 2 of 3"
    assert insts["worker_03"].values["environment"] == {"WORKER_ID": "003"}


def test_env_expansions_from_supervisord_and_program():
    _, insts = by_name(os.path.join(DATA, "groupenv.conf"), {"HOME": "/home/x"})
    v = insts["envx"].values
    assert v["environment"] == {"APP_DIR": "/srv/app", "PORT": "9000"}
    assert v["directory"] == "/srv/app"
    assert v["command"] == "/bin/echo 9000 /home/x"


@pytest.mark.parametrize("text, expect", [
    ('A=1,B="two words"', {"A": "1", "B": "two words"}),
    ("PATH=/usr/bin:/bin,X=a.b+c-(d)", {"PATH": "/usr/bin:/bin", "X": "a.b+c-(d)"}),
    ("Q='it''s'", {"Q": "its"}),
    ('E=""', {"E": ""}),
])
def test_environment_pairs_as_supervisord_lexes_them(text, expect):
    assert types.env_pairs(text) == expect


@pytest.mark.parametrize("text", ["A=1,B", "A 1", "A=", "=1", "A=\"open"])
def test_environment_pairs_malformed(text):
    with pytest.raises(ValueError):
        types.env_pairs(text)


def test_quoting_round_trips_through_sh_and_envdir(tmp_path):
    svcs, report = services(os.path.join(DATA, "quoting.conf"))["quoting"]
    run = svcs[0].files["run"][0].decode()
    last = run.splitlines()[-1]
    # What sh makes of the exec line is exactly supervisord's shlex.split.
    r = helpers.run(["/bin/sh", "-c", 'set -- %s; for a; do printf "%%s\\0" "$a"; done'
                     % last.split(" ", 3)[3]])
    assert r.stdout.split(b"\0")[:-1] == [b"/bin/printf", b"%s|", b"a b", b"it's", b"$HOME",
                                          b"`id`", b"a;rm", b"x;y", b'a"b', b"*"]
    for key, value in (("DOLLAR", "$HOME `id` $(id)"), ("QUOTE", 'it\'s "q"'),
                       ("SEMI", "a;b|c&d"), ("GREETING", "hello, world"), ("EMPTY", "")):
        assert envdir.value(svcs[0].files["env/" + key][0]).decode() == value
    assert "TRAIL='ends with space '; export TRAIL" in run
    assert "env/TRAIL" not in svcs[0].files


def test_envdir_file_rules():
    assert envdir_file("a\nb") == b"a\0b\n"
    assert envdir_file("") == b"\n"
    assert envdir_file("x ") is None
    assert envdir.value(envdir_file("multi\nline")) == b"multi\nline"


def test_restart_translation():
    s = services(os.path.join(DATA, "restarts.conf"))
    oneshot = s["oneshot"][0][0].files
    assert "down" in oneshot and oneshot["finish"][0].endswith(b"exit 125\n")
    finish = s["expected"][0][0].files["finish"][0].decode()
    assert "0|2) exit 125 ;;" in finish
    assert "fail-limit" not in s["expected"][0][0].files
    assert s["always"][0][0].files["fail-limit"][0] == b"1 6\n"
    assert "finish" not in s["always"][0][0].files
    assert "finish" not in s["noexpected"][0][0].files
    # a startsecs other than svctl's settle (1 s) is said, with the option to pass
    why = {name: [r[3] for r in s[name][1] if r[1] == "startsecs/startretries"][0]
           for name in ("expected", "always", "noexpected")}
    assert why["always"].endswith("; svctl start --settle 5 judges a start as supervisord does")
    assert why["expected"].endswith("; svctl start --settle 0 judges a start as supervisord does")
    assert "--settle" not in why["noexpected"]        # startsecs 1: svctl's own default


def test_finish_script_exits_as_supervisord_would_restart(tmp_path):
    finish = services(os.path.join(DATA, "restarts.conf"))["expected"][0][0].files["finish"][0]
    path = helpers.write_script(tmp_path / "finish", finish.decode().split("\n", 1)[1])
    codes = {arg: helpers.run([str(path), arg, "0"]).returncode for arg in ("0", "1", "2", "256")}
    assert codes == {"0": 125, "1": 0, "2": 125, "256": 0}


def test_log_destinations():
    s = services(os.path.join(DATA, "logs.conf"))
    quiet = s["quiet"][0][0].files["run"][0].decode()
    assert "exec >/dev/null" in quiet and "exec 2>/dev/null" in quiet
    assert "log/run" not in s["quiet"][0][0].files
    docker = s["docker"][0][0]
    assert "log/run" not in docker.files and "exec 2" not in docker.files["run"][0].decode()
    assert s["auto"][0][0].files["log/run"][0].endswith(b"exec multilog t s16777215 n11 ./main\n")
    same = s["samefile"][0][0].files
    assert "exec 2>&1" in same["run"][0].decode()
    assert same["log/run"][0].endswith(b" s4096 n2 " + os.path.join(DATA, "same.log.d").encode() + b"\n")
    assert len(s["samefile"][0]) == 1
    rel = s["relative"]
    assert os.path.join(DATA, "relative.log.d").encode() in rel[0][0].files["log/run"][0]
    kinds = {(k, key) for k, key, _, _ in rel[1]}
    assert ("dropped", "stdout_syslog") in kinds and ("dropped", "stdout_events_enabled") in kinds


def test_signals_umask_directory():
    s = services(os.path.join(DATA, "signals.conf"))
    usr2 = s["usr2"][0][0].files
    assert usr2["down-signal"][0] == b"USR2\n" and usr2["timeout-kill"][0] == b"1\n"
    assert b"umask 077\n" in usr2["run"][0] and b"cd /tmp || exit 111" in usr2["run"][0]
    assert s["nine"][0][0].files["down-signal"][0] == b"KILL\n"
    assert "process-group" in s["nine"][0][0].files
    assert "down-signal" not in s["pipe"][0][0].files
    assert ("dropped", "stopsignal") in {(k, key) for k, key, _, _ in s["pipe"][1]}


def test_sections_not_carried_exit_1():
    code, out, _ = svimport("-n", os.path.join(DATA, "sections.conf"))
    assert code == 1
    for line in ("[eventlistener:memmon]: dropped", "[fcgi-program:php]: dropped",
                 "[mystery]: unknown section", "dropped  priority=10",
                 "dropped  serverurl=http://127.0.0.1:9001", "dropped  [group:pair]=membership",
                 "dropped  colour=blue: unknown key"):
        assert line in out
    assert "[inet_http_server]: not needed" in out


def test_bad_programs_reported_good_one_written(tmp_path):
    out_dir = tmp_path / "sv"
    code, out, err = svimport("-o", str(out_dir), os.path.join(DATA, "badprograms.conf"))
    assert code == 1
    assert sorted(os.listdir(out_dir)) == ["good"]
    for name, why in (("nocommand", "no command="), ("badexpand", "%(nosuchname)s cannot be expanded"),
                      ("badformat", "badly formatted"), ("badquote", "No closing quotation"),
                      (".hidden", "starts with a dot"), ("..", "starts with a dot"),
                      ("a b", "unsafe in a directory name"), ("badbool", "not a boolean"),
                      ("badnum", "needs %(process_num)")):
        assert any(line.startswith("[program:") and " %s: not converted: " % name in line and why in line
                   for line in out.splitlines()), (name, why)
        assert why in err


@pytest.mark.parametrize("name, ok", [("web", True), ("a/b", False), (".x", False), ("..", False),
                                      ("a b", False), ("a\tb", False), ("-x", False), ("a.b", True),
                                      ("a:b", False), ("", False)])
def test_check_name(name, ok):
    assert (types.check_name(name) is None) == ok


def test_malformed_ini_fatal_111_nothing_written(tmp_path):
    code, out, err = svimport("-o", str(tmp_path / "sv"), os.path.join(DATA, "malformed.conf"))
    assert code == 111 and out == ""
    assert err.startswith("svimport: fatal: unable to parse ") and "line 3" in err
    assert not (tmp_path / "sv").exists()


def test_missing_file_and_usage(tmp_path):
    code, _, err = svimport(str(tmp_path / "nope.conf"))
    assert code == 111 and err == "svimport: fatal: unable to read %s: file does not exist\n" % (tmp_path / "nope.conf")
    assert svimport()[0] == 100
    assert svimport("-x", "a")[0] == 100
    assert svimport("a", "b")[0] == 100


def test_never_overwrites_without_force_and_force_replaces(tmp_path):
    c = conf(tmp_path, "[program:web]\ncommand=/bin/sleep 1\n")
    out_dir = tmp_path / "sv"
    assert svimport("-o", str(out_dir), c)[0] == 0
    (out_dir / "web" / "mine").write_text("keep")
    code, out, _ = svimport("-o", str(out_dir), c)
    assert code == 1 and "web exists (use --force" in out
    assert (out_dir / "web" / "mine").exists()
    assert svimport("--force", "-o", str(out_dir), c)[0] == 0
    assert not (out_dir / "web" / "mine").exists()
    assert sorted(os.listdir(out_dir)) == ["web"]


def test_write_failure_leaves_nothing_half_written(tmp_path):
    c = conf(tmp_path, "[program:web]\ncommand=/bin/sleep 1\n")
    out_dir = tmp_path / "sv"
    out_dir.mkdir()
    # No file may grow past 0 bytes: the directory and the first file are
    # created, the first write fails (EFBIG) half-way through the service.
    r = helpers.run([prog("svimport"), "-o", str(out_dir), c],
                    preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0)))
    assert r.returncode == 111
    assert r.stderr.decode() == "svimport: warning: unable to write %s: file too big\n" % (out_dir / "web")
    assert os.listdir(out_dir) == []


def test_unwritable_output_directory(tmp_path):
    code, _, err = svimport("-o", "/proc/no/such/dir", conf(tmp_path, "[program:w]\ncommand=/bin/true\n"))
    assert code == 111 and "unable to write /proc/no/such/dir/w" in err


def test_name_collision(tmp_path):
    c = conf(tmp_path, "[program:a]\nprocess_name=x\ncommand=/bin/true\n"
                       "[program:b]\nprocess_name=x\ncommand=/bin/true\n")
    code, out, _ = svimport("-n", c)
    assert code == 1 and "x: not converted: name x is already used by [program:a]" in out


def test_unknown_user_is_a_note(tmp_path):
    c = conf(tmp_path, "[program:a]\ncommand=/bin/true\nuser=no-such-user-here\n")
    code, out, _ = svimport("-n", c)
    assert code == 0 and "no such account on this machine" in out


def test_command_found_through_the_programs_path(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    helpers.write_script(bin_ / "hello-svimport", "echo found\n")
    c = conf(tmp_path, "[program:p]\ncommand=hello-svimport\nenvironment=PATH=\"%s:/usr/bin:/bin\"\n" % bin_)
    svcs, _ = services(c)["p"]
    d = tmp_path / "p"
    d.mkdir()
    for sub in svcs[0].dirs:
        (d / sub).mkdir()
    for path, (data, mode) in svcs[0].files.items():
        (d / path).write_bytes(data)
        os.chmod(d / path, mode)
    r = helpers.run(["./run"], cwd=str(d))
    assert r.stdout == b"found\n", r.stderr


@pytest.mark.parametrize("text, name", [("QUIT", "QUIT"), ("sigusr2", "USR2"), ("9", "KILL"),
                                        (" term ", "TERM"), ("NOPE", None), ("999", None),
                                        ("SIG_IGN", None)])
def test_signal_names_as_supervisord_takes_them(text, name):
    if name is None:
        with pytest.raises(ValueError):
            types.signal_name(text, "stopsignal")
    else:
        assert types.signal_name(text, "stopsignal") == name


def test_bad_setting_values_are_per_program_errors(tmp_path):
    c = conf(tmp_path, "[program:a]\ncommand=/bin/true\nstopsignal=NOPE\n"
                       "[program:b]\ncommand=/bin/true\nstopwaitsecs=ten\n"
                       "[program:c]\ncommand=/bin/true\nexitcodes=0,300\n"
                       "[program:d]\ncommand=/bin/true\numask=899\n"
                       "[program:e]\ncommand=/bin/true\nstopasgroup=true\nkillasgroup=false\n"
                       "[program:f]\ncommand=/bin/true\nenvironment=A=1,B\n"
                       "[program:ok]\ncommand=/bin/true\n")
    code, out, err = svimport("-n", c)
    assert code == 1
    for name, why in (("a", "stopsignal: not a signal"), ("b", "stopwaitsecs: not an integer"),
                      ("c", "exit codes are 0..255"), ("d", "umask: not an octal number"),
                      ("e", "stopasgroup=true needs killasgroup=true"),
                      ("f", "environment: malformed KEY=value list")):
        assert "[program:%s] %s: not converted: " % (name, name) in out and why in out, (name, out)
    assert "[program:ok] ok -> /etc/sv/ok" in out
    assert "svimport: converted 1 of 7 processes, 0 settings dropped; nothing written" in out


def test_numeric_user_becomes_the_account_name(tmp_path):
    c = conf(tmp_path, "[program:a]\ncommand=/bin/true\nuser=65534\n")
    code, out, _ = svimport("-o", str(tmp_path / "sv"), c)
    assert code == 0 and "changed  user=65534: uid 65534 is account nobody" in out
    assert "setuidgid nobody /bin/true" in (tmp_path / "sv" / "a" / "run").read_text()


@pytest.mark.parametrize("settings, out, err, logger", [
    ("stdout_logfile=NONE\nredirect_stderr=true\n", b"", b"", False),
    ("stdout_logfile=NONE\n", b"err\n", b"", True),            # stderr AUTO keeps a log
    ("stdout_logfile=NONE\nstderr_logfile=NONE\n", b"", b"", False),
    ("stdout_logfile=/dev/stderr\nredirect_stderr=true\n", b"", b"out\nerr\n", False),
    ("stdout_logfile=/dev/stdout\nstderr_logfile=/dev/stdout\n", b"out\nerr\n", b"", False),
    ("stdout_logfile=/dev/stdout\nstderr_logfile=/dev/stderr\n", b"out\n", b"err\n", False),
    ("redirect_stderr=true\n", b"out\nerr\n", b"", True),
    ("", b"out\nerr\n", b"", True),                               # both AUTO: one log
])
def test_where_output_goes(tmp_path, settings, out, err, logger):
    c = conf(tmp_path, "[program:p]\ncommand=/bin/true\n" + settings)
    svc = services(c)["p"][0][0]
    assert ("log/run" in svc.files) == logger
    run = svc.files["run"][0].decode().rsplit("\n", 2)[0] + "\necho out; echo err >&2\n"
    r = helpers.run(["/bin/sh", "-c", run])
    assert (r.stdout, r.stderr) == (out, err)


def test_relative_directory_from_the_config_file(tmp_path):
    c = conf(tmp_path, "[program:p]\ncommand=/bin/true\ndirectory=app\n")
    svc, report = services(c)["p"]
    assert ("cd %s/app || exit 111" % tmp_path).encode() in svc[0].files["run"][0]
    assert ("changed", "directory", "app", "run: cd %s/app" % tmp_path) in report


def test_every_explicit_setting_is_in_the_report(tmp_path):
    keys = ["command=/bin/true", "autostart=true", "autorestart=true", "priority=999",
            "startsecs=1", "startretries=3", "stopsignal=TERM", "stopwaitsecs=10",
            "stopasgroup=false", "killasgroup=false", "redirect_stderr=false",
            "numprocs=1", "numprocs_start=0", "process_name=%(program_name)s", "umask=022",
            "serverurl=AUTO", "exitcodes=0", "environment=A=1", "directory=/tmp",
            "stdout_logfile=AUTO", "stderr_logfile=AUTO", "stdout_logfile_maxbytes=1MB",
            "stdout_logfile_backups=3", "user=nobody"]
    c = conf(tmp_path, "[program:p]\n" + "\n".join(keys) + "\n")
    code, out, _ = svimport("-n", c)
    assert code == 0
    reported = set()
    for line in out.splitlines():
        if line.startswith("  "):
            reported.update(line.split()[1].split("=", 1)[0].split("/"))
    assert {k.split("=")[0] for k in keys} - reported == set()


def test_supervisord_section_keys(tmp_path):
    c = conf(tmp_path, "[supervisord]\nlogfile=/tmp/x.log\nminfds=1024\numask=027\n"
                       "[program:a]\ncommand=/bin/true\n")
    code, out, _ = svimport("-n", c)
    assert code == 0
    assert "  note     logfile=/tmp/x.log: supervisord's own setting, not needed" in out
    assert "  kept     umask=027: carried into each run" in out
    assert "kept     [supervisord] umask=027: run: umask 027" in out
    c = conf(tmp_path, "[supervisord]\nminfds=65536\n[program:a]\ncommand=/bin/true\n", "b.conf")
    code, out, _ = svimport("-n", c)
    assert code == 1 and "dropped  minfds=65536: supervisord raised this limit" in out


def test_stderr_logger_is_execd_and_the_docs_say_why(tmp_path):
    """NAME.stderr/run needs sh's <>./fifo, so supervise's in-child multilog
    (a plain `exec multilog WORDS`) does not take it, while NAME/log/run it
    does; docs/coming-from-supervisord.md explains the python3 in ps."""
    from svtools import _multilog_inchild
    env = helpers.env(AIRFLOW_HOME="/opt/airflow", AIRFLOW_LOGS="/var/log/airflow")
    code, out, err = svimport("-o", str(tmp_path / "sv"), os.path.join(DATA, "airflow.conf"), env=env)
    assert code == 0, out + err
    web = tmp_path / "sv" / "airflow-webserver"
    assert _multilog_inchild.plan((web / "log" / "run").read_bytes()) is not None
    assert _multilog_inchild.plan((tmp_path / "sv" / "airflow-webserver.stderr" / "run")
                                  .read_bytes()) is None
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs",
                            "coming-from-supervisord.md")).read()
    section = doc[doc.index("### A separate stderr log"):doc.index("### Differences worth knowing")]
    assert "`NAME.stderr/run` is the one logger that runs as `python3 -IS" in section
    assert "`<>./fifo`" in section


def test_report_says_where_exitcodes_went_and_counts_in_words(tmp_path):
    path = conf(tmp_path, "[program:web]\ncommand=/bin/sleep 100\nautorestart=unexpected\n"
                          "exitcodes=0,2\nredirect_stderr=true\nstderr_logfile_maxbytes=1MB\n")
    scan = str(tmp_path / "myscan")
    code, out, err = svimport("-o", str(tmp_path / "sv"), path, env=helpers.env(SVDIR=scan))
    assert code == 0, out + err
    assert "  kept     autorestart/exitcodes=unexpected/0,2: finish: exit 125 (stays down) " \
           "on exit code 0,2\n" in out
    assert "0|2) exit 125" in (tmp_path / "sv" / "web" / "finish").read_text()
    assert not [line for line in out.splitlines() if "exitcodes" in line and "default" in line], out
    assert "  note     stderr_logfile_maxbytes=1MB: ignored with redirect_stderr=true" in out
    web = str(tmp_path / "sv" / "web")
    assert out.endswith(
        "; 1 service directory written in %s\n"
        "svimport: to start it, add it to the scan directory: svctl -d %s add %s (or ln -s %s %s/)\n"
        % (tmp_path / "sv", scan, web, web, scan)), out

    path = conf(tmp_path, "[program:a]\ncommand=/bin/true\n[program:b]\ncommand=/bin/true\n",
                name="two.conf")
    code, out, err = svimport("-o", str(tmp_path / "sv2"), path, env=helpers.env(SVDIR=scan))
    assert code == 0, out + err
    each = os.path.join(str(tmp_path / "sv2"), "NAME")
    assert out.endswith(
        "; 2 service directories written in %s\n"
        "svimport: to start them, add each to the scan directory: svctl -d %s add %s "
        "(or ln -s %s %s/)\n" % (tmp_path / "sv2", scan, each, each, scan)), out
