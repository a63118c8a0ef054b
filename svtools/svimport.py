"""svimport: turn a supervisord.conf into service directories.

    svimport [-o DIR] [--dry-run] [--force] supervisord.conf

Reads the configuration as supervisord does (includes, expansions,
numprocs, defaults) and writes one service directory DIR/NAME per program
process (DIR defaults to /etc/sv): run, log/run, env/, and supervise's knob
files.  Each directory is written under a temporary name and renamed into
place, so none is ever half-written; an existing one is replaced only with
--force.  --dry-run writes nothing.  A report on stdout says, for every
program, what each setting became and which were not carried over and why.

Exit codes: 0 every program converted with every setting; 1 some program
or setting was not carried over; 100 usage; 111 a file could not be read
or written.
"""

import os
import shutil
import sys

from . import _strerr
from ._svimport_config import ConfigError, instances, read, global_environment, expand
from ._svimport_translate import translate, unknown_keys

PROG = "svimport"
USAGE = "svimport [-o DIR] [--dry-run] [--force] supervisord.conf"

_SERVER = ("supervisord", "supervisorctl", "unix_http_server", "inet_http_server", "include")


def _options(argv):
    outdir, dry, force, args = "/etc/sv", False, False, []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--dry-run" or a == "-n":
            dry = True
        elif a == "--force" or a == "-f":
            force = True
        elif a == "-o" and i + 1 < len(argv):
            i += 1
            outdir = argv[i]
        elif a.startswith("-o") and len(a) > 2:
            outdir = a[2:]
        elif a == "--":
            args += argv[i + 1:]
            break
        elif a.startswith("-") and a != "-":
            _strerr.usage(PROG, USAGE)
        else:
            args.append(a)
        i += 1
    if len(args) != 1:
        _strerr.usage(PROG, USAGE)
    return outdir, dry, force, args[0]


def _write(outdir, svc, force):
    """Write SVC as OUTDIR/NAME atomically; OSError when that fails."""
    final = os.path.join(outdir, svc.name)
    tmp = os.path.join(outdir, ".%s.svimport-new" % svc.name)
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)
    os.mkdir(tmp, 0o755)
    try:
        for d in svc.dirs:
            os.mkdir(os.path.join(tmp, d), 0o755)
            os.chmod(os.path.join(tmp, d), svc.modes.get(d, 0o755))
        for path, (data, mode) in sorted(svc.files.items()):
            full = os.path.join(tmp, path)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.chmod(full, mode)
        for path in svc.fifos:
            os.mkfifo(os.path.join(tmp, path), 0o600)
        if os.path.lexists(final):
            old = os.path.join(outdir, ".%s.svimport-old" % svc.name)
            if os.path.lexists(old):
                shutil.rmtree(old)
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _in_the_way(path, force):
    """Why PATH must not be replaced, or None."""
    if not os.path.lexists(path):
        return None
    if not force:
        return "%s exists (use --force to replace it)" % path
    from . import _svinfo
    for d in (path, os.path.join(path, "log")):
        if os.path.isdir(d):
            snap = _svinfo.read(d)
            if snap["supervised"]:
                # svc -dx alone is undone by svscan, which restarts a
                # supervise for every link in the scan directory.
                name = os.path.basename(path)
                return ("%s is supervised (%s): svctl remove %s (unlinks it, stops it and its "
                        "logger), then svimport --force again, then svctl add %s"
                        % (d, snap["state"], name, path))
    return None


def _account(user):
    """(account name for setuidgid, whether it exists here); supervisord
    also takes a numeric uid, setuidgid only a name."""
    if not user:
        return user, True
    import pwd
    try:
        if user.isdigit():
            return pwd.getpwuid(int(user)).pw_name, True
        pwd.getpwnam(user)
    except KeyError:
        return user, False
    return user, True


def _print(lines):
    """The report on stdout; a reader that went away (| head) ends it quietly."""
    data = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    try:
        while data:
            data = data[os.write(1, data):]
    except BrokenPipeError:
        pass


_LIMITS = {"minfds": (1024, "ulimit -n"), "minprocs": (200, "ulimit -u")}


def _supervisord_report(values):
    """Lines about [supervisord]'s keys; True if a raised limit is dropped."""
    lines, dropped = ["[supervisord]:"], False
    for key in sorted(values):
        value = values[key]
        if key in ("environment", "umask", "directory"):
            lines.append("  kept     %s=%s: carried into each run" % (key, value))
        elif key in _LIMITS and value.strip().isdigit() and int(value) > _LIMITS[key][0]:
            lines.append("  dropped  %s=%s: supervisord raised this limit for its children; "
                         "add `%s %s` to run" % (key, value, _LIMITS[key][1], value))
            dropped = True
        else:
            lines.append("  note     %s=%s: supervisord's own setting, not needed" % (key, value))
    return lines, dropped


def _sections_report(config):
    """Lines about sections that are not [program:x]; True if any dropped."""
    lines, dropped = [], False
    for section in config.sections:
        kind = section.split(":", 1)[0]
        if kind in ("program", "group"):
            continue
        if kind in ("eventlistener", "fcgi-program"):
            lines.append("[%s]: dropped: svtools has no %s" % (
                section, "event listeners" if kind == "eventlistener" else "FastCGI socket manager"))
            dropped = True
        elif section == "supervisord":
            more, limits = _supervisord_report(config.sections[section])
            lines += more
            dropped |= limits
        elif kind in _SERVER or kind in ("rpcinterface", "ctlplugin"):
            lines.append("[%s]: not needed: supervise and svc do its job" % section)
        else:
            lines.append("[%s]: unknown section, ignored (as supervisord does)" % section)
            dropped = True
    return lines, dropped


class Run:
    """One import: the report lines, the counts, the names taken."""

    def __init__(self, config, outdir, dry, force):
        self.config, self.outdir, self.dry, self.force = config, outdir, dry, force
        self.lines = ["svimport: %s" % note for note in config.notes]
        self.incomplete = any("matches no file" in n or "not followed" in n or "loop" in n
                              for n in config.notes)
        self.write_failed = False
        self.taken = {}
        self.last = None         # the name of the last directory written
        self.counts = {"converted": 0, "not converted": 0, "written": 0, "dropped": 0}
        more, dropped = _sections_report(config)
        self.lines += more
        self.incomplete |= dropped
        sup = config.sections.get("supervisord", {})
        self.directory = sup.get("directory")
        try:
            self.genv = global_environment(config)
            self.umask = int(expand(sup.get("umask", "022"), {"here": config.here}, "umask"), 8)
        except ValueError as e:
            self.genv, self.umask = {}, 0o22
            self.lines.append("[supervisord]: %s: not carried over" % e)
            self.incomplete = True

    def refuse(self, inst, why, warn=True):
        self.lines.append("[%s] %s: not converted: %s" % (inst.section, inst.name, why))
        self.counts["not converted"] += 1
        self.incomplete = True
        if warn:
            _strerr.warn(PROG, "[%s] %s: %s" % (inst.section, inst.name, why))

    def program(self, inst):
        if inst.error is None and inst.name in self.taken:
            inst.error = "name %s is already used by [%s]" % (inst.name, self.taken[inst.name])
        if inst.error is not None:
            return self.refuse(inst, inst.error)
        given = inst.values["user"]
        inst.values["user"], known = _account(given)
        umask = inst.values["umask"] if inst.values["umask"] is not None else self.umask
        services, report = translate(inst, self.genv, umask, self.directory, self.config.here, known)
        if services is None:
            kind, key, value, why = report[0]
            return self.refuse(inst, "%s %r: %s" % (key, value, why))
        clash = [s.name for s in services if s.name in self.taken]
        if clash:
            return self.refuse(inst, "%s is already used by [%s]" % (clash[0], self.taken[clash[0]]),
                               warn=False)
        for s in services:
            self.taken[s.name] = inst.section
        if given != inst.values["user"]:
            report.append(("changed", "user", given, "uid %s is account %s" % (given, inst.values["user"])))
        self.complete(inst, services, report)
        self.lines.append("[%s] %s -> %s" % (inst.section, inst.name, os.path.join(self.outdir, inst.name)))
        for kind, key, value, outcome in report:
            self.lines.append("  %-8s %s=%s: %s" % (kind, key, value, outcome))
            if kind == "dropped":
                self.incomplete = True
                self.counts["dropped"] += 1
        self.counts["converted"] += 1
        if not self.dry:
            self.write(services)

    def complete(self, inst, services, report):
        """Add what translate cannot know: the file system, the raw section."""
        raw = self.config.sections[inst.section]
        for s in services:
            for logdir in s.logdirs:
                parent = os.path.dirname(logdir)
                if not os.path.isdir(parent):
                    report.append(("note", "log directory", logdir, "%s does not exist here: "
                                   "multilog cannot start until it does" % parent))
        covered = set()
        for _, key, _, _ in report:
            covered.update(key.split("/"))
        for key in sorted(inst.explicit - covered):
            if key in ("process_name", "numprocs_start"):
                report.append(("kept", key, raw[key], "the service directory's name"))
            elif key.startswith("stderr_") and inst.values["redirect_stderr"]:
                report.append(("note", key, raw[key],
                               "ignored with redirect_stderr=true (as in supervisord)"))
            else:
                report.append(("kept", key, raw[key], "nothing to write: supervise's default"))
        for key in unknown_keys(raw):
            report.append(("dropped", key, raw[key], "unknown key (supervisord ignores it too)"))

    def write(self, services):
        for s in services:
            why = _in_the_way(os.path.join(self.outdir, s.name), self.force)
            if why:
                self.lines.append("  not written: " + why)
                self.incomplete = True
                return
        try:
            os.makedirs(self.outdir, exist_ok=True)
            for s in services:
                _write(self.outdir, s, self.force)
                self.counts["written"] += 1
                self.last = s.name
        except OSError as e:
            _strerr.warn(PROG, "unable to write %s" % os.path.join(self.outdir, s.name), e)
            self.lines.append("  not written: %s" % _strerr.errtext(e))
            self.write_failed = True

    def summary(self):
        c = self.counts
        self.lines.append("svimport: converted %d of %d processes, %d settings dropped; %s" % (
            c["converted"], c["converted"] + c["not converted"], c["dropped"],
            "nothing written (--dry-run)" if self.dry else
            "%d service %s written in %s" % (
                c["written"], "directory" if c["written"] == 1 else "directories", self.outdir)))
        if c["written"]:
            from .svctl import scandir    # where svctl looks: $SVDIR, /etc/service, /service
            scan = os.fsdecode(scandir({}, os.environb))
            one = c["written"] == 1
            src = os.path.join(os.path.abspath(self.outdir), self.last if one else "NAME")
            self.lines.append("svimport: to start %s, add %s to the scan directory: "
                              "svctl -d %s add %s (or ln -s %s %s/)"
                              % ("it" if one else "them", "it" if one else "each", scan, src, src, scan))


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    outdir, dry, force, path = _options(argv)
    try:
        config = read(path, dict(os.environ))
    except ConfigError as e:
        if isinstance(e.reason, OSError):
            _strerr.fatal(PROG, "unable to read %s" % e.path, e.reason)
        _strerr.fatal(PROG, "unable to parse %s: %s" % (e.path, e.reason))
    run = Run(config, outdir, dry, force)
    for inst in instances(config):
        run.program(inst)
    run.summary()
    _print(run.lines)
    if run.write_failed:
        return 111
    return 1 if run.incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
