# SPDX-License-Identifier: ISC
"""Full mailboxes and a full disk, end to end (issue 5).

RCPT-time quota check: smtpd asks authd for the recipient's mailboxes
and the delivery agent whether they are full, and refuses a full one at
RCPT with 452 4.2.2 (552 5.2.2 with delivery_quota_bounce), after alias
expansion: an alias is refused only when all its mailboxes are full.
The MAIL SIZE= value counts.  With smtpd_rcpt_quota_check = no the
recipient is accepted and the delivery defers 4.2.2 as before.  The
check fails open: a delivery agent that is stopped (SIGSTOP), disabled
or answering garbage costs at most smtpd_quota_check_timeout and the
recipient is accepted.  The agent's side (IPC_QUOTA_CHECK) is also
driven directly: answers, refused paths, malformed requests.

Full disk (as root only: it mounts a tmpfs): the spool and the Maildirs
on a 16 MiB tmpfs, messages queued while the delivery agent is stopped,
the rest of the space filled with a file; then SMTP answers 452, the
queued deliveries defer with 4.3.1 and leave nothing in new/ or tmp/;
once the filler is gone every message acknowledged with 250 arrives
exactly once, byte-exact, and no process crashed.

See man/postern-smtpd.8 and man/postern-delivery-agent.8."""

import errno
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

import postern_harness as ph
import postern_ipc as ipc
from test_delivery_agent import connect as agent_connect
from test_delivery_agent import make_agent
from test_queue import (build, finish, maildir, new_files, queue_empty,
                        queue_services, wait_files)
from test_smtpd import (HOST, USERS, postctl_in, service_user,  # noqa: F401
                        smtp_ready)

QUOTA = 10000
SENDER = "carol@remote.test"
CHECK_TIMEOUT = 1       # smtpd_quota_check_timeout in these tests, seconds
SMTP_RETRY = 1          # SMTP_QUOTA_RETRY of smtpd/smtp_quota.h
ALIASES = (
    "team@example.test: alice@example.test, bob@example.test\n"
    "fullteam@example.test: full@example.test\n"
    "bothfull@example.test: full@example.test, full2@example.test\n"
    "mixed@example.test: full@example.test, alice@example.test\n"
    "partial@example.test: full@example.test, roomy@example.test\n"
    "fwd@example.test: full@example.test, someone@remote.test\n"
)


def agent_uid():
    """The delivery agent's user (test_queue.build: nobody as root)."""
    return pwd.getpwnam("nobody").pw_uid if ph.is_root() else os.geteuid()


def chown_tree(top, path):
    """As root, hands path and the folders from top down to it to the
    delivery agent's user."""
    if not ph.is_root():
        return
    uid = agent_uid()
    p = path
    while True:
        os.lchown(p, uid, -1)
        if p == top or p == p.parent:
            break
        p = p.parent


def add_user(inst, address, quota=0):
    args = ["user", "add", "--stdin", address]
    if quota:
        args.append(f"quota={quota}")
    r = postctl_in(inst, *args, stdin="pw\n")
    assert r.returncode == 0, r.stderr


def set_used(inst, user, used, quota=QUOTA):
    """Makes user's Maildir exist with a maildirsize that counts used
    bytes (the file every delivery with a quota trusts)."""
    md = maildir(inst, user)
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    f = md / "maildirsize"
    f.write_text(f"{quota}S\n{used} 1\n")
    for p in (md / "cur", md / "new", md / "tmp", f):
        chown_tree(md, p)
    chown_tree(inst.mail, md)


def quota_instance(root, top, extra=()):
    inst = build(root, top, extra=[f"smtpd_quota_check_timeout = {CHECK_TIMEOUT}s",
                                   "queue_retry_min = 1s",
                                   "queue_retry_max = 2s"] + list(extra))
    try:
        for u, q in (("full@example.test", QUOTA), ("full2@example.test", QUOTA),
                     ("near@example.test", QUOTA), ("roomy@example.test", 10 * QUOTA)):
            add_user(inst, u, q)
        (inst.etc / "aliases").write_text(ALIASES)
        r = postctl_in(inst, "map", "build", f"hash:{inst.etc}/aliases")
        assert r.returncode == 0, r.stderr
        set_used(inst, "full@example.test", QUOTA)
        set_used(inst, "full2@example.test", QUOTA + 5)
        set_used(inst, "near@example.test", QUOTA - 1000)
    except BaseException:
        finish(inst)
        raise
    return inst


def smtp(inst):
    c = smtplib.SMTP("127.0.0.1", inst.port, HOST, timeout=15)
    c.ehlo()
    return c


def rcpt(c, addr, size=None):
    """MAIL (with SIZE= when size is given) and one RCPT: (code, text)."""
    c.rset()
    opts = [f"SIZE={size}"] if size is not None else []
    code, text = c.mail(SENDER, opts)
    assert code == 250, (code, text)
    return c.rcpt(addr)


def full_reply(addr, bounce=False):
    code = (552, b"5.2.2") if bounce else (452, b"4.2.2")
    return code[0], code[1] + b" <" + addr.encode() + b">: Mailbox full"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    inst = quota_instance(tmp_path_factory.mktemp("quota"),
                          tmp_path_factory.getbasetemp().parent)
    yield inst
    finish(inst)


def agent_pids(inst):
    return [p for p in inst.children()
            if any(a.endswith("postern-delivery-agent") for a in ph.proc_cmdline(p)[:1])]


# ---- RCPT-time quota check ----------------------------------------------

def test_full_mailbox_refused_at_rcpt(srv):
    with smtp(srv) as c:
        assert rcpt(c, "full@example.test") == full_reply("full@example.test")
        # Over its quota (not only at it) is full as well.
        assert rcpt(c, "full2@example.test") == full_reply("full2@example.test")
        # The session goes on: another recipient of the same mail is fine.
        assert c.rcpt("alice@example.test")[0] == 250
    srv.wait_log(r"reject: RCPT from unknown\[127\.0\.0\.1\]: 452 4\.2\.2 "
                 r"<full@example\.test>: Mailbox full; from=<carol@remote\.test> "
                 r"to=<full@example\.test> proto=ESMTP helo=<mx\.example\.test>")


def test_size_counts(srv):
    """near@ has 1000 bytes left: a message of unknown size fits, SIZE=
    above the rest does not."""
    with smtp(srv) as c:
        assert rcpt(c, "near@example.test")[0] == 250
        assert rcpt(c, "near@example.test", size=500)[0] == 250
        assert rcpt(c, "near@example.test", size=1000)[0] == 250
        assert rcpt(c, "near@example.test", size=1001) == \
            full_reply("near@example.test")


def test_under_quota_accepted_and_delivered(srv):
    body = b"Subject: roomy\r\n\r\nplenty of room\r\n"
    with smtp(srv) as c:
        c.sendmail(SENDER, ["roomy@example.test"], body)
    [f] = wait_files(srv, "roomy@example.test", 1)
    assert f.read_bytes().endswith(body.replace(b"\r\n", b"\n"))
    # The first delivery with a quota wrote maildirsize.
    md = maildir(srv, "roomy@example.test")
    ph.wait_for(lambda: (md / "maildirsize").exists(), 10, "maildirsize")


def test_alias_expansion(srv):
    with smtp(srv) as c:
        # All of an alias's mailboxes full: refused, naming the alias.
        assert rcpt(c, "fullteam@example.test") == full_reply("fullteam@example.test")
        assert rcpt(c, "bothfull@example.test") == full_reply("bothfull@example.test")
        # One mailbox without quota, one with room, or a remote address:
        # the mail goes somewhere, so the alias is accepted.
        assert rcpt(c, "mixed@example.test")[0] == 250
        assert rcpt(c, "partial@example.test")[0] == 250
        assert rcpt(c, "fwd@example.test")[0] == 250
        # Users without quota are not checked at all.
        assert rcpt(c, "team@example.test")[0] == 250
        assert rcpt(c, "alice@example.test")[0] == 250


def test_pipelined_rcpts(srv):
    """PIPELINING: the replies come in order while checks are in flight."""
    addrs = ["full@example.test", "alice@example.test", "near@example.test",
             "bothfull@example.test", "roomy@example.test"] * 4
    with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        cmds = b"EHLO x\r\nMAIL FROM:<carol@remote.test>\r\n" + b"".join(
            b"RCPT TO:<" + a.encode() + b">\r\n" for a in addrs) + b"QUIT\r\n"
        s.sendall(cmds)
        lines = [f.readline() for _ in range(200)]
    replies = [ln for ln in lines if ln and not ln.startswith(b"250-")]
    assert replies[0].startswith(b"250 ")          # EHLO
    assert replies[1].startswith(b"250 ")          # MAIL
    got = replies[2:2 + len(addrs)]
    for a, r in zip(addrs, got):
        want = b"452 4.2.2" if a.startswith(("full", "bothfull")) else b"250 "
        assert r.startswith(want), (a, r)
    assert replies[2 + len(addrs)].startswith(b"221 ")


def refused_again(inst, addr):
    with smtp(inst) as c:
        return rcpt(c, addr) == full_reply(addr)


def test_agent_stopped_fails_open(srv):
    """A delivery agent that does not answer (SIGSTOP) delays RCPT by
    smtpd_quota_check_timeout, then the recipient is accepted; for a
    while after that, recipients are accepted without waiting."""
    pids = agent_pids(srv)
    assert pids
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        with smtp(srv) as c:
            t0 = time.monotonic()
            assert rcpt(c, "full@example.test")[0] == 250
            took = time.monotonic() - t0
            assert CHECK_TIMEOUT - 0.2 <= took < CHECK_TIMEOUT + 3, took
            t0 = time.monotonic()
            for _ in range(5):
                assert rcpt(c, "full2@example.test")[0] == 250
            assert time.monotonic() - t0 < CHECK_TIMEOUT
    finally:
        for p in pids:
            os.kill(p, signal.SIGCONT)
    srv.wait_log(r"quota check: private/local: no answer in time; "
                 r"recipients are accepted unchecked")
    # Checked again once it runs.
    ph.wait_for(lambda: refused_again(srv, "full@example.test"), 10,
                "the check to work again")


def test_check_off_delivery_defers(tmp_path, tmp_path_factory):
    inst = quota_instance(tmp_path / "off", tmp_path_factory.getbasetemp().parent,
                          extra=["smtpd_rcpt_quota_check = no"])
    try:
        with smtp(inst) as c:
            assert rcpt(c, "full@example.test")[0] == 250
            c.rset()
            c.sendmail(SENDER, ["full@example.test"], b"Subject: over\r\n\r\nx\r\n")
        inst.wait_log(r"to=<full@example\.test>, .*dsn=4\.2\.2, "
                      r"status=deferred \(mailbox full", timeout=20)
        assert new_files(inst, "full@example.test") == []
        assert "quota check" not in inst.log_text()
    finally:
        finish(inst)


def test_quota_bounce_code(tmp_path, tmp_path_factory):
    inst = quota_instance(tmp_path / "b", tmp_path_factory.getbasetemp().parent,
                          extra=["delivery_quota_bounce = yes"])
    try:
        with smtp(inst) as c:
            assert rcpt(c, "full@example.test") == \
                full_reply("full@example.test", bounce=True)
    finally:
        finish(inst)


def test_agent_disabled_fails_open(tmp_path, tmp_path_factory):
    inst = quota_instance(tmp_path / "d", tmp_path_factory.getbasetemp().parent)
    try:
        text = (inst.etc / "postern.conf").read_text() + "delivery-agent.enable = no\n"
        inst.write_config(text)
        assert inst.postctl("reload").returncode == 0
        ph.wait_for(lambda: not agent_pids(inst), 10, "the agent to stop")
        with smtp(inst) as c:
            t0 = time.monotonic()
            assert rcpt(c, "full@example.test")[0] == 250
            assert time.monotonic() - t0 < CHECK_TIMEOUT + 3
            # Many at once: still answered, one warning.
            for _ in range(20):
                assert rcpt(c, "full@example.test")[0] == 250
        inst.wait_log(r"quota check: private/local: .*recipients are accepted "
                      r"unchecked")
        assert len(re.findall(r"recipients are accepted unchecked",
                              inst.log_text())) <= 2
    finally:
        finish(inst)


class FakeAgent:
    """Plays the delivery agent on private/local: answers HELLO, then
    each IPC_QUOTA_CHECK with what answer(msg) returns (frames)."""

    def __init__(self, path, answer):
        self.path = str(path)
        self.answer = answer
        self.checks = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        buf = b""
        conn.settimeout(0.2)
        with conn:
            while not self.stop:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                buf += data
                while True:
                    got = ipc.decode_frame(buf)
                    if got is None:
                        break
                    msg, used = got
                    buf = buf[used:]
                    if msg.type == ipc.HELLO:
                        conn.sendall(ipc.encode_frame(ipc.OK, (), msg.peer_id))
                        continue
                    self.checks.append(msg)
                    conn.sendall(self.answer(msg))

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def test_garbage_answers_fail_open(tmp_path, tmp_path_factory):
    """The real agent moves to another socket; a fake one on private/local
    answers every check with something wrong: each recipient is
    accepted, and the checks it got were well-formed."""
    inst = quota_instance(tmp_path / "g", tmp_path_factory.getbasetemp().parent)
    # Each fails its own check; the last two break the connection (a
    # timeout, a bad frame), after which checks pause for a moment.
    answers = [
        lambda m: ipc.encode_frame(ipc.OK, (), m.peer_id),                   # wrong type
        lambda m: ipc.encode_frame(ipc.QUOTA_RESULT, {"status": "maybe", "used": 1},
                                   m.peer_id),
        lambda m: ipc.encode_frame(ipc.QUOTA_RESULT, {"status": "full", "used": "x"},
                                   m.peer_id),
        lambda m: ipc.encode_frame(ipc.QUOTA_RESULT, {"status": "full"}, m.peer_id),
        lambda m: ipc.encode_frame(ipc.ERROR, {"text": "no"}, m.peer_id),
        lambda m: ipc.encode_frame(ipc.QUOTA_RESULT, {"status": "full", "used": 1},
                                   m.peer_id + 1000),                         # unknown id
        lambda m: b"\xff" * 12,                                               # bad frame
    ]
    fake = None
    try:
        text = (inst.etc / "postern.conf").read_text().replace(
            "local=private/local", "local=private/local-real")
        inst.write_config(text)
        assert inst.postctl("reload").returncode == 0
        sock = inst.spool / "private" / "local"
        ph.wait_for(lambda: (inst.spool / "private" / "local-real").exists(), 10,
                    "the agent's new socket")
        ph.wait_for(lambda: not sock.exists() or _try_unlink(sock), 10,
                    "the old socket to go")
        state = {"i": 0}

        def answer(m):
            return answers[state["i"]](m)
        fake = FakeAgent(sock, answer)
        with smtp(inst) as c:
            for i in range(len(answers)):
                state["i"] = i
                if i == len(answers) - 1:
                    time.sleep(2 * CHECK_TIMEOUT + 0.5)    # the pause
                t0 = time.monotonic()
                assert rcpt(c, "full@example.test")[0] == 250, i
                assert time.monotonic() - t0 < CHECK_TIMEOUT + 3, i
            # A well-formed answer is still taken.
            state["i"] = None
            fake.answer = lambda m: ipc.encode_frame(
                ipc.QUOTA_RESULT, {"status": "full", "used": QUOTA}, m.peer_id)
            time.sleep(SMTP_RETRY + 0.5)
            assert rcpt(c, "full@example.test") == full_reply("full@example.test")
        assert len(fake.checks) == len(answers) + 1
        m = fake.checks[0]
        assert m.type == ipc.QUOTA_CHECK
        assert m.get("user") == "full@example.test"
        assert m.get("maildir") == str(maildir(inst, "full@example.test"))
        assert m.get("quota") == str(QUOTA)
        assert m.get("size") == "0"
    finally:
        if fake is not None:
            fake.close()
        finish(inst)


def _try_unlink(path):
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    return True


def test_authd_describes_mailboxes(srv):
    """RCPT_LOOKUP with mailboxes: one maildir and quota per local user,
    only for recipients that reach nothing else and few enough users."""
    with ipc.IpcClient(srv.spool / "private" / "auth", program="smtpd") as c:
        def lookup(rcpt, mailboxes=32):
            r = c.request(ipc.RCPT_LOOKUP, [("rcpt", rcpt), ("client", "127.0.0.1"),
                                            ("authenticated", 0),
                                            ("mailboxes", mailboxes)], peer_id=7)
            assert r.type == ipc.RCPT_RESULT, r
            return r
        r = lookup("bothfull@example.test")
        assert r.get_all("deliver") == ["full@example.test", "full2@example.test"]
        assert r.get_all("maildir") == [str(maildir(srv, "full@example.test")),
                                        str(maildir(srv, "full2@example.test"))]
        assert r.get_all("quota") == [str(QUOTA)] * 2
        r = lookup("mixed@example.test")
        assert r.get_all("quota") == [str(QUOTA), "0"]
        # A remote target, more users than asked for, or not asked: none.
        assert lookup("fwd@example.test").get_all("maildir") == []
        assert lookup("bothfull@example.test", 1).get_all("maildir") == []
        r = c.request(ipc.RCPT_LOOKUP, [("rcpt", "full@example.test"),
                                        ("client", ""), ("authenticated", 0)],
                      peer_id=8)
        assert r.get_all("deliver") == ["full@example.test"]
        assert r.get_all("maildir") == []
        r = c.request(ipc.RCPT_LOOKUP, [("rcpt", "full@example.test"),
                                        ("client", ""), ("authenticated", 0),
                                        ("mailboxes", "x")], peer_id=9)
        assert r.type == ipc.ERROR, r


def test_queue_min_free(tmp_path, tmp_path_factory):
    """smtpd_queue_min_free above what the spool has: MAIL gets 452."""
    inst = build(tmp_path / "m", tmp_path_factory.getbasetemp().parent,
                 extra=["smtpd_queue_min_free = 1024g"])
    try:
        if shutil.disk_usage(inst.spool).free >= 1024 ** 4:
            pytest.skip("more than 1 TiB free")
        with smtp(inst) as c:
            assert c.mail(SENDER) == (452, b"4.3.1 Error: insufficient system storage")
        inst.wait_log(r"reject: MAIL from unknown\[127\.0\.0\.1\]: 452 4\.3\.1 Error: "
                      r"insufficient system storage; proto=ESMTP")
    finally:
        finish(inst)


# ---- the delivery agent's side ---------------------------------------------

def check(c, peer_id, user="alice@example.test", maildir=None, quota=QUOTA,
          size=0, drop=()):
    fields = [("user", user), ("maildir", str(maildir)), ("quota", quota),
              ("size", size)]
    fields = [f for f in fields if f[0] not in drop]
    r = c.request(ipc.QUOTA_CHECK, fields, peer_id=peer_id)
    assert r.peer_id == peer_id
    return r


def test_agent_quota_check(make_instance):
    inst = make_agent(make_instance)
    md = inst.mail / "example.test" / "alice" / "Maildir"
    with agent_connect(inst) as c:
        # No Maildir yet: not full.
        r = check(c, 1, maildir=md)
        assert (r.type, r.get("status"), r.get("used")) == (ipc.QUOTA_RESULT, "ok", "0")
        (md / "new").mkdir(parents=True)
        (md / "maildirsize").write_text(f"{QUOTA}S\n{QUOTA - 1} 1\n")
        chown_tree(inst.mail, md / "new")
        chown_tree(inst.mail, md / "maildirsize")
        r = check(c, 2, maildir=md)                 # one byte left: fits
        assert (r.get("status"), r.get("used")) == ("ok", str(QUOTA - 1))
        r = check(c, 3, maildir=md, size=1)
        assert r.get("status") == "ok"
        r = check(c, 4, maildir=md, size=2)         # one over
        assert (r.get("status"), r.get("used")) == ("full", str(QUOTA - 1))
        r = check(c, 5, maildir=md, quota=0, size=10 ** 9)
        assert (r.get("status"), r.get("used")) == ("ok", "0")
        # The request's quota counts, not the file's.
        r = check(c, 6, maildir=md, quota=2 * QUOTA, size=2)
        assert r.get("status") == "ok"
        # An unparsable file is no reason to refuse, nor to recount.
        (md / "maildirsize").write_text("garbage\n")
        r = check(c, 7, maildir=md)
        assert (r.get("status"), r.get("used")) == ("ok", "0")
        assert (md / "maildirsize").read_text() == "garbage\n"
        # Pipelined: every answer comes, each with its peer_id.
        (md / "maildirsize").write_text(f"{QUOTA}S\n{QUOTA} 1\n")
        for i in range(50):
            c.send(ipc.QUOTA_CHECK, [("user", "alice@example.test"),
                                     ("maildir", str(md)), ("quota", QUOTA),
                                     ("size", 0)], peer_id=100 + i)
        got = {}
        for _ in range(50):
            m = c.recv(10)
            got[m.peer_id] = m.get("status")
        assert got == {100 + i: "full" for i in range(50)}


def test_agent_quota_check_refused(make_instance):
    inst = make_agent(make_instance)
    outside = inst.root / "outside"
    outside.mkdir()
    (outside / "maildirsize").write_text(f"{QUOTA}S\n{QUOTA} 1\n")
    chown_tree(inst.root, outside / "maildirsize")
    with agent_connect(inst) as c:
        bad = [
            {"maildir": "/etc/x/Maildir"},
            {"maildir": f"{inst.mail}/a/../../outside"},
            {"maildir": f"{inst.mail}//a/Maildir"},
            {"maildir": "relative/Maildir"},
            {"maildir": ""},
            {"user": ""},
            {"quota": "-1"},
            {"size": "12x"},
            {"quota": str(2 ** 64)},
        ]
        for i, b in enumerate(bad):
            fields = {"user": "alice@example.test",
                      "maildir": str(inst.mail / "a" / "Maildir"),
                      "quota": QUOTA, "size": 0}
            fields.update(b)
            r = c.request(ipc.QUOTA_CHECK, fields, peer_id=i + 1)
            assert r.type == ipc.ERROR, (b, r)
            assert r.get("text").startswith("malformed quota check"), r
        for i, key in enumerate(("user", "maildir", "quota", "size")):
            r = check(c, 50 + i, maildir=inst.mail / "a" / "Maildir", drop=(key,))
            assert r.type == ipc.ERROR, (key, r)
        # A symbolic link inside mail_directory is not followed: the check
        # fails open (not full), with a warning.
        (inst.mail / "link").symlink_to(outside)
        r = check(c, 60, maildir=inst.mail / "link")
        assert (r.type, r.get("status")) == (ipc.QUOTA_RESULT, "ok"), r
        # A descriptor with a check is refused, the connection stays.
        fd = os.open(os.devnull, os.O_RDONLY)
        try:
            data = ipc.encode_frame(ipc.QUOTA_CHECK, {"user": "a@b"}, 61, flags=ipc.F_FD)
            socket.send_fds(c.sock, [data], [fd])
        finally:
            os.close(fd)
        assert c.recv(10).type == ipc.ERROR
        r = check(c, 62, maildir=inst.mail / "a" / "Maildir")
        assert r.get("status") == "ok"
    inst.wait_log(r"quota check: user=<alice@example\.test>: maildirsize not read")


# ---- full disk ---------------------------------------------------------------

DISK_SIZE = "16m"


def fill_disk(path):
    """Writes path until the file system is full; returns its size."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            while True:
                try:
                    f.write(block)
                    n += chunk
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return n


def disk_instance(root, top, disk):
    """test_queue.build's instance with the spool and the Maildirs on disk."""
    port = ph.free_port()
    inst = ph.Instance(root, services=queue_services(port), open_up_to=top)
    inst.spool = disk / "spool"
    mail = disk / "mail"
    mail.mkdir()
    if ph.is_root():
        os.chown(mail, pwd.getpwnam(inst.mail_owner).pw_uid, -1)
    inst.extra = [
        f"myhostname = {HOST}",
        "mydomains = example.test",
        "mynetworks = 127.0.0.1/32",
        f"mail_directory = {mail}",
        "authd_failure_delay = 0",
        "smtpd_greet_pause = 0",
        "queue_scan_interval = 2s",
        "queue_retry_min = 1s",
        "queue_retry_max = 2s",
        "smtpd_max_message_size = 1m",
    ]
    inst.write_config()
    for address, password in USERS.items():
        r = postctl_in(inst, "user", "add", "--stdin", address, stdin=password + "\n")
        assert r.returncode == 0, r.stderr
    inst.start(wait=False)
    inst.port = port
    inst.mail = mail
    try:
        ph.wait_for(lambda: smtp_ready(port), ph.START_TIMEOUT, "smtpd")
    except BaseException:
        inst.teardown()
        raise
    return inst


def crashes(inst):
    """Lines of the master's log that tell of a process that died."""
    return [ln for ln in inst.log_text().splitlines()
            if "killed by signal" in ln or
            re.search(r"exited with status [1-9]", ln) or "crashing in a loop" in ln]


def message(tag, lines=40):
    body = b"".join(f"line {i} of {tag}: {'x' * 50}\r\n".encode()
                    for i in range(lines))
    return (f"From: <{SENDER}>\r\nTo: <alice@example.test>\r\n"
            f"Subject: {tag}\r\n\r\n").encode() + body


def maildir_messages(inst, user):
    """{subject tag: [file bytes]} over new/ and cur/."""
    out = {}
    md = maildir(inst, user)
    for sub in ("new", "cur"):
        d = md / sub
        for f in (sorted(d.iterdir()) if d.is_dir() else []):
            data = f.read_bytes()
            m = re.search(rb"\nSubject: (\S+)\n", data)
            assert m, (f.name, data[:200])
            out.setdefault(m.group(1).decode(), []).append(data)
    return out


@pytest.mark.skipif(not ph.is_root(), reason="mounts a tmpfs: needs root")
def test_full_disk(tmp_path, tmp_path_factory):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755",
                    "tmpfs", str(disk)], check=True, timeout=30)
    inst = None
    try:
        inst = disk_instance(tmp_path / "i", tmp_path_factory.getbasetemp().parent, disk)
        sent = {}

        def send(tag):
            msg = message(tag)
            with smtplib.SMTP("127.0.0.1", inst.port, HOST, timeout=20) as c:
                c.sendmail(SENDER, ["alice@example.test"], msg)
            sent[tag] = msg

        # One delivered normally: the Maildir exists.
        send("before")
        wait_files(inst, "alice@example.test", 1)

        # Queued while the agent cannot deliver, then the disk fills up.
        pids = agent_pids(inst)
        assert pids
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            for i in range(10):
                send(f"queued{i}")
            filled = fill_disk(disk / "filler")
            assert filled > 0
            # SMTP: 452, not 250 and not a crash.  smtplib announces
            # SIZE=, which is refused at MAIL already ...
            for i in range(2):
                with pytest.raises(smtplib.SMTPSenderRefused) as exc:
                    send(f"refused{i}")
                assert exc.value.smtp_code == 452, exc.value
            # ... without it, DATA (or the end of the data) answers 452.
            for i in range(2):
                with smtplib.SMTP("127.0.0.1", inst.port, HOST, timeout=20) as c:
                    c.ehlo()
                    assert c.mail(SENDER)[0] == 250
                    assert c.rcpt("alice@example.test")[0] == 250
                    # smtplib raises for a DATA refused before the data.
                    try:
                        reply = c.data(message(f"nosize{i}"))
                    except smtplib.SMTPDataError as exc:
                        reply = (exc.smtp_code, exc.smtp_error)
                    assert reply == \
                        (452, b"4.3.1 Error: insufficient system storage")
            inst.wait_log(r"reject: DATA from unknown\[127\.0\.0\.1\]: "
                          r"452 4\.3\.1 Error: insufficient system storage", timeout=10)
            # Room for the start of a message only: the end of the data
            # answers 452, and the part written is removed.
            os.truncate(disk / "filler", filled - (64 << 10))
            with smtplib.SMTP("127.0.0.1", inst.port, HOST, timeout=20) as c:
                c.ehlo()
                assert c.mail(SENDER)[0] == 250
                assert c.rcpt("alice@example.test")[0] == 250
                assert c.data(message("big", lines=5000)) == \
                    (452, b"4.3.1 Error: insufficient system storage")
            assert [n for n in (inst.spool / "incoming").iterdir()
                    if n.name.startswith("tmp.")] == []
            fill_disk(disk / "filler2")
            # A SIZE= that does not fit is refused before the data.
            with smtplib.SMTP("127.0.0.1", inst.port, HOST, timeout=20) as c:
                c.ehlo()
                assert c.mail(SENDER, ["SIZE=100000"]) == \
                    (452, b"4.3.1 Error: insufficient system storage")
            inst.wait_log(r"unknown\[127\.0\.0\.1\]: the spool has \d+ bytes free, "
                          r"100000 needed")
        finally:
            for p in pids:
                os.kill(p, signal.SIGCONT)

        # The queued deliveries fail for want of space and are deferred.
        inst.wait_log(r"to=<alice@example\.test>, .*dsn=4\.3\.1, "
                      r"status=deferred \(mail system full", timeout=30)
        md = maildir(inst, "alice@example.test")
        # Nothing partial: every file in new/ is one whole message.
        got = maildir_messages(inst, "alice@example.test")
        for tag, datas in got.items():
            for data in datas:
                assert data.endswith(sent[tag].replace(b"\r\n", b"\n")), tag
        time.sleep(1)
        assert list((md / "tmp").iterdir()) == []

        # Space again: everything acknowledged arrives exactly once.
        (disk / "filler").unlink()
        (disk / "filler2").unlink()
        ph.wait_for(lambda: len(maildir_messages(inst, "alice@example.test")) >= len(sent),
                    60, "every acknowledged message")
        ph.wait_for(lambda: queue_empty(inst), 30, "the queue to empty")
        got = maildir_messages(inst, "alice@example.test")
        assert sorted(got) == sorted(sent)
        for tag, datas in got.items():
            assert len(datas) == 1, f"{tag} delivered {len(datas)} times"
            data = datas[0]
            assert data.startswith(b"Return-Path: <carol@remote.test>\n"
                                   b"Delivered-To: alice@example.test\n"
                                   b"Received: from ")
            assert data.endswith(sent[tag].replace(b"\r\n", b"\n")), tag
        assert list((md / "tmp").iterdir()) == []
        # The service works again.
        send("after")
        ph.wait_for(lambda: "after" in maildir_messages(inst, "alice@example.test"),
                    30, "a message after the disk was freed")
        assert crashes(inst) == [], crashes(inst)
    finally:
        try:
            if inst is not None:
                finish(inst)
        finally:
            r = subprocess.run(["umount", str(disk)], timeout=30)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", str(disk)], timeout=30)
