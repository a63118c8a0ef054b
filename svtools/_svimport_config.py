"""Read a supervisord.conf the way supervisord 4 does, and expand its programs.

read(path, environ) -> Config: the sections of the file and of its [include]
files, each value with %(here)s already replaced by the directory of the
file it came from.  Parsing follows supervisord's UnhosedConfigParser: a
RawConfigParser with inline comments after ';' or '#', duplicate sections
and keys allowed (the later one wins), keys lower-cased.  [include] files=
is a list of globs, %(ENV_X)s and %(here)s expanded, relative to the
directory of the main file; every match is read in sorted order.  As in
supervisord only the main file's [include] is followed; a match that names
a file already read (an include loop) is skipped with a note.

instances(config) -> [Instance]: one per process of every [program:x], with
supervisord's defaults and datatypes, and the expansions it offers
(%(program_name)s, %(process_num)d with any format spec, %(numprocs)d,
%(group_name)s, %(host_node_name)s, %(here)s, %(ENV_X)s from the
environment svimport runs in, from [supervisord] environment= and from the
program's own environment=).  A program that supervisord would refuse gives
an Instance whose `error` says why; the others are unaffected.

ConfigError(path, reason) is raised when a file cannot be read or parsed.
The source of every default here is supervisor/options.py; the value
types are _svimport_types (supervisor/datatypes.py).
"""

import configparser
import glob
import os
import platform

from ._svimport_types import PARSE, autorestart, check_name, env_pairs, logfile

PROGRAM_KEYS = {
    "command": None, "process_name": "%(program_name)s", "numprocs": "1",
    "numprocs_start": "0", "priority": "999", "autostart": "true",
    "startsecs": "1", "startretries": "3", "autorestart": "unexpected",
    "exitcodes": "0", "stopsignal": "TERM", "stopwaitsecs": "10",
    "stopasgroup": "false", "killasgroup": None, "user": None,
    "redirect_stderr": "false", "environment": "", "directory": None,
    "umask": None, "serverurl": "AUTO",
    "stdout_logfile": "AUTO", "stdout_logfile_maxbytes": "50MB",
    "stdout_logfile_backups": "10", "stdout_capture_maxbytes": "0",
    "stdout_events_enabled": "false", "stdout_syslog": "false",
    "stderr_logfile": "AUTO", "stderr_logfile_maxbytes": "50MB",
    "stderr_logfile_backups": "10", "stderr_capture_maxbytes": "0",
    "stderr_events_enabled": "false", "stderr_syslog": "false",
}

class ConfigError(Exception):
    def __init__(self, path, reason):
        Exception.__init__(self, "%s: %s" % (path, reason))
        self.path = path
        self.reason = reason


class Config:
    """sections: {name: {key: value}} in file order; files: {section: path};
    notes: [text] about includes; main: the absolute path read first."""

    def __init__(self, main):
        self.main = main
        self.here = os.path.dirname(main)
        self.sections = {}
        self.files = {}
        self.notes = []
        self.environ = {}


class Instance:
    """One process of a [program:x]: `values` holds the parsed settings,
    `explicit` the keys the section set, `error` why it cannot be
    converted (None when it can)."""

    def __init__(self, section, program, group, num):
        self.section = section
        self.program = program
        self.group = group
        self.num = num
        self.numprocs = 1
        self.name = None
        self.values = {}
        self.explicit = set()
        self.error = None


def _parser():
    return configparser.RawConfigParser(inline_comment_prefixes=(";", "#"),
                                        strict=False, interpolation=None)


def _read_into(parser, path):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            parser.read_file(f, source=path)
    except OSError as e:
        raise ConfigError(path, e)
    except configparser.ParsingError as e:
        where = "; ".join("line %d: %s" % (n, line.strip("\x27\"").replace("\\n", "").strip())
                          for n, line in e.errors[:3])
        if isinstance(e, configparser.MissingSectionHeaderError):
            where = "line %d: %s" % (e.lineno, e.line.strip())
        raise ConfigError(path, "not an INI file: " + where)
    except configparser.Error as e:
        raise ConfigError(path, " ".join(str(e).split()))


def _expand_here(parser, here):
    for section in parser.sections():
        for key, value in parser.items(section):
            if "%(here)s" in value:
                parser.set(section, key, value.replace("%(here)s", here))


def expand(text, expansions, what):
    """TEXT % EXPANSIONS as supervisord does it; ValueError names WHAT."""
    try:
        return text % expansions
    except KeyError as e:
        raise ValueError("%s: %%(%s)s cannot be expanded" % (what, e.args[0]))
    except (ValueError, TypeError) as e:
        raise ValueError("%s: badly formatted %r: %s" % (what, text, e))


def read(path, environ):
    """Read PATH and its includes; ENVIRON gives %(ENV_X)s."""
    main = os.path.abspath(path)
    config = Config(main)
    parser = _parser()
    _read_into(parser, main)
    seen = {os.path.realpath(main)}
    order = [(s, main) for s in parser.sections()]
    env_exp = {"ENV_" + k: v for k, v in environ.items()}
    if parser.has_section("include"):
        _expand_here(parser, config.here)
        if not parser.has_option("include", "files"):
            raise ConfigError(main, "[include] section has no files= setting")
        try:
            files = expand(parser.get("include", "files"),
                           dict(env_exp, here=config.here,
                                host_node_name=platform.node()),
                           "[include] files")
        except ValueError as e:
            raise ConfigError(main, e)
        for pattern in files.split():
            pattern = os.path.join(config.here, pattern)
            names = sorted(glob.glob(pattern))
            if not names:
                config.notes.append("[include] %s matches no file" % pattern)
            for name in names:
                real = os.path.realpath(name)
                if real in seen:
                    config.notes.append("[include] %s was already read: skipped (include loop)" % name)
                    continue
                seen.add(real)
                before = set(parser.sections())
                inner = _parser()
                _read_into(inner, name)
                if inner.has_section("include"):
                    config.notes.append("[include] in %s not followed (supervisord reads includes "
                                        "from the main file only)" % name)
                _read_into(parser, name)
                _expand_here(parser, os.path.dirname(os.path.abspath(name)))
                order += [(s, name) for s in parser.sections() if s not in before]
                config.notes.append("included %s" % name)
    for section, name in order:
        config.sections[section] = dict(parser.items(section))
        config.files[section] = name
    config.environ = environ
    return config


def global_environment(config):
    """The [supervisord] environment= pairs (ValueError when malformed)."""
    text = config.sections.get("supervisord", {}).get("environment", "")
    exp = {"ENV_" + k: v for k, v in config.environ.items()}
    exp["here"] = config.here
    return env_pairs(expand(text, exp, "[supervisord] environment")) if text else {}


def groups(config):
    """{program name: group name} from [group:x] programs=."""
    out = {}
    for section, values in config.sections.items():
        if section.startswith("group:"):
            for prog in values.get("programs", "").split(","):
                if prog.strip():
                    out[prog.strip()] = section.split(":", 1)[1].strip()
    return out


def instances(config):
    """Every process of every [program:x], in file order."""
    out = []
    membership = groups(config)
    try:
        genv = global_environment(config)
        genv_error = None
    except ValueError as e:
        genv, genv_error = {}, "[supervisord] " + str(e)
    for section, raw in config.sections.items():
        if not section.startswith("program:"):
            continue
        program = section.split(":", 1)[1].strip()
        group = membership.get(program, program)
        out.extend(_program(config, section, program, group, raw, genv, genv_error))
    return out


def _program(config, section, program, group, raw, genv, genv_error):
    first = Instance(section, program, group, 0)
    first.explicit = {k for k in raw if k in PROGRAM_KEYS}
    common = {"here": config.here, "program_name": program, "group_name": group,
              "host_node_name": platform.node()}
    common.update({"ENV_" + k: v for k, v in config.environ.items()})
    common.update({"ENV_" + k: v for k, v in genv.items()})
    values = {}
    try:
        if genv_error:
            raise ValueError(genv_error)
        for bad in (program, group):
            why = check_name(bad) if bad else "empty name"
            if why:
                raise ValueError(why)
        for key, default in PROGRAM_KEYS.items():
            if key in ("process_name", "environment", "command", "directory") \
                    or key.endswith("_logfile"):
                continue
            text = raw.get(key, default)
            if text is None:
                values[key] = None
                continue
            text = expand(text, dict(common), key)
            values[key] = PARSE[key](text, key) if key in PARSE else text
        if values["killasgroup"] is None:
            values["killasgroup"] = values["stopasgroup"]
        if values["stopasgroup"] and not values["killasgroup"]:
            raise ValueError("stopasgroup=true needs killasgroup=true")
        values["autorestart"] = autorestart(values["autorestart"])
        if values["umask"] is not None:
            try:
                values["umask"] = int(values["umask"], 8)
            except ValueError:
                raise ValueError("umask: not an octal number: %r" % values["umask"])
        pname = raw.get("process_name", "%(program_name)s")
        if values["numprocs"] > 1 and "%(process_num)" not in pname:
            raise ValueError("numprocs > 1 needs %(process_num) in process_name")
        if values["numprocs"] < 1:
            raise ValueError("numprocs: must be at least 1")
    except ValueError as e:
        first.error = str(e)
        first.name = program
        return [first]
    out = []
    start = values["numprocs_start"]
    for num in range(start, start + values["numprocs"]):
        inst = Instance(section, program, group, num)
        inst.explicit = first.explicit
        inst.numprocs = values["numprocs"]
        inst.values = dict(values)
        exp = dict(common, process_num=num, numprocs=values["numprocs"])
        try:
            inst.name = expand(pname, exp, "process_name").strip()
            why = check_name(inst.name)
            if why:
                raise ValueError(why)
            env = env_pairs(expand(raw.get("environment", ""), exp, "environment"))
            inst.values["environment"] = env
            exp.update({"ENV_" + k: v for k, v in env.items()})
            for key in ("directory", "stdout_logfile", "stderr_logfile", "command"):
                text = raw.get(key, PROGRAM_KEYS[key])
                if text is not None:
                    text = expand(text, exp, key)
                    if key.endswith("_logfile"):
                        text = logfile(text)
                inst.values[key] = text
            if inst.values["command"] is None:
                raise ValueError("no command= (supervisord requires one)")
        except ValueError as e:
            inst.error = str(e)
            if inst.name is None:
                inst.name = "%s:%d" % (program, num)
        out.append(inst)
    return out
