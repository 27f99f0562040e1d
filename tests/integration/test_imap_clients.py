# SPDX-License-Identifier: ISC
"""Real IMAP clients against imap-login and imap: mbsync (isync) syncing a
folder tree both ways, and mutt reading, flagging, moving and deleting in a
scripted session (under a pseudo-terminal)."""
import imaplib
import os
import pwd
import re
import shutil
import subprocess
import time

import pytest

import postern_harness as ph
import test_imapd as ti
import test_smtpd as ts

pytestmark = pytest.mark.skipif(shutil.which("mbsync") is None or
                                shutil.which("mutt") is None,
                                reason="mbsync (isync) or mutt missing")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    inst = ti.build(tmp_path_factory.mktemp("imap-clients"),
                    tmp_path_factory.getbasetemp().parent)
    yield inst
    ts.finish(inst)


def mbsync_conf(inst, local, cert):
    return f"""IMAPAccount remote
Host 127.0.0.1
Port {inst.ports[0]}
User alice@example.test
Pass alice-secret-1
SSLType None
AuthMechs LOGIN
Timeout 20

IMAPStore remote
Account remote

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
Remove None
SyncState *
Sync All
"""


def run_mbsync(conf):
    r = subprocess.run(["mbsync", "-c", str(conf), "-V", "all"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def remote_state(inst):
    """Every mailbox's UIDVALIDITY, UIDNEXT and (UID, FLAGS) of each
    message, seen through a fresh session."""
    m = ti.login(inst)
    state = {}
    typ, data = m.list('""', "*")
    for line in data:
        if b"\\Noselect" in line:
            continue
        name = line.decode().rsplit(' "/" ', 1)[1].strip('"')
        typ, st = m.status(name, "(UIDVALIDITY UIDNEXT)")
        m.select(name, readonly=True)
        typ, msgs = m.fetch("1:*", "(UID FLAGS)")
        state[name] = (st[0], sorted(x for x in msgs if x))
    m.logout()
    return state


def unchanged(inst, local, conf):
    """Runs mbsync and checks that it changed nothing on either side."""
    before = (local_files(local), remote_state(inst))
    out = run_mbsync(conf)
    after = (local_files(local), remote_state(inst))
    assert before == after, out
    return out


def local_files(local):
    out = {}
    for d in local.rglob("*"):
        if d.is_file() and d.parent.name in ("cur", "new"):
            out.setdefault(d.parent.parent.relative_to(local).as_posix(),
                           []).append(d.name)
    return {k: sorted(v) for k, v in out.items()}


def test_mbsync_both_ways_twice(srv, tmp_path):
    m = ti.login(srv)
    m.create("Lists/Debian")
    m.create("Reports")
    for i in range(5):
        m.append("INBOX", "(\\Seen)" if i % 2 else None, None, ti.msg(i))
    for i in range(3):
        m.append("Lists/Debian", None, None, ti.msg(100 + i))
    local = tmp_path / "mail"
    local.mkdir()
    conf = tmp_path / "mbsyncrc"
    conf.write_text(mbsync_conf(srv, local, srv.etc / "cert.pem"))

    # 1. remote -> local
    out = run_mbsync(conf)
    files = local_files(local)
    assert len(files.get("INBOX", [])) == 5, (files, out)
    assert len(files.get("Lists/Debian", [])) == 3, (files, out)

    # 2. nothing changed: nothing to do
    unchanged(srv, local, conf)

    # 3. local -> remote: a new message, a flag, a deletion
    new = local / "Reports" / "new"
    new.mkdir(parents=True, exist_ok=True)
    (local / "Reports" / "cur").mkdir(exist_ok=True)
    (local / "Reports" / "tmp").mkdir(exist_ok=True)
    (new / f"{int(time.time())}.local1.host").write_bytes(
        ti.msg(200).replace(b"\r\n", b"\n"))
    inbox_cur = sorted((local / "INBOX" / "cur").iterdir())
    first = inbox_cur[0]
    base, _, info = first.name.partition(":2,")
    first.rename(first.with_name(base + ":2," + "".join(sorted(info + "F"))))
    out = run_mbsync(conf)
    typ, data = m.status("Reports", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0], (data, out)
    m.select("INBOX")
    typ, data = m.search(None, "FLAGGED")
    assert len(data[0].split()) == 1, (data, out)

    # 4. remote changes: a flag and an expunge, then twice with no change
    m.store("2", "+FLAGS", "(\\Answered)")
    m.store("3", "+FLAGS", "(\\Deleted)")
    m.expunge()
    out = run_mbsync(conf)
    files = local_files(local)
    assert len(files["INBOX"]) == 4, (files, out)
    unchanged(srv, local, conf)
    unchanged(srv, local, conf)
    m.logout()


MUTTRC = """set folder="imap://alice%40example.test@127.0.0.1:{port}/"
set imap_pass="alice-secret-1"
set spoolfile="+INBOX"
set ssl_starttls=no
set ssl_force_tls=no
set imap_check_subscribed=no
set mail_check=1
set timeout=1
set move=no
set confirmappend=no
set delete=yes
set header_cache=""
set message_cachedir=""
set sort=date-sent
"""


def test_mutt_reads_flags_moves_deletes(srv, tmp_path):
    m = ti.login(srv, "bob@example.test")
    for i in range(3):
        m.append("INBOX", None, None, ti.msg(300 + i))
    m.logout()
    rc = tmp_path / "muttrc"
    rc.write_text(MUTTRC.replace("alice%40", "bob%40")
                  .replace("alice-secret-1", "bob-secret-2")
                  .format(port=srv.ports[0]))
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), TERM="vt100")
    # Read the first message (sets \Seen), flag the second, save the third
    # to Archive (copy + delete), then quit, which expunges.
    keys = ("<enter><exit>"                 # read message 1
            "<next-entry><flag-message>"    # flag message 2
            "<next-entry><save-message>=Archive<enter>"
            "<sync-mailbox><quit>")
    script = tmp_path / "run.sh"
    script.write_text(f"exec mutt -n -F {rc} -e \"push '{keys}'\"\n")
    r = subprocess.run(["script", "-qec", f"sh {script}", "/dev/null"],
                       env=env, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    m = ti.login(srv, "bob@example.test")
    typ, data = m.status("Archive", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0], (data, r.stdout[-2000:])
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    text = b" ".join(x[0] + x[1] if isinstance(x, tuple) else x
                     for x in data)
    assert text.count(b"Subject:") == 2, text
    assert b"\\Seen" in text and b"\\Flagged" in text, text
    m.logout()
