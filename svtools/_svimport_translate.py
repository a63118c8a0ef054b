"""Turn one supervisord program instance into service directories (pure).

translate(inst, genv, umask, directory, here, known_user) -> (services, report)

  inst        an _svimport_config.Instance without error
  genv        [supervisord] environment= (dict of str)
  umask       the umask in force (int), directory the [supervisord] one
  here        the config file's directory (for relative paths)
  known_user  whether user= names an account on this machine

services is a list of Service (the program's own directory, and a second
one, NAME.stderr, when stderr goes to a file of its own), or None when the
command cannot be used; report is a list of (kind, key, value, outcome)
with kind one of "kept" (carried over as it is), "changed" (carried over
with a difference the user should know), "dropped" (not carried over;
outcome says why), "note", or "error" (the only entry when services is
None).

What becomes what is the table in docs/coming-from-supervisord.md; the knob
files are supervise's (servicedir(5)).  Nothing here touches the file
system.
"""

import shlex

from ._knobs import SIGNAL_NAMES
from ._svimport_config import PROGRAM_KEYS

DOWN_SIGNALS = tuple(sorted(n.decode("ascii") for n in SIGNAL_NAMES))
MULTILOG_MIN = 4096
MULTILOG_MAX = 16777215


class Service:
    """A directory to write: files {relative path: (bytes, mode)},
    fifos [relative path], dirs [relative path]."""

    def __init__(self, name):
        self.name = name
        self.files = {}
        self.fifos = []
        self.dirs = []
        self.modes = {}
        self.logdirs = []

    def add(self, path, text, mode=0o644):
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
        self.files[path] = (data, mode)


def q(word):
    return shlex.quote(word)


def envdir_file(value):
    """Bytes of an envdir(8) file giving VALUE exactly, or None if envdir
    cannot (it strips trailing spaces and tabs)."""
    if value.rstrip(" \t") != value:
        return None
    data = value.encode("utf-8", "surrogateescape")
    if b"\0" in data:
        return None
    return data.replace(b"\n", b"\0") + b"\n"


def env_name_ok(name):
    return bool(name) and not name.startswith(".") and "/" not in name \
        and "=" not in name and "\0" not in name


def _multilog_args(path, maxbytes, backups, key, report):
    size = maxbytes
    if maxbytes == 0:
        size = MULTILOG_MAX
        report.append(("changed", key + "_maxbytes", "0",
                       "multilog always rotates: s%d (its largest)" % size))
    elif maxbytes > MULTILOG_MAX or maxbytes < MULTILOG_MIN:
        size = min(max(maxbytes, MULTILOG_MIN), MULTILOG_MAX)
        report.append(("changed", key + "_maxbytes", str(maxbytes),
                       "s%d (multilog takes %d..%d)" % (size, MULTILOG_MIN, MULTILOG_MAX)))
    else:
        report.append(("kept", key + "_maxbytes", str(maxbytes), "s%d" % size))
    num = backups + 1
    if num < 2:
        num = 2
        report.append(("changed", key + "_backups", str(backups),
                       "n2: multilog keeps current and at least one old file"))
    else:
        report.append(("kept", key + "_backups", str(backups),
                       "n%d (current and %d old files)" % (num, backups)))
    return "exec multilog t s%d n%d %s\n" % (size, num, q(path))


def logdir_for(path, here):
    """The multilog directory for supervisord log file PATH: PATH.d."""
    if not path.startswith("/"):
        path = here.rstrip("/") + "/" + path
    return path + ".d"


def _stream(kind):
    return {None: "none", "AUTO": "auto", "syslog": "none",
            "/dev/stdout": "stdout", "/dev/stderr": "stderr"}.get(kind, "file")


def translate(inst, genv, umask, directory, here, known_user=True):
    v = inst.values
    name = inst.name
    report = []
    svc = Service(name)
    head = ["#!/bin/sh", "# made by svimport from [%s] (%s)" % (inst.section, name)]

    # -- command
    try:
        argv = shlex.split(v["command"])
    except ValueError as e:
        return None, [("error", "command", v["command"], "cannot be split: %s" % e)]
    if not argv:
        return None, [("error", "command", v["command"], "empty")]
    cmd = " ".join(q(a) for a in argv)
    report.append(("kept", "command", v["command"], "run: exec %s" % cmd))
    if inst.numprocs > 1:
        report.append(("kept", "numprocs", str(inst.numprocs),
                       "one service per process; this is process_num %d" % inst.num))

    redir, extra = _logs(inst, svc, here, report)

    # -- working directory, umask
    body = list(redir)
    if umask is not None:
        body.append("umask %03o" % umask)
        src = "umask" if v["umask"] is not None else "[supervisord] umask"
        report.append(("kept", src, "%03o" % umask, "run: umask %03o" % umask))
    cwd = v["directory"] or directory or "/"
    if not cwd.startswith("/"):
        cwd = here.rstrip("/") + "/" + cwd
    # sh's cd sets OLDPWD, which supervisord's chdir does not: keep the
    # value svscan passed (or none), and the service directory's env/ in $1.
    body.append('set -- "$PWD/env" ${OLDPWD+"$OLDPWD"}')
    body.append("cd %s || exit 111" % q(cwd))
    body.append('if [ $# = 2 ]; then OLDPWD=$2; else unset OLDPWD; fi')
    if v["directory"]:
        report.append(("kept" if cwd == v["directory"] else "changed", "directory",
                       v["directory"], "run: cd %s" % q(cwd)))
    else:
        report.append(("note", "directory", "(unset)", "run: cd %s (%s)" % (
            q(cwd), "[supervisord] directory" if directory else
            "supervisord's working directory when started at boot")))

    # -- environment
    env = {"SUPERVISOR_ENABLED": "1", "SUPERVISOR_PROCESS_NAME": name,
           "SUPERVISOR_GROUP_NAME": inst.group}
    env.update(genv)
    env.update(v["environment"])
    exports = []
    svc.dirs.append("env")
    svc.modes["env"] = 0o700  # environment= often holds secrets
    for key in sorted(env):
        value = env[key]
        if not env_name_ok(key):
            report.append(("dropped", "environment", key,
                           "not a usable variable name for envdir"))
            continue
        data = envdir_file(value)
        if data is None:
            exports.append("%s=%s; export %s" % (key, q(value), key))
            outcome = "run: export (envdir strips trailing blanks)"
        else:
            svc.add("env/" + key, data, 0o600)
            outcome = "env/%s" % key
        if key in v["environment"]:
            report.append(("kept", "environment", "%s=%s" % (key, value), outcome))
        elif key in genv:
            report.append(("kept", "[supervisord] environment", "%s=%s" % (key, value), outcome))
    if exports:
        body[len(redir):len(redir)] = exports
    chain = ['envdir "$1"']

    # -- user
    if v["user"]:
        chain.append("setuidgid %s" % q(v["user"]))
        if not known_user:
            report.append(("note", "user", v["user"], "no such account on this machine: "
                           "setuidgid fails until it exists"))
        report.append(("changed", "user", v["user"],
                       "run: setuidgid %s (primary group only, no supplementary groups; "
                       "HOME and USER unchanged, as in supervisord)" % v["user"]))
    elif "PATH" in env and "/" not in argv[0]:
        # envdir searches the PATH it was given; supervisord searches the
        # program's own: env(1) runs with the new one.
        chain.append("env --")
    body.append("exec %s %s" % (" ".join(chain), cmd))
    svc.add("run", "\n".join(head + body) + "\n", 0o755)

    # -- start and stop
    if not v["autostart"]:
        svc.add("down", "")
        report.append(("kept", "autostart", "false", "down"))
    sig = v["stopsignal"]
    if sig != "TERM":
        if sig in DOWN_SIGNALS:
            svc.add("down-signal", sig + "\n")
            report.append(("kept", "stopsignal", sig, "down-signal: %s" % sig))
        else:
            report.append(("dropped", "stopsignal", sig,
                           "supervise's down-signal takes %s only; TERM is sent"
                           % " ".join(DOWN_SIGNALS)))
    ms = max(1, v["stopwaitsecs"] * 1000)
    svc.add("timeout-kill", "%d\n" % ms)
    report.append(("kept", "stopwaitsecs", str(v["stopwaitsecs"]), "timeout-kill: %d" % ms))
    if v["stopasgroup"] or v["killasgroup"]:
        svc.add("process-group", "")
        if v["stopasgroup"]:
            report.append(("kept", "stopasgroup/killasgroup", "true/true", "process-group"))
        else:
            report.append(("changed", "killasgroup", "true",
                           "process-group: the stop signal also goes to the whole group"))

    # -- restarts
    auto = v["autorestart"]
    if auto == "false":
        svc.add("finish", "#!/bin/sh\n# autorestart=false\nexit 125\n", 0o755)
        report.append(("kept", "autorestart", "false", "finish: exit 125 (stays down)"))
    elif auto == "unexpected":
        codes = v["exitcodes"]
        if codes:
            svc.add("finish", "#!/bin/sh\n# autorestart=unexpected, exitcodes=%s\n"
                    "case $1 in\n%s) exit 125 ;;\nesac\nexit 0\n"
                    % (",".join(map(str, codes)), "|".join(map(str, codes))), 0o755)
            report.append(("kept", "autorestart/exitcodes", "unexpected/" + ",".join(map(str, codes)),
                           "finish: exit 125 (stays down) on exit code %s"
                           % ",".join(map(str, codes))))
        else:
            report.append(("kept", "autorestart/exitcodes", "unexpected/",
                           "no expected exit code: always restarted"))
    else:
        report.append(("kept", "autorestart", "true", "supervise always restarts"))
    if "exitcodes" in inst.explicit and auto != "unexpected":
        report.append(("note", "exitcodes", ",".join(map(str, v["exitcodes"])),
                       "matters only with autorestart=unexpected"))
    _restarts(svc, v, report)

    # -- supervisord-only settings
    if v["priority"] != 999:
        report.append(("dropped", "priority", str(v["priority"]),
                       "svscan starts every service at once; there is no start order"))
    if "serverurl" in inst.explicit and v["serverurl"].upper() != "AUTO":
        report.append(("dropped", "serverurl", v["serverurl"],
                       "svtools has no XML-RPC server; SUPERVISOR_SERVER_URL is not set"))
    if inst.group != inst.program:
        report.append(("dropped", "[group:%s]" % inst.group, "membership",
                       "svtools has no groups; SUPERVISOR_GROUP_NAME is still set"))
    return [svc] + extra, report


def _logger(svc, path, maxbytes, backups, key, report):
    svc.dirs.append("log")
    svc.add("log/run", "#!/bin/sh\n" + _multilog_args(path, maxbytes, backups, key, report), 0o755)


def _logs(inst, svc, here, report):
    """Where stdout and stderr go -> (run's redirections, extra services).

    The order matters: stdout is redirected first, so that "2>&1" after it
    (redirect_stderr, stderr_logfile=/dev/stdout) follows stdout wherever
    it went; the lines in `before` act on the original stdout.
    """
    v, name = inst.values, inst.name
    out = _stream(v["stdout_logfile"])
    err = _stream(v["stderr_logfile"])
    before, out_lines, after, extra = [], [], [], []
    for key in ("stdout", "stderr"):
        if v[key + "_syslog"] or v[key + "_logfile"] == "syslog":
            report.append(("dropped", key + "_syslog", "true",
                           "no syslog copy; add a logger(1) processor to the log if needed"))
        for extra_key, default in (("_capture_maxbytes", 0), ("_events_enabled", False)):
            if v[key + extra_key] != default:
                report.append(("dropped", key + extra_key, str(v[key + extra_key]),
                               "svtools has no event listeners"))

    if out == "auto":
        report.append(("changed", "stdout_logfile", "AUTO", "log/run: multilog into %s/log/main" % name))
        _logger(svc, "./main", v["stdout_logfile_maxbytes"], v["stdout_logfile_backups"],
                "stdout_logfile", report)
    elif out == "file":
        logdir = logdir_for(v["stdout_logfile"], here)
        svc.logdirs.append(logdir)
        report.append(("kept", "stdout_logfile", v["stdout_logfile"], "log/run: multilog into %s" % logdir))
        _logger(svc, logdir, v["stdout_logfile_maxbytes"], v["stdout_logfile_backups"],
                "stdout_logfile", report)
    elif out == "none":
        out_lines.append("exec >/dev/null")
        report.append(("kept", "stdout_logfile", "NONE", "run: exec >/dev/null"))
    elif out == "stderr":
        out_lines.append("exec 1>&2")
        report.append(("kept", "stdout_logfile", "/dev/stderr", "no logger; run: exec 1>&2 (svscan's stderr)"))
    else:
        report.append(("kept", "stdout_logfile", "/dev/stdout", "no logger: output goes to svscan's stdout"))

    if v["redirect_stderr"]:
        after.append("exec 2>&1")
        report.append(("kept", "redirect_stderr", "true", "run: exec 2>&1"))
        if "stderr_logfile" in inst.explicit and v["stderr_logfile"] not in (None, "AUTO"):
            report.append(("note", "stderr_logfile", v["stderr_logfile"],
                           "ignored with redirect_stderr=true (as in supervisord)"))
    elif err == "auto" and out == "none":
        before.append("exec 2>&1")
        report.append(("changed", "stderr_logfile", "AUTO",
                       "log/run: multilog into %s/log/main, stdout still discarded" % name))
        _logger(svc, "./main", v["stderr_logfile_maxbytes"], v["stderr_logfile_backups"],
                "stderr_logfile", report)
    elif err == "auto" or (err == "file" and v["stderr_logfile"] == v["stdout_logfile"]):
        after.append("exec 2>&1")
        report.append(("changed" if err == "auto" else "kept", "stderr_logfile", v["stderr_logfile"],
                       "to the same place as stdout: run: exec 2>&1"))
    elif err == "stdout":
        after.append("exec 2>&1")
        report.append(("kept", "stderr_logfile", "/dev/stdout", "run: exec 2>&1"))
    elif err == "none":
        after.append("exec 2>/dev/null")
        report.append(("kept", "stderr_logfile", "NONE", "run: exec 2>/dev/null"))
    elif err == "stderr":
        report.append(("kept", "stderr_logfile", "/dev/stderr", "stderr stays svscan's stderr"))
    else:
        ename = name + ".stderr"
        logdir = logdir_for(v["stderr_logfile"], here)
        logger = Service(ename)
        logger.logdirs.append(logdir)
        logger.fifos.append("fifo")
        line = _multilog_args(logdir, v["stderr_logfile_maxbytes"], v["stderr_logfile_backups"],
                              "stderr_logfile", report)
        logger.add("run", "#!/bin/sh\n# stderr of %s, through the fifo its run writes to\n"
                   "%s <>./fifo\n" % (name, line.rstrip("\n")), 0o755)
        extra.append(logger)
        # Before cd: ../NAME.stderr is resolved from the service directory.
        # <> opens the fifo without waiting for its reader.
        before.append("exec 2<>../%s/fifo" % q(ename))
        report.append(("kept", "stderr_logfile", v["stderr_logfile"],
                       "own logger: service %s (multilog into %s) reads the fifo "
                       "%s/fifo; link both into the scan directory" % (ename, logdir, ename)))
    return before + out_lines + after, extra


def _restarts(svc, v, report):
    """startsecs/startretries -> fail-limit and restart-backoff (and, for a
    startsecs other than 1, the svctl --settle that judges a start alike).

    supervisord gives up (FATAL) after startretries+1 runs in a row that
    each lived less than startsecs, waiting 1, 2, 3... s between them.
    supervise's fail-limit counts N exits within SECS seconds, so N is
    startretries+1 and SECS the time those quick failures take.
    """
    secs, tries = v["startsecs"], v["startretries"]
    text = "%d/%d" % (secs, tries)
    # svctl judges a start with its own settle (1 s, startsecs' default):
    # any other startsecs is said, for the operator to pass
    settle = "" if secs == 1 else "; svctl start --settle %d judges a start as supervisord " \
        "does" % max(secs, 0)
    if secs <= 0:
        report.append(("kept", "startsecs/startretries", text,
                       "no start check: supervise never gives up (no fail-limit)" + settle))
        return
    backoff = max(1, tries)
    if backoff > 1:
        svc.add("restart-backoff", "%d\n" % backoff)
    n = tries + 1
    window = n * secs + backoff * tries + 1
    svc.add("fail-limit", "%d %d\n" % (n, window))
    report.append(("changed", "startsecs/startretries", text,
                   "fail-limit: %d %d%s (failed after %d exits within %d s, "
                   "whatever each run lived)%s"
                   % (n, window, "; restart-backoff: %d" % backoff if backoff > 1 else "",
                      n, window, settle)))


def unknown_keys(raw):
    """Keys of a [program:x] section supervisord does not know."""
    return sorted(k for k in raw if k not in PROGRAM_KEYS)
