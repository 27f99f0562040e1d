# SPDX-License-Identifier: ISC
"""postern-smtpd against a real instance (master + authd + smtpd) with
smtplib and raw sockets: the greeting and EHLO, every command, recipient
checks through authd (local, unknown, relay refused and allowed,
temporary failure), DATA under both bare-newline policies, the limits
(line length, recipients, errors, message size, idle timeout), PIPELINING,
STARTTLS (and the injection of pipelined commands, CVE-2011-0411),
implicit TLS, AUTH PLAIN/LOGIN, the submission port, BDAT and the DSN
parameters.  See man/postern-smtpd.8."""

import base64
import os
import pwd
import re
import smtplib
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

import postern_harness as ph

SMTPD = ph.BUILDDIR / "smtpd" / "postern-smtpd"
AUTH_USER = "postern-auth"
HOST = "mx.example.test"
USERS = {
    "alice@example.test": "alice-secret",
    "bob@example.test": "bob pass phrase",
}
MAX_SIZE = 64 * 1024
MAX_RCPT = 5
MAX_ERRORS = 8
TIMEOUT = 3


@pytest.fixture(scope="module", autouse=True)
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
    cmd = [str(ph.POSTCTL), "-c", str(inst.etc)] + [str(a) for a in args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                          env=inst.env(), timeout=60)


def make_cert(folder):
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={HOST}"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def smtp_ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            data = s.recv(512)
            if data.startswith(b"220 "):
                s.sendall(b"QUIT\r\n")
                return True
    except OSError:
        pass
    return False


def build(root, top, users=USERS, tls=True, extra=(), authd=True,
          chroot="no"):
    """An instance with authd (users, mydomains example.test, mynetworks
    127.0.0.2) and smtpd on three loopback ports."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    ports = [ph.free_port() for _ in range(3)]
    services = {"smtpd": {
        "program": "postern-smtpd",
        "listen": (f"smtp=127.0.0.1:{ports[0]}, "
                   f"submission=127.0.0.1:{ports[1]}, "
                   f"smtps=127.0.0.1:{ports[2]}"),
        "chroot": chroot,
    }}
    if authd:
        services["authd"] = {} if ph.is_root() else {"user": me}
    if not ph.is_root():
        services["smtpd"]["user"] = me
    # As root the services must reach the folders from pytest-of-USER down.
    inst = ph.Instance(root, services=services, open_up_to=top,
                       detect_leaks=chroot == "no")
    link = inst.libexec / "postern-smtpd"
    if not link.is_symlink():
        link.symlink_to(SMTPD)
    lines = [
        f"myhostname = {HOST}",
        "mydomains = example.test",
        "mynetworks = 127.0.0.2/32",
        "authd_failure_delay = 0",
        "authd_max_failures = 1000",
        f"smtpd_max_message_size = {MAX_SIZE}",
        f"smtpd_max_recipients = {MAX_RCPT}",
        f"smtpd_max_errors = {MAX_ERRORS}",
        f"smtpd_timeout = {TIMEOUT}s",
        f"smtpd_handshake_timeout = {TIMEOUT}s",
        f"smtpd_auth_timeout = {TIMEOUT}s",
        f"smtpd_data_timeout = {2 * TIMEOUT}s",
    ]
    # Defaults that most tests do not want; a test's extra lines replace them.
    defaults = {"smtpd_greet_pause": "0", "smtpd_max_junk_commands": "400000"}
    for line in extra:
        defaults.pop(line.split("=")[0].strip(), None)
    lines += [f"{k} = {v}" for k, v in defaults.items()]
    if tls:
        cert, key = make_cert(inst.etc)
        lines += [f"tls_cert_file = {cert}", f"tls_key_file = {key}"]
    inst.extra = lines + list(extra)
    inst.write_config()
    for address, password in users.items():
        r = postctl_in(inst, "user", "add", "--stdin", address,
                       stdin=password + "\n")
        assert r.returncode == 0, r.stderr
    inst.start(wait=False)
    inst.ports = ports
    try:
        # Not inst.wait_ready(): it expects the test service's greeting.
        ph.wait_for(lambda: inst.ctl.exists() and
                    inst.read_pidfile() == inst.master_pid,
                    ph.START_TIMEOUT, "the master")
        for p in ports[:2]:
            ph.wait_for(lambda p=p: smtp_ready(p), ph.START_TIMEOUT,
                        f"smtpd on port {p}")
        if authd:
            ph.wait_for(lambda: (inst.spool / "private" / "auth").exists(),
                        ph.START_TIMEOUT, "authd's socket")
    except BaseException:
        inst.teardown()
        raise
    return inst


def finish(inst):
    inst.teardown()
    reports = inst.sanitizer_reports()
    if reports:
        pytest.fail("sanitizer reports:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    inst = build(tmp_path_factory.mktemp("smtpd"),
                 tmp_path_factory.getbasetemp().parent)
    yield inst
    finish(inst)


@pytest.fixture(scope="module")
def srv_normalize(tmp_path_factory):
    inst = build(tmp_path_factory.mktemp("smtpd-norm"),
                 tmp_path_factory.getbasetemp().parent, tls=False,
                 users={"alice@example.test": "x"},
                 extra=["smtpd_bare_newline = normalize"])
    yield inst
    finish(inst)


def client(inst, port_index=0, source=None, **kw):
    return smtplib.SMTP("127.0.0.1", inst.ports[port_index], HOST,
                        timeout=10, source_address=source, **kw)


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def queue_files(inst):
    d = inst.spool / "incoming"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def queued_id(reply):
    m = re.fullmatch(rb"2\.0\.0 Ok: queued as ([0-9A-V]{18})", reply)
    assert m, reply
    return m.group(1).decode()


def read_queue_file(inst, qid):
    return (inst.spool / "incoming" / qid).read_bytes()


MESSAGE = (b"From: a@example.test\r\nTo: alice@example.test\r\n"
           b"Subject: hi\r\n\r\nhello\r\n.leading dot\r\n")


class Raw:
    """A line client on a raw socket (optionally TLS)."""

    def __init__(self, port, host="127.0.0.1", source=None, sock=None):
        if sock is None:
            sock = socket.create_connection(
                (host, port), timeout=10,
                source_address=(source, 0) if source else None)
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self):
        """A whole (multi-line) reply: (code, [texts])."""
        texts = []
        while True:
            ln = self.line()
            texts.append(ln[4:])
            if ln[3:4] != b"-":
                return int(ln[:3]), texts

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def closed(self, timeout=10):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        self.sock.close()


# ---- greeting, EHLO, simple commands ---------------------------------------

def test_greeting_and_ehlo(srv):
    c = client(srv)
    try:
        code, text = c.ehlo("client.example")
        assert code == 250
        lines = text.decode().split("\n")
        assert lines[0] == HOST
        assert lines[1:] == ["PIPELINING", f"SIZE {MAX_SIZE}", "8BITMIME",
                             "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING",
                             "DSN", "STARTTLS"]
        assert c.docmd("NOOP") == (250, b"2.0.0 Ok")
        code, _ = c.helo("client.example")
        assert code == 250
        code, text = c.docmd("VRFY", "alice@example.test")
        assert code == 252 and text.startswith(b"2.5.2")
        # No enumeration: an unknown user gets the same answer.
        assert c.docmd("VRFY", "nobody@example.test") == (code, text)
        code, text = c.docmd("HELP")
        assert code == 214 and b"EHLO" in text
        assert c.docmd("RSET") == (250, b"2.0.0 Ok")
        assert c.docmd("BOGUS") [0] == 502
        assert c.docmd("QUIT")[0] == 221
    finally:
        c.close()
    r = Raw(srv.ports[0])
    code, text = r.reply()
    assert code == 220 and text == [f"{HOST} ESMTP postern".encode()]
    assert r.cmd("MAIL FROM:<a@b.example>")[0] == 503
    assert r.cmd("EHLO bad host")[0] == 501
    assert r.cmd("DATA")[0] == 503
    assert r.cmd("QUIT")[0] == 221
    assert r.closed()


def test_message_queued(srv):
    with client(srv) as c:
        c.ehlo("client.example")
        assert c.mail("sender@remote.test") == (250, b"2.1.0 Ok")
        assert c.rcpt("alice@example.test") == (250, b"2.1.5 Ok")
        code, text = c.data(MESSAGE)
        assert code == 250
        qid = queued_id(text)
    data = read_queue_file(srv, qid)
    assert not any(n.startswith("tmp.") for n in queue_files(srv))
    m = re.search(rb"Received: from client\.example \(unknown \[127\.0\.0\.1\]\)\r\n"
                  rb"\tby mx\.example\.test \(postern\) with ESMTP id "
                  + qid.encode() + rb"\r\n\tfor <alice@example\.test>; "
                  rb"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
                  data)
    assert m, data[:600]
    # smtplib stuffed the dot, we removed it again.
    assert b"hello\r\n.leading dot\r\n" in data
    assert b"sender@remote.test" in data
    srv.wait_log(rf"{qid}: client=unknown\[127\.0\.0\.1\]")
    srv.wait_log(rf"{qid}: from=<sender@remote\.test>, size=\d+, nrcpt=1")


def test_null_sender_and_two_recipients(srv):
    with client(srv) as c:
        c.ehlo("client.example")
        assert c.mail("<>")[0] == 250
        assert c.rcpt("alice@example.test")[0] == 250
        assert c.rcpt("Bob@Example.Test")[0] == 250
        assert c.rcpt("<Postmaster>")[0] == 250
        code, text = c.data(MESSAGE)
        assert code == 250
        qid = queued_id(text)
    data = read_queue_file(srv, qid)
    assert b"with ESMTP id " + qid.encode() + b";\r\n\t" in data
    srv.wait_log(rf"{qid}: from=<>, size=\d+, nrcpt=3")


def test_rcpt_unknown_and_relay(srv):
    with client(srv) as c:
        c.ehlo("client.example")
        c.mail("sender@remote.test")
        code, text = c.rcpt("nosuch@example.test")
        assert code == 550 and text.startswith(b"5.1.1 <nosuch@example.test>")
        code, text = c.rcpt("someone@remote.test")
        assert code == 554 and text.startswith(b"5.7.1")
        # No valid recipient: DATA is refused.
        assert c.docmd("DATA")[0] == 554
    srv.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.1\.1 "
                 r"<nosuch@example\.test>.*; from=<sender@remote\.test> "
                 r"to=<nosuch@example\.test> proto=ESMTP helo=<client\.example>")
    srv.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 554 5\.7\.1")
    # 127.0.0.2 is in mynetworks: it may relay.
    with client(srv, source=("127.0.0.2", 0)) as c:
        c.ehlo("client.example")
        c.mail("sender@example.test")
        assert c.rcpt("someone@remote.test")[0] == 250


def test_rcpt_tempfail_without_authd(tmp_path, tmp_path_factory):
    inst = build(tmp_path / "noauthd", tmp_path_factory.getbasetemp().parent,
                 users={}, tls=False, authd=False)
    try:
        with client(inst) as c:
            c.ehlo("client.example")
            c.mail("sender@remote.test")
            code, text = c.rcpt("alice@example.test")
            assert code == 451 and text.startswith(b"4.3.0")
    finally:
        finish(inst)


def test_rcpt_cache(tmp_path, tmp_path_factory):
    """smtpd_rcpt_cache_time: an answer authd gave is reused for the same
    recipient from the same client address while it is young, even with
    authd frozen; another recipient or client address still asks authd
    (and, with authd frozen, gets 451 after ipc_timeout)."""
    from test_authd import authd_pids
    inst = build(tmp_path / "rcache", tmp_path_factory.getbasetemp().parent,
                 tls=False, extra=["smtpd_rcpt_cache_time = 60s",
                                   "ipc_timeout = 2s"])
    pid = None
    try:
        with client(inst) as c:
            c.ehlo("client.example")
            c.mail("a@remote.test")
            assert c.rcpt("alice@example.test")[0] == 250
            assert c.rcpt("nosuch@example.test")[0] == 550
        [pid] = authd_pids(inst)
        os.kill(pid, signal.SIGSTOP)
        with client(inst) as c:
            c.ehlo("client.example")
            c.mail("a@remote.test")
            t0 = time.monotonic()
            assert c.rcpt("alice@example.test")[0] == 250
            assert c.rcpt("nosuch@example.test")[0] == 550
            assert time.monotonic() - t0 < 1
            code, text = c.rcpt("bob@example.test")
            assert code == 451 and text.startswith(b"4.3.0"), text
        with client(inst, source=("127.0.0.2", 0)) as c:
            c.ehlo("client.example")
            c.mail("a@remote.test")
            assert c.rcpt("alice@example.test")[0] == 451
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        finish(inst)


def test_size_limits(srv):
    with client(srv) as c:
        c.ehlo("client.example")
        code, text = c.docmd("MAIL", f"FROM:<a@remote.test> SIZE={MAX_SIZE + 1}")
        assert code == 552 and text.startswith(b"5.3.4")
        srv.wait_log(r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: "
                     r"552 5\.3\.4 .*; proto=ESMTP helo=<client\.example>")
        before = queue_files(srv)
        assert c.docmd("MAIL", f"FROM:<a@remote.test> SIZE={MAX_SIZE}")[0] == 250
        c.rcpt("alice@example.test")
        code, text = c.data(b"Subject: big\r\n\r\n" + (b"x" * 900 + b"\r\n") * 80)
        assert code == 552 and text.startswith(b"5.3.4"), text
        assert queue_files(srv) == before
        # The session goes on.
        c.mail("a@remote.test")
        c.rcpt("alice@example.test")
        assert c.data(MESSAGE)[0] == 250


def test_bare_newline_rejected(srv):
    variants = [b"a\n.\nb\r\n", b"a\n.\r\nb\r\n", b"a\r.\r\nb\r\n",
                b"a\r\n.\nb\r\n", b"bare\rcr\r\n"]
    r = Raw(srv.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    for v in variants:
        before = queue_files(srv)
        assert r.cmd("MAIL FROM:<a@remote.test>")[0] == 250
        assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(b"Subject: s\r\n\r\n" + v + b".\r\n")
        code, text = r.reply()
        assert code == 554 and text[0].startswith(b"5.6.11"), (v, text)
        assert queue_files(srv) == before
    srv.wait_log(r"[0-9A-V]{18}: reject: DATA from unknown\[127\.0\.0\.1\]: "
                 r"554 5\.6\.11 ")
    # One message, never two: a smuggled "MAIL" stays data.
    assert r.cmd("NOOP")[0] == 250
    r.close()


def test_bare_newline_normalized(srv_normalize):
    r = Raw(srv_normalize.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@remote.test>")
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: s\r\n\r\none\ntwo\n.\nMAIL FROM:<x@y>\r\n.\r\n")
    code, text = r.reply()
    assert code == 250, text
    qid = queued_id(text[0])
    data = read_queue_file(srv_normalize, qid)
    assert b"one\r\ntwo\r\n\r\nMAIL FROM:<x@y>\r\n" in data
    r.close()


def test_max_recipients(srv):
    with client(srv) as c:
        c.ehlo("client.example")
        c.mail("a@remote.test")
        for _ in range(MAX_RCPT):
            assert c.rcpt("alice@example.test")[0] == 250
        code, text = c.rcpt("alice@example.test")
        assert code == 452 and text.startswith(b"4.5.3")
        srv.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: "
                     r"452 4\.5\.3 .*; from=<a@remote\.test> proto=ESMTP")
        assert c.data(MESSAGE)[0] == 250


def test_max_errors(srv):
    r = Raw(srv.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    for _ in range(MAX_ERRORS - 1):
        assert r.cmd("BOGUS")[0] == 502
    r.send(b"BOGUS\r\n")
    assert r.reply()[0] == 502
    code, text = r.reply()
    assert code == 421 and b"too many errors" in text[0]
    assert r.closed()


def test_line_too_long(srv):
    r = Raw(srv.ports[0])
    r.reply()
    r.send(b"NOOP " + b"x" * 3000 + b"\r\n")
    code, text = r.reply()
    assert code == 500 and text[0].startswith(b"5.5.2")
    assert r.cmd("NOOP")[0] == 250
    # At the limit (2048 without CRLF) the line is read.
    assert r.cmd("VRFY " + "x" * (2048 - 5))[0] == 252
    assert r.cmd("VRFY " + "x" * (2048 - 4))[0] == 500
    r.close()


def test_idle_timeout(srv):
    r = Raw(srv.ports[0])
    r.reply()
    t0 = time.monotonic()
    code, text = r.reply()
    assert code == 421 and text[0].startswith(b"4.4.2")
    assert TIMEOUT - 0.5 <= time.monotonic() - t0 < TIMEOUT + 5
    assert r.closed()
    srv.wait_log(r"timeout after CONNECT from unknown\[127\.0\.0\.1\]")


def test_pipelining(srv):
    r = Raw(srv.ports[0])
    r.reply()
    burst = (b"EHLO client.example\r\nMAIL FROM:<a@remote.test>\r\n"
             b"RCPT TO:<alice@example.test>\r\nRCPT TO:<nosuch@example.test>\r\n"
             b"RCPT TO:<bob@example.test>\r\nDATA\r\n" + MESSAGE + b".\r\n"
             b"MAIL FROM:<b@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
             b"DATA\r\n" + MESSAGE + b".\r\nNOOP\r\nQUIT\r\n")
    r.send(burst)
    codes = [r.reply()[0] for _ in range(12)]
    assert codes == [250, 250, 250, 550, 250, 354, 250, 250, 250, 354, 250, 250]
    assert r.reply()[0] == 221
    assert r.closed()


def test_pipelined_burst_1000(srv):
    """1,000 lines in one send: 100 whole transactions (MAIL, RCPT, DATA,
    the message and its dot), then QUIT.  Every reply comes in order and
    every message is queued once."""
    r = Raw(srv.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    before = set(queue_files(srv))
    one = (b"MAIL FROM:<burst@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
           b"DATA\r\nSubject: burst\r\n\r\nline 1\r\nline 2\r\n"
           b"..dot\r\nline 4\r\n.\r\n")
    assert one.count(b"\r\n") == 10
    r.send(one * 100 + b"QUIT\r\n")
    ids = []
    for _ in range(100):
        assert r.reply()[0] == 250
        assert r.reply()[0] == 250
        assert r.reply()[0] == 354
        code, text = r.reply()
        assert code == 250
        ids.append(queued_id(text[0]))
    assert r.reply()[0] == 221
    r.close()
    assert len(set(ids)) == 100
    assert set(ids) <= set(queue_files(srv)) - before
    body = read_queue_file(srv, ids[-1])
    assert b"\r\n.dot\r\nline 4\r\n" in body


def test_pipelined_client_that_reads_late(srv):
    """300,000 pipelined commands (more replies than the server buffers):
    the server pauses reading until its replies drain, and loses none."""
    n = 300000
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", srv.ports[0]))
    r = Raw(None, sock=sock)
    r.reply()
    r.cmd("EHLO client.example")
    sender = threading.Thread(target=r.send, args=(b"NOOP\r\n" * n,))
    sender.start()
    time.sleep(0.5)
    for _ in range(n):
        assert r.reply()[0] == 250
    sender.join(10)
    assert r.cmd("QUIT")[0] == 221
    r.close()
    srv.wait_log(r"replies not read; pausing input")


def test_disconnect_mid_data_leaves_nothing(srv):
    r = Raw(srv.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@remote.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: half\r\n\r\npart")
    srv.wait_log(r"client=unknown\[127\.0\.0\.1\]")
    time.sleep(0.3)
    r.close()
    srv.wait_log(r"lost connection after DATA from unknown\[127\.0\.0\.1\]")
    assert not any(n.startswith("tmp.") for n in queue_files(srv))


def test_queue_file_error(srv):
    """A queue file that cannot be written: 452 4.3.1, nothing left."""
    incoming = srv.spool / "incoming"
    aside = srv.spool / "incoming.aside"
    incoming.rename(aside)
    try:
        incoming.write_text("not a folder\n")
        with client(srv) as c:
            c.ehlo("client.example")
            c.mail("a@remote.test")
            c.rcpt("alice@example.test")
            code, text = c.docmd("DATA")
            assert code == 452 and text.startswith(b"4.3.1"), text
            c.send(b"BDAT 3 LAST\r\nabc")
            code, text = c.getreply()
            assert code == 452 and text.startswith(b"4.3.1"), text
            assert c.noop()[0] == 250
    finally:
        if incoming.is_file():
            incoming.unlink()
        aside.rename(incoming)
    srv.wait_log(r"cannot create a queue file")


# ---- STARTTLS, implicit TLS, AUTH --------------------------------------------

def test_starttls(srv):
    with client(srv) as c:
        c.ehlo("client.example")
        assert not c.has_extn("auth")
        code, text = c.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ=")
        assert code == 530
        c.starttls(context=tls_context())
        code, text = c.ehlo("client.example")
        features = text.decode().split("\n")
        assert "STARTTLS" not in features and "AUTH PLAIN LOGIN" in features
        assert c.docmd("STARTTLS")[0] == 554
        c.mail("a@remote.test")
        c.rcpt("alice@example.test")
        code, text = c.data(MESSAGE)
        assert code == 250
        qid = queued_id(text)
    data = read_queue_file(srv, qid)
    assert re.search(rb"\t\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\)\r\n"
                     rb"\tby mx\.example\.test \(postern\) with ESMTPS id", data)


def test_starttls_injection(srv):
    r = Raw(srv.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    # The NOOP rides in the same packet as STARTTLS: it must be dropped.
    r.send(b"STARTTLS\r\nNOOP\r\n")
    code, _ = r.reply()
    assert code == 220
    assert r.buf == b""
    tls = tls_context().wrap_socket(r.sock, server_hostname=HOST)
    t = Raw(None, sock=tls)
    # EHLO is required again; the first reply must be this command's.
    assert t.cmd("MAIL FROM:<a@remote.test>")[0] == 503
    assert t.cmd("EHLO client.example")[0] == 250
    assert t.cmd("QUIT")[0] == 221
    tls.close()
    srv.wait_log(r"discarding 6 bytes pipelined after STARTTLS")


def test_auth_plain_and_login(srv):
    with client(srv) as c:
        c.ehlo("client.example")
        c.starttls(context=tls_context())
        c.ehlo("client.example")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.login("alice@example.test", "wrong")
        assert e.value.smtp_code == 535
        c.login("alice@example.test", "alice-secret")
        assert c.docmd("AUTH", "PLAIN")[0] == 503
        # Authenticated clients may relay.
        c.mail("alice@example.test")
        assert c.rcpt("friend@remote.test")[0] == 250
        code, text = c.data(MESSAGE)
        assert code == 250
        qid = queued_id(text)
    assert b"with ESMTPSA id" in read_queue_file(srv, qid)
    srv.wait_log(rf"{qid}: client=unknown\[127\.0\.0\.1\], sasl_method=PLAIN, "
                 r"sasl_username=alice@example\.test")
    with client(srv) as c:
        c.ehlo("client.example")
        c.starttls(context=tls_context())
        c.ehlo("client.example")
        c.user, c.password = "bob@example.test", "bob pass phrase"
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert code == 235
    # Aborted exchange and bad base64.
    r = Raw(srv.ports[0])
    r.reply()
    r.cmd("EHLO x")
    r.cmd("STARTTLS")
    t = Raw(None, sock=tls_context().wrap_socket(r.sock, server_hostname=HOST))
    t.cmd("EHLO x")
    assert t.cmd("AUTH LOGIN")[0] == 334
    assert t.cmd("*")[0] == 501
    assert t.cmd("AUTH PLAIN !!!!")[0] == 501
    assert t.cmd("AUTH CRAM-MD5")[0] == 504
    assert t.cmd("NOOP")[0] == 250
    t.sock.close()


def test_submission_requires_auth(srv):
    with client(srv, 1) as c:
        c.ehlo("client.example")
        c.starttls(context=tls_context())
        c.ehlo("client.example")
        code, text = c.mail("alice@example.test")
        assert code == 530
        c.login("alice@example.test", "alice-secret")
        assert c.mail("alice@example.test")[0] == 250
        assert c.rcpt("friend@remote.test")[0] == 250
        assert c.data(MESSAGE)[0] == 250
    # authd hears which listener the login came through.
    srv.wait_log(r"auth: user=<alice@example\.test>, client=<127\.0\.0\.1>, "
                 r"service=submission: ok")


def test_smtps(srv):
    c = smtplib.SMTP_SSL("127.0.0.1", srv.ports[2], HOST, timeout=10,
                         context=tls_context())
    try:
        code, text = c.ehlo("client.example")
        assert "AUTH PLAIN LOGIN" in text.decode().split("\n")
        assert c.mail("alice@example.test")[0] == 530
        c.login("bob@example.test", "bob pass phrase")
        c.mail("bob@example.test")
        c.rcpt("alice@example.test")
        code, text = c.data(MESSAGE)
        assert code == 250
        qid = queued_id(text)
    finally:
        c.close()
    assert b"with ESMTPSA id" in read_queue_file(srv, qid)


def test_tls_handshake_timeout(srv):
    with socket.create_connection(("127.0.0.1", srv.ports[2]), timeout=10) as s:
        t0 = time.monotonic()
        assert s.recv(100) == b""
        assert time.monotonic() - t0 < TIMEOUT + 5
    srv.wait_log(r"timeout in the TLS handshake from unknown\[127\.0\.0\.1\]")


# ---- BDAT, DSN ---------------------------------------------------------------

def test_bdat(srv):
    r = Raw(srv.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    # BDAT before MAIL: the chunk is read and refused.
    r.send(b"BDAT 5\r\nabcde")
    assert r.reply()[0] == 503
    r.cmd("MAIL FROM:<a@remote.test> BODY=8BITMIME")
    r.cmd("RCPT TO:<alice@example.test>")
    r.send(b"BDAT 16\r\nSubject: b\r\n\r\nab")
    code, text = r.reply()
    assert code == 250 and text[0] == b"2.0.0 Ok: 16 octets received"
    r.send(b"BDAT 3\r\nc\r\n")
    assert r.reply()[0] == 250
    r.send(b"BDAT 0 LAST\r\n")
    code, text = r.reply()
    assert code == 250, text
    qid = queued_id(text[0])
    assert read_queue_file(srv, qid).find(b"Subject: b\r\n\r\nabc\r\n") > 0
    # Pipelined in one packet, a dot line is data, LAST in any case.
    r.cmd("MAIL FROM:<a@remote.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    r.send(b"BDAT 10 last\r\nx\r\n.\r\nyz\r\nNOOP\r\n")
    code, text = r.reply()
    assert code == 250
    qid = queued_id(text[0])
    assert b"x\r\n.\r\nyz\r\n" in read_queue_file(srv, qid)
    assert r.reply()[0] == 250
    # Too big: read, refused.
    r.cmd("MAIL FROM:<a@remote.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    r.send(f"BDAT {MAX_SIZE + 1} LAST\r\n".encode() + b"y" * (MAX_SIZE + 1))
    code, text = r.reply()
    assert code == 552
    assert r.cmd("NOOP")[0] == 250
    # A BDAT without a usable size: the server cannot find the chunk's
    # end, so it hangs up rather than read data as commands.
    r.cmd("MAIL FROM:<a@remote.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    r.send(b"BDAT x5\r\nQUIT\r\n")
    assert r.reply()[0] == 501
    assert r.closed()
    assert r.buf == b""


def test_dsn_parameters(srv):
    with client(srv) as c:
        c.ehlo("client.example")
        code, _ = c.docmd("MAIL", "FROM:<a@remote.test> RET=HDRS ENVID=QQ+2Bid")
        assert code == 250
        code, _ = c.docmd("RCPT", "TO:<alice@example.test> NOTIFY=SUCCESS,DELAY "
                                  "ORCPT=rfc822;alice+2Bx@example.test")
        assert code == 250
        assert c.docmd("RCPT", "TO:<bob@example.test> NOTIFY=BOGUS")[0] == 501
        code, text = c.data(MESSAGE)
        assert code == 250
        qid = queued_id(text)
    data = read_queue_file(srv, qid)
    assert b"QQ+id" in data
    assert b"rfc822;alice+x@example.test" in data


def test_smtputf8(srv):
    r = Raw(srv.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    r.send("MAIL FROM:<jörg@remote.test>\r\n".encode())
    code, text = r.reply()
    assert code == 553 and text[0].startswith(b"5.6.7")
    r.send("MAIL FROM:<jörg@remote.test> SMTPUTF8\r\n".encode())
    assert r.reply()[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: s\r\n\r\nx\r\n.\r\n")
    code, text = r.reply()
    assert code == 250
    data = read_queue_file(srv, queued_id(text[0]))
    assert "jörg@remote.test".encode() in data
    r.close()


def smtpd_pids(inst):
    return [p for p in inst.children()
            if any(a.endswith("postern-smtpd") for a in ph.proc_cmdline(p)[:1])]


def locked(path):
    """Whether a writer holds the queue file's lock (it is still writing)."""
    import fcntl
    with open(path, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def test_kill_9(tmp_path, tmp_path_factory):
    """kill -9 mid-DATA: the queue file is left incomplete and unlocked
    (the queue manager removes such a file); right after 250: a complete
    one."""
    inst = build(tmp_path / "kill", tmp_path_factory.getbasetemp().parent,
                 users={"alice@example.test": "x"}, tls=False)
    try:
        r = Raw(inst.ports[0])
        r.reply()
        r.cmd("EHLO client.example")
        r.cmd("MAIL FROM:<a@remote.test>")
        assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(b"Subject: half\r\n\r\n" + b"x" * 10000)
        inst.wait_log(r"client=unknown\[127\.0\.0\.1\]")
        [half] = queue_files(inst)
        assert locked(inst.spool / "incoming" / half)
        [pid] = smtpd_pids(inst)
        os.kill(pid, 9)
        assert r.closed()
        assert not locked(inst.spool / "incoming" / half)
        assert not queue_file_complete(read_queue_file(inst, half))
        ph.wait_for(lambda: smtp_ready(inst.ports[0]), 15, "smtpd restarted")
        r = Raw(inst.ports[0])
        r.reply()
        r.cmd("EHLO client.example")
        r.cmd("MAIL FROM:<a@remote.test>")
        r.cmd("RCPT TO:<alice@example.test>")
        r.cmd("DATA")
        r.send(b"Subject: whole\r\n\r\nbody\r\n.\r\n")
        code, text = r.reply()
        assert code == 250
        qid = queued_id(text[0])
        for pid in smtpd_pids(inst):
            os.kill(pid, 9)
        data = read_queue_file(inst, qid)
        # The END record (type E, length 4, CRC-32C) closes the file.
        assert data[-9:-4] == b"E\x00\x00\x00\x04"
        assert b"Subject: whole\r\n\r\nbody\r\n" in data
    finally:
        finish(inst)


def _crc32c_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
        table.append(crc)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli): the END record's checksum."""
    crc = 0xFFFFFFFF
    table = CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def queue_file_complete(data):
    """The file ends with an END record whose CRC-32C covers the rest."""
    return (len(data) > 9 and data[-9:-4] == b"E\x00\x00\x00\x04" and
            int.from_bytes(data[-4:], "big") == crc32c(data[:-9]))


def test_kill_9_under_load(tmp_path, tmp_path_factory):
    """Four clients send messages as fast as they can while smtpd is
    killed with SIGKILL three times: every message that got its 250 is in
    a complete queue file (checksum verified), and a file in incoming/
    that is incomplete is unlocked: left by a killed session, for the
    queue manager to remove.  Bounded by count and time."""
    inst = build(tmp_path / "kill-load", tmp_path_factory.getbasetemp().parent,
                 users={"alice@example.test": "x"}, tls=False)
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()

    def sender(n):
        deadline = time.monotonic() + 20
        k = 0
        while not stop.is_set() and time.monotonic() < deadline and k < 2000:
            try:
                r = Raw(inst.ports[0])
                r.sock.settimeout(5)
                r.reply()
                r.cmd("EHLO client.example")
                while not stop.is_set() and k < 2000:
                    k += 1
                    tag = f"load-{n}-{k}"
                    r.cmd("MAIL FROM:<a@remote.test>")
                    r.cmd("RCPT TO:<alice@example.test>")
                    r.cmd("DATA")
                    r.send(f"Subject: {tag}\r\n\r\n".encode() +
                           (b"x" * 70 + b"\r\n") * 40 + b".\r\n")
                    code, text = r.reply()
                    if code == 250:
                        with lock:
                            acked[tag] = queued_id(text[0])
                r.close()
            except (OSError, ConnectionError, ValueError):
                time.sleep(0.05)     # killed: reconnect once it is back

    try:
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for _ in range(3):
            time.sleep(1.0)
            for pid in smtpd_pids(inst):
                os.kill(pid, 9)
            ph.wait_for(lambda: smtp_ready(inst.ports[0]), 15,
                        "smtpd restarted")
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(30)
        assert len(acked) > 20, f"too few messages to prove anything: {len(acked)}"
        print(f"{len(acked)} messages acknowledged")
        names = set(queue_files(inst))
        # Every acknowledged file: there, whole, the right message; the
        # checksum (slow in Python) on every 20th and on every file that
        # no client saw acknowledged.
        for i, (tag, qid) in enumerate(sorted(acked.items())):
            assert qid in names, f"acknowledged {qid} ({tag}) is lost"
            data = read_queue_file(inst, qid)
            assert data[-9:-4] == b"E\x00\x00\x00\x04", f"{qid} is incomplete"
            assert f"Subject: {tag}\r\n".encode() in data
            if i % 20 == 0:
                assert queue_file_complete(data), f"{qid}: bad checksum"
        for name in names - set(acked.values()):
            if not queue_file_complete(read_queue_file(inst, name)):
                assert not locked(inst.spool / "incoming" / name), name
    finally:
        stop.set()
        finish(inst)


@pytest.mark.skipif(not ph.is_root(), reason="needs root")
def test_chrooted_as_root(tmp_path, tmp_path_factory):
    """As root: smtpd runs as mail_owner, chrooted into the spool, and
    still reaches authd and writes queue files."""
    inst = build(tmp_path / "chroot", tmp_path_factory.getbasetemp().parent,
                 users={"alice@example.test": "x"}, chroot="queue")
    try:
        [pid] = smtpd_pids(inst)
        st = ph.proc_status(pid)
        uid = pwd.getpwnam(inst.mail_owner).pw_uid
        assert st["Uid"].split()[0] == str(uid)
        assert os.readlink(f"/proc/{pid}/root") == str(inst.spool)
        assert st["CapEff"] == "0000000000000000"
        with client(inst) as c:
            c.ehlo("client.example")
            c.mail("a@remote.test")
            assert c.rcpt("alice@example.test")[0] == 250
            code, text = c.data(MESSAGE)
            assert code == 250
            qid = queued_id(text)
        assert os.stat(inst.spool / "incoming" / qid).st_uid == uid
    finally:
        finish(inst)
