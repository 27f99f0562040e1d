# SPDX-License-Identifier: ISC
"""postern-authd against a real instance, over its two sockets with the
framed IPC protocol (postern_ipc.py): SASL PLAIN and LOGIN logins, unknown
user timing, progressive delays and lock-outs, one-time tokens, user and
recipient lookups, role and field checks, the frame size limit, a users
table rebuilt while authd runs, a restart after kill -9, and (as root) the
service user and the users file's permissions.  See man/postern-authd.8."""

import grp
import os
import pwd
import re
import signal
import socket
import stat
import statistics
import subprocess
import time

import pytest

import postern_harness as ph
import postern_ipc as ipc

AUTH_USER = "postern-auth"
USERS = {
    "alice@example.test": "alice-secret",
    "bob@example.test": "bob pass phrase",
    "carol@example.test": "carol-pw",
}
ALIASES = """\
info@example.test: alice@example.test, bob@example.test
team@example.test: info, carol@example.test
outside@example.test: someone@remote.test
"""
# Responses can take a configured delay or a password hash: be generous.
SLOW = 30.0


@pytest.fixture(autouse=True)
def service_user():
    """As root authd runs as postern-auth: make sure that user exists."""
    if ph.is_root():
        try:
            pwd.getpwnam(AUTH_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home",
                            "--shell", "/usr/sbin/nologin", "-U", AUTH_USER],
                           check=True, timeout=60)


def postctl_in(inst, *args, stdin=""):
    """postctl -c ETC ARGS with stdin; returns the CompletedProcess."""
    cmd = [str(ph.POSTCTL), "-c", str(inst.etc)] + [str(a) for a in args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                          env=inst.env(), timeout=60)


def add_user(inst, address, password, *extra):
    r = postctl_in(inst, "user", "add", "--stdin", address, *extra,
                   stdin=password + "\n")
    assert r.returncode == 0, r.stderr


def auth_path(inst):
    return inst.spool / "private" / "auth"


def userdb_path(inst):
    return inst.spool / "private" / "auth-userdb"


def connect(path, **kw):
    return ipc.IpcClient(path, **kw)


def _hello_ok(path):
    with connect(path, timeout=2.0):
        return True


def make_authd(make_instance, extra=(), settings=None, quotas=None,
               disabled=(), users=None, start=True):
    """An instance with authd, the users of USERS (or users), the aliases
    of ALIASES, and "extra" lines; started unless start is False."""
    settings = dict(settings or {})
    if not ph.is_root():
        settings.setdefault("user", pwd.getpwuid(os.geteuid()).pw_name)
    inst = make_instance(services={"authd": settings})
    aliases = inst.etc / "aliases"
    inst.extra = [
        "mydomains = example.test",
        "mynetworks = 127.0.0.1/32",
        "recipient_delimiter = +",
        f"alias_maps = hash:{aliases}",
        "authd_failure_delay = 0",
        "authd_max_failures = 1000",
    ] + list(extra)
    # Later lines may not repeat a name: drop overridden defaults.
    seen = {}
    for line in inst.extra:
        seen[line.split("=")[0].strip()] = line
    inst.extra = list(seen.values())
    inst.write_config()
    aliases.write_text(ALIASES)
    r = inst.postctl("map", "build", f"hash:{aliases}")
    assert r.returncode == 0, r.stderr
    for address, password in (users if users is not None else USERS).items():
        add_user(inst, address, password,
                 *([f"quota={quotas[address]}"] if quotas and address in quotas else []))
    for address in disabled:
        r = postctl_in(inst, "user", "disable", address)
        assert r.returncode == 0, r.stderr
    if start:
        start_authd(inst)
    return inst


def start_authd(inst):
    inst.start()
    ph.wait_for(lambda: _hello_ok(auth_path(inst)), ph.START_TIMEOUT,
                "authd's auth socket")
    ph.wait_for(lambda: _hello_ok(userdb_path(inst)), ph.START_TIMEOUT,
                "authd's userdb socket")


def plain(user, password, authzid=""):
    return authzid.encode() + b"\0" + user.encode() + b"\0" + password.encode()


def begin(c, mech, resp=None, peer_id=1, client="127.0.0.1", service="smtp",
          secured=1, timeout=SLOW):
    fields = [("mech", mech), ("service", service), ("client", client),
              ("secured", secured)]
    if resp is not None:
        fields.append(("resp", resp))
    return c.request(ipc.AUTH_BEGIN, fields, peer_id=peer_id, timeout=timeout)


def auth_plain(c, user, password, authzid="", **kw):
    return begin(c, "PLAIN", plain(user, password, authzid), **kw)


def auth_login(c, user, password, peer_id=7, **kw):
    r = begin(c, "LOGIN", None, peer_id=peer_id, **kw)
    assert r.type == ipc.AUTH_CONTINUE and r.peer_id == peer_id, r
    assert r.get_bytes("challenge") == b"Username:"
    r = c.request(ipc.AUTH_CONTINUE, {"resp": user}, peer_id=peer_id)
    assert r.type == ipc.AUTH_CONTINUE, r
    assert r.get_bytes("challenge") == b"Password:"
    return c.request(ipc.AUTH_CONTINUE, {"resp": password}, peer_id=peer_id,
                     timeout=SLOW)


def result(r):
    assert r.type == ipc.AUTH_RESULT, r
    return r.get("result")


def rcpt(c, address, client="127.0.0.2", authenticated=0, peer_id=3):
    r = c.request(ipc.RCPT_LOOKUP, {"rcpt": address, "client": client,
                                    "authenticated": authenticated},
                  peer_id=peer_id)
    assert r.type == ipc.RCPT_RESULT and r.peer_id == peer_id, r
    return r


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    r = fn(*args, **kw)
    return r, time.monotonic() - t0


def authd_pids(inst):
    return [p for p in inst.children()
            if any(a.endswith("postern-authd") for a in ph.proc_cmdline(p)[:1])]


# ---- logins ----------------------------------------------------------------

def test_plain_and_login(make_authd_instance):
    inst = make_authd_instance(disabled=["carol@example.test"])
    with connect(auth_path(inst)) as c:
        r = auth_plain(c, "alice@example.test", "alice-secret", peer_id=41)
        assert r.peer_id == 41 and result(r) == "ok", r
        assert r.get("user") == "alice@example.test"
        assert re.fullmatch(r"[0-9a-f]{64}", r.get("token"))
        # Case folded; authzid equal to the user; a password with spaces.
        assert result(auth_plain(c, "Alice@Example.TEST", "alice-secret")) == "ok"
        assert result(auth_plain(c, "bob@example.test", "bob pass phrase",
                                 authzid="bob@example.test")) == "ok"
        # LOGIN, without and with an initial response.
        r = auth_login(c, "bob@example.test", "bob pass phrase")
        assert result(r) == "ok" and r.peer_id == 7
        r = begin(c, "LOGIN", b"alice@example.test", peer_id=8)
        assert r.type == ipc.AUTH_CONTINUE and r.get_bytes("challenge") == b"Password:"
        r = c.request(ipc.AUTH_CONTINUE, {"resp": "alice-secret"}, peer_id=8)
        assert result(r) == "ok" and r.get("user") == "alice@example.test"
        # PLAIN without an initial response: an empty challenge first.
        r = begin(c, "PLAIN", None, peer_id=9)
        assert r.type == ipc.AUTH_CONTINUE and r.get_bytes("challenge") == b""
        r = c.request(ipc.AUTH_CONTINUE, {"resp": plain("alice@example.test",
                                                        "alice-secret")}, peer_id=9)
        assert result(r) == "ok"

        # Failures all look alike.
        for r in (auth_plain(c, "alice@example.test", "wrong"),
                  auth_plain(c, "nobody@example.test", "alice-secret"),
                  auth_plain(c, "carol@example.test", "carol-pw"),
                  auth_login(c, "alice@example.test", "wrong")):
            assert result(r) == "fail", r
            assert r.get("user") is None and r.get("token") is None
            assert r.get("text") == "authentication failed"
        # A different authzid is no proxy login, but a malformed response.
        r = auth_plain(c, "alice@example.test", "alice-secret",
                       authzid="bob@example.test")
        assert result(r) == "fail" and r.get("text") == "malformed response"
        r = begin(c, "PLAIN", b"no separators")
        assert result(r) == "fail"

    log = inst.wait_log(r"fail \(disabled user\)")
    text = inst.log_text()
    assert re.search(r"auth: user=<alice@example\.test>, client=<127\.0\.0\.1>, "
                     r"service=smtp: ok \(PLAIN, secured\)", text), text
    assert "auth: user=<alice@example.test>, client=<127.0.0.1>, service=smtp: " \
           "fail (wrong password)" in text
    assert "user=<nobody@example.test>, client=<127.0.0.1>, service=smtp: " \
           "fail (unknown user)" in text
    assert log
    for pw in USERS.values():
        assert pw not in text


def test_unknown_user_timing(make_authd_instance):
    """Unknown users cost a hash like known ones (failure delay 0).  A
    yescrypt check takes some 20 ms here, so the band is 25% with a floor
    of 5 ms: skipping the dummy hash would miss it by far."""
    inst = make_authd_instance()
    n = 15
    known, unknown = [], []
    with connect(auth_path(inst)) as c:
        for i in range(n):
            r, t = timed(auth_plain, c, "alice@example.test", f"wrong{i}",
                         peer_id=i)
            assert result(r) == "fail"
            known.append(t)
            r, t = timed(auth_plain, c, f"ghost{i}@example.test", f"wrong{i}",
                         peer_id=i)
            assert result(r) == "fail"
            unknown.append(t)
    mk, mu = statistics.median(known), statistics.median(unknown)
    assert mk > 0.002, known      # a real hash was computed
    assert abs(mk - mu) <= max(0.25 * mk, 0.005), (known, unknown)


def test_progressive_delay(make_authd_instance):
    inst = make_authd_instance(extra=["authd_failure_delay = 1s",
                                      "authd_max_failure_delay = 2s"])
    with connect(auth_path(inst)) as c:
        r, t1 = timed(auth_plain, c, "alice@example.test", "wrong")
        assert result(r) == "fail"
        r, t2 = timed(auth_plain, c, "alice@example.test", "wrong")
        assert result(r) == "fail"
        assert 0.9 <= t1 < 1.9, t1
        assert 1.9 <= t2 < 2.9, t2
        # Success is never delayed.
        r, t = timed(auth_plain, c, "alice@example.test", "alice-secret")
        assert result(r) == "ok" and t < 0.9, t


def test_delayed_failure_keeps_connection_usable(make_authd_instance):
    """A delayed answer does not block the loop: other requests go on."""
    inst = make_authd_instance(extra=["authd_failure_delay = 2s"])
    with connect(auth_path(inst)) as c:
        c.send(ipc.AUTH_BEGIN, [("mech", "PLAIN"), ("service", "smtp"),
                                ("client", "127.0.0.1"), ("secured", 0),
                                ("resp", plain("alice@example.test", "bad"))],
               peer_id=50)
        t0 = time.monotonic()
        r = rcpt(c, "alice@example.test", peer_id=51)
        assert r.get("result") == "local" and time.monotonic() - t0 < 1.5
        # A response to an exchange whose failure is pending is refused.
        r = c.request(ipc.AUTH_CONTINUE, {"resp": "x"}, peer_id=50)
        assert r.type == ipc.ERROR and r.peer_id == 50
        r = c.recv(timeout=SLOW)
        assert r.peer_id == 50 and result(r) == "fail"
        assert time.monotonic() - t0 >= 1.9


def test_lockout_and_expiry(make_authd_instance):
    inst = make_authd_instance(extra=["authd_max_failures = 3",
                                      "authd_lockout_time = 2s"])
    with connect(auth_path(inst)) as c:
        for i in range(3):
            assert result(auth_plain(c, "alice@example.test", "wrong")) == "fail"
        inst.wait_log(r"client=<127\.0\.0\.1> locked out until .* after 3 failures")
        # The right password fails now, at once, as would any other.
        for i in range(3):
            r, t = timed(auth_plain, c, "alice@example.test", "alice-secret")
            assert result(r) == "fail" and t < 0.5, (r, t)
        r = auth_plain(c, "bob@example.test", "bob pass phrase")
        assert result(r) == "fail"
        # The user is locked out from other clients too; others are not.
        r = auth_plain(c, "alice@example.test", "alice-secret", client="192.0.2.7")
        assert result(r) == "fail"
        r = auth_plain(c, "bob@example.test", "bob pass phrase", client="192.0.2.7")
        assert result(r) == "ok"
        # Logged once per lock-out, not per try.
        text = inst.log_text()
        # (debug lines, "...: debug: auth: ...", do not count)
        assert len(re.findall(r"\]: auth: [^\n]*fail \(client locked out until",
                              text)) == 1, text
        assert len(re.findall(r"\]: auth: [^\n]*fail \(user locked out until",
                              text)) == 1, text
        time.sleep(2.2)
        assert result(auth_plain(c, "alice@example.test", "alice-secret")) == "ok"


# ---- tokens ----------------------------------------------------------------

def redeem(u, token, service, peer_id=5):
    r = u.request(ipc.TOKEN_REDEEM, {"token": token, "service": service},
                  peer_id=peer_id)
    assert r.type == ipc.USER_RESULT and r.peer_id == peer_id, r
    return r


def login_token(c, service="imap", user="alice@example.test",
                password="alice-secret"):
    r = auth_plain(c, user, password, service=service)
    assert result(r) == "ok", r
    return r.get("token")


def test_token_single_use_and_expiry(make_authd_instance):
    inst = make_authd_instance(extra=["authd_token_lifetime = 1s"],
                               quotas={"alice@example.test": "10m"})
    with connect(auth_path(inst)) as c, connect(userdb_path(inst)) as u:
        token = login_token(c)
        r = redeem(u, token, "imap")
        assert r.get("result") == "ok", r
        assert r.get("user") == "alice@example.test"
        assert r.get("quota") == str(10 * 1024 * 1024)
        assert r.get("maildir")
        assert redeem(u, token, "imap").get("result") == "fail"
        # Another service's token is refused, and spent.
        token = login_token(c, service="pop3")
        assert redeem(u, token, "imap").get("result") == "fail"
        assert redeem(u, token, "pop3").get("result") == "fail"
        # Unknown, and expired.
        assert redeem(u, "0" * 64, "imap").get("result") == "fail"
        token = login_token(c)
        time.sleep(1.2)
        assert redeem(u, token, "imap").get("result") == "fail"
        # Malformed tokens are refused as requests.
        for bad in ("xyz", "0" * 63, "0" * 65, "A" * 64):
            r = u.request(ipc.TOKEN_REDEEM, {"token": bad, "service": "imap"},
                          peer_id=6)
            assert r.type == ipc.ERROR and r.peer_id == 6, r
        # Tokens are redeemed on the userdb socket only.
        token = login_token(c)
        r = c.request(ipc.TOKEN_REDEEM, {"token": token, "service": "imap"},
                      peer_id=8)
        assert r.type == ipc.ERROR, r
        assert redeem(u, token, "imap").get("result") == "ok"


# ---- lookups ---------------------------------------------------------------

def test_user_lookup(make_authd_instance):
    inst = make_authd_instance(disabled=["carol@example.test"],
                               quotas={"bob@example.test": "1g"})
    with connect(userdb_path(inst)) as u:
        r = u.request(ipc.USER_LOOKUP, {"user": "Bob@Example.Test"}, peer_id=9)
        assert r.type == ipc.USER_RESULT and r.peer_id == 9
        assert r.get("result") == "ok" and r.get("user") == "bob@example.test"
        assert r.get("quota") == str(1024 ** 3)
        assert r.get("maildir").endswith("Maildir"), r
        r = u.request(ipc.USER_LOOKUP, {"user": "nobody@example.test"})
        assert r.get("result") == "notfound"
        # Disabled users cannot log in but still have a mailbox.
        r = u.request(ipc.USER_LOOKUP, {"user": "carol@example.test"})
        assert r.get("result") == "ok"


def test_rcpt_lookups(make_authd_instance):
    inst = make_authd_instance()
    with connect(auth_path(inst)) as c:
        r = rcpt(c, "alice@example.test")
        assert r.get("result") == "local" and r.get_all("deliver") == ["alice@example.test"]
        r = rcpt(c, "alice+lists@example.test")
        assert r.get("result") == "local" and r.get_all("deliver") == ["alice@example.test"]
        r = rcpt(c, "team@example.test")
        assert r.get("result") == "local"
        assert sorted(r.get_all("deliver")) == sorted(USERS), r
        r = rcpt(c, "outside@example.test")
        assert r.get("result") == "local" and r.get_all("forward") == ["someone@remote.test"]
        assert rcpt(c, "nobody@example.test").get("result") == "unknown"
        # Relaying: not from 127.0.0.2 unauthenticated (mynetworks is
        # 127.0.0.1/32); yes when authenticated or from mynetworks.
        r = rcpt(c, "x@remote.test", client="127.0.0.2")
        assert r.get("result") == "remote" and r.get("relay") == "0"
        r = rcpt(c, "x@remote.test", client="127.0.0.2", authenticated=1)
        assert r.get("relay") == "1"
        r = rcpt(c, "x@remote.test", client="127.0.0.1")
        assert r.get("relay") == "1"
        r = rcpt(c, "x@remote.test", client="::1")
        assert r.get("relay") == "0"
    # Allowed on the userdb socket as well (the queue manager), without
    # a client.
    with connect(userdb_path(inst)) as u:
        r = rcpt(u, "bob@example.test", client="")
        assert r.get("result") == "local"


def test_table_rebuilt_while_running(make_authd_instance):
    inst = make_authd_instance()
    with connect(auth_path(inst)) as c, connect(userdb_path(inst)) as u:
        assert result(auth_plain(c, "dave@example.test", "dave-pw")) == "fail"
        assert rcpt(c, "dave@example.test").get("result") == "unknown"
        add_user(inst, "dave@example.test", "dave-pw")
        assert result(auth_plain(c, "dave@example.test", "dave-pw")) == "ok"
        assert rcpt(c, "dave@example.test").get("result") == "local"
        r = u.request(ipc.USER_LOOKUP, {"user": "dave@example.test"})
        assert r.get("result") == "ok"
        r = postctl_in(inst, "user", "passwd", "--stdin", "dave@example.test",
                       stdin="new-pw\n")
        assert r.returncode == 0, r.stderr
        assert result(auth_plain(c, "dave@example.test", "dave-pw")) == "fail"
        assert result(auth_plain(c, "dave@example.test", "new-pw")) == "ok"


# ---- protocol robustness ---------------------------------------------------

def assert_usable(c, peer_id=77):
    r = rcpt(c, "alice@example.test", peer_id=peer_id)
    assert r.get("result") == "local"


def test_wrong_role_refused(make_authd_instance):
    inst = make_authd_instance()
    with connect(auth_path(inst)) as c:
        for mtype, fields in ((ipc.USER_LOOKUP, {"user": "alice@example.test"}),
                              (ipc.TOKEN_REDEEM, {"token": "0" * 64, "service": "imap"})):
            r = c.request(mtype, fields, peer_id=21)
            assert r.type == ipc.ERROR and r.peer_id == 21, r
            assert "auth socket" in r.get("text")
            assert_usable(c)
    with connect(userdb_path(inst)) as u:
        for mtype in (ipc.AUTH_BEGIN, ipc.AUTH_CONTINUE, ipc.AUTH_ABORT):
            r = u.request(mtype, {"mech": "PLAIN", "service": "smtp",
                                  "client": "127.0.0.1", "secured": 0,
                                  "resp": plain("alice@example.test", "alice-secret")},
                          peer_id=22)
            assert r.type == ipc.ERROR and r.peer_id == 22, r
            assert_usable(u)
        # Messages that are no request at all.
        for mtype in (ipc.OK, ipc.AUTH_RESULT, ipc.CTL_STOP, ipc.HELLO):
            r = u.request(mtype, {}, peer_id=23)
            assert r.type == ipc.ERROR, r
            assert_usable(u)


def test_malformed_fields(make_authd_instance):
    inst = make_authd_instance()
    good = {"mech": "PLAIN", "service": "smtp", "client": "127.0.0.1",
            "secured": 1, "resp": plain("alice@example.test", "alice-secret")}
    bad_variants = [
        {"mech": None}, {"mech": "CRAM-MD5"}, {"mech": "X" * 21},
        {"service": None}, {"service": "SMTP"}, {"service": "smtp!"},
        {"service": "s" * 33}, {"service": ""},
        {"client": None}, {"client": "999.1.1.1"}, {"client": "localhost"},
        {"client": "127.0.0.1\n"}, {"client": ""},
        {"secured": None}, {"secured": 2}, {"secured": "yes"},
        {"resp": b"x" * 5000},
    ]
    with connect(auth_path(inst)) as c:
        for i, change in enumerate(bad_variants):
            fields = dict(good)
            fields.update(change)
            fields = {k: v for k, v in fields.items() if v is not None}
            r = c.request(ipc.AUTH_BEGIN, fields, peer_id=100 + i)
            assert r.type == ipc.ERROR and r.peer_id == 100 + i, (change, r)
        assert_usable(c)
        # Continue of an unknown exchange, a response missing.
        r = c.request(ipc.AUTH_CONTINUE, {"resp": "x"}, peer_id=999)
        assert r.type == ipc.ERROR
        r = begin(c, "LOGIN", None, peer_id=200)
        assert r.type == ipc.AUTH_CONTINUE
        assert c.request(ipc.AUTH_CONTINUE, {}, peer_id=200).type == ipc.ERROR
        # The same id twice while open.
        assert begin(c, "LOGIN", None, peer_id=200).type == ipc.ERROR
        # Abort needs no answer; the exchange is gone afterwards.
        c.send(ipc.AUTH_ABORT, {}, peer_id=200)
        assert c.request(ipc.AUTH_CONTINUE, {"resp": "x"}, peer_id=200).type == ipc.ERROR
        # At most 16 open exchanges on one connection.
        for i in range(16):
            assert begin(c, "LOGIN", None, peer_id=300 + i).type == ipc.AUTH_CONTINUE
        assert begin(c, "LOGIN", None, peer_id=316).type == ipc.ERROR
        for i in range(16):
            c.send(ipc.AUTH_ABORT, {}, peer_id=300 + i)
        assert begin(c, "LOGIN", None, peer_id=316).type == ipc.AUTH_CONTINUE
        # Lookups.
        for fields in ({"rcpt": "a\x01b@example.test", "client": "127.0.0.1",
                        "authenticated": 0},
                       {"rcpt": "a" * 321, "client": "127.0.0.1", "authenticated": 0},
                       {"client": "127.0.0.1", "authenticated": 0},
                       {"rcpt": "a@example.test", "client": "1.2.3", "authenticated": 0},
                       {"rcpt": "a@example.test", "client": "127.0.0.1"},
                       {"rcpt": "a@example.test", "client": "127.0.0.1",
                        "authenticated": 3}):
            r = c.request(ipc.RCPT_LOOKUP, fields, peer_id=400)
            assert r.type == ipc.ERROR and r.peer_id == 400, (fields, r)
        assert_usable(c)
    with connect(userdb_path(inst)) as u:
        for fields in ({}, {"user": ""}, {"user": "a" * 321}, {"user": "a\nb"}):
            r = u.request(ipc.USER_LOOKUP, fields, peer_id=500)
            assert r.type == ipc.ERROR, (fields, r)
        for fields in ({"token": "0" * 64}, {"token": "0" * 64, "service": "IMAP"}):
            r = u.request(ipc.TOKEN_REDEEM, fields, peer_id=501)
            assert r.type == ipc.ERROR, (fields, r)
        assert_usable(u)


def test_hello_required(make_authd_instance):
    inst = make_authd_instance()
    # A request before HELLO: refused, then closed.
    with connect(auth_path(inst), hello=False) as c:
        r = c.request(ipc.RCPT_LOOKUP, {"rcpt": "alice@example.test",
                                        "client": "127.0.0.1", "authenticated": 0})
        assert r.type == ipc.ERROR
        assert c.at_eof()
    # A HELLO of another version: refused, then closed.
    with connect(auth_path(inst), hello=False) as c:
        r = c.request(ipc.HELLO, {"version": ipc.PROTOCOL_VERSION + 1,
                                  "program": "pytest"})
        assert r.type == ipc.ERROR and "version" in r.get("text")
        assert c.at_eof()
    with connect(auth_path(inst), hello=False) as c:
        r = c.request(ipc.HELLO, {"version": ipc.PROTOCOL_VERSION})
        assert r.type == ipc.ERROR
        assert c.at_eof()
    with connect(auth_path(inst)) as c:
        assert_usable(c)


def test_bad_frames_close_only_that_connection(make_authd_instance):
    inst = make_authd_instance(extra=["ipc_max_message_size = 4k"])
    with connect(auth_path(inst)) as other:
        # Over the size limit: closed as soon as the header arrives.
        with connect(auth_path(inst)) as c:
            c.send_raw(ipc.HEADER.pack(ipc.RCPT_LOOKUP, 0, 4097, 1))
            assert c.at_eof()
        with connect(auth_path(inst)) as c:
            big = {"rcpt": "a" * 5000, "client": "127.0.0.1", "authenticated": 0}
            try:
                c.send(ipc.RCPT_LOOKUP, big)
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert c.at_eof()
        # At the limit: a frame of 4096 bytes is read (and refused).
        with connect(auth_path(inst)) as c:
            fields = {"rcpt": "", "client": "127.0.0.1", "authenticated": 0}
            body = ipc.encode_fields(fields)
            pad = 4096 - len(body) - len(ipc.encode_fields({"pad": b""}))
            body += ipc.encode_fields({"pad": b"p" * pad})
            assert len(body) == 4096
            c.send_raw(ipc.encode_frame(ipc.RCPT_LOOKUP, body=body, peer_id=2))
            r = c.recv()
            assert r.peer_id == 2 and r.type == ipc.RCPT_RESULT
            assert_usable(c)
        # A malformed body, an unknown type, unknown flags.
        for raw in (ipc.encode_frame(ipc.RCPT_LOOKUP, body=b"\x05rcp"),
                    ipc.encode_frame(ipc.RCPT_LOOKUP, body=b"\x03RCP\0\0\0\0"),
                    ipc.HEADER.pack(999, 0, 0, 1),
                    ipc.HEADER.pack(ipc.RCPT_LOOKUP, 0x80, 0, 1)):
            with connect(auth_path(inst)) as c:
                c.send_raw(raw)
                assert c.at_eof(), raw
        # The first connection never noticed.
        assert_usable(other)


# ---- the process -----------------------------------------------------------

def test_restart_after_kill9(make_authd_instance):
    inst = make_authd_instance()
    with connect(auth_path(inst)) as c:
        assert_usable(c)
    pids = ph.wait_for(lambda: authd_pids(inst), 5, "authd's pid")
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)

    def works():
        with connect(auth_path(inst), timeout=2.0) as c2:
            assert_usable(c2)
            return result(auth_plain(c2, "alice@example.test",
                                     "alice-secret")) == "ok"
    assert ph.wait_for(works, 15, "authd to answer again")
    new = authd_pids(inst)
    assert new and new[0] != pids[0]


@pytest.mark.skipif(not ph.is_root(), reason="needs root")
def test_runs_as_its_user_and_files_private(make_authd_instance):
    inst = make_authd_instance()
    with connect(auth_path(inst)) as c:
        assert result(auth_plain(c, "alice@example.test", "alice-secret")) == "ok"
    pw = pwd.getpwnam(AUTH_USER)
    pid = ph.wait_for(lambda: authd_pids(inst), 5, "authd's pid")[0]
    uids = ph.proc_status(pid)["Uid"].split()
    gids = ph.proc_status(pid)["Gid"].split()
    assert uids == [str(pw.pw_uid)] * 4, uids
    assert gids == [str(pw.pw_gid)] * 4, gids
    group = grp.getgrnam(AUTH_USER).gr_gid
    for name in ("users", "users.db"):
        st = (inst.etc / name).stat()
        assert st.st_uid == 0, name
        assert st.st_gid == group, name
        assert st.st_mode & stat.S_IRGRP, name
        assert not st.st_mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP), \
            (name, oct(st.st_mode))
    # Another unprivileged user cannot read them.
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups", "cat", str(inst.etc / "users")],
                       capture_output=True, timeout=30)
    assert r.returncode != 0 and b"alice" not in r.stdout


@pytest.fixture
def make_authd_instance(make_instance):
    def factory(**kw):
        return make_authd(make_instance, **kw)
    return factory
