# SPDX-License-Identifier: ISC
"""Unix accounts as mailbox owners (system_account_domains): mail for
USER@sys.test lands in ~USER/Maildir, written with USER's uid and gid by
a delivery agent that kept exactly CAP_SETUID and CAP_SETGID; root and
unknown accounts are refused at RCPT; without the setting the agent keeps
no capability.  Root only: the test makes two Unix accounts with useradd
(homes in the test's folder) and removes them with userdel.  See
postern-delivery-agent(8) and postern-authd(8)."""

import os
import pwd
import smtplib
import stat
import subprocess
import time

import pytest

import postern_harness as ph
import postern_ipc as ipc
import test_delivery_agent as da
from test_queue import build, finish, queue_empty

pytestmark = pytest.mark.skipif(not ph.is_root(), reason="needs root (useradd, capabilities)")

SYS = "sys.test"
CAPS_SETID = (1 << 6) | (1 << 7)      # CAP_SETGID | CAP_SETUID


def agent_pid(inst):
    def find():
        for p in inst.children():
            if any("postern-delivery-agent" in a for a in ph.proc_cmdline(p)):
                return p
        return None
    return ph.wait_for(find, ph.START_TIMEOUT, "the delivery agent")


def caps(pid):
    st = ph.proc_status(pid)
    return int(st["CapEff"], 16), int(st["CapPrm"], 16), int(st["CapInh"], 16)


class Accounts:
    """Unix accounts with homes below base, removed by remove()."""

    def __init__(self, base):
        self.base = base
        self.names = []

    def add(self, suffix):
        name = f"pst{os.getpid() % 100000}{suffix}"
        home = self.base / name
        r = subprocess.run(["useradd", "-m", "-d", str(home), "-s", "/usr/sbin/nologin",
                            "-U", name], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.names.append(name)
        return pwd.getpwnam(name)

    def remove(self):
        for name in self.names:
            subprocess.run(["userdel", "-r", "-f", name], capture_output=True, timeout=30)
        self.names = []


@pytest.fixture
def sysinst(tmp_path, tmp_path_factory):
    homes = tmp_path / "homes"
    homes.mkdir()
    homes.chmod(0o755)
    accts = Accounts(homes)
    inst = None
    try:
        users = [accts.add("a"), accts.add("b")]
        inst = build(tmp_path / "i", tmp_path_factory.getbasetemp().parent,
                     extra=[f"system_account_domains = {SYS}"])
        # build() opened the chain from the instance up: the homes too.
        tmp_path.chmod(tmp_path.stat().st_mode | 0o011)
        yield inst, users
    finally:
        try:
            if inst is not None:
                finish(inst)
        finally:
            accts.remove()


def new_files(pw):
    d = os.path.join(pw.pw_dir, "Maildir", "new")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_delivery_as_the_account(sysinst):
    inst, (a, b) = sysinst
    with smtplib.SMTP("127.0.0.1", inst.port, "client.test", timeout=10) as c:
        c.sendmail("carol@remote.test", [f"{a.pw_name}@{SYS}", f"{b.pw_name}+x@{SYS}"],
                   b"Subject: sys\r\n\r\nhello Unix\r\n")
    for pw in (a, b):
        ph.wait_for(lambda: len(new_files(pw)) == 1, 30, f"mail for {pw.pw_name}")
        maildir = os.path.join(pw.pw_dir, "Maildir")
        for d in (maildir, maildir + "/new", maildir + "/cur", maildir + "/tmp"):
            st = os.stat(d)
            assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), d
            assert stat.S_IMODE(st.st_mode) == 0o700, d
        [name] = new_files(pw)
        path = os.path.join(maildir, "new", name)
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
        assert stat.S_IMODE(st.st_mode) == 0o600
        data = open(path, "rb").read()
        assert data.startswith(b"Return-Path: <carol@remote.test>\nDelivered-To: "
                               + f"{pw.pw_name}@{SYS}".encode() + b"\n")
        assert data.endswith(b"hello Unix\n")
    ph.wait_for(lambda: queue_empty(inst), 20, "the queue to empty")
    inst.wait_log(rf"to=<{a.pw_name}@{SYS}>, maildir=.*, uid={a.pw_uid}, gid={a.pw_gid}")
    inst.wait_log(rf"to=<{a.pw_name}@{SYS}>, relay=local, .*status=sent")
    # The agent holds exactly CAP_SETUID and CAP_SETGID, and is not root.
    pid = agent_pid(inst)
    assert caps(pid) == (CAPS_SETID, CAPS_SETID, 0)
    st = ph.proc_status(pid)
    assert st["Uid"].split()[:3] == [str(pwd.getpwnam("nobody").pw_uid)] * 3
    assert st["NoNewPrivs"] == "1"
    # The sync thread gave the account's ids back: every thread's fs ids.
    for tid in os.listdir(f"/proc/{pid}/task"):
        tst = ph.proc_status(f"{pid}/task/{tid}")
        assert tst["Uid"].split()[3] == st["Uid"].split()[0], tid
        assert tst["Gid"].split()[3] == st["Gid"].split()[0], tid


def test_root_and_unknown_refused(sysinst):
    inst, (a, _) = sysinst
    with smtplib.SMTP("127.0.0.1", inst.port, "client.test", timeout=10) as c:
        c.ehlo()
        assert c.mail("carol@remote.test")[0] == 250
        code, msg = c.rcpt(f"root@{SYS}")
        assert code == 550 and msg.startswith(b"5.1.1"), (code, msg)
        code, msg = c.rcpt(f"{a.pw_name}zz-nosuch@{SYS}")
        assert code == 550 and msg.startswith(b"5.1.1"), (code, msg)
        # Not a name getpwnam is asked about.
        code, msg = c.rcpt(f"-{a.pw_name}@{SYS}")
        assert code == 550 and msg.startswith(b"5.1.1"), (code, msg)
        assert c.rcpt(f"{a.pw_name}@{SYS}")[0] == 250
        c.rset()
    inst.wait_log(r"root@sys\.test>: Unix account root has uid 0: not a mailbox owner")
    # The Unix account is not a login: it has no password here.
    with smtplib.SMTP("127.0.0.1", inst.port, "client.test", timeout=10) as c:
        c.ehlo()
        assert c.mail("carol@remote.test")[0] == 250
        assert c.rcpt(f"{a.pw_name}@example.test")[0] == 550


def test_no_capabilities_without_the_setting(tmp_path, tmp_path_factory):
    inst = build(tmp_path / "off", tmp_path_factory.getbasetemp().parent)
    try:
        pid = agent_pid(inst)
        assert caps(pid) == (0, 0, 0)
        assert ph.proc_status(pid)["NoNewPrivs"] == "1"
    finally:
        finish(inst)


# ---- the delivery agent alone: requests with uid and gid ----------------

def agent_only(make_instance, user="nobody", extra=()):
    """Like test_delivery_agent.make_agent, with the agent's user given."""
    settings = {"program": "postern-delivery-agent",
                "listen": "local=private/local", "chroot": "no", "user": user}
    inst = make_instance(services={"delivery-agent": settings})
    inst.mail = inst.root / "vmail"
    inst.mail.mkdir(mode=0o700)
    inst.queue = inst.root / "q"
    inst.queue.mkdir()
    inst.queue.chmod(0o755)
    pw = pwd.getpwnam(user)
    os.chown(inst.mail, pw.pw_uid, pw.pw_gid)
    inst.extra = [f"mail_directory = {inst.mail}", f"myhostname = {da.HOST}",
                  "delivery_sync_threads = 4"] + list(extra)
    inst.write_config()
    inst.start(wait=False)
    ph.wait_for(lambda: inst.ctl.exists() and inst.read_pidfile() == inst.master_pid,
                ph.START_TIMEOUT, "the master")
    ph.wait_for(lambda: da._hello_ok(inst), ph.START_TIMEOUT, "the delivery agent's socket")
    inst.seq = 0
    return inst


def deliver_as(inst, c, user, maildir, ids, peer_id=1):
    """One IPC_DELIVER with ids [(name, value)]; returns the result's fields."""
    msg = da.message()
    qid, path, offset, length = da.queue_file(inst, msg)
    fields = [("id", qid), ("sender", da.SENDER), ("rcpt", user), ("user", user),
              ("maildir", str(maildir)), ("quota", 0), ("folder", ""),
              ("offset", offset), ("length", length),
              ("arrival", int(time.time()) - 2)] + list(ids)
    fd = os.open(path, os.O_RDONLY)
    try:
        c.send_fd(ipc.DELIVER, fields, peer_id, fd)
    finally:
        os.close(fd)
    r = c.recv(da.SLOW)
    assert r.type == ipc.DELIVER_RESULT and r.peer_id == peer_id, r
    return r.get("status"), r.get("dsn"), r.get("text")


@pytest.fixture
def accounts(tmp_path):
    homes = tmp_path / "homes"
    homes.mkdir()
    homes.chmod(0o755)
    tmp_path.chmod(tmp_path.stat().st_mode | 0o011)
    accts = Accounts(homes)
    try:
        yield accts.add("c"), accts.add("d")
    finally:
        accts.remove()


def test_agent_checks_the_request(make_instance, accounts):
    a, b = accounts
    inst = agent_only(make_instance, extra=[f"system_account_domains = {SYS}"])
    ma = os.path.join(a.pw_dir, "Maildir")
    ids_a = [("uid", a.pw_uid), ("gid", a.pw_gid)]
    with da.connect(inst) as c:
        assert deliver_as(inst, c, "x@sys.test", ma, ids_a) == \
            ("ok", "2.0.0", "delivered to maildir")
        assert len(new_files(a)) == 1
        # Root never, whatever the path.
        assert deliver_as(inst, c, "x@sys.test", "/root/Maildir",
                          [("uid", 0), ("gid", 0)])[:2] == ("bounce", "5.7.1")
        assert deliver_as(inst, c, "x@sys.test", ma,
                          [("uid", a.pw_uid), ("gid", 0)])[:2] == ("bounce", "5.7.1")
        # The path must be below the account's own home, not another's.
        assert deliver_as(inst, c, "x@sys.test", os.path.join(b.pw_dir, "Maildir"),
                          ids_a)[:2] == ("bounce", "5.3.5")
        assert deliver_as(inst, c, "x@sys.test", str(inst.mail / "x"),
                          ids_a)[:2] == ("bounce", "5.3.5")
        assert deliver_as(inst, c, "x@sys.test", ma + "/../../" + b.pw_name + "/Maildir",
                          ids_a)[:2] == ("bounce", "5.3.5")
        # The request's gid is not the account's.
        assert deliver_as(inst, c, "x@sys.test", ma,
                          [("uid", a.pw_uid), ("gid", b.pw_gid)]) == \
            ("defer", "4.3.0", "account changed")
        # No such account.
        assert deliver_as(inst, c, "x@sys.test", ma,
                          [("uid", 3999999), ("gid", 3999999)])[:2] == ("bounce", "5.1.1")
        # One without the other, or out of range: malformed.
        assert deliver_as(inst, c, "x@sys.test", ma, [("uid", a.pw_uid)])[:2] == \
            ("defer", "4.3.0")
        assert deliver_as(inst, c, "x@sys.test", ma,
                          [("uid", 2**32 - 1), ("gid", a.pw_gid)])[:2] == ("defer", "4.3.0")
    assert not os.path.exists(os.path.join(b.pw_dir, "Maildir"))
    assert len(new_files(a)) == 1
    inst.wait_log(r"status=bounced \(delivery as root refused: uid 0, gid 0")


def test_agent_without_capabilities(make_instance, accounts):
    """Feature off: no capabilities; another uid defers, the agent's own
    uid is delivered as usual."""
    a, b = accounts
    inst = agent_only(make_instance, user=a.pw_name)
    pid = agent_pid(inst)
    assert caps(pid) == (0, 0, 0)
    with da.connect(inst) as c:
        status, dsn, text = deliver_as(inst, c, "x@sys.test",
                                       os.path.join(b.pw_dir, "Maildir"),
                                       [("uid", b.pw_uid), ("gid", b.pw_gid)])
        assert (status, dsn, text) == ("defer", "4.3.0", "cannot deliver as a Unix account")
        assert deliver_as(inst, c, "x@sys.test", os.path.join(a.pw_dir, "Maildir"),
                          [("uid", a.pw_uid), ("gid", a.pw_gid)])[:2] == ("ok", "2.0.0")
    assert len(new_files(a)) == 1 and len(new_files(b)) == 0
    inst.wait_log(r"lacks CAP_SETUID/CAP_SETGID")
