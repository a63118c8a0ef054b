"""Diagnostics in the daemontools shape, and its errno text table.

Every line goes to stderr with a single write.  Paths may hold bytes that are
not UTF-8: text is encoded like os.fsencode so that the original bytes come
back out.

The modules that clients (svc, svok, svstat) load use the builtin posix
module, not os: importing os costs every client start 1.5 ms (its environ
mapping pulls in _collections_abc), about a sixth of the interpreter's own.
"""

import errno
import posix
import sys

_FSENC = sys.getfilesystemencoding()
_FSERR = sys.getfilesystemencodeerrors()


def fsencode(text):
    """os.fsencode without importing os."""
    return text if isinstance(text, bytes) else text.encode(_FSENC, _FSERR)

_TABLE = (
    (0, "no error"),
    ("EINTR", "interrupted system call"),
    ("ENOMEM", "out of memory"),
    ("ENOENT", "file does not exist"),
    ("ETXTBSY", "text busy"),
    ("EIO", "input/output error"),
    ("EEXIST", "file already exists"),
    ("ETIMEDOUT", "timed out"),
    ("EINPROGRESS", "operation in progress"),
    ("EAGAIN", "temporary failure"),
    ("EWOULDBLOCK", "input/output would block"),
    ("EPIPE", "broken pipe"),
    ("EPERM", "permission denied"),
    ("EACCES", "access denied"),
    ("ENXIO", "device not configured"),
    ("EPROTO", "protocol error"),
    ("EISDIR", "is a directory"),
    ("ECONNREFUSED", "connection refused"),
    ("ENOTDIR", "not a directory"),
    ("ESRCH", "no such process"),
    ("E2BIG", "argument list too long"),
    ("ENOEXEC", "exec format error"),
    ("EBADF", "file descriptor not open"),
    ("ECHILD", "no child processes"),
    ("EDEADLK", "operation would cause deadlock"),
    ("EFAULT", "bad address"),
    ("ENOTBLK", "not a block device"),
    ("EBUSY", "device busy"),
    ("EXDEV", "cross-device link"),
    ("ENODEV", "device does not support operation"),
    ("EINVAL", "invalid argument"),
    ("ENFILE", "system cannot open more files"),
    ("EMFILE", "process cannot open more files"),
    ("ENOTTY", "not a tty"),
    ("EFBIG", "file too big"),
    ("ENOSPC", "out of disk space"),
    ("ESPIPE", "unseekable descriptor"),
    ("EROFS", "read-only file system"),
    ("EMLINK", "too many links"),
    ("EDOM", "input out of range"),
    ("ERANGE", "output out of range"),
    ("EALREADY", "operation already in progress"),
    ("ENOTSOCK", "not a socket"),
    ("EDESTADDRREQ", "destination address required"),
    ("EMSGSIZE", "message too long"),
    ("EPROTOTYPE", "incorrect protocol type"),
    ("ENOPROTOOPT", "protocol not available"),
    ("EPROTONOSUPPORT", "protocol not supported"),
    ("ESOCKTNOSUPPORT", "socket type not supported"),
    ("EOPNOTSUPP", "operation not supported"),
    ("EPFNOSUPPORT", "protocol family not supported"),
    ("EAFNOSUPPORT", "address family not supported"),
    ("EADDRINUSE", "address already used"),
    ("EADDRNOTAVAIL", "address not available"),
    ("ENETDOWN", "network down"),
    ("ENETUNREACH", "network unreachable"),
    ("ENETRESET", "network reset"),
    ("ECONNABORTED", "connection aborted"),
    ("ECONNRESET", "connection reset"),
    ("ENOBUFS", "out of buffer space"),
    ("EISCONN", "already connected"),
    ("ENOTCONN", "not connected"),
    ("ESHUTDOWN", "socket shut down"),
    ("ETOOMANYREFS", "too many references"),
    ("ELOOP", "symbolic link loop"),
    ("ENAMETOOLONG", "file name too long"),
    ("EHOSTDOWN", "host down"),
    ("EHOSTUNREACH", "host unreachable"),
    ("ENOTEMPTY", "directory not empty"),
    ("EUSERS", "too many users"),
    ("EDQUOT", "disk quota exceeded"),
    ("ESTALE", "stale NFS file handle"),
    ("EREMOTE", "too many levels of remote in path"),
    ("ENOLCK", "no locks available"),
    ("ENOSYS", "system call not available"),
    ("ENOSTR", "not a stream device"),
    ("ETIME", "timer expired"),
    ("ENOSR", "out of stream resources"),
    ("ENOMSG", "no message of desired type"),
    ("EBADMSG", "bad message type"),
    ("EIDRM", "identifier removed"),
    ("ENONET", "machine not on network"),
    ("ENOLINK", "link severed"),
    ("EADV", "advertise error"),
    ("ESRMNT", "srmount error"),
    ("ECOMM", "communication error"),
    ("EMULTIHOP", "multihop attempted"),
    ("EREMCHG", "remote address changed"),
)

_TEXT = {}
for _name, _text in _TABLE:
    _num = _name if isinstance(_name, int) else getattr(errno, _name, None)
    if _num is not None and _num not in _TEXT:
        _TEXT[_num] = _text
del _name, _text, _num


def errtext(err):
    """The daemontools text for an errno number or an OSError."""
    if isinstance(err, OSError):
        err = err.errno
    return _TEXT.get(err, "unknown error")


def _line(prog, kind, text, err):
    if err is not None:
        text = "%s: %s" % (text, errtext(err))
    return fsencode("%s: %s%s\n" % (prog, kind, text))


def _write(data):
    try:
        posix.write(2, data)
    except OSError:
        pass


def warn(prog, text, err=None):
    """PROG: warning: TEXT[: ERR]"""
    _write(_line(prog, "warning: ", text, err))


def fatal(prog, text, err=None, code=111):
    """PROG: fatal: TEXT[: ERR], then exit CODE."""
    _write(_line(prog, "fatal: ", text, err))
    sys.exit(code)


def usage(prog, synopsis, code=100):
    """PROG: usage: SYNOPSIS, then exit CODE (100 but for envdir)."""
    _write(_line(prog, "usage: ", synopsis, None))
    sys.exit(code)


def say(data):
    """Write raw text or bytes to stderr in one write."""
    _write(fsencode(data))
