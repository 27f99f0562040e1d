# SPDX-License-Identifier: ISC
"""Local submission through a real instance: sendmail (postctl under that
name) hands the message to postern-postdrop, which writes maildrop/; the
queue manager picks it up and the delivery agent writes the Maildir.

-t with Bcc removed and From/Date/Message-ID added, byte-exact bodies,
"." with and without -i, -f and -F, bare names, -bs (SMTP on the pipes),
-bp (mailq), -bi (newaliases), submission while postern is stopped,
crafted maildrop files (garbage, truncated, a symbolic link) moved to
corrupt/ while the queue manager carries on, an oversized message, usage
errors, postdrop's input protocol; and, as root, postdrop set-group-ID
postdrop used by unprivileged users who can submit but can neither list
maildrop/ nor read another user's file.  See sendmail(1),
postern-postdrop(8) and postern-queue-manager(8)."""

import email
import email.policy
import os
import pwd
import re
import shutil
import subprocess
import time

import pytest

import postern_harness as ph
from test_queue import build as queue_build, finish, start_instance, stop_instance  # noqa: F401
from test_smtpd import USERS, postctl_in, smtp_ready  # noqa: F401

DOMAIN = "example.test"
POSTDROP = ph.POSTDROP
ID_RX = rb"[0-9A-F]{13}[0-9A-V]{5}"
MAX_SIZE = 100 * 1024
EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOPERM = 64, 65, 66, 77


def build(root, top, start=True):
    """test_queue's instance; myhostname is the mail domain, so bare names
    are local; sendmail, mailq and newaliases are postctl under those
    names in bin/."""
    inst = queue_build(root, top, start=False, hostname=DOMAIN, domain=DOMAIN,
                       extra=[f"smtpd_max_message_size = {MAX_SIZE}",
                              "smtpd_max_recipients = 20"])
    inst.bin = root / "bin"
    inst.bin.mkdir(exist_ok=True)
    inst.bin.chmod(0o755)
    for name in ("sendmail", "mailq", "newaliases"):
        p = inst.bin / name
        if not p.is_symlink():
            p.symlink_to(ph.POSTCTL)
    if start:
        start_instance(inst)
    return inst


def env_of(inst, **extra):
    env = inst.env()
    env["POSTERN_CONFIG_DIR"] = str(inst.etc)
    env.pop("NAME", None)
    env.update(extra)
    return env


def run(inst, name, *args, data=b"", env=None, timeout=30):
    """Runs bin/NAME ARGS with data on standard input."""
    return subprocess.run([str(inst.bin / name)] + [str(a) for a in args],
                          input=data, capture_output=True, timeout=timeout,
                          env=env or env_of(inst))


def sendmail(inst, *args, data=b"", **kw):
    return run(inst, "sendmail", *args, data=data, **kw)


def maildir_new(inst, user):
    local, domain = user.split("@")
    d = inst.mail / domain / local / "Maildir" / "new"
    return sorted(d.iterdir()) if d.is_dir() else []


def wait_new(inst, user, n, timeout=20):
    ph.wait_for(lambda: len(maildir_new(inst, user)) >= n, timeout,
                f"{n} messages for {user}")
    return maildir_new(inst, user)


def find_message(inst, user, marker, timeout=20):
    """The delivered message of user holding marker (bytes)."""
    def found():
        for f in maildir_new(inst, user):
            data = f.read_bytes()
            if marker in data:
                return data
        return None
    return ph.wait_for(found, timeout, f"a message with {marker!r} for {user}")


def split(data):
    head, _, body = data.partition(b"\n\n")
    msg = email.message_from_bytes(data, policy=email.policy.default)
    return head, body, msg


def maildrop_files(inst):
    d = inst.spool / "maildrop"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    inst = build(tmp_path_factory.mktemp("sendmail"),
                 tmp_path_factory.getbasetemp().parent)
    yield inst
    finish(inst)


def test_t_with_bcc_and_added_fields(srv):
    body = b"line one\n..two dots stay\n.\nafter a lone dot\n\ttab\n"
    msg = (b"To: Alice <alice@example.test>\n"
           b"Bcc: bob@example.test\n"
           b"Subject: t-option\n\n" + body)
    r = sendmail(srv, "-t", "-i", "-v", "-f", "carol@remote.test", data=msg)
    assert r.returncode == 0, r.stderr
    m = re.search(rb"queued as (" + ID_RX + rb")", r.stderr)
    assert m, r.stderr
    for user in ("alice@example.test", "bob@example.test"):
        data = find_message(srv, user, b"Subject: t-option")
        head, got_body, parsed = split(data)
        assert got_body == body                 # byte-exact, dots as sent
        assert b"Bcc" not in head
        assert parsed["From"] == "carol@remote.test"
        assert parsed["Date"] and parsed["Message-ID"]
        assert re.match(rb"<[^<>@]+@example\.test>$", parsed["Message-ID"].encode())
        assert head.startswith(b"Return-Path: <carol@remote.test>\n")
        assert re.search(rb"\nReceived: by example\.test \(postern, from userid %d\)\n"
                         rb"\tid " % os.getuid() + ID_RX + rb"; ", head), head
        assert parsed["To"] == "Alice <alice@example.test>"
    srv.wait_log(r"[0-9A-F]{13}[0-9A-V]{5}: uid=%d from=<carol@remote\.test>"
                 % os.getuid())
    assert maildrop_files(srv) == []


def test_command_line_recipients_and_kept_fields(srv):
    msg = (b"From: Someone <someone@remote.test>\r\nDate: Mon, 1 Jan 2024 "
           b"00:00:00 +0000\r\nMessage-ID: <keep@remote.test>\r\n"
           b"Subject: kept\r\n\r\nbody\r\n")
    # A bare name gets @myhostname; a list in one argument is split.
    r = sendmail(srv, "-oi", "alice", "bob@example.test, Alice <alice@example.test>",
                 data=msg)
    assert r.returncode == 0, r.stderr
    for user in ("alice@example.test", "bob@example.test"):
        data = find_message(srv, user, b"Subject: kept")
        head, body, parsed = split(data)
        assert parsed["From"] == "Someone <someone@remote.test>"
        assert parsed["Message-ID"] == "<keep@remote.test>"
        assert head.count(b"\nDate:") == 1 and head.count(b"\nFrom:") == 1
        assert body == b"body\n"
        me = pwd.getpwuid(os.getuid()).pw_name
        assert head.startswith(b"Return-Path: <%s@example.test>\n" % me.encode())
    # The duplicate alice got one copy.
    alice = [f for f in maildir_new(srv, "alice@example.test")
             if b"Subject: kept" in f.read_bytes()]
    assert len(alice) == 1


def test_dot_ends_input_without_i(srv):
    r = sendmail(srv, "alice@example.test",
                 data=b"Subject: dot-end\n\nfirst\n.\nnever read\n")
    assert r.returncode == 0, r.stderr
    data = find_message(srv, "alice@example.test", b"Subject: dot-end")
    assert split(data)[1] == b"first\n"
    r = sendmail(srv, "-i", "alice@example.test",
                 data=b"Subject: dot-kept\n\nfirst\n.\nsecond\n")
    assert r.returncode == 0, r.stderr
    data = find_message(srv, "alice@example.test", b"Subject: dot-kept")
    assert split(data)[1] == b"first\n.\nsecond\n"
    # A message without a header section or final newline still gets one.
    r = sendmail(srv, "-i", "bob", data=b"no header here\nlast line")
    assert r.returncode == 0, r.stderr
    data = find_message(srv, "bob@example.test", b"no header here")
    head, body, parsed = split(data)
    assert body == b"no header here\nlast line\n"
    assert parsed["Date"] and parsed["Message-ID"] and parsed["From"]


def test_f_and_F(srv):
    r = sendmail(srv, "-fbob@example.test", "-F", 'Bob "The" Builder', "-i",
                 "alice@example.test", data=b"Subject: full-name\n\nx\n")
    assert r.returncode == 0, r.stderr
    data = find_message(srv, "alice@example.test", b"Subject: full-name")
    head, body, parsed = split(data)
    assert head.startswith(b"Return-Path: <bob@example.test>\n")
    assert b'\nFrom: "Bob \\"The\\" Builder" <bob@example.test>\n' in head
    assert parsed["From"].addresses[0].display_name == 'Bob "The" Builder'
    # -r is -f; NAME is the full name without -F; -f <> is the null sender.
    r = sendmail(srv, "-r", "<>", "-i", "alice@example.test",
                 data=b"Subject: null-sender\n\nx\n",
                 env=env_of(srv, NAME="Cron Daemon"))
    assert r.returncode == 0, r.stderr
    data = find_message(srv, "alice@example.test", b"Subject: null-sender")
    head, body, parsed = split(data)
    assert head.startswith(b"Return-Path: <>\n")
    me = pwd.getpwuid(os.getuid()).pw_name
    assert parsed["From"] == f"Cron Daemon <{me}@example.test>"


def smtp_session(inst, lines, env=None):
    """Runs sendmail -bs, writes lines, returns (stdout text, status)."""
    data = "".join(line + "\r\n" for line in lines).encode()
    r = sendmail(inst, "-bs", data=data, env=env)
    return r.stdout.decode(), r.returncode, r.stderr


def test_bs_session(srv):
    out, status, err = smtp_session(srv, [
        "EHLO client.example",
        "MAIL FROM:<carol@remote.test>",
        "RCPT TO:<alice@example.test>",
        "RCPT TO:<nobody@remote.test> NOTIFY=NEVER",
        "DATA",
        "Subject: bs-session",
        "",
        "..stuffed",
        "plain",
        ".",
        "RSET",
        "NOOP",
        "XYZZY",
        "RCPT TO:<alice@example.test>",
        "MAIL FROM:<carol@remote.test> SIZE=999999999",
        "QUIT",
    ])
    assert status == 0, err
    codes = [line[:4] for line in out.split("\r\n") if line]
    assert codes[0] == "220 "
    assert "250-SIZE %d" % MAX_SIZE in out and "250 ENHANCEDSTATUSCODES" in out
    m = re.search(r"250 2\.0\.0 Ok: queued as ([0-9A-F]{13}[0-9A-V]{5})", out)
    assert m, out
    assert "555 5.5.4" in out                  # NOTIFY (DSN) not offered
    assert "354 " in out and "502 5.5.2" in out
    assert "503 5.5.1 Error: need MAIL command" in out
    assert "552 5.3.4" in out
    assert out.rstrip().endswith("221 2.0.0 Bye")
    data = find_message(srv, "alice@example.test", b"Subject: bs-session")
    head, body, parsed = split(data)
    assert body == b".stuffed\nplain\n"
    assert head.startswith(b"Return-Path: <carol@remote.test>\n")
    assert parsed["Message-ID"] and parsed["Date"]
    # Input that ends in DATA queues nothing and ends the session.
    before = len(maildir_new(srv, "bob@example.test"))
    out, status, err = smtp_session(srv, [
        "HELO x", "MAIL FROM:<>", "RCPT TO:<bob@example.test>", "DATA",
        "Subject: cut", "", "no end"])
    assert status == 0 and "250 2.0.0 Ok: queued" not in out
    time.sleep(0.5)
    assert len(maildir_new(srv, "bob@example.test")) == before


def test_bp_lists_the_queue(srv):
    r = srv.postctl("queue", "list")
    if "not built yet" in r.stderr:
        pytest.skip("postctl queue (cmd_queue.c) is not there yet")
    r = sendmail(srv, "-i", "someone@remote.test", data=b"Subject: to-remote\n\nx\n")
    assert r.returncode == 0, r.stderr
    # Remote recipients wait (no transfer agent yet): the message is listed.
    srv.wait_log(r"to=<someone@remote\.test>, relay=none.*status=deferred")
    bp = sendmail(srv, "-bp")
    mq = run(srv, "mailq")
    pc = srv.postctl("queue", "list")
    assert bp.returncode == 0 and mq.returncode == 0, bp.stderr + mq.stderr
    assert b"someone@remote.test" in bp.stdout
    assert bp.stdout.decode() == pc.stdout == mq.stdout.decode()


def test_bi_rebuilds_aliases(srv):
    with open(srv.etc / "aliases", "a") as f:
        f.write(f"newteam@{DOMAIN}: bob@{DOMAIN}\n")
    r = run(srv, "newaliases")
    assert r.returncode == 0, r.stderr
    r = sendmail(srv, "-bi")
    assert r.returncode == 0, r.stderr
    r = sendmail(srv, "-i", "newteam@example.test", data=b"Subject: via-alias\n\nx\n")
    assert r.returncode == 0, r.stderr
    find_message(srv, "bob@example.test", b"Subject: via-alias")


def test_oversized_and_refused(srv):
    big = b"Subject: big\n\n" + (b"x" * 70 + b"\n") * (MAX_SIZE // 71 + 10)
    r = sendmail(srv, "-i", "alice@example.test", data=big)
    assert r.returncode == EX_DATAERR, r
    assert b"552 5.3.4" in r.stderr
    r = sendmail(srv, "-i", "alice@example.test",
                 data=b"Subject: long\n\n" + b"y" * 2000 + b"\n")
    assert r.returncode == EX_DATAERR and b"554 5.6.0" in r.stderr
    # Usage errors, no recipients, bad addresses.
    assert sendmail(srv, data=b"x\n").returncode == EX_USAGE
    assert sendmail(srv, "-Z", "a@b.example").returncode == EX_USAGE
    assert sendmail(srv, "-bd").returncode == EX_USAGE
    assert sendmail(srv, "a@@b.example").returncode == EX_USAGE
    r = sendmail(srv, "-t", data=b"Subject: nobody\n\nx\n")
    assert r.returncode == EX_DATAERR, r
    r = sendmail(srv, "-t", data=b"To: a <b\n\nx\n")
    assert r.returncode == EX_DATAERR, r
    many = ", ".join(f"u{i}@example.test" for i in range(21))
    r = sendmail(srv, "-t", data=f"To: {many}\n\nx\n".encode())
    assert r.returncode == EX_DATAERR and b"too many recipients" in r.stderr
    # Ignored options only warn.
    r = sendmail(srv, "-i", "-odb", "-x", "-L", "label", "alice@example.test",
                 data=b"Subject: ignored-options\n\nx\n")
    assert r.returncode == 0 and b"-x option ignored" in r.stderr
    find_message(srv, "alice@example.test", b"Subject: ignored-options")
    time.sleep(0.3)
    assert [n for n in maildrop_files(srv) if n.startswith("tmp.")] == []


FAKE_POSTDROP = r"""#!/usr/bin/python3
import json, os, sys
data, inp = b"", sys.stdin.buffer
while True:
    n = int.from_bytes(inp.read(4), "big")
    if n == 0:
        break
    if n == 0xffffffff:
        sys.exit(66)
    data += inp.read(n)
with open(os.environ["FAKE_DROP_OUT"], "w") as f:
    json.dump({"args": sys.argv[1:], "data": data.decode("utf-8")}, f)
print("0123456789ABC00000")
"""


@pytest.fixture(scope="module")
def fake(srv, tmp_path_factory):
    """A configuration like srv's whose postern-postdrop only records its
    arguments and the message: what sendmail makes of its input."""
    root = tmp_path_factory.mktemp("fake")
    (root / "libexec").mkdir()
    drop = root / "libexec" / "postern-postdrop"
    drop.write_text(FAKE_POSTDROP)
    drop.chmod(0o755)
    (root / "etc").mkdir()
    text = (srv.etc / "postern.conf").read_text()
    text = re.sub(r"(?m)^daemon_directory = .*$", f"daemon_directory = {root}/libexec",
                  text)
    (root / "etc" / "postern.conf").write_text(text)
    out = root / "out.json"

    def submit(*args, data=b"", status=0):
        import json
        if out.exists():
            out.unlink()
        r = sendmail(srv, *args, data=data,
                     env=env_of(srv, POSTERN_CONFIG_DIR=str(root / "etc"),
                                FAKE_DROP_OUT=str(out)))
        assert r.returncode == status, r.stderr
        if status != 0:
            return None, r.stderr.decode()
        got = json.loads(out.read_text())
        args = got["args"]
        rcpts = args[args.index("--") + 1:]
        return {"args": args[:args.index("--")], "rcpts": rcpts,
                "sender": args[args.index("-f") + 1],
                "data": got["data"]}, r.stderr.decode()
    return submit


def test_addresses_and_header_as_postdrop_gets_them(fake):
    got, _ = fake("-t", "-i", data=(
        b'From: x@example.test\nTo: Group: a@example.test, "b c"@Example.TEST;\n'
        b"Cc: d (a comment) <d@EXAMPLE.test>,\n  <@r1.example,@r2.example:g@example.test>,\n"
        b"\tf\nBcc: undisclosed-recipients:;\nBcc: h@example.test\nSubject: s\n\nbody\n"))
    assert got["rcpts"] == ["a@example.test", '"b c"@example.test', "d@example.test",
                            "g@example.test", "f@example.test", "h@example.test"]
    assert "Bcc" not in got["data"] and "\r\n\tf\r\n" in got["data"]
    assert got["data"].endswith("\r\n\r\nbody\r\n")
    # Resent-* fields win over To/Cc/Bcc; command-line recipients add up.
    got, _ = fake("-t", "-i", "z@example.test", data=(
        b"To: x@example.test\nResent-To: y@example.test\nResent-Bcc: w@example.test\n\nb\n"))
    assert got["rcpts"] == ["z@example.test", "y@example.test", "w@example.test"]
    assert "Resent-Bcc" not in got["data"]
    # -f forms, DSN options, UTF-8 addresses.
    got, _ = fake("-f", "<s@Example.Test>", "-N", "success,delay", "-R", "hdrs",
                  "-V", "env-1", "-B", "8bitmime", "-i", "\u00fc@example.test",
                  data=b"x\n")
    assert got["sender"] == "s@example.test"
    assert got["args"][got["args"].index("-N"):] == [
        "-N", "success,delay", "-R", "hdrs", "-V", "env-1", "-B", "8BITMIME", "-U"]
    got, _ = fake("-f", "", "-i", "a@example.test", data=b"x\n")
    assert got["sender"] == ""
    # A mailbox "From " line goes; bare CR and LF become CRLF; a line that
    # is no header field starts the body after the added fields.
    got, _ = fake("-i", "a@example.test",
                  data=b"From someone Mon Jan  1 00:00:00 2024\nSubject: s\r\n"
                       b"not a field\rbody\n")
    data = got["data"]
    assert not data.startswith("From ")
    assert data.startswith("Subject: s\r\nFrom: ")
    assert "\r\nDate: " in data and "\r\nMessage-ID: <" in data
    assert data.endswith("\r\n\r\nnot a field\r\nbody\r\n")
    # Refused: malformed addresses and DSN options.
    for args in (["-i", "a@b@c.example"], ["-i", "<a@example.test"],
                 ["-N", "never,success", "a@example.test"],
                 ["-R", "most", "a@example.test"], ["-V", "", "a@example.test"]):
        fake(*args, data=b"x\n", status=EX_USAGE)
    _, err = fake("-t", "-i", data=b'To: "unterminated@example.test\n\nx\n',
                  status=EX_DATAERR)
    assert "To: header" in err


def test_postdrop_input_protocol(srv):
    """The message reaches postdrop in length-framed chunks; input that
    ends early or cancels leaves nothing; a full one is queued."""
    env = env_of(srv)
    cmd = [str(POSTDROP), "-v", "-c", str(srv.etc), "-f", "a@example.test",
           "--", "alice@example.test"]
    msg = b"Subject: direct-postdrop\r\n\r\nhi\r\n"
    frame = len(msg).to_bytes(4, "big") + msg
    r = subprocess.run(cmd, input=frame, capture_output=True, env=env, timeout=10)
    assert r.returncode == EX_NOINPUT and b"nothing queued" in r.stderr
    r = subprocess.run(cmd, input=frame + b"\xff\xff\xff\xff", capture_output=True,
                       env=env, timeout=10)
    assert r.returncode == EX_NOINPUT and r.stderr == b""
    r = subprocess.run(cmd, input=b"\x7f\x00\x00\x00", capture_output=True,
                       env=env, timeout=10)
    assert r.returncode == EX_DATAERR
    r = subprocess.run(cmd[:-1] + ["bad\x01rcpt"], input=frame + bytes(4),
                       capture_output=True, env=env, timeout=10)
    assert r.returncode == EX_DATAERR, r
    r = subprocess.run(cmd, input=frame + bytes(4), capture_output=True, env=env,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(ID_RX + rb"\n", r.stdout)
    find_message(srv, "alice@example.test", b"Subject: direct-postdrop")


@pytest.fixture
def stopped(tmp_path, tmp_path_factory):
    """An instance started once (the master makes maildrop/), then stopped."""
    inst = build(tmp_path / "i", tmp_path_factory.getbasetemp().parent)
    stop_instance(inst)
    yield inst
    finish(inst)


def test_submission_while_stopped_and_crafted_files(stopped):
    inst = stopped
    r = sendmail(inst, "-i", "alice@example.test", data=b"Subject: while-stopped\n\nx\n")
    assert r.returncode == 0, r.stderr
    files = maildrop_files(inst)
    assert len(files) == 1 and re.fullmatch(ID_RX.decode(), files[0])
    good = (inst.spool / "maildrop" / files[0]).read_bytes()
    st = (inst.spool / "maildrop" / files[0]).stat()
    assert st.st_mode & 0o777 == 0o604 and st.st_uid == os.getuid()
    # Crafted files: garbage, a truncated copy, a symbolic link, a FIFO.
    drop = inst.spool / "maildrop"
    (drop / "1234567890ABC00001").write_bytes(b"garbage\n" * 10)
    (drop / "1234567890ABC00002").write_bytes(good[:len(good) // 2])
    (drop / "1234567890ABC00003").symlink_to("/etc/passwd")
    os.mkfifo(drop / "1234567890ABC00004")
    (drop / "tmp.1234567890ABC00005").write_bytes(b"half")
    (drop / "tmp.1234567890ABC00006").write_bytes(b"left by a killed postdrop")
    two_hours_ago = time.time() - 7200
    os.utime(drop / "tmp.1234567890ABC00006", (two_hours_ago, two_hours_ago))
    start_instance(inst)
    find_message(inst, "alice@example.test", b"Subject: while-stopped")
    corrupt = inst.spool / "corrupt"
    ph.wait_for(lambda: len(list(corrupt.iterdir())) >= 4, 20, "four corrupt files")
    assert {p.name[:18] for p in corrupt.iterdir()} >= {
        "1234567890ABC00001", "1234567890ABC00002", "1234567890ABC00003",
        "1234567890ABC00004"}
    inst.wait_log(r"1234567890ABC00001: corrupt queue file moved to .*maildrop file "
                  r"of uid %d" % os.getuid())
    # A fresh tmp.* file stays (postdrop may still be writing it), an old
    # one goes.
    ph.wait_for(lambda: maildrop_files(inst) == ["tmp.1234567890ABC00005"], 10,
                "only the fresh tmp.* file in maildrop/")
    inst.wait_log(r"pickup: removed 1 stale tmp\.\* file")
    # The queue manager carries on.
    r = sendmail(inst, "-i", "bob@example.test", data=b"Subject: after-crafted\n\nx\n")
    assert r.returncode == 0, r.stderr
    find_message(inst, "bob@example.test", b"Subject: after-crafted")


# ---- as root: postdrop set-group-ID postdrop -------------------------------

def conf_default_dir():
    """POSTERN_CONF_DIR of the build: $(sysconfdir)/postern."""
    values = {}
    for line in (ph.BUILDDIR / "Makefile").read_text().splitlines():
        m = re.match(r"(prefix|sysconfdir) = (.*)$", line)
        if m:
            values[m.group(1)] = m.group(2).strip()
    return values["sysconfdir"].replace("${prefix}", values["prefix"]) + "/postern"


def as_user(inst, user, argv, data=b"", env=None, setup=""):
    """Runs argv as user (uid, gid, no other groups) in a mount namespace
    where the build's default configuration folder is the instance's
    etc/ (postdrop, set-group-ID, takes no other)."""
    default = conf_default_dir()
    over = inst.root / "sysconf"
    over.mkdir(exist_ok=True)
    over.chmod(0o755)
    link = over / os.path.basename(default)
    if not link.is_symlink():
        link.symlink_to(inst.etc)
    script = (f"mount --bind {over} {os.path.dirname(default)} && "
              f"exec setpriv --reuid={user} --regid={user} --clear-groups -- \"$@\"")
    e = env or env_of(inst)
    # LeakSanitizer cannot trace a set-group-ID process.
    e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    e.pop("POSTERN_CONFIG_DIR", None)
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                           "sh", "-c", script, "sh"] + [str(a) for a in argv],
                          input=data, capture_output=True, timeout=30, env=e)


@pytest.mark.skipif(not ph.is_root(), reason="needs root (set-group-ID postdrop)")
def test_setgid_postdrop_for_users(tmp_path, tmp_path_factory):
    import grp
    try:
        gid = grp.getgrnam("postdrop").gr_gid
    except KeyError:
        pytest.skip("no group postdrop")
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("needs unshare and setpriv")
    default = conf_default_dir()
    if not os.path.isdir(os.path.dirname(default)):
        pytest.skip(f"{os.path.dirname(default)} does not exist")
    inst = build(tmp_path / "i", tmp_path_factory.getbasetemp().parent)
    try:
        stop_instance(inst)
        drop = inst.spool / "maildrop"
        st = drop.stat()
        assert st.st_mode & 0o7777 == 0o1770 and st.st_gid == gid
        assert st.st_uid == pwd.getpwnam(inst.mail_owner).pw_uid
        # A set-group-ID copy of postdrop where sendmail looks for it.
        sbin = inst.root / "sbin"
        sbin.mkdir()
        sbin.chmod(0o755)
        copy = sbin / "postern-postdrop"
        shutil.copy(POSTDROP, copy)
        os.chown(copy, 0, gid)
        copy.chmod(0o2755)
        link = inst.libexec / "postern-postdrop"
        link.unlink()
        link.symlink_to(copy)
        sendmail_path = inst.bin / "sendmail"

        for user in ("daemon", "bin"):
            r = as_user(inst, user, [sendmail_path, "-i", "alice@example.test"],
                        data=f"Subject: from-{user}\n\nx\n".encode())
            assert r.returncode == 0, r.stderr
        files = {}
        for name in maildrop_files(inst):
            s = (drop / name).stat()
            files[pwd.getpwuid(s.st_uid).pw_name] = name
            assert s.st_gid == gid and s.st_mode & 0o777 == 0o604
        assert set(files) == {"daemon", "bin"}
        # Neither lists the folder nor reads another's (or its own) file.
        r = as_user(inst, "daemon", ["ls", drop])
        assert r.returncode != 0
        r = as_user(inst, "daemon", ["cat", drop / files["bin"]])
        assert r.returncode != 0 and b"Permission denied" in r.stderr
        # postdrop takes no other configuration and ignores the variable.
        r = as_user(inst, "daemon", [copy, "-c", inst.etc, "-f", "x@example.test",
                                     "--", "alice@example.test"], data=bytes(4))
        assert r.returncode == EX_NOPERM, r
        assert len(maildrop_files(inst)) == 2

        start_instance(inst)
        for user in ("daemon", "bin"):
            data = find_message(inst, "alice@example.test",
                                f"Subject: from-{user}".encode())
            uid = pwd.getpwnam(user).pw_uid
            assert b"(postern, from userid %d)" % uid in data
            assert data.startswith(b"Return-Path: <%s@example.test>\n" % user.encode())
        ph.wait_for(lambda: maildrop_files(inst) == [], 10, "an empty maildrop")
    finally:
        finish(inst)


def test_pickup_in_batches(stopped):
    """More files than one batch takes (1000): every one is picked up."""
    inst = stopped
    r = sendmail(inst, "-i", "someone@remote.test", data=b"Subject: batch\n\nx\n")
    assert r.returncode == 0, r.stderr
    drop = inst.spool / "maildrop"
    (name,) = maildrop_files(inst)
    data = (drop / name).read_bytes()
    for i in range(1, 1100):
        # Any name that is a queue ID will do: it names nothing inside.
        (drop / f"{name[:13]}{i:05X}").write_bytes(data)
        os.chmod(drop / f"{name[:13]}{i:05X}", 0o604)
    start_instance(inst)
    ph.wait_for(lambda: maildrop_files(inst) == [], 60, "an empty maildrop")
    # Generous: right after a mass removal of files (a benchmark), ext4
    # without a journal creates files slowly for a while.
    inst.wait_log(r": uid=\d+ from=<", count=1100, timeout=90)
    assert not (inst.spool / "corrupt").exists() or \
        list((inst.spool / "corrupt").iterdir()) == []
