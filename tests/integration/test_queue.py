# SPDX-License-Identifier: ISC
"""End to end through a real instance: smtpd accepts, the queue manager
schedules, the delivery agent writes into the Maildir.  Delivery,
aliases, sub-addressing, the bounce of a recipient that vanished after
acceptance (a valid RFC 3464 report), retries after a failed delivery,
expiry after queue_lifetime, and a SIGKILL of the queue manager and the
delivery agent in the middle of a burst.  See
man/postern-queue-manager.8."""

import email
import email.policy
import os
import pwd
import shutil
import subprocess
import threading
import time

import pytest

import postern_harness as ph
from test_smtpd import (HOST, USERS, Raw, client, postctl_in, service_user,  # noqa: F401
                        smtp_ready)


def queue_services(port, qmgr=True, agent=True, listen=None, relay=None):
    """smtpd on 127.0.0.1:port (or listen, "HOST:PORT"), authd, the queue
    manager and the delivery agent, unchrooted, as the current user (the
    agent as nobody when root); qmgr/agent False: configured but
    disabled.  relay True/False adds the transfer agent, on or off."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    listen = listen or f"127.0.0.1:{port}"
    services = {
        "smtpd": {"program": "postern-smtpd", "listen": f"smtp={listen}",
                  "chroot": "no"},
        "authd": {},
        "queue-manager": {"program": "postern-queue-manager",
                          "listen": "qmgr=private/qmgr", "chroot": "no",
                          "process_limit": "1"},
        "delivery-agent": {"program": "postern-delivery-agent",
                           "listen": "local=private/local", "chroot": "no"},
    }
    if relay is not None:
        services["transfer-agent"] = {
            "program": "postern-transfer-agent", "listen": "smtp=private/smtp",
            "chroot": "no", "process_limit": "1"}
    # Only a disabled service names enable, so a test may still append
    # "NAME.enable = no" to the file and reload.
    for name, on in (("queue-manager", qmgr), ("delivery-agent", agent),
                     ("transfer-agent", relay)):
        if on is False:
            services[name]["enable"] = "no"
    if not ph.is_root():
        for s in services.values():
            s["user"] = me
    else:
        # The built-in default is vmail; tests use the harness's owner.
        services["delivery-agent"]["user"] = "nobody"
    return services


def build(root, top, extra=(), qmgr=True, agent=True, start=True,
          hostname=HOST, domain="example.test"):
    """An instance with smtpd, authd, the queue manager and the delivery
    agent (qmgr/agent False: configured but disabled), the USERS of
    test_smtpd, the alias team@DOMAIN, started unless start is False.
    test_postctl_queue and test_sendmail build theirs with it too."""
    port = ph.free_port()
    mail = root / "mail"
    inst = ph.Instance(root, services=queue_services(port, qmgr, agent),
                       open_up_to=top)
    mail.mkdir(exist_ok=True)
    if ph.is_root():
        os.chown(mail, pwd.getpwnam(inst.mail_owner).pw_uid, -1)
    (inst.etc / "aliases").write_text(
        f"team@{domain}: alice@{domain}, bob@{domain}\n")
    inst.extra = [
        f"myhostname = {hostname}",
        f"mydomains = {domain}",
        "mynetworks = 127.0.0.1/32",
        "recipient_delimiter = +",
        f"mail_directory = {mail}",
        f"alias_maps = hash:{inst.etc}/aliases",
        "authd_failure_delay = 0",
        "smtpd_greet_pause = 0",
        "queue_scan_interval = 2s",
    ] + list(extra)
    inst.write_config()
    r = postctl_in(inst, "map", "build", f"hash:{inst.etc}/aliases")
    assert r.returncode == 0, r.stderr
    for address, password in USERS.items():
        r = postctl_in(inst, "user", "add", "--stdin", address, stdin=password + "\n")
        assert r.returncode == 0, r.stderr
    inst.port = port
    inst.mail = mail
    if start:
        start_instance(inst)
    return inst


def start_instance(inst):
    """Starts (again) and waits for smtpd, authd and the queue manager."""
    inst.proc = None
    inst.start(wait=False)
    sockets = ["auth"] + (["qmgr"] if inst.services["queue-manager"].get("enable") != "no" else [])
    try:
        ph.wait_for(lambda: smtp_ready(inst.port), ph.START_TIMEOUT, "smtpd")
        for name in sockets:
            ph.wait_for(lambda: (inst.spool / "private" / name).exists(),
                        ph.START_TIMEOUT, f"private/{name}")
    except BaseException:
        inst.teardown()
        raise


def stop_instance(inst):
    inst.stop()
    inst.master_pid = None
    inst.proc = None
    if getattr(inst, "master_out", None) is not None:
        inst.master_out.close()
        inst.master_out = None


def finish(inst):
    inst.teardown()
    reports = inst.sanitizer_reports()
    if reports:
        pytest.fail("sanitizer reports:\n" + "\n".join(reports), pytrace=False)


def maildir(inst, user, folder=""):
    local, domain = user.split("@")
    base = inst.mail / domain / local / "Maildir"
    return base / ("." + folder if folder else "") if folder else base


def new_files(inst, user, folder=""):
    d = maildir(inst, user, folder) / "new"
    return sorted(d.iterdir()) if d.is_dir() else []


def wait_files(inst, user, n, folder="", timeout=30):
    ph.wait_for(lambda: len(new_files(inst, user, folder)) >= n, timeout,
                f"{n} messages for {user} {folder}")
    return new_files(inst, user, folder)


def send(inst, sender, rcpts, body):
    with client_to(inst) as c:
        c.sendmail(sender, rcpts, body)


def client_to(inst):
    import smtplib
    return smtplib.SMTP("127.0.0.1", inst.port, HOST, timeout=10)


def queue_empty(inst):
    for d in ("incoming", "active", "deferred"):
        p = inst.spool / d
        if p.is_dir() and any(not n.name.startswith("tmp.") for n in p.iterdir()):
            return False
    return True


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    inst = build(tmp_path_factory.mktemp("queue"), tmp_path_factory.getbasetemp().parent)
    yield inst
    finish(inst)


def test_delivered_into_maildir(srv):
    body = (b"From: carol@remote.test\r\nTo: alice@example.test\r\n"
            b"Subject: hello\r\nMessage-ID: <m1@remote.test>\r\n\r\nline one\r\n"
            b".dot line\r\n")
    before = len(new_files(srv, "alice@example.test"))
    send(srv, "carol@remote.test", ["alice@example.test"], body)
    files = wait_files(srv, "alice@example.test", before + 1)
    data = files[-1].read_bytes()
    assert data.startswith(b"Return-Path: <carol@remote.test>\n"
                           b"Delivered-To: alice@example.test\n"
                           b"Received: from ")
    # The message as sent, with LF line ends, after our Received field.
    assert data.endswith(body.replace(b"\r\n", b"\n"))
    assert f",S={len(data)}".encode() in files[-1].name.encode()
    ph.wait_for(lambda: queue_empty(srv), 20, "the queue to empty")
    srv.wait_log(r"to=<alice@example\.test>, relay=local, .*status=sent")
    srv.wait_log(r": removed")


def test_alias_and_subaddress(srv):
    a0 = len(new_files(srv, "alice@example.test"))
    b0 = len(new_files(srv, "bob@example.test"))
    send(srv, "carol@remote.test", ["team@example.test"], b"Subject: team\r\n\r\nhi\r\n")
    wait_files(srv, "alice@example.test", a0 + 1)
    wait_files(srv, "bob@example.test", b0 + 1)
    # A folder that exists gets alice+lists@; a missing one means the inbox.
    lists = maildir(srv, "alice@example.test", "lists")
    for sub in ("cur", "new", "tmp"):
        (lists / sub).mkdir(parents=True, exist_ok=True)
    if ph.is_root():
        owner = pwd.getpwnam(srv.mail_owner).pw_uid
        for p in [lists] + [lists / s for s in ("cur", "new", "tmp")]:
            os.chown(p, owner, -1)
    send(srv, "carol@remote.test", ["alice+lists@example.test"], b"Subject: list\r\n\r\nx\r\n")
    wait_files(srv, "alice@example.test", 1, folder="lists")
    a1 = len(new_files(srv, "alice@example.test"))
    send(srv, "carol@remote.test", ["alice+nosuch@example.test"], b"Subject: n\r\n\r\nx\r\n")
    wait_files(srv, "alice@example.test", a1 + 1)


def test_many_messages(srv):
    before = len(new_files(srv, "bob@example.test"))
    with client_to(srv) as c:
        for i in range(200):
            c.sendmail("carol@remote.test", ["bob@example.test"],
                       f"Subject: n{i}\r\n\r\nbody {i}\r\n".encode())
    files = wait_files(srv, "bob@example.test", before + 200, timeout=60)
    subjects = {f.read_bytes().split(b"Subject: ")[1].split(b"\n")[0] for f in files}
    assert {f"n{i}".encode() for i in range(200)} <= subjects
    ph.wait_for(lambda: queue_empty(srv), 30, "the queue to empty")


def test_recycled_queue_files(tmp_path, tmp_path_factory):
    """Delivered queue files are kept emptied in recycle/ (at most
    queue_recycle_limit), and the next message's queue file is one of
    them: its ID names an inode that was in the pool before."""
    inst = build(tmp_path / "r", tmp_path_factory.getbasetemp().parent,
                 extra=("queue_recycle_limit = 5",))
    try:
        rdir = inst.spool / "recycle"
        before = len(new_files(inst, "bob@example.test"))
        with client_to(inst) as c:
            for i in range(20):
                c.sendmail("carol@remote.test", ["bob@example.test"],
                           f"Subject: r{i}\r\n\r\nbody {i}\r\n".encode())
        wait_files(inst, "bob@example.test", before + 20)
        ph.wait_for(lambda: queue_empty(inst), 20, "the queue to empty")
        ph.wait_for(lambda: len(list(rdir.iterdir())) > 0, 20, "recycled files")
        pool = {p.stat().st_ino: p.name for p in rdir.iterdir()}
        assert 1 <= len(pool) <= 5
        assert all((rdir / n).stat().st_size == 0 for n in pool.values())
        time.sleep(0.3)   # past smtpd's pause after an empty pool
        body = b"Subject: again\r\n\r\nthe recycled one\r\n"
        with client_to(inst) as c:
            c.ehlo()
            c.mail("carol@remote.test")
            c.rcpt("bob@example.test")
            code, msg = c.data(body)
        assert code == 250
        qid = msg.decode().rsplit(" ", 1)[1]
        files = wait_files(inst, "bob@example.test", before + 21)
        assert any(f.read_bytes().endswith(body.replace(b"\r\n", b"\n")) for f in files)
        ph.wait_for(lambda: (rdir / qid).exists(), 20, f"recycle/{qid}")
        assert (rdir / qid).stat().st_ino in pool
        assert len(list(rdir.iterdir())) <= 5
    finally:
        finish(inst)


def test_bounce_for_a_vanished_user(tmp_path, tmp_path_factory):
    """bob is deleted after his mail was accepted: the queue manager's
    lookup says unknown, and alice (the sender) gets an RFC 3464 report."""
    inst = build(tmp_path / "b", tmp_path_factory.getbasetemp().parent, qmgr=False)
    try:
        body = b"Subject: for bob\r\nMessage-ID: <orig@example.test>\r\n\r\nsecret\r\n"
        send(inst, "alice@example.test", ["bob@example.test"], body)
        r = postctl_in(inst, "user", "del", "bob@example.test")
        assert r.returncode == 0, r.stderr
        text = (inst.etc / "postern.conf").read_text().replace(
            "queue-manager.enable = no", "queue-manager.enable = yes")
        inst.write_config(text)
        assert inst.postctl("reload").returncode == 0
        [f] = wait_files(inst, "alice@example.test", 1, timeout=30)
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        assert msg["Return-Path"] == "<>"
        assert msg.get_content_type() == "multipart/report"
        assert msg.get_param("report-type") == "delivery-status"
        parts = list(msg.iter_parts())
        assert parts[1].get_content_type() == "message/delivery-status"
        status = parts[1].as_string()
        assert "Final-Recipient: rfc822; bob@example.test" in status
        assert "Action: failed" in status
        assert "Status: 5.1.1" in status
        assert b"secret" in f.read_bytes()
        ph.wait_for(lambda: queue_empty(inst), 20, "the queue to empty")
        inst.wait_log(r"sender non-delivery notification: [0-9A-V]{18}")
    finally:
        finish(inst)


def test_retry_then_expiry(tmp_path, tmp_path_factory):
    """The Maildir cannot be written: the delivery is deferred and retried
    (queue_retry_min); once writable it is delivered.  A second message
    that stays undeliverable past queue_lifetime bounces with 4.4.7."""
    inst = build(tmp_path / "r", tmp_path_factory.getbasetemp().parent,
                 extra=["queue_retry_min = 1s", "queue_retry_max = 2s",
                        "queue_lifetime = 15s"])
    try:
        domain = inst.mail / "example.test"
        domain.mkdir(exist_ok=True)
        if ph.is_root():
            os.chown(domain, 0, 0)        # nobody cannot write here
        domain.chmod(0o555)
        if not ph.is_root():
            pytest.skip("needs root: the test user could write anyway")
        send(inst, "carol@remote.test", ["bob@example.test"], b"Subject: retry\r\n\r\nx\r\n")
        inst.wait_log(r"to=<bob@example\.test>, .*status=deferred", timeout=20)
        ph.wait_for(lambda: any((inst.spool / "deferred").iterdir()), 10, "deferred/")
        os.chown(domain, pwd.getpwnam(inst.mail_owner).pw_uid, -1)
        domain.chmod(0o755)
        wait_files(inst, "bob@example.test", 1, timeout=20)
        ph.wait_for(lambda: queue_empty(inst), 20, "the queue to empty")
        # Now alice's mailbox is unwritable until the message expires.
        alice = domain / "alice"
        alice.mkdir(exist_ok=True)
        os.chown(alice, 0, 0)
        alice.chmod(0o555)
        send(inst, "carol@example.test", ["alice@example.test"], b"Subject: expire\r\n\r\nx\r\n")
        inst.wait_log(r"to=<alice@example\.test>.*status=deferred", timeout=20)
        inst.wait_log(r"sender non-delivery notification", timeout=40)
        # The bounce goes to carol@example.test, who is no user: it fails,
        # and a bounce from the null sender goes to the postmaster (alice,
        # unwritable) ... so only check the log and that the queue drains
        # once alice's mailbox is writable again.
        os.chown(alice, pwd.getpwnam(inst.mail_owner).pw_uid, -1)
        alice.chmod(0o755)
    finally:
        finish(inst)


def test_unfinished_queue_files(tmp_path, tmp_path_factory):
    """smtpd names the queue file at MAIL and holds its lock until the
    message is durable: the queue manager's scans leave a file being
    written alone (delivered once, after its 250), remove one whose
    session was killed mid-DATA (not delivered, not in corrupt/), and a
    transaction reset gives its file back to recycle/."""
    from test_smtpd import locked, smtpd_pids
    inst = build(tmp_path / "u", tmp_path_factory.getbasetemp().parent,
                 extra=("queue_recycle_limit = 5",))
    incoming = inst.spool / "incoming"
    try:
        r = Raw(inst.port)
        r.reply()
        r.cmd("EHLO client.example")
        assert r.cmd("MAIL FROM:<carol@remote.test>")[0] == 250
        [name] = os.listdir(incoming)
        assert locked(incoming / name)
        assert r.cmd("RCPT TO:<bob@example.test>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(b"Subject: slow\r\n\r\nfirst half\r\n")
        time.sleep(4.5)            # two scans of incoming/
        assert os.listdir(incoming) == [name]
        r.send(b"second half\r\n.\r\n")
        code, text = r.reply()
        assert code == 250 and text[0].decode().endswith(name)
        files = wait_files(inst, "bob@example.test", 1)
        assert b"first half\nsecond half\n" in files[0].read_bytes()
        r.cmd("QUIT")

        before = len(new_files(inst, "bob@example.test"))
        r = Raw(inst.port)
        r.reply()
        r.cmd("EHLO client.example")
        r.cmd("MAIL FROM:<carol@remote.test>")
        r.cmd("RCPT TO:<bob@example.test>")
        r.cmd("DATA")
        r.send(b"Subject: killed\r\n\r\nnever finished\r\n")
        [name] = os.listdir(incoming)
        inst.wait_log(r"client=unknown\[127\.0\.0\.1\]", count=2)
        for pid in smtpd_pids(inst):
            os.kill(pid, 9)
        assert r.closed()
        inst.wait_log(name + r": removed: left unfinished by a writer "
                      r"that ended mid-message", timeout=15)
        assert name not in os.listdir(incoming)
        assert not (inst.spool / "corrupt").is_dir() or \
            os.listdir(inst.spool / "corrupt") == []
        time.sleep(1)
        assert len(new_files(inst, "bob@example.test")) == before

        # RSET after MAIL: the named file goes back to the pool.
        ph.wait_for(lambda: smtp_ready(inst.port), 15, "smtpd restarted")
        r = Raw(inst.port)
        r.reply()
        r.cmd("EHLO client.example")
        r.cmd("MAIL FROM:<carol@remote.test>")
        [name] = os.listdir(incoming)
        ino = (incoming / name).stat().st_ino
        assert r.cmd("RSET")[0] == 250
        assert os.listdir(incoming) == []
        assert (inst.spool / "recycle" / name).stat().st_ino == ino
        r.cmd("QUIT")
    finally:
        finish(inst)


def test_kill_9_queue_manager_and_agent(tmp_path, tmp_path_factory):
    """2,000 messages in from four clients while the queue manager and the
    delivery agent are SIGKILLed six times: every acknowledged message
    ends up in the Maildir (duplicates allowed, counted), none corrupt.
    Bounded by count and time."""
    inst = build(tmp_path / "k", tmp_path_factory.getbasetemp().parent,
                 extra=["queue_retry_min = 1s", "queue_retry_max = 2s"])
    acked = []
    lock = threading.Lock()
    try:
        def sender(n):
            deadline = time.monotonic() + 60
            with client_to(inst) as c:
                for i in range(500):
                    if time.monotonic() > deadline:
                        break
                    tag = f"k{n}-{i}"
                    c.sendmail("carol@remote.test", ["bob@example.test"],
                               f"Subject: {tag}\r\n\r\nbody {i}\r\n".encode())
                    with lock:
                        acked.append(tag)
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        kills = 0
        for prog in ("postern-queue-manager", "postern-delivery-agent") * 3:
            time.sleep(0.4)
            for pid in inst.children():
                if any(a.endswith(prog) for a in ph.proc_cmdline(pid)[:1]):
                    os.kill(pid, 9)
                    kills += 1
        for t in threads:
            t.join(90)
        assert len(acked) == 2000
        ph.wait_for(lambda: queue_empty(inst), 120, "the queue to empty")
        files = new_files(inst, "bob@example.test")
        seen = {}
        for f in files:
            data = f.read_bytes()
            subj = data.split(b"Subject: ")[1].split(b"\n")[0].decode()
            assert data.endswith(b"\n") and b"\r" not in data, f.name
            assert f",S={len(data)}" in f.name
            seen[subj] = seen.get(subj, 0) + 1
        missing = [t for t in acked if t not in seen]
        assert not missing, f"lost: {missing[:10]}"
        dups = sum(n - 1 for n in seen.values())
        print(f"{len(files)} files, {dups} duplicates, {kills} kills")
        assert kills >= 4
    finally:
        finish(inst)
