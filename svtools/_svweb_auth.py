"""svweb's access rules: the auth file, password hashes, listen addresses, names.

Everything here is a pure function of its arguments except load(), which
reads the auth file (and checks its mode on the open descriptor).

The auth file, one entry per line, "#" starts a comment:

    token SECRET                  a bearer token (Authorization: Bearer SECRET),
                                  at least 32 characters
    user NAME scrypt$N$R$P$SALT$HASH
                                  a login for the browser; make the line with
                                  `svweb --hash-password NAME` (SALT and HASH
                                  are base64, HASH 32 bytes of hashlib.scrypt)

The file must be a regular file of mode 0600 or stricter (no bits for group
or other), or svweb refuses to start.  Secrets are compared with
hmac.compare_digest; an unknown user costs the same scrypt as a known one.
"""

import base64
import hashlib
import hmac
import ipaddress
import os
import stat

MIN_TOKEN = 32
NAME_MAX = 255
_SCRYPT = (1 << 14, 8, 1)  # N, r, p: about 16 MiB and some tens of ms
_DKLEN = 32


class AuthError(Exception):
    """The auth file is unusable: str(e) says why (for svweb's fatal line)."""


def hash_password(password, salt=None, params=_SCRYPT):
    """str password -> the "scrypt$N$R$P$SALT$HASH" word of a user line."""
    n, r, p = params
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                            dklen=_DKLEN)
    return "scrypt$%d$%d$%d$%s$%s" % (n, r, p, _b64(salt), _b64(digest))


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def parse_hash(word):
    """"scrypt$N$R$P$SALT$HASH" -> (n, r, p, salt, digest); ValueError if not."""
    parts = word.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not an scrypt$N$R$P$SALT$HASH hash")
    n, r, p = (int(x) for x in parts[1:4])
    if n < 2 or n & (n - 1) or n > 1 << 20 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("scrypt parameters out of range")
    salt = base64.b64decode(parts[4], validate=True)
    digest = base64.b64decode(parts[5], validate=True)
    if len(digest) != _DKLEN:
        raise ValueError("hash is not %d bytes" % _DKLEN)
    return n, r, p, salt, digest


def parse(text):
    """Auth file text -> {"tokens": [str], "users": {name: parsed hash}}.

    AuthError naming the line for anything else than the forms above.
    """
    tokens, users = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "token" and len(words) == 2:
            if len(words[1]) < MIN_TOKEN:
                raise AuthError("line %d: token shorter than %d characters"
                                % (number, MIN_TOKEN))
            tokens.append(words[1])
        elif words[0] == "user" and len(words) == 3:
            try:
                users[words[1]] = parse_hash(words[2])
            except ValueError as e:
                raise AuthError("line %d: %s" % (number, e)) from None
        else:
            raise AuthError("line %d: expected \"token SECRET\" or"
                            " \"user NAME scrypt$...\"" % number)
    if not tokens and not users:
        raise AuthError("no token and no user")
    return {"tokens": tokens, "users": users}


def load(path):
    """Read and parse the auth file at PATH.

    OSError when it cannot be opened or read; AuthError when it is not a
    regular file, has group or other permission bits, or does not parse.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AuthError("not a regular file")
        if st.st_mode & 0o077:
            raise AuthError("mode %04o: must be 0600 (no access for group"
                            " or others)" % stat.S_IMODE(st.st_mode))
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(1 << 20)
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthError("not UTF-8 text") from None
    return parse(text)


_DUMMY = parse_hash(hash_password("", salt=b"\0" * 16, params=(2, 1, 1)))


def check_password(auth, user, password):
    """True when USER exists and PASSWORD matches its hash (constant time)."""
    entry = auth["users"].get(user)
    known = entry is not None
    if not known:
        # Same cost as a real user, so response time does not tell names.
        first = next(iter(auth["users"].values()), _DUMMY)
        entry = first[:3] + (b"\0" * 16, b"\0" * _DKLEN)
    n, r, p, salt, digest = entry
    got = hashlib.scrypt(password.encode("utf-8", "surrogateescape"), salt=salt,
                         n=n, r=r, p=p, dklen=_DKLEN, maxmem=2 * 128 * r * (n + p + 2))
    return hmac.compare_digest(got, digest) and known


def check_token(auth, given):
    """True when GIVEN (str) equals one of the tokens (constant time each)."""
    # Digests first, so that the comparison does not stop early on length.
    data = hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest()
    ok = False
    for token in auth["tokens"]:
        ok |= hmac.compare_digest(data, hashlib.sha256(token.encode("utf-8")).digest())
    return ok


def parse_listen(text):
    """"ADDR:PORT" or "[V6ADDR]:PORT" -> (address str, port int); ValueError.

    ADDR is a literal IP address or "localhost" (taken as 127.0.0.1).
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError("expected ADDR:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        host = "127.0.0.1"
    return str(ipaddress.ip_address(host)), int(port)


def is_loopback(address):
    return ipaddress.ip_address(address).is_loopback


def loopback_host(header):
    """True when a Host header names this machine's loopback (or localhost).

    Used without authentication, against DNS rebinding: a page from another
    site that resolves its own name to 127.0.0.1 still sends its own name.
    """
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else ""
    else:
        host = host.rpartition(":")[0] if ":" in host else host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_name(name):
    """True when NAME could be one entry of a directory, and not a hidden one.

    The caller then checks that the entry exists.  Refuses "", ".", "..",
    any dot name, "/", NUL, and names longer than NAME_MAX bytes.
    """
    if not name or name.startswith(".") or "/" in name or "\0" in name:
        return False
    try:
        return len(os.fsencode(name)) <= NAME_MAX
    except UnicodeEncodeError:
        return False
