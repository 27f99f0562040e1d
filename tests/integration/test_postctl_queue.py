# SPDX-License-Identifier: ISC
"""postctl queue against a real instance: list (the mailq format), show,
hold, release, delete, requeue and flush, for one ID and for ALL, while
postern runs (the queue manager does the work over private/qmgr) and
while it is stopped (postctl works on the files); bad and unknown IDs; a
garbage IPC_QMGR_CTL from a raw client; an active message held or
deleted when its attempt ends (a fake delivery agent keeps it active);
and the delay warning of queue_delay_warning (one RFC 3464 report with
Action: delayed, exactly one across retries and restarts, none for
NOTIFY=NEVER or the null sender).  See postctl(8) and
postern-queue-manager(8).

Messages stay deferred easily: recipients in a domain that is not ours
are deferred 4.3.0 (no transfer agent runs in these instances)."""

import email
import email.policy
import os
import pwd
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import time

import pytest

import postern_harness as ph
import postern_ipc as ipc
from test_queue import build as queue_build, finish, start_instance, stop_instance  # noqa: F401
from test_smtpd import HOST, USERS, postctl_in, smtp_ready  # noqa: F401

ID_RX = r"[0-9A-F]{13}[0-9A-V]{5}"
HEADER = ("-Queue ID---------  --Size-- ----Arrival Time----  "
          "-Sender/Recipient-------")
INDENT = " " * 51
# The transfer agent is not started in these instances: remote mail waits.
REMOTE_REASON = "(deferred: 4.3.0 transfer agent unavailable)"


def build(root, top, extra=(), agent=True, start=True):
    """An instance with smtpd, authd, the queue manager and (unless agent
    is False) the delivery agent, users alice and bob of example.test."""
    return queue_build(root, top, extra=extra, agent=agent, start=start)


def send(inst, sender, rcpts, body=b"Subject: test\r\n\r\nbody\r\n",
         rcpt_options=()):
    """Sends one message; returns its queue ID."""
    with smtplib.SMTP("127.0.0.1", inst.port, HOST, timeout=10) as c:
        c.ehlo("client.example")
        code, text = c.mail(sender)
        assert code == 250, text
        for r in rcpts:
            code, text = c.rcpt(r, options=list(rcpt_options))
            assert code == 250, (r, text)
        code, text = c.data(body)
        assert code == 250, text
    m = re.fullmatch(rb"2\.0\.0 Ok: queued as (" + ID_RX.encode() + rb")", text)
    assert m, text
    return m.group(1).decode()


def where(inst, qid):
    """The folder that holds qid, or None."""
    for d in ("incoming", "active", "deferred", "hold", "maildrop"):
        if (inst.spool / d / qid).exists():
            return d
    return None


def wait_where(inst, qid, folder, timeout=15):
    ph.wait_for(lambda: where(inst, qid) == folder, timeout,
                f"{qid} in {folder}/ (it is in {where(inst, qid)}/)")


def attempts(inst, qid):
    """How many attempts of qid the log shows (one deferral line each)."""
    return len(re.findall(rf"{qid}: to=<[^>]*>, relay=none, delay=\d+\.\d\d, "
                          r"dsn=4\.3\.0, status=deferred", inst.log_text()))


def deferred(inst, sender="carol@remote.test", rcpts=("dave@far.test",), **kw):
    qid = send(inst, sender, list(rcpts), **kw)
    wait_where(inst, qid, "deferred")
    return qid


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def craft_qfile(sender, rcpts, message, arrival_usec):
    """A queue file (postern-queue(5)) made by hand, as a local user could
    put one into maildrop/."""
    def rec(kind, payload):
        return kind + struct.pack(">I", len(payload)) + payload
    data = rec(b"V", struct.pack(">I", 1)) + rec(b"T", struct.pack(">Q", arrival_usec))
    data += rec(b"S", sender)
    for r in rcpts:
        data += rec(b"R", r)
    data += rec(b"M", message)
    return data + rec(b"E", struct.pack(">I", crc32c(data)))


def q(inst, *args):
    return inst.postctl("queue", *args)


def maildir_new(inst, user):
    local, domain = user.split("@")
    d = inst.mail / domain / local / "Maildir" / "new"
    return sorted(d.iterdir()) if d.is_dir() else []


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    # Long retries: what is deferred stays so unless postctl says otherwise.
    inst = build(tmp_path_factory.mktemp("pq"), tmp_path_factory.getbasetemp().parent,
                 extra=["queue_retry_min = 1h", "queue_retry_max = 2h"])
    yield inst
    finish(inst)


# ---- list and show -----------------------------------------------------------


def test_list_format(srv):
    qid = deferred(srv, rcpts=["dave@far.test", "erin@far.test"])
    bounce = deferred(srv, sender="", rcpts=["frank@far.test"])
    r = q(srv, "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == HEADER
    assert re.fullmatch(r"-- \d+ Kbytes in \d+ Requests?\.", lines[-1])
    total = sum(1 for line in lines if re.match(ID_RX, line))
    assert lines[-1].endswith(f" in {total} Request{'s' if total != 1 else ''}.")
    # The entry of qid: ID, size, arrival, sender; one reason line for
    # the two recipients, which line up under the sender; a blank line.
    i = next(n for n, line in enumerate(lines) if line.startswith(qid))
    m = re.fullmatch(rf"{qid} +(\d+) (\w{{3}} \w{{3}} [ \d]\d \d\d:\d\d:\d\d) +"
                     r"carol@remote\.test", lines[i])
    assert m, lines[i]
    assert lines[i].index("carol") == len(INDENT)
    size = int(m.group(1))
    assert lines[i + 1] == REMOTE_REASON
    assert lines[i + 2] == INDENT + "dave@far.test"
    assert lines[i + 3] == INDENT + "erin@far.test"
    assert lines[i + 4] == ""
    # The size is the message's, as show tells it.
    s = q(srv, "show", qid)
    assert f"\nsize: {size}\n" in s.stdout
    # The null sender is MAILER-DAEMON.
    j = next(n for n, line in enumerate(lines) if line.startswith(bounce))
    assert lines[j].endswith("  MAILER-DAEMON")
    # Sorted by ID, that is by arrival.
    ids = [line[:18] for line in lines if re.match(ID_RX, line)]
    assert ids == sorted(ids)


def test_list_marks_held(srv):
    qid = deferred(srv)
    assert q(srv, "hold", qid).returncode == 0
    lines = q(srv, "list").stdout.splitlines()
    [line] = [x for x in lines if x.startswith(qid)]
    assert line[18] == "!"
    assert q(srv, "release", qid).returncode == 0
    lines = q(srv, "list").stdout.splitlines()
    [line] = [x for x in lines if x.startswith(qid)]
    assert line[18] == " "


def test_show(srv):
    body = (b"From: carol@remote.test\r\nSubject: show me\r\n\r\n"
            b"first line\r\n.dot line\r\nlast line\r\n")
    qid = send(srv, "carol@remote.test", ["dave@far.test"], body,
               rcpt_options=["NOTIFY=DELAY,FAILURE", "ORCPT=rfc822;dave@far.test"])
    wait_where(srv, qid, "deferred")
    r = q(srv, "show", qid)
    assert r.returncode == 0, r.stderr
    head, _, message = r.stdout.partition("\n\n")
    fields = head.splitlines()
    assert fields[0] == f"id: {qid}"
    assert "queue: deferred" in fields
    assert "sender: <carol@remote.test>" in fields
    assert any(re.fullmatch(r"arrival: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", f)
               for f in fields)
    assert "client: unknown [127.0.0.1]" in fields
    assert "helo: client.example" in fields
    assert "protocol: ESMTP" in fields
    k = fields.index("recipient: <dave@far.test>")
    assert fields[k + 1] == "\tstate: deferred"
    assert re.fullmatch(r"\tnext-try: .*", fields[k + 2])
    assert fields[k + 3] == "\tdsn: 4.3.0"
    assert fields[k + 4].startswith("\ttext: transfer agent unavailable")
    assert fields[k + 5] == "\tnotify: FAILURE,DELAY"
    assert fields[k + 6] == "\torcpt: rfc822;dave@far.test"
    # Then the message as stored: our Received field, then what was sent.
    assert message.startswith("Received: from ")
    assert message.replace("\r\n", "\n").endswith(body.decode().replace("\r\n", "\n"))
    raw = (srv.spool / "deferred" / qid).read_bytes()
    assert message.encode() in raw


def test_bad_and_unknown_ids(srv):
    unknown = "0" * 13 + "00000"
    for args in (("show", "nonsense"), ("hold", "abc"), ("delete", "all"),
                 ("release",), ("requeue", unknown, unknown), ("frobnicate",),
                 ("list", "x"), ("show",), ("hold", unknown.lower() + "x"),
                 ("show", "0629A1B2C3D4E5F00W")):
        r = q(srv, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "usage: postctl queue" in r.stderr
    r = q(srv, "show", "X" * 18)
    assert r.returncode == 2 and "invalid queue ID" in r.stderr
    for verb in ("show", "hold", "release", "delete", "requeue", "flush"):
        r = q(srv, verb, unknown)
        assert r.returncode == 1, (verb, r.stdout, r.stderr)
        assert f"{unknown}: no such message in the queue" in r.stderr


def test_not_mail_owner(srv, tmp_path):
    """Only root and mail_owner may look.  As root, postctl runs as the
    user daemon; otherwise another mail_owner in a copy of the
    configuration makes the current user a stranger."""
    etc, prefix, owner = srv.etc, [], srv.mail_owner
    if ph.is_root():
        prefix = ["setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups"]
    else:
        etc = tmp_path / "etc"
        shutil.copytree(srv.etc, etc)
        text = (etc / "postern.conf").read_text()
        text = re.sub(r"(?m)^mail_owner = .*$", "mail_owner = root", text)
        (etc / "postern.conf").write_text(text)
        owner = "root"
    for args in (("list",), ("show", "0" * 18), ("hold", "ALL"), ("flush",)):
        r = subprocess.run(prefix + [str(ph.POSTCTL), "-c", str(etc), "queue"] +
                           list(args), capture_output=True, text=True,
                           env=srv.env(), timeout=30)
        assert r.returncode == 1, r
        assert "permission denied" in r.stderr and f"({owner})" in r.stderr, r.stderr
        assert r.stdout == ""


# ---- the verbs while postern runs -------------------------------------------------


def test_hold_and_release(srv):
    qid = deferred(srv)
    n = attempts(srv, qid)
    r = q(srv, "hold", qid)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "postctl: 1 message placed on hold\n"
    assert where(srv, qid) == "hold"
    srv.wait_log(rf"{qid}: placed on hold \(by postctl\)")
    # A flush does not touch it, nor does a second hold.
    assert q(srv, "flush").returncode == 0
    r = q(srv, "hold", qid)
    assert r.stdout == "postctl: 0 messages placed on hold\n"
    time.sleep(1.5)
    assert where(srv, qid) == "hold" and attempts(srv, qid) == n
    # Released: due now, so tried at once, and deferred again.
    r = q(srv, "release", qid)
    assert r.stdout == "postctl: 1 message released from hold\n"
    srv.wait_log(rf"{qid}: released from hold \(by postctl\)")
    ph.wait_for(lambda: attempts(srv, qid) == n + 1, 10, "another attempt")
    wait_where(srv, qid, "deferred")


def test_delete(srv):
    qid = deferred(srv, sender="alice@example.test")
    r = q(srv, "delete", qid)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "postctl: 1 message removed\n"
    assert where(srv, qid) is None
    srv.wait_log(rf"{qid}: removed \(by postctl\)")
    # Without a bounce: alice gets nothing.
    time.sleep(1)
    assert not re.search(rf"{qid}: sender non-delivery", srv.log_text())
    assert maildir_new(srv, "alice@example.test") == []
    assert q(srv, "show", qid).returncode == 1


def test_requeue(srv):
    qid = deferred(srv)
    n = attempts(srv, qid)
    r = q(srv, "requeue", qid)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "postctl: 1 message requeued\n"
    ph.wait_for(lambda: attempts(srv, qid) == n + 1, 10, "the requeued attempt")
    srv.wait_log(rf"{qid}: requeued \(by postctl\)")
    wait_where(srv, qid, "deferred")
    # A held message is released by requeue.
    assert q(srv, "hold", qid).returncode == 0
    r = q(srv, "requeue", qid)
    assert r.stdout == "postctl: 1 message requeued\n"
    ph.wait_for(lambda: attempts(srv, qid) == n + 2, 10, "the second attempt")
    wait_where(srv, qid, "deferred")


def test_flush(srv):
    a = deferred(srv)
    b = deferred(srv, rcpts=["gina@far.test"])
    na, nb = attempts(srv, a), attempts(srv, b)
    r = q(srv, "flush")
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"postctl: (\d+) messages? flushed\n", r.stdout)
    assert m and int(m.group(1)) >= 2, r.stdout
    ph.wait_for(lambda: attempts(srv, a) == na + 1 and attempts(srv, b) == nb + 1,
                10, "both tried again")
    srv.wait_log(rf"{a}: flushed \(by postctl\)")
    # flush ID: that one only.
    wait_where(srv, a, "deferred")
    wait_where(srv, b, "deferred")
    r = q(srv, "flush", a)
    assert r.stdout == "postctl: 1 message flushed\n"
    ph.wait_for(lambda: attempts(srv, a) == na + 2, 10, "a tried again")
    time.sleep(1)
    assert attempts(srv, b) == nb + 1


def test_all_verbs(srv):
    ids = [deferred(srv) for _ in range(3)]
    r = q(srv, "hold", "ALL")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"postctl: \d+ messages placed on hold\n", r.stdout)
    for qid in ids:
        assert where(srv, qid) == "hold"
    listing = q(srv, "list").stdout
    assert all(line[18] == "!" for line in listing.splitlines() if re.match(ID_RX, line))
    r = q(srv, "release", "ALL")
    assert re.fullmatch(r"postctl: \d+ messages released from hold\n", r.stdout)
    for qid in ids:
        wait_where(srv, qid, "deferred")
    r = q(srv, "requeue", "ALL")
    assert r.returncode == 0 and "requeued" in r.stdout
    for qid in ids:
        wait_where(srv, qid, "deferred")
    r = q(srv, "delete", "ALL")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"postctl: \d+ messages removed\n", r.stdout)
    r = q(srv, "list")
    assert r.stdout == "Mail queue is empty\n"
    for qid in ids:
        assert where(srv, qid) is None


def test_garbage_control_request(srv):
    """Nonsense IPC_QMGR_CTL: IPC_ERROR, and the connection and the queue
    manager go on."""
    sock = srv.spool / "private" / "qmgr"
    pid = qmgr_pid(srv)
    with ipc.IpcClient(sock, program="postctl") as c:
        bad = [
            {},
            {"verb": "explode"},
            {"verb": "HOLD"},
            {"verb": "hold", "id": "../../etc/passwd"},
            {"verb": "hold", "id": "0" * 17},
            {"verb": "delete", "id": "0" * 19},
            {"verb": "delete", "id": b"0000000000000\x0000000"},
            {"verb": b"hold\x01"},
            {"verb": "x" * 5000},
            {"verb": "requeue", "id": "0" * 18},
        ]
        for fields in bad:
            r = c.request(ipc.QMGR_CTL, fields, peer_id=7)
            assert r.type == ipc.ERROR, (fields, r)
            assert r.peer_id == 7
            assert r.get("text")
        r = c.request(ipc.QMGR_CTL, {"verb": "flush"}, peer_id=8)
        assert r.type == ipc.OK and r.peer_id == 8, r
        assert "flushed" in r.get("text")
    # Without HELLO: refused and closed.
    with ipc.IpcClient(sock, hello=False) as c:
        r = c.request(ipc.QMGR_CTL, {"verb": "delete"})
        assert r.type == ipc.ERROR
        assert c.at_eof(5)
    assert qmgr_pid(srv) == pid
    assert q(srv, "list").returncode == 0


def qmgr_pid(inst):
    for pid in inst.children():
        if any(a.endswith("postern-queue-manager") for a in ph.proc_cmdline(pid)[:1]):
            return pid
    return None


# ---- while postern is stopped ---------------------------------------------------


def test_stopped(tmp_path, tmp_path_factory):
    inst = build(tmp_path / "s", tmp_path_factory.getbasetemp().parent,
                 extra=["queue_retry_min = 1h", "queue_retry_max = 2h"])
    try:
        assert q(inst, "list").stdout == "Mail queue is empty\n"
        a = deferred(inst)
        b = deferred(inst, rcpts=["erin@far.test"])
        c = deferred(inst, rcpts=["gina@far.test"])
        d = deferred(inst, rcpts=["hank@far.test"])
        running = q(inst, "list").stdout
        shown = q(inst, "show", a).stdout
        stop_instance(inst)
        assert not (inst.spool / "private" / "qmgr").exists() or \
            ph.port_refuses(inst.port)
        # list and show read the files: the same as while running.
        r = q(inst, "list")
        assert r.returncode == 0 and r.stdout == running
        assert q(inst, "show", a).stdout == shown
        # hold and release.
        r = q(inst, "hold", a)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("postctl: 1 message placed on hold "
                                   "(postern is not running")
        assert where(inst, a) == "hold"
        assert f"{a}! " in q(inst, "list").stdout
        assert re.search(rf"postctl\[\d+\]: {a}: placed on hold \(by postctl\)",
                         inst.log_text())
        r = q(inst, "release", a)
        assert r.returncode == 0 and "1 message released" in r.stdout
        assert where(inst, a) == "incoming"
        # delete.
        r = q(inst, "delete", b)
        assert r.returncode == 0 and "1 message removed" in r.stdout
        assert where(inst, b) is None
        assert re.search(rf"{b}: removed \(by postctl\)", inst.log_text())
        # requeue of a held one, flush of a deferred one.
        assert q(inst, "hold", c).returncode == 0
        r = q(inst, "requeue", c)
        assert r.returncode == 0 and "1 message requeued" in r.stdout
        assert where(inst, c) == "incoming"
        r = q(inst, "flush")
        assert r.returncode == 0 and "1 message flushed" in r.stdout
        assert where(inst, d) == "incoming"
        # Unknown IDs.
        r = q(inst, "hold", "0" * 18)
        assert r.returncode == 1 and "no such message" in r.stderr
        # ALL.
        r = q(inst, "hold", "ALL")
        assert r.returncode == 0 and "3 messages placed on hold" in r.stdout
        assert {where(inst, x) for x in (a, c, d)} == {"hold"}
        r = q(inst, "release", "ALL")
        assert "3 messages released" in r.stdout
        r = q(inst, "delete", d)
        assert r.returncode == 0
        # Started again: what is in incoming/ is tried at once.
        na, nc = attempts(inst, a), attempts(inst, c)
        start_instance(inst)
        ph.wait_for(lambda: attempts(inst, a) == na + 1 and attempts(inst, c) == nc + 1,
                    15, "the released messages tried")
        wait_where(inst, a, "deferred")
        wait_where(inst, c, "deferred")
        stop_instance(inst)
        r = q(inst, "delete", "ALL")
        assert r.returncode == 0 and "2 messages removed" in r.stdout
        assert q(inst, "list").stdout == "Mail queue is empty\n"
        # A file in maildrop/, not picked up yet, is listed too; what the
        # files hold is made safe for a terminal (a C1 control byte is an
        # escape on some), UTF-8 addresses stay readable.
        md = inst.spool / "maildrop"
        md.mkdir(exist_ok=True)
        mid = "0" * 13 + "00001"
        body = b"Subject: x\r\n\r\nx\r\n"
        (md / mid).write_bytes(craft_qfile(b"evil\x9b[2J@example.test",
                                           ["dävid@far.test".encode()], body,
                                           int(time.time() * 1e6)))
        r = q(inst, "list")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert re.fullmatch(rf"{mid}  +{len(body)} .*  evil\\x9B\[2J@example\.test",
                            lines[1]), lines
        assert lines[2] == "(pending: not tried yet)"
        assert lines[3] == INDENT + "dävid@far.test"
        assert lines[-1] == "-- 0 Kbytes in 1 Request."
        s = q(inst, "show", mid)
        assert "queue: maildrop\n" in s.stdout
        assert "sender: <evil\\x9B[2J@example.test>\n" in s.stdout
        assert s.stdout.endswith("\n\n" + body.decode())
        # The control verbs leave maildrop/ alone (pickup's folder).
        assert q(inst, "delete", mid).returncode == 1
        assert (md / mid).exists()
        os.unlink(md / mid)
    finally:
        finish(inst)


# ---- an active message: acted on when its attempt ends ----------------------------


class FakeAgent:
    """Listens on private/local in place of the delivery agent, answers
    HELLO, and keeps each IPC_DELIVER until told to answer it."""

    def __init__(self, path, owner):
        self.path = str(path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        if ph.is_root():
            os.chown(self.path, pwd.getpwnam(owner).pw_uid, -1)
        self.srv.listen(4)
        self.srv.settimeout(15)
        self.conn = None
        self.buf = b""

    def accept(self):
        self.conn, _ = self.srv.accept()
        self.conn.settimeout(15)

    def recv(self):
        while True:
            got = ipc.decode_frame(self.buf)
            if got is not None:
                msg, used = got
                self.buf = self.buf[used:]
                return msg
            # The queue file's descriptor comes along (SCM_RIGHTS).
            data, ancdata, _, _ = self.conn.recvmsg(65536, socket.CMSG_SPACE(16))
            for level, kind, fds in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    for i in range(len(fds) // 4):
                        os.close(struct.unpack_from("i", fds, 4 * i)[0])
            if not data:
                raise ConnectionError("the queue manager went away")
            self.buf += data

    def next_delivery(self):
        while True:
            m = self.recv()
            if m.type == ipc.HELLO:
                self.conn.sendall(ipc.encode_frame(ipc.OK, (), m.peer_id))
                continue
            assert m.type == ipc.DELIVER, m
            return m

    def answer(self, m, status="defer", dsn="4.2.0", text="fake agent says later"):
        self.conn.sendall(ipc.encode_frame(
            ipc.DELIVER_RESULT, {"status": status, "dsn": dsn, "text": text}, m.peer_id))

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.srv.close()


def test_active_message(tmp_path, tmp_path_factory):
    inst = build(tmp_path / "a", tmp_path_factory.getbasetemp().parent, agent=False,
                 extra=["queue_retry_min = 1h", "queue_retry_max = 2h"])
    agent = FakeAgent(inst.spool / "private" / "local", inst.mail_owner)
    try:
        qid = send(inst, "carol@remote.test", ["alice@example.test"])
        agent.accept()
        d = agent.next_delivery()
        assert d.get("id") == qid
        assert where(inst, qid) == "active"
        assert f"{qid}* " in q(inst, "list").stdout
        r = q(inst, "hold", qid)
        assert r.returncode == 0, r.stderr
        assert r.stdout == ("postctl: 0 messages placed on hold, 1 more when its "
                            "attempt ends\n")
        assert where(inst, qid) == "active"
        # release cancels it, hold again.
        r = q(inst, "release", qid)
        assert r.stdout == "postctl: 1 message released from hold\n"
        assert q(inst, "hold", qid).returncode == 0
        agent.answer(d)
        wait_where(inst, qid, "hold")
        inst.wait_log(rf"{qid}: to=<alice@example\.test>, relay=local, delay=\d+\.\d\d, "
                      r"dsn=4\.2\.0, status=deferred")
        inst.wait_log(rf"{qid}: placed on hold \(by postctl\)")
        # delete while active: removed when the attempt ends.
        qid2 = send(inst, "carol@remote.test", ["bob@example.test"])
        d = agent.next_delivery()
        assert d.get("id") == qid2
        r = q(inst, "delete", qid2)
        assert r.stdout == ("postctl: 0 messages removed, 1 more when its attempt "
                            "ends\n")
        agent.answer(d)
        ph.wait_for(lambda: where(inst, qid2) is None, 10, f"{qid2} removed")
        inst.wait_log(rf"{qid2}: removed \(by postctl\)")
        # requeue while active: tried again at once.
        r = q(inst, "requeue", qid)
        assert r.stdout == "postctl: 1 message requeued\n"
        d = agent.next_delivery()
        assert d.get("id") == qid
        assert q(inst, "requeue", qid).stdout == (
            "postctl: 0 messages requeued, 1 more when its attempt ends\n")
        agent.answer(d)
        d = agent.next_delivery()
        assert d.get("id") == qid
        agent.answer(d, status="ok", dsn="2.0.0", text="delivered")
        ph.wait_for(lambda: where(inst, qid) is None, 10, f"{qid} delivered")
    finally:
        agent.close()
        finish(inst)


# ---- delay warnings -----------------------------------------------------------------


def reports(inst, user):
    out = []
    for f in maildir_new(inst, user):
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        if msg.get_content_type() == "multipart/report":
            out.append(msg)
    return out


def test_delay_warning(tmp_path, tmp_path_factory):
    inst = build(tmp_path / "w", tmp_path_factory.getbasetemp().parent,
                 extra=["queue_delay_warning = 2s", "queue_retry_min = 1s",
                        "queue_retry_max = 1s"])
    try:
        warned = send(inst, "alice@example.test", ["dave@far.test"],
                      b"Subject: slow one\r\nMessage-ID: <slow@example.test>\r\n\r\nx\r\n")
        explicit = send(inst, "alice@example.test", ["erin@far.test"],
                        rcpt_options=["NOTIFY=DELAY"])
        never = send(inst, "bob@example.test", ["dave@far.test"],
                     rcpt_options=["NOTIFY=NEVER"])
        failure = send(inst, "bob@example.test", ["erin@far.test"],
                       rcpt_options=["NOTIFY=FAILURE"])
        null = send(inst, "", ["dave@far.test"])
        inst.wait_log(rf"{warned}: sender delay notification: {ID_RX}", timeout=20)
        inst.wait_log(rf"{explicit}: sender delay notification: {ID_RX}", timeout=20)
        ph.wait_for(lambda: len(reports(inst, "alice@example.test")) >= 2, 20,
                    "two reports for alice")
        # More attempts, then a restart of the queue manager, then more.
        for qid in (warned, never, null):
            n = attempts(inst, qid)
            ph.wait_for(lambda: attempts(inst, qid) >= n + 2, 20, f"{qid} retried")
        stop_instance(inst)
        start_instance(inst)
        n = attempts(inst, warned)
        ph.wait_for(lambda: attempts(inst, warned) >= n + 2, 20, "retries after the restart")
        log = inst.log_text()
        assert len(re.findall(rf"{warned}: sender delay notification", log)) == 1
        assert len(re.findall(rf"{explicit}: sender delay notification", log)) == 1
        for qid in (never, failure, null):
            assert f"{qid}: sender delay notification" not in log
        assert reports(inst, "bob@example.test") == []
        got = reports(inst, "alice@example.test")
        assert len(got) == 2
        for msg in got:
            assert msg["Return-Path"] == "<>"
            assert msg.get_param("report-type") == "delivery-status"
            parts = list(msg.iter_parts())
            assert parts[0].get_content_type() == "text/plain"
            assert parts[1].get_content_type() == "message/delivery-status"
            assert parts[2].get_content_type() == "text/rfc822-headers"
            status = parts[1].as_string()
            assert "Action: delayed" in status
            assert "Status: 4.3.0" in status
            assert "Will-Retry-Until: " in status
        statuses = " ".join(p.as_string() for m in got for p in m.iter_parts())
        assert "Final-Recipient: rfc822; dave@far.test" in statuses
        assert "Final-Recipient: rfc822; erin@far.test" in statuses
        assert "<slow@example.test>" in statuses
    finally:
        finish(inst)


def test_delay_warning_off_by_default(srv):
    """queue_delay_warning = 0: none, however old."""
    assert "sender delay notification" not in srv.log_text()
