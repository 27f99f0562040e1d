# SPDX-License-Identifier: ISC
"""postern-delivery-agent against a real instance: the test plays the
queue manager on private/local (HELLO, then IPC_DELIVER with the queue
file's descriptor passed by SCM_RIGHTS) and checks the results and the
Maildir files byte for byte: Return-Path and Delivered-To in front, LF
line ends, the ",S=" size, new/ only and nothing left in tmp/.  Cases:
the first delivery creates the Maildir, sub-address folders, loops,
quotas (defer, and bounce with delivery_quota_bounce), bad paths,
malformed requests, 50 requests at once on one connection, a 5 MiB
message, unwritable folders, and kill -9 of the agent during a burst.
See man/postern-delivery-agent.8."""

import os
import pwd
import re
import signal
import socket
import time

import pytest

import postern_harness as ph
import postern_ipc as ipc

HOST = "mx.example.test"
ALICE = "alice@example.test"
SENDER = "bob@remote.test"
# Deliveries fsync; a loaded machine may take a while.
SLOW = 30.0
NAME_RX = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.mx\.example\.test,S=(\d+)$")


def service_user():
    return "nobody" if ph.is_root() else pwd.getpwuid(os.geteuid()).pw_name


class AgentClient(ipc.IpcClient):
    """postern_ipc's client, plus a frame sent with a descriptor."""

    def send_fd(self, mtype, fields, peer_id, fd):
        data = ipc.encode_frame(mtype, fields, peer_id, flags=ipc.F_FD)
        # The descriptor rides with the first byte of its frame.
        sent = socket.send_fds(self.sock, [data], [fd])
        if sent < len(data):
            self.sock.sendall(data[sent:])


def connect(inst, timeout=SLOW):
    return AgentClient(inst.spool / "private" / "local", program="qmgr",
                       timeout=timeout)


def _hello_ok(inst):
    with connect(inst, timeout=2.0):
        return True


def make_agent(make_instance, extra=()):
    """An instance with only the delivery agent; mail_directory is
    ROOT/vmail, owned by the agent's user."""
    settings = {"program": "postern-delivery-agent",
                "listen": "local=private/local", "chroot": "no",
                "user": service_user()}
    inst = make_instance(services={"delivery-agent": settings})
    inst.mail = inst.root / "vmail"
    inst.mail.mkdir(mode=0o700)
    inst.queue = inst.root / "q"
    inst.queue.mkdir()
    if ph.is_root():
        pw = pwd.getpwnam("nobody")
        os.chown(inst.mail, pw.pw_uid, pw.pw_gid)
    inst.extra = [f"mail_directory = {inst.mail}", f"myhostname = {HOST}",
                  "delivery_sync_threads = 4"] + list(extra)
    inst.write_config()
    inst.start(wait=False)
    ph.wait_for(lambda: inst.ctl.exists() and
                inst.read_pidfile() == inst.master_pid,
                ph.START_TIMEOUT, "the master")
    ph.wait_for(lambda: _hello_ok(inst), ph.START_TIMEOUT,
                "the delivery agent's socket")
    inst.seq = 0
    return inst


def new_qid(inst):
    inst.seq += 1
    return "%013X%05d" % (int(time.time() * 1e6) + inst.seq, inst.seq % 100000)


def queue_file(inst, message, prefix=b"QF-ENVELOPE-RECORDS-STAND-IN\0\1\2"):
    """A file whose bytes at offset..offset+length are the message."""
    qid = new_qid(inst)
    path = inst.queue / qid
    path.write_bytes(prefix + message + b"\0END")
    return qid, path, len(prefix), len(message)


def message(subject="hello", body=b"Hi Alice.\r\n", extra=b""):
    return (b"Received: from client (client [127.0.0.1])\r\n"
            b"From: <" + SENDER.encode() + b">\r\n"
            b"To: <" + ALICE.encode() + b">\r\n" + extra +
            b"Subject: " + subject.encode() + b"\r\n\r\n" + body)


def maildir_of(inst, user=ALICE):
    local, _, domain = (user if "@" in user else ALICE).partition("@")
    return inst.mail / domain / local / "Maildir"


def send_deliver(c, inst, msg, peer_id=1, user=ALICE, rcpt=None,
                 sender=SENDER, maildir=None, quota=0, folder="", qf=None,
                 drop=()):
    qid, path, offset, length = qf or queue_file(inst, msg)
    fields = [("id", qid), ("sender", sender), ("rcpt", rcpt or user),
              ("user", user),
              ("maildir", str(maildir if maildir is not None
                              else maildir_of(inst, user))),
              ("quota", quota), ("folder", folder), ("offset", offset),
              ("length", length), ("arrival", int(time.time() * 1e6) - 2000000)]
    fields = [f for f in fields if f[0] not in drop]
    fd = os.open(path, os.O_RDONLY)
    try:
        c.send_fd(ipc.DELIVER, fields, peer_id, fd)
    finally:
        os.close(fd)
    return qid


def deliver(c, inst, msg, peer_id=1, **kw):
    qid = send_deliver(c, inst, msg, peer_id=peer_id, **kw)
    r = c.recv(SLOW)
    assert r.type == ipc.DELIVER_RESULT, r
    assert r.peer_id == peer_id
    return qid, r


def expected(msg, user=ALICE, sender=SENDER):
    return (b"Return-Path: <" + sender.encode() + b">\n" +
            b"Delivered-To: " + user.encode() + b"\n" +
            msg.replace(b"\r\n", b"\n"))


def files(folder):
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def check_file(folder, name, content):
    m = NAME_RX.match(name)
    assert m, name
    assert int(m.group(5)) == len(content)
    data = (folder / name).read_bytes()
    assert data == content
    st = os.stat(folder / name)
    assert st.st_mode & 0o777 == 0o600


def agent_pids(inst):
    return [p for p in inst.children()
            if any("postern-delivery-agent" in a for a in ph.proc_cmdline(p))]


# ---- the tests -----------------------------------------------------------

def test_first_delivery_creates_maildir(make_instance):
    inst = make_agent(make_instance)
    md = maildir_of(inst)
    assert not md.exists()
    msg = message(body=b"line one\r\nbare\rCR kept\r\n\r\n.\r\n")
    with connect(inst) as c:
        qid, r = deliver(c, inst, msg, rcpt="Alice+x@Example.test")
    assert r.get("status") == "ok", r
    assert r.get("dsn") == "2.0.0"
    assert r.get("text") == "delivered to maildir"
    for d in (md, md / "cur", md / "new", md / "tmp",
              md.parent, md.parent.parent):
        assert d.is_dir()
        assert os.stat(d).st_mode & 0o777 == 0o700, d
    names = files(md / "new")
    assert len(names) == 1
    check_file(md / "new", names[0], expected(msg))
    assert files(md / "tmp") == []
    assert files(md / "cur") == []
    inst.wait_log(rf"{qid}: to=<{ALICE}>, orig_to=<Alice\+x@Example.test>, "
                  r"relay=local, delay=\d+\.\d\d, dsn=2\.0\.0, "
                  r"status=sent \(delivered to maildir\)")
    if ph.is_root():
        st = os.stat(md / "new" / names[0])
        assert st.st_uid == pwd.getpwnam("nobody").pw_uid


def test_null_sender_and_names_unique(make_instance):
    inst = make_agent(make_instance)
    md = maildir_of(inst)
    msg = message()
    with connect(inst) as c:
        for i in range(5):
            _, r = deliver(c, inst, msg, peer_id=i + 1, sender="")
            assert r.get("status") == "ok", r
    names = files(md / "new")
    assert len(names) == 5
    assert len({NAME_RX.match(n).group(4) for n in names}) == 5
    for n in names:
        check_file(md / "new", n, expected(msg, sender=""))


def test_subaddress_folder(make_instance):
    inst = make_agent(make_instance)
    md = maildir_of(inst)
    msg = message("lists")
    with connect(inst) as c:
        # Missing folder: the inbox (and the Maildir is created).
        _, r = deliver(c, inst, msg, folder="lists", peer_id=1)
        assert r.get("status") == "ok", r
        assert len(files(md / "new")) == 1
        (md / ".lists").mkdir()
        if ph.is_root():
            pw = pwd.getpwnam("nobody")
            os.chown(md / ".lists", pw.pw_uid, pw.pw_gid)
        _, r = deliver(c, inst, msg, folder="lists", peer_id=2)
        assert r.get("status") == "ok", r
        names = files(md / ".lists" / "new")
        assert len(names) == 1
        check_file(md / ".lists" / "new", names[0], expected(msg))
        assert len(files(md / "new")) == 1
        assert files(md / ".lists" / "tmp") == []
        # An invalid folder name is a malformed request.
        _, r = deliver(c, inst, msg, folder="../x", peer_id=3)
        assert (r.get("status"), r.get("dsn")) == ("defer", "4.3.0"), r
    inst.wait_log(r"status=sent \(delivered to maildir folder \.lists\)")


def test_subaddress_folders_off(make_instance):
    inst = make_agent(make_instance, extra=["delivery_subaddress_folders = no"])
    md = maildir_of(inst)
    md.mkdir(parents=True)
    (md / ".lists").mkdir()
    if ph.is_root():
        pw = pwd.getpwnam("nobody")
        for d in (md.parent.parent, md.parent, md, md / ".lists"):
            os.chown(d, pw.pw_uid, pw.pw_gid)
    with connect(inst) as c:
        _, r = deliver(c, inst, message(), folder="lists")
    assert r.get("status") == "ok", r
    assert len(files(md / "new")) == 1
    assert files(md / ".lists" / "new") == []


def test_loop(make_instance):
    inst = make_agent(make_instance)
    md = maildir_of(inst)
    looped = message(extra=b"Delivered-To:  ALICE@example.TEST \r\n")
    other = message(extra=b"Delivered-To: carol@example.test\r\n")
    in_body = message(body=b"Delivered-To: alice@example.test\r\n")
    with connect(inst) as c:
        qid, r = deliver(c, inst, looped, peer_id=1)
        assert (r.get("status"), r.get("dsn")) == ("bounce", "5.4.6"), r
        assert r.get("text") == f"mail forwarding loop for {ALICE}"
        assert files(md / "new") == []
        _, r = deliver(c, inst, other, peer_id=2)
        assert r.get("status") == "ok", r
        _, r = deliver(c, inst, in_body, peer_id=3)
        assert r.get("status") == "ok", r
    assert files(md / "tmp") == []
    assert len(files(md / "new")) == 2
    inst.wait_log(rf"{qid}: to=<{ALICE}>, .*dsn=5\.4\.6, status=bounced")


def quota_case(inst, bounce):
    md = maildir_of(inst)
    msg = message(body=b"x" * 300 + b"\r\n")
    size = len(expected(msg))
    with connect(inst) as c:
        # Exactly at the quota: delivered.
        _, r = deliver(c, inst, msg, quota=size, peer_id=1)
        assert r.get("status") == "ok", r
        assert (md / "maildirsize").read_text() == f"{size}S\n0 0\n{size} 1\n"
        # One byte more than fits.
        _, r = deliver(c, inst, message(body=b""), quota=size, peer_id=2)
        status = ("bounce", "5.2.2") if bounce else ("defer", "4.2.2")
        assert (r.get("status"), r.get("dsn")) == status, r
        assert r.get("text") == "mailbox full"
        assert len(files(md / "new")) == 1
        assert files(md / "tmp") == []
        # No quota: delivered, and counted.
        _, r = deliver(c, inst, msg, quota=0, peer_id=3)
        assert r.get("status") == "ok", r
        assert (md / "maildirsize").read_text().endswith(f"{size} 1\n{size} 1\n")
        # A larger quota: the file is recalculated from the messages.
        _, r = deliver(c, inst, msg, quota=10 * size, peer_id=4)
        assert r.get("status") == "ok", r
        text = (md / "maildirsize").read_text()
        assert text == f"{10 * size}S\n{2 * size} 2\n{size} 1\n", text
    return size


def test_quota_defer(make_instance):
    inst = make_agent(make_instance)
    quota_case(inst, bounce=False)
    inst.wait_log(r"dsn=4\.2\.2, status=deferred \(mailbox full")


def test_quota_bounce(make_instance):
    inst = make_agent(make_instance, extra=["delivery_quota_bounce = yes"])
    quota_case(inst, bounce=True)
    inst.wait_log(r"dsn=5\.2\.2, status=bounced \(mailbox full")


def test_bad_paths(make_instance):
    inst = make_agent(make_instance)
    outside = inst.root / "outside"
    bad = [
        "/etc/postern-test/Maildir",
        f"{inst.mail}/a/../../outside",
        f"{inst.mail}//a/Maildir",
        f"{inst.mail}/a/./Maildir",
        f"{inst.mail}",
        f"{inst.mail}x/Maildir",
        "relative/Maildir",
    ]
    with connect(inst) as c:
        for i, p in enumerate(bad):
            _, r = deliver(c, inst, message(), maildir=p, peer_id=i + 1)
            assert (r.get("status"), r.get("dsn"), r.get("text")) == \
                ("bounce", "5.3.5", "bad mailbox path"), (p, r)
        # A symbolic link inside mail_directory is not followed.
        outside.mkdir()
        (inst.mail / "link").symlink_to(outside)
        _, r = deliver(c, inst, message(), maildir=inst.mail / "link" / "M",
                       peer_id=50)
        assert (r.get("status"), r.get("dsn")) == ("defer", "4.3.0"), r
    assert list(outside.iterdir()) == []
    assert not (inst.root / "etc" / "postern-test").exists()


def test_malformed_requests(make_instance):
    inst = make_agent(make_instance)
    msg = message()
    with connect(inst) as c:
        cases = [
            dict(drop=("id",)),
            dict(drop=("user",)),
            dict(drop=("offset",)),
            dict(user="", rcpt=ALICE),
            dict(user="a\tb@example.test", rcpt=ALICE),
            dict(rcpt="x\x7fy@example.test"),
            dict(sender="x" * 1025),
            dict(qf=("not-an-id", *queue_file(inst, msg)[1:])),
        ]
        for i, kw in enumerate(cases):
            _, r = deliver(c, inst, msg, peer_id=i + 1, **kw)
            assert (r.get("status"), r.get("dsn")) == ("defer", "4.3.0"), \
                (kw, r)
            assert r.get("text").startswith("malformed delivery request"), r
        # The longest sender is fine.
        sender = "s" * 1012 + "@remote.test"
        assert len(sender) == 1024
        _, r = deliver(c, inst, msg, peer_id=40, sender=sender)
        assert r.get("status") == "ok", r
        # Without a descriptor.
        qid, path, off, length = queue_file(inst, msg)
        c.send(ipc.DELIVER, [("id", qid), ("sender", ""), ("rcpt", ALICE),
                             ("user", ALICE),
                             ("maildir", str(maildir_of(inst))),
                             ("quota", 0), ("folder", ""), ("offset", off),
                             ("length", length), ("arrival", 0)],
               peer_id=41)
        r = c.recv(SLOW)
        assert (r.type, r.peer_id, r.get("status")) == \
            (ipc.DELIVER_RESULT, 41, "defer"), r
        # A length past the end of the file.
        _, r = deliver(c, inst, msg, peer_id=42,
                       qf=(new_qid(inst), path, off, length + 100))
        assert (r.get("status"), r.get("dsn")) == ("defer", "4.3.0"), r
        # Another message type: IPC_ERROR, the connection stays.
        r = c.request(ipc.USER_LOOKUP, {"user": ALICE}, peer_id=43)
        assert r.type == ipc.ERROR, r
        _, r = deliver(c, inst, msg, peer_id=44)
        assert r.get("status") == "ok", r
    md = maildir_of(inst)
    assert len(files(md / "new")) == 2
    assert files(md / "tmp") == []
    # No HELLO first: refused and closed.
    raw = AgentClient(inst.spool / "private" / "local", hello=False,
                      timeout=SLOW)
    with raw:
        r = raw.request(ipc.DELIVER, {"id": "x"}, peer_id=1)
        assert r.type == ipc.ERROR
        assert raw.at_eof(SLOW)


def test_fifty_at_once(make_instance):
    inst = make_agent(make_instance)
    md = maildir_of(inst)
    msgs = {}
    with connect(inst) as c:
        for i in range(50):
            msg = message(f"number {i}", body=(b"%d\r\n" % i) * 100)
            msgs[1000 + i] = msg
            send_deliver(c, inst, msg, peer_id=1000 + i)
        got = {}
        for _ in range(50):
            r = c.recv(SLOW)
            assert r.type == ipc.DELIVER_RESULT
            assert r.peer_id not in got
            got[r.peer_id] = r
    assert set(got) == set(msgs)
    assert all(r.get("status") == "ok" for r in got.values())
    names = files(md / "new")
    assert len(names) == 50
    contents = {expected(m) for m in msgs.values()}
    for n in names:
        data = (md / "new" / n).read_bytes()
        assert data in contents
        contents.discard(data)
        assert int(NAME_RX.match(n).group(5)) == len(data)
    assert not contents
    assert files(md / "tmp") == []


def test_five_mib(make_instance):
    inst = make_agent(make_instance)
    md = maildir_of(inst)
    line = b"0123456789" * 7 + b"ABCD\r\n"
    body = line * (5 * 1024 * 1024 // len(line) + 1)
    msg = message("big", body=body)
    assert len(msg) > 5 * 1024 * 1024
    with connect(inst) as c:
        _, r = deliver(c, inst, msg)
    assert r.get("status") == "ok", r
    names = files(md / "new")
    assert len(names) == 1
    check_file(md / "new", names[0], expected(msg))


def test_unwritable_maildir(make_instance):
    inst = make_agent(make_instance)
    md = maildir_of(inst)
    msg = message()
    with connect(inst) as c:
        _, r = deliver(c, inst, msg, peer_id=1)
        assert r.get("status") == "ok", r
        before = files(md / "new")
        # new/ read-only: written in tmp/, the rename fails, tmp/ is cleaned.
        os.chmod(md / "new", 0o500)
        try:
            qid, r = deliver(c, inst, msg, peer_id=2)
        finally:
            os.chmod(md / "new", 0o700)
        assert (r.get("status"), r.get("dsn")) == ("defer", "4.3.0"), r
        assert r.get("text") == "Permission denied"
        assert files(md / "new") == before
        assert files(md / "tmp") == []
        inst.wait_log(rf"{qid}: .*status=deferred \(Permission denied: rename ")
        # tmp/ read-only: nothing can be written.
        os.chmod(md / "tmp", 0o500)
        try:
            _, r = deliver(c, inst, msg, peer_id=3)
        finally:
            os.chmod(md / "tmp", 0o700)
        assert (r.get("status"), r.get("dsn")) == ("defer", "4.3.0"), r
        assert files(md / "new") == before
        assert files(md / "tmp") == []
        # A Maildir that cannot be created.
        os.chmod(inst.mail, 0o500)
        try:
            _, r = deliver(c, inst, msg, peer_id=4, user="dave@other.test")
        finally:
            os.chmod(inst.mail, 0o700)
        assert (r.get("status"), r.get("dsn")) == ("defer", "4.3.0"), r
        assert not (inst.mail / "other.test").exists()


def test_kill_mid_burst(make_instance):
    inst = make_agent(make_instance)
    md = maildir_of(inst)
    pids = ph.wait_for(lambda: agent_pids(inst), ph.START_TIMEOUT,
                       "the delivery agent process")
    msgs = {}
    c = connect(inst)
    try:
        for i in range(60):
            msg = message(f"burst {i}", body=(b"burst %d\r\n" % i) * 20000)
            msgs[i + 1] = msg
            send_deliver(c, inst, msg, peer_id=i + 1)
        answered = set()
        for _ in range(3):
            r = c.recv(SLOW)
            answered.add(r.peer_id)
        os.kill(pids[0], signal.SIGKILL)
        try:
            while True:
                r = c.recv(SLOW)
                answered.add(r.peer_id)
        except (ConnectionError, OSError):
            pass
    finally:
        c.close()
    assert len(answered) < 60
    # The master starts another agent; it answers again.
    ph.wait_for(lambda: [p for p in agent_pids(inst) if p not in pids],
                ph.START_TIMEOUT + 5, "a new delivery agent")
    ph.wait_for(lambda: _hello_ok(inst), ph.START_TIMEOUT,
                "the delivery agent's socket after the restart")
    # Every file in new/ is one whole message.
    contents = {expected(m) for m in msgs.values()}
    names = files(md / "new")
    assert len(names) >= len(answered)
    for n in names:
        data = (md / "new" / n).read_bytes()
        assert data in contents, n
        assert int(NAME_RX.match(n).group(5)) == len(data)
    # The queue manager tries the unanswered ones again.
    with connect(inst) as c:
        for pid in sorted(set(msgs) - answered):
            _, r = deliver(c, inst, msgs[pid], peer_id=pid)
            assert r.get("status") == "ok", r
    delivered = [(md / "new" / n).read_bytes() for n in files(md / "new")]
    assert {expected(m) for m in msgs.values()} <= set(delivered)
