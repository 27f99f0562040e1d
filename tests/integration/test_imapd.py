# SPDX-License-Identifier: ISC
"""imap-login and imap (postern-imapd(8)) driven by Python's imaplib and by
raw sockets, on a real instance: authd, the two IMAP services, and for the
delivery tests smtpd, the queue manager and the delivery agent."""
import imaplib
import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

import postern_harness as ph
import test_queue as tq
import test_smtpd as ts

USERS = {"alice@example.test": "alice-secret-1",
         "bob@example.test": "bob-secret-2"}
LOGIN_USER = "postern-login"
TIMEOUT = 10


@pytest.fixture(scope="module", autouse=True)
def login_user():
    """As root imap-login runs as postern-login and authd as postern-auth:
    make sure they exist."""
    if ph.is_root():
        for user in (LOGIN_USER, ts.AUTH_USER):
            try:
                pwd.getpwnam(user)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home",
                                "--shell", "/usr/sbin/nologin", "-U", user],
                               check=True, timeout=60)


def imap_services(ports, chroot_login=None):
    """authd, imap-login on ports[0] (imap) and ports[1] (imaps), imap."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    services = {
        "authd": {},
        "imap-login": {"program": "postern-imap-login",
                       "listen": f"imap=127.0.0.1:{ports[0]}, "
                                 f"imaps=127.0.0.1:{ports[1]}"},
        "imap": {"program": "postern-imap", "listen": "handover=login/imap",
                 "chroot": "no"},
    }
    if ph.is_root():
        services["imap-login"]["chroot"] = chroot_login or "login"
        services["imap"]["user"] = "nobody"
    else:
        services["imap-login"]["chroot"] = "no"
        for s in services.values():
            s["user"] = me
    return services


def imap_ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            if s.recv(512).startswith(b"* OK"):
                s.sendall(b"a LOGOUT\r\n")
                return True
    except OSError:
        pass
    return False


def build(root, top, extra=(), delivery=False, users=USERS):
    """An instance with authd and IMAP (and with delivery, smtpd, the queue
    manager and the delivery agent), the USERS, TLS with a fresh
    certificate; started and ready."""
    ports = [ph.free_port(), ph.free_port()]
    services = imap_services(ports)
    smtp_port = None
    if delivery:
        smtp_port = ph.free_port()
        more = tq.queue_services(smtp_port)
        more.pop("authd", None)
        services.update(more)
    mail = root / "mail"
    mail.mkdir(exist_ok=True)
    inst = ph.Instance(root, services=services, open_up_to=top)
    if ph.is_root():
        os.chown(mail, pwd.getpwnam("nobody").pw_uid, -1)
    cert, key = ts.make_cert(inst.etc)
    lines = [
        "myhostname = mail.example.test",
        "mydomains = example.test",
        "mynetworks = 127.0.0.1/32",
        f"mail_directory = {mail}",
        "authd_failure_delay = 0",
        "authd_max_failures = 1000",
        "smtpd_greet_pause = 0",
        "queue_scan_interval = 2s",
        f"tls_cert_file = {cert}",
        f"tls_key_file = {key}",
        "imapd_max_bad_commands = 5",
        "imapd_login_timeout = 20s",
    ]
    # A test's extra lines replace these.
    mine = {e.split("=", 1)[0].strip() for e in extra}
    lines = [ln for ln in lines if ln.split("=", 1)[0].strip() not in mine]
    inst.extra = lines + list(extra)
    inst.write_config()
    for address, password in users.items():
        r = ts.postctl_in(inst, "user", "add", "--stdin", address,
                          stdin=password + "\n")
        assert r.returncode == 0, r.stderr
    inst.start(wait=False)
    inst.ports = ports
    inst.smtp_port = smtp_port
    inst.mail = mail
    try:
        ph.wait_for(lambda: inst.ctl.exists() and
                    inst.read_pidfile() == inst.master_pid,
                    ph.START_TIMEOUT, "the master")
        ph.wait_for(lambda: imap_ready(ports[0]), ph.START_TIMEOUT,
                    "imap-login")
        ph.wait_for(lambda: (inst.spool / "login" / "imap").exists(),
                    ph.START_TIMEOUT, "imap's handover socket")
        if delivery:
            ph.wait_for(lambda: ts.smtp_ready(smtp_port), ph.START_TIMEOUT,
                        "smtpd")
    except BaseException:
        inst.teardown()
        raise
    return inst


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    inst = build(tmp_path_factory.mktemp("imapd"),
                 tmp_path_factory.getbasetemp().parent)
    yield inst
    ts.finish(inst)


@pytest.fixture(scope="module")
def dsrv(tmp_path_factory):
    inst = build(tmp_path_factory.mktemp("imapd-delivery"),
                 tmp_path_factory.getbasetemp().parent, delivery=True)
    yield inst
    ts.finish(inst)


def login(inst, user="alice@example.test", tls=False):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m = imaplib.IMAP4_SSL("127.0.0.1", inst.ports[1], ssl_context=ctx,
                              timeout=TIMEOUT)
    else:
        m = imaplib.IMAP4("127.0.0.1", inst.ports[0], timeout=TIMEOUT)
    typ, data = m.login(user, USERS[user])
    assert typ == "OK", data
    return m


MSG = (b"From: Carol <carol@example.org>\r\n"
       b"To: Alice <alice@example.test>\r\n"
       b"Subject: Hello %d\r\n"
       b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
       b"Message-ID: <m%d@example.org>\r\n"
       b"\r\n"
       b"Body line one of %d.\r\nThe word is zanzibarite.\r\n")


def msg(i):
    return MSG % (i, i, i)


class Raw:
    """A line client for what imaplib will not send."""

    def __init__(self, port, tls=False):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s = s
        self.f = s.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.f.readline().decode("utf-8", "replace")

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, tag, text):
        """Sends a command; returns (untagged lines, tagged line)."""
        self.send(f"{tag} {text}\r\n")
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            ln = self.line()
            if ln == "":
                return lines, ""
            if ln.startswith(tag + " "):
                return lines, ln
            lines.append(ln)

    def closed(self):
        try:
            while True:
                ln = self.f.readline()
                if not ln:
                    return True
        except (OSError, ValueError):
            return True

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---- login --------------------------------------------------------------


def test_greeting_capability_logout(srv):
    r = Raw(srv.ports[0])
    assert r.greeting.startswith("* OK [CAPABILITY IMAP4rev1 ")
    assert "STARTTLS" in r.greeting and "AUTH=PLAIN" in r.greeting
    lines, tagged = r.cmd("a1", "CAPABILITY")
    assert lines[0].startswith("* CAPABILITY IMAP4rev1 IMAP4rev2")
    assert tagged.startswith("a1 OK")
    lines, tagged = r.cmd("a2", "LOGOUT")
    assert lines[0].startswith("* BYE") and tagged.startswith("a2 OK")
    assert r.closed()


def test_login_wrong_password_and_unknown_user(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.ports[0], timeout=TIMEOUT)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("alice@example.test", "wrong")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("nobody@example.test", "x")
    typ, _ = m.login("alice@example.test", USERS["alice@example.test"])
    assert typ == "OK"
    typ, data = m.capability()
    assert b"IMAP4rev2" in data[0] and b"UIDPLUS" in data[0], data
    m.logout()


def test_authenticate_plain_sasl_ir_and_login_mech(srv):
    r = Raw(srv.ports[0])
    import base64
    ir = base64.b64encode(b"\0alice@example.test\0alice-secret-1").decode()
    lines, tagged = r.cmd("a1", f"AUTHENTICATE PLAIN {ir}")
    assert tagged.startswith("a1 OK [CAPABILITY "), tagged
    r.close()
    r = Raw(srv.ports[0])
    r.send("b1 AUTHENTICATE LOGIN\r\n")
    assert r.line().startswith("+ ")
    r.send(base64.b64encode(b"bob@example.test").decode() + "\r\n")
    assert r.line().startswith("+ ")
    r.send(base64.b64encode(b"bob-secret-2").decode() + "\r\n")
    _, tagged = r.until("b1")
    assert tagged.startswith("b1 OK"), tagged
    r.close()
    r = Raw(srv.ports[0])
    r.send("c1 AUTHENTICATE PLAIN\r\n")
    assert r.line().startswith("+")
    r.send("*\r\n")
    _, tagged = r.until("c1")
    assert tagged.startswith("c1 BAD")
    r.close()


def test_logindisabled_off_loopback(tmp_path, tmp_path_factory):
    inst = build(tmp_path, tmp_path_factory.getbasetemp().parent,
                 extra=["imapd_plaintext_login = no"])
    try:
        r = Raw(inst.ports[0])
        assert "LOGINDISABLED" in r.greeting
        assert "AUTH=PLAIN" not in r.greeting
        _, tagged = r.cmd("a1", "LOGIN alice@example.test alice-secret-1")
        assert tagged.startswith("a1 NO [PRIVACYREQUIRED]")
        # STARTTLS, then LOGIN works; a command pipelined after STARTTLS
        # in clear is discarded.
        r.send("a2 STARTTLS\r\na3 LOGIN alice@example.test alice-secret-1\r\n")
        assert r.line().startswith("a2 OK")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        r.s = ctx.wrap_socket(r.s)
        r.f = r.s.makefile("rb")
        lines, tagged = r.cmd("a4", "CAPABILITY")
        assert "STARTTLS" not in lines[0] and "AUTH=PLAIN" in lines[0]
        _, tagged = r.cmd("a5", "LOGIN alice@example.test alice-secret-1")
        assert tagged.startswith("a5 OK"), tagged
        _, tagged = r.cmd("a6", "SELECT INBOX")
        assert tagged.startswith("a6 OK")
        r.close()
    finally:
        ts.finish(inst)


def test_imaps_session(srv):
    m = login(srv, tls=True)
    typ, data = m.select("INBOX")
    assert typ == "OK"
    m.append("INBOX", None, None, msg(1))
    typ, data = m.fetch("1:*", "(UID RFC822.SIZE)")
    assert typ == "OK" and data
    m.logout()


def test_pipelined_after_login(srv):
    r = Raw(srv.ports[0])
    r.send("a1 LOGIN bob@example.test bob-secret-2\r\na2 NOOP\r\n"
           "a3 SELECT INBOX\r\n")
    _, t1 = r.until("a1")
    assert t1.startswith("a1 OK")
    _, t2 = r.until("a2")
    assert t2.startswith("a2 OK")
    _, t3 = r.until("a3")
    assert t3.startswith("a3 OK [READ-WRITE]")
    r.close()


def test_too_many_bad_commands(srv):
    r = Raw(srv.ports[0])
    for i in range(5):
        r.send(f"x{i} FROB\r\n")
    assert r.closed()
    # After login too: BAD, and the session goes on until the limit.
    r = Raw(srv.ports[0])
    _, t = r.cmd("a1", "LOGIN alice@example.test alice-secret-1")
    assert t.startswith("a1 OK")
    for i in range(4):
        _, t = r.cmd(f"b{i}", "FROB 1 2")
        assert t.startswith(f"b{i} BAD"), t
    _, t = r.cmd("c1", "NOOP")
    assert t.startswith("c1 OK")
    r.send("c2 FETCH\r\n")
    assert r.closed()


def test_huge_literal_announced_costs_nothing(srv):
    m = login(srv)
    r = Raw(srv.ports[0])
    _, t = r.cmd("a1", "LOGIN alice@example.test alice-secret-1")
    assert t.startswith("a1 OK")
    r.send("a2 APPEND INBOX {4000000000}\r\n")
    _, t = r.until("a2")
    assert t.startswith("a2 NO [TOOBIG]"), t
    r.send("a3 SEARCH SUBJECT {4000000000}\r\n")
    _, t = r.until("a3")
    assert t.startswith("a3 BAD [TOOBIG]"), t
    _, t = r.cmd("a4", "NOOP")
    assert t.startswith("a4 OK")
    r.close()
    m.logout()


# ---- mailboxes ----------------------------------------------------------


def test_special_use_folders_and_list(srv):
    m = login(srv, "bob@example.test")
    typ, data = m.list()
    assert typ == "OK"
    text = b"\n".join(data).decode()
    for name, attr in (("Drafts", "\\Drafts"), ("Sent", "\\Sent"),
                       ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                       ("Archive", "\\Archive")):
        assert re.search(r"\(.*%s.*\) \"/\" %s" % (re.escape(attr), name),
                         text), text
    assert re.search(r'\(\\HasNoChildren\) "/" INBOX', text), text
    typ, data = m._simple_command("LIST", '""', '""')
    assert typ == "OK"
    m.logout()


def test_create_delete_rename_hierarchy(srv):
    m = login(srv)
    assert m.create("Projects/2026/Q4")[0] == "OK"
    assert m.create("Projects/2026/Q4")[0] == "NO"
    typ, data = m.list('""', "Projects/%")
    text = b"\n".join(data).decode()
    assert 'Projects/2026' in text and "\\Noselect" in text, text
    typ, data = m.list('""', "Projects*")
    assert any(b"Projects/2026/Q4" in d for d in data)
    assert m.rename("Projects", "Work")[0] == "NO"  # Projects is no mailbox
    assert m.rename("Projects/2026/Q4", "Work/Q4")[0] == "OK"
    typ, data = m.list('""', "*")
    names = b"\n".join(data).decode()
    assert "Work/Q4" in names and "Projects/2026/Q4" not in names
    assert m.delete("Work/Q4")[0] == "OK"
    assert m.delete("Work/Q4")[0] == "NO"
    assert m.delete("INBOX")[0] == "NO"
    m.logout()


def test_mailbox_names_are_safe(srv):
    m = login(srv)
    for bad in ("../x", "a/../../etc", "/abs", "a//b"):
        typ, _ = m.create(f'"{bad}"')
        if typ == "OK":
            # allowed as a name, but stored under the Maildir
            assert m.delete(f'"{bad}"')[0] == "OK"
    typ, _ = m.create('"Entw&APw-rfe"')
    assert typ == "OK"
    typ, data = m.list('""', "Entw*")
    assert b"Entw&APw-rfe" in b"".join(data)
    maildir = srv.mail / "example.test" / "alice" / "Maildir"
    for p in srv.mail.rglob("*"):
        assert str(p.resolve()).startswith(str(srv.mail.resolve()))
    assert (maildir / ".Entw&APw-rfe").is_dir()
    m.logout()


def test_subscribe_and_lsub(srv):
    m = login(srv)
    m.create("Lists")
    assert m.subscribe("Lists")[0] == "OK"
    typ, data = m.lsub('""', "*")
    assert any(b'"/" Lists' in d for d in data), data
    assert m.unsubscribe("Lists")[0] == "OK"
    typ, data = m.lsub('""', "*")
    assert not any(d and b'"/" Lists' in d for d in data), data
    m.logout()


def test_status(srv):
    m = login(srv)
    m.create("Status")
    for i in range(3):
        m.append("Status", "(\\Seen)" if i == 0 else None, None, msg(i))
    typ, data = m.status("Status", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY SIZE)")
    assert typ == "OK"
    s = data[0].decode()
    assert "MESSAGES 3" in s and "UNSEEN 2" in s and "UIDNEXT 4" in s, s
    size = int(re.search(r"SIZE (\d+)", s).group(1))
    assert size == sum(len(msg(i)) for i in range(3))
    m.logout()


# ---- messages -----------------------------------------------------------


def test_append_fetch_store_search_expunge(srv):
    m = login(srv, "bob@example.test")
    m.create("Work")
    typ, data = m.append("Work", "(\\Flagged $Label1)",
                         imaplib.Time2Internaldate(1700000000), msg(7))
    assert typ == "OK"
    assert re.search(rb"APPENDUID \d+ 1", data[0]), data
    m.append("Work", None, None, msg(8))
    typ, data = m.select("Work")
    assert data == [b"2"]
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE UID)")
    line = data[0].decode()
    assert "\\Flagged" in line and "$Label1" in line
    assert f"RFC822.SIZE {len(msg(7))}" in line
    typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: Hello 8\r\n\r\n"
    typ, data = m.fetch("2", "(BODY[])")
    assert data[0][1] == msg(8)
    typ, data = m.fetch("2", "(FLAGS)")
    assert b"\\Seen" in data[0]
    typ, data = m.search(None, "BODY", "zanzibarite")
    assert data == [b"1 2"]
    typ, data = m.search(None, "SUBJECT", '"Hello 7"')
    assert data == [b"1"]
    typ, data = m.uid("SEARCH", None, "UNSEEN")
    assert data == [b"1"]
    typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "OK" and b"\\Deleted" in data[0]
    typ, data = m.expunge()
    assert data == [b"1"]
    typ, data = m.fetch("1:*", "(UID)")
    assert data == [b"1 (UID 2)"]
    m.logout()


def test_copy_move_uidplus(srv):
    m = login(srv, "bob@example.test")
    m.create("Src")
    m.create("Dst")
    for i in range(3):
        m.append("Src", None, None, msg(i))
    m.select("Src")
    typ, data = m.copy("1:2", "Dst")
    assert typ == "OK" and re.search(rb"COPYUID \d+ 1:2 1:2", data[0]), data
    typ, data = m._simple_command("MOVE", "3", "Dst")
    assert typ == "OK", data
    typ, data = m.fetch("1:*", "(UID)")
    assert len([d for d in data if d]) == 2
    typ, data = m.copy("1", "Nope")
    assert typ == "NO" and b"[TRYCREATE]" in data[0], data
    typ, data = m.status("Dst", "(MESSAGES)")
    assert b"MESSAGES 3" in data[0]
    m.logout()


def test_two_sessions_see_each_other(srv):
    a = login(srv)
    b = login(srv)
    a.create("Shared")
    a.append("Shared", None, None, msg(1))
    a.select("Shared")
    b.select("Shared")
    b.append("Shared", None, None, msg(2))
    typ, data = a.noop()
    assert typ == "OK"
    assert a.response("EXISTS")[1][-1] == b"2"
    b.store("1", "+FLAGS", "(\\Answered)")
    a.noop()
    typ, data = a.response("FETCH")
    assert data and b"\\Answered" in data[-1], data
    b.store("2", "+FLAGS", "(\\Deleted)")
    b.expunge()
    a.noop()
    typ, data = a.response("EXPUNGE")
    assert data == [b"2"], data
    a.logout()
    b.logout()


def idle_wait(m, seconds):
    """Sends IDLE, collects untagged lines for up to seconds, sends DONE."""
    tag = m._new_tag().decode()
    m.send(f"{tag} IDLE\r\n".encode())
    assert m.readline().startswith(b"+")
    got = []
    m.sock.settimeout(seconds)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            line = m.readline()
            if not line:
                break
            got.append((time.monotonic() - t0, line))
            break
    except (socket.timeout, TimeoutError):
        pass
    m.sock.settimeout(TIMEOUT)
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        got.append((time.monotonic() - t0, line))
        if line.startswith(tag.encode()):
            break
    return got


def test_idle_wakes_on_store_and_expunge(srv):
    a = login(srv)
    b = login(srv)
    a.create("Idle")
    a.append("Idle", None, None, msg(1))
    a.append("Idle", None, None, msg(2))
    a.select("Idle")
    b.select("Idle")
    threading.Timer(0.3, lambda: b.store("1", "+FLAGS", "(\\Flagged)")).start()
    got = idle_wait(a, 3)
    first = got[0]
    assert first[0] < 1.5 and b"FETCH" in first[1] and b"\\Flagged" in first[1], got
    def expunge():
        b.store("2", "+FLAGS", "(\\Deleted)")
        b.expunge()
    threading.Timer(0.3, expunge).start()
    got = idle_wait(a, 3)
    assert got[0][0] < 1.5 and b"2 EXPUNGE" in b"".join(x[1] for x in got), got
    a.logout()
    b.logout()


def test_idle_wakes_on_delivery(dsrv):
    a = login(dsrv)
    a.select("INBOX")
    import smtplib

    def send():
        with smtplib.SMTP("127.0.0.1", dsrv.smtp_port, timeout=TIMEOUT) as s:
            s.sendmail("carol@example.org", ["alice@example.test"], msg(42))
    t0 = time.monotonic()
    threading.Timer(0.2, send).start()
    got = idle_wait(a, 8)
    assert any(b"EXISTS" in line for _, line in got), got
    typ, data = a.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Hello 42" in data[0][1]
    a.logout()


def test_uids_survive_kill_9(tmp_path, tmp_path_factory):
    inst = build(tmp_path, tmp_path_factory.getbasetemp().parent)
    try:
        m = login(inst)
        m.create("Keep")
        for i in range(5):
            m.append("Keep", None, None, msg(i))
        m.select("Keep")
        typ, before = m.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        typ, v1 = m.status("Keep", "(UIDVALIDITY UIDNEXT)")
        # kill -9 every process of the instance but the master
        for pid in inst.children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        ph.wait_for(lambda: imap_ready(inst.ports[0]), ph.START_TIMEOUT,
                    "imap-login again")
        time.sleep(1)
        m2 = login(inst)
        m2.select("Keep")
        typ, after = m2.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert before == after
        typ, v2 = m2.status("Keep", "(UIDVALIDITY UIDNEXT)")
        assert v1 == v2
        m2.logout()
    finally:
        ts.finish(inst)


def test_enable_utf8_names(srv):
    m = login(srv)
    typ, data = m._simple_command("ENABLE", "UTF8=ACCEPT")
    assert typ == "OK"
    r = Raw(srv.ports[0])
    _, t = r.cmd("a1", "LOGIN alice@example.test alice-secret-1")
    r.send('a2 ENABLE UTF8=ACCEPT\r\n')
    lines, t = r.until("a2")
    assert "* ENABLED UTF8=ACCEPT" in "".join(lines)
    r.send('a3 CREATE "Bücher"\r\n'.encode())
    _, t = r.until("a3")
    assert t.startswith("a3 OK"), t
    m.logout()
    m2 = login(srv)
    typ, data = m2.list('""', "B*")
    assert b"B&APw-cher" in b"".join(data), data
    m2.logout()
    r.close()


@pytest.mark.skipif(not ph.is_root(), reason="needs root (privilege drop)")
def test_privileges(srv):
    """imap-login runs as postern-login, chrooted into spool/login, without
    capabilities; imap as the mail user, without capabilities."""
    m = login(srv)      # both processes are up and have served
    seen = set()
    for pid in srv.children():
        try:
            cmd = ph.proc_cmdline(pid)
            status = ph.proc_status(pid)
        except OSError:
            continue
        name = os.path.basename(cmd[0]) if cmd else ""
        if name not in ("postern-imap-login", "postern-imap"):
            continue
        seen.add(name)
        uid = int(status["Uid"].split()[1])
        assert int(status["CapEff"], 16) == 0, (name, status["CapEff"])
        assert int(status["CapPrm"], 16) == 0, (name, status["CapPrm"])
        if name == "postern-imap-login":
            assert uid == pwd.getpwnam(LOGIN_USER).pw_uid
            assert os.readlink(f"/proc/{pid}/root") == \
                str((srv.spool / "login").resolve())
        else:
            assert uid == pwd.getpwnam("nobody").pw_uid
    assert seen == {"postern-imap-login", "postern-imap"}, seen
    m.logout()


def test_three_sessions_and_exists_during_fetch(srv):
    """Three sessions on one folder: appends by one reach the other two at
    their next command, expunges are held back during FETCH by sequence
    number and reported at the next NOOP."""
    s = [login(srv, "bob@example.test") for _ in range(3)]
    s[0].create("Three")
    for i in range(4):
        s[0].append("Three", None, None, msg(i))
    for x in s:
        x.select("Three")
    s[1].append("Three", None, None, msg(9))
    typ, data = s[2].noop()
    assert s[2].response("EXISTS")[1][-1] == b"5"
    s[0].store("1", "+FLAGS", "(\\Deleted)")
    s[0].expunge()
    typ, data = s[2].fetch("1", "(UID)")
    assert s[2].response("EXPUNGE") == ("EXPUNGE", [None])
    typ, data = s[2].noop()
    assert s[2].response("EXPUNGE")[1] == [b"1"]
    typ, data = s[1].uid("FETCH", "1:*", "(UID)")
    assert s[1].response("EXPUNGE")[1] == [b"1"]
    for x in s:
        x.logout()


def test_more_commands(srv):
    """NAMESPACE, ID, CHECK, UNSELECT, CLOSE, UID EXPUNGE, ESEARCH and
    SEARCHRES, LIST-EXTENDED with SPECIAL-USE, STATUS and CHILDREN,
    BINARY, RFC822.*, MULTIAPPEND-style APPEND, RENAME INBOX."""
    r = Raw(srv.ports[0])
    _, t = r.cmd("a", "LOGIN bob@example.test bob-secret-2")
    assert t.startswith("a OK")
    lines, t = r.cmd("b", "NAMESPACE")
    assert lines == ['* NAMESPACE (("" "/")) NIL NIL\r\n'] and "OK" in t
    lines, t = r.cmd("c", 'ID ("name" "pytest")')
    assert lines[0].startswith("* ID (") and "OK" in t
    _, t = r.cmd("d", "CREATE More")
    r.send("e APPEND More (\\Seen) {%d+}\r\n" % len(msg(1)))
    r.send(msg(1))
    r.send(" {%d+}\r\n" % len(msg(2)))
    r.send(msg(2) + b"\r\n")
    _, t = r.until("e")
    assert re.match(r"e OK \[APPENDUID \d+ 1:2\]", t), t
    lines, t = r.cmd("f", 'LIST (SPECIAL-USE) "" "*" RETURN (STATUS '
                     '(MESSAGES UNSEEN) CHILDREN)')
    text = "".join(lines)
    assert '"/" Sent' in text and '"/" More' not in text, text
    assert "* STATUS Sent (MESSAGES 0 UNSEEN 0)" in text, text
    lines, t = r.cmd("g", 'LIST "" "*" RETURN (STATUS (MESSAGES))')
    assert "* STATUS More (MESSAGES 2)\r\n" in lines, lines
    _, t = r.cmd("h", "SELECT More")
    assert "OK [READ-WRITE]" in t
    _, t = r.cmd("i", "CHECK")
    assert t.startswith("i OK")
    lines, t = r.cmd("j", "UID SEARCH RETURN (MIN MAX COUNT SAVE) UNSEEN")
    assert lines == ['* ESEARCH (TAG "j") UID MIN 2 MAX 2 COUNT 1\r\n'], lines
    lines, t = r.cmd("k", "UID FETCH $ (FLAGS)")
    assert len(lines) == 1 and "UID 2" in lines[0], lines
    lines, t = r.cmd("l", "FETCH 1 (BINARY.SIZE[1] RFC822.HEADER)")
    assert "BINARY.SIZE[1] %d" % len(msg(1).split(b"\r\n\r\n", 1)[1]) \
        in lines[0], lines
    lines, t = r.cmd("m", "FETCH 2 (BINARY.PEEK[1])")
    assert lines[0].startswith("* 2 FETCH (BINARY[1] {"), lines
    _, t = r.cmd("n", "STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    assert t.startswith("n OK")
    lines, t = r.cmd("o", "UID EXPUNGE 1")
    assert lines == ["* 1 EXPUNGE\r\n"], lines
    _, t = r.cmd("p", "UNSELECT")
    assert t.startswith("p OK")
    _, t = r.cmd("q", "SELECT More")
    lines, t = r.cmd("r", "CLOSE")
    assert lines == [] and t.startswith("r OK")
    lines, t = r.cmd("s", "STATUS More (MESSAGES)")
    assert lines == ["* STATUS More (MESSAGES 0)\r\n"], lines
    # RENAME INBOX: the messages move, INBOX stays and is empty
    _, t = r.cmd("t", "APPEND INBOX {%d+}\r\n%s" % (len(msg(5)),
                                                  msg(5).decode()))
    _, t = r.cmd("u", "RENAME INBOX Old-Inbox")
    assert t.startswith("u OK"), t
    lines, t = r.cmd("v", "STATUS INBOX (MESSAGES)")
    assert "MESSAGES 0" in lines[0]
    lines, t = r.cmd("w", "STATUS Old-Inbox (MESSAGES)")
    assert "MESSAGES 1" in lines[0]
    _, t = r.cmd("x", "LOGOUT")
    r.close()


def test_nul_bytes_and_session_limit(srv):
    """A NUL in LOGIN's literal is refused; in an APPEND message it is data.
    The 21st session of one user (imapd_max_user_connections = 20) gets
    NO [LIMIT]."""
    r = Raw(srv.ports[0])
    r.send("a LOGIN {4}\r\n")
    assert r.line().startswith("+")
    r.send(b"a\0lc {14}\r\n")
    r.line()
    r.send("alice-secret-1\r\n")
    _, t = r.until("a")
    assert t.startswith("a BAD") or t.startswith("a NO"), t
    _, t = r.cmd("b", "LOGIN alice@example.test alice-secret-1")
    assert t.startswith("b OK"), t
    body = b"Subject: nul\r\n\r\nbefore\0after\r\n"
    r.send(b"c APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    _, t = r.until("c")
    assert t.startswith("c OK"), t
    r.close()
    sessions = [login(srv, "bob@example.test") for _ in range(20)]
    m = imaplib.IMAP4("127.0.0.1", srv.ports[0], timeout=TIMEOUT)
    with pytest.raises(imaplib.IMAP4.error, match="LIMIT"):
        m.login("bob@example.test", USERS["bob@example.test"])
    for x in sessions:
        x.logout()


def test_idle_sees_a_maildir_drop_within_a_second(srv):
    """A message written into new/ the way the delivery agent does (tmp/,
    then rename) reaches a session in IDLE within a second."""
    a = login(srv)
    a.select("INBOX")
    maildir = srv.mail / "example.test" / "alice" / "Maildir"
    drop = {}

    def deliver():
        name = f"{int(time.time())}.M1P1Q1.test,S={len(msg(77))}"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(msg(77).replace(b"\r\n", b"\n"))
        if ph.is_root():
            os.chown(tmp, pwd.getpwnam("nobody").pw_uid, -1)
        drop["t"] = time.monotonic()
        os.rename(tmp, maildir / "new" / name)
    threading.Timer(0.3, deliver).start()
    tag = a._new_tag().decode()
    a.send(f"{tag} IDLE\r\n".encode())
    assert a.readline().startswith(b"+")
    line = a.readline()
    seen = time.monotonic()
    assert b"EXISTS" in line, line
    assert seen - drop["t"] < 1.0, seen - drop["t"]
    a.send(b"DONE\r\n")
    while not a.readline().startswith(tag.encode()):
        pass
    a.logout()


def test_login_limits(tmp_path, tmp_path_factory):
    """Before login: imapd_max_login_commands, imapd_max_connections_per_client
    (127.0.0.1 outside mynetworks here) and imapd_login_timeout."""
    inst = build(tmp_path, tmp_path_factory.getbasetemp().parent,
                 extra=["mynetworks = 127.0.0.2/32",
                        "imapd_max_login_commands = 3",
                        "imapd_max_connections_per_client = 2",
                        "imapd_login_timeout = 2s"])
    try:
        r = Raw(inst.ports[0])
        for i in range(3):
            _, t = r.cmd(f"a{i}", "NOOP")
            assert t.startswith(f"a{i} OK"), t
        lines, t = r.cmd("a3", "NOOP")
        assert any(ln.startswith("* BYE") for ln in lines), lines
        assert r.closed()
        r1, r2 = Raw(inst.ports[0]), Raw(inst.ports[0])
        assert r1.greeting.startswith("* OK") and r2.greeting.startswith("* OK")
        r3 = Raw(inst.ports[0])
        assert r3.greeting.startswith("* BYE"), r3.greeting
        assert r3.closed()
        t0 = time.monotonic()
        assert r1.line().startswith("* BYE")     # the login timeout
        assert 1.0 < time.monotonic() - t0 < 5.0
        assert r1.closed()
        for x in (r1, r2, r3):
            x.close()
    finally:
        ts.finish(inst)
