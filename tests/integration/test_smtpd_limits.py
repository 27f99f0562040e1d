# SPDX-License-Identifier: ISC
"""postern-smtpd's limits and submission duties, driven through the network
against real instances (master + authd + smtpd): the greeting pause and
early talkers, connections per client, junk commands, the per-state
timeouts (message content, AUTH exchange, between BDAT chunks), Message-ID
and Date added on submission (DATA, BDAT, implicit TLS; never on port 25),
smtpd_max_header_size, and the notices to the queue manager over
private/qmgr.  See man/postern-smtpd.8 and common/conf_defs.def.

The helpers come from test_smtpd.py; service_user (an autouse fixture
there) is re-exported so that it applies here too."""

import base64
import concurrent.futures
import contextlib
import email.utils
import os
import re
import smtplib
import socket
import struct
import time

import pytest

import postern_harness as ph
import postern_ipc as ipc
from test_smtpd import (HOST, MESSAGE, TIMEOUT, USERS, Raw, build, client,
                        finish, queue_files, queued_id, read_queue_file,
                        tls_context)
from test_smtpd import service_user  # noqa: F401  (autouse fixture)

MAX_SIZE = 64 * 1024            # build()'s smtpd_max_message_size
GREET_PAUSE = 1
MAX_CONN = 3
MAX_JUNK = 10
HEADER_MAX = 2048
AUTH_TIMEOUT_SHORT = 1


# ---- helpers ----

@contextlib.contextmanager
def last_setting_wins():
    """build() writes smtpd_timeout and friends itself, and postern.conf
    refuses a setting given twice; while this is active an instance's
    config keeps only the last line of each setting, so extra= lines can
    override build()'s."""
    orig = ph.Instance.config_text

    def text(self):
        out, seen = [], set()
        for line in reversed(orig(self).splitlines()):
            if "=" in line and not line.lstrip().startswith("#"):
                key = line.split("=", 1)[0].strip()
                if key in seen:
                    continue
                seen.add(key)
            out.append(line)
        return "\n".join(reversed(out)) + "\n"

    ph.Instance.config_text = text
    try:
        yield
    finally:
        ph.Instance.config_text = orig


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def qfile_records(data):
    """The records of a queue file up to and including END, as (type,
    payload); checks the framing and the END record's CRC-32C."""
    recs, pos = [], 0
    while True:
        assert pos + 5 <= len(data), "queue file ends without an END record"
        rtype = data[pos:pos + 1]
        (n,) = struct.unpack_from(">I", data, pos + 1)
        payload = data[pos + 5:pos + 5 + n]
        assert len(payload) == n, f"record {rtype!r} cut short"
        recs.append((rtype, payload))
        if rtype == b"E":
            (crc,) = struct.unpack(">I", payload)
            assert crc == crc32c(data[:pos]), "END checksum does not match"
            return recs
        pos += 5 + n


def stored_message(inst, qid):
    """The message as stored (the MESSAGE record) without the Received
    field smtpd puts in front of it."""
    [msg] = [p for t, p in qfile_records(read_queue_file(inst, qid)) if t == b"M"]
    assert msg.startswith(b"Received: from "), msg[:200]
    pos = msg.index(b"\r\n") + 2
    while msg[pos:pos + 1] == b"\t":
        pos = msg.index(b"\r\n", pos) + 2
    return msg[pos:]


MID_RX = rb"Message-ID: <(\d{14})\.([0-9A-V]{18})@mx\.example\.test>\r\n"
DATE_RX = (rb"Date: ([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} "
           rb"\d\d:\d\d:\d\d [+-]\d{4})\r\n")


def check_added(stored, head, rest, qid, mid=True, date=True, gap=False):
    """stored == head + [Message-ID] + [Date] + rest, the Message-ID naming
    qid and the Date close to now.  gap: allow an empty line smtpd may add
    between the fields and a body that follows without one."""
    rx = re.escape(head)
    if mid:
        rx += MID_RX
    if date:
        rx += DATE_RX
    if gap:
        rx += rb"(?:\r\n)?"
    rx += re.escape(rest)
    m = re.fullmatch(rx, stored, re.S)
    assert m, f"head={head!r} rest={rest!r}\nstored={stored!r}"
    groups = list(m.groups())
    if mid:
        stamp, mid_qid = groups.pop(0), groups.pop(0)
        assert mid_qid.decode() == qid, (mid_qid, qid)
        assert stamp.startswith(time.strftime("%Y").encode())
    if date:
        when = email.utils.parsedate_to_datetime(groups.pop(0).decode())
        assert abs(when.timestamp() - time.time()) < 300, when
    return m


def header_of(total, name=b"X-Pad"):
    """Header fields of exactly total bytes (CRLFs included), lines of at
    most 80 bytes."""
    out = b""
    i = 0
    while len(out) < total:
        left = total - len(out)
        prefix = name + b"-%03d: " % i
        n = min(80, left)
        if n < len(prefix) + 3 or (0 < left - n < len(prefix) + 3):
            n = left // 2 if left > 80 else left
        out += prefix + b"a" * (n - len(prefix) - 2) + b"\r\n"
        i += 1
    assert len(out) == total
    return out


def stuffed(msg):
    """msg dot-stuffed for DATA (RFC 5321 4.5.2), with the end marker."""
    return re.sub(rb"(^|\n)\.", rb"\1..", msg) + b".\r\n"


def elapsed_reply(r):
    """The next reply and the time it took to come."""
    t0 = time.monotonic()
    code, text = r.reply()
    return code, text, time.monotonic() - t0


def greeting_time(port, source=None):
    t0 = time.monotonic()
    r = Raw(port, source=source)
    code, text = r.reply()
    return r, code, text, time.monotonic() - t0


def quit(r):
    assert r.cmd("QUIT")[0] == 221
    assert r.closed()
    r.close()


def quit_all(conns):
    """QUIT on each connection and wait for the server to close it, so
    that the next test finds no session of ours left."""
    for r in conns:
        try:
            quit(r)
        except (OSError, ConnectionError, AssertionError):
            r.close()


def tls_raw(inst, port_index, source=None):
    """A Raw over TLS on the submission (STARTTLS) or smtps port, after
    EHLO."""
    if port_index == 2:
        sock = socket.create_connection(("127.0.0.1", inst.ports[2]), timeout=10)
        t = Raw(None, sock=tls_context().wrap_socket(sock, server_hostname=HOST))
    else:
        r = Raw(inst.ports[port_index], source=source)
        assert r.reply()[0] == 220
        assert r.cmd("EHLO client.example")[0] == 250
        assert r.cmd("STARTTLS")[0] == 220
        t = Raw(None, sock=tls_context().wrap_socket(r.sock, server_hostname=HOST))
    if port_index == 2:
        assert t.reply()[0] == 220
    assert t.cmd("EHLO client.example")[0] == 250
    return t


def auth_plain(t, user="alice@example.test"):
    token = base64.b64encode(b"\0" + user.encode() + b"\0" +
                             USERS[user].encode()).decode()
    code, text = t.cmd("AUTH PLAIN " + token)
    assert code == 235, text


def submit(inst, messages, port_index=1):
    """Sends each message through an authenticated smtplib session (STARTTLS
    on submission, implicit TLS on smtps, nothing on smtp); returns the
    queue ids."""
    if port_index == 2:
        c = smtplib.SMTP_SSL("127.0.0.1", inst.ports[2], HOST, timeout=10,
                             context=tls_context())
    else:
        c = client(inst, port_index)
    ids = []
    try:
        c.ehlo("client.example")
        if port_index == 1:
            c.starttls(context=tls_context())
            c.ehlo("client.example")
        if port_index != 0:
            c.login("alice@example.test", USERS["alice@example.test"])
        for msg in messages:
            assert c.mail("alice@example.test")[0] == 250
            assert c.rcpt("bob@example.test")[0] == 250
            code, text = c.data(msg)
            assert code == 250, (code, text, msg[:100])
            ids.append(queued_id(text))
        c.quit()
    finally:
        c.close()
    return ids


# ---- instances ----

@pytest.fixture(scope="module")
def lim(tmp_path_factory):
    """Greeting pause, connections per client and junk commands on."""
    inst = build(tmp_path_factory.mktemp("smtpd-lim"),
                 tmp_path_factory.getbasetemp().parent,
                 extra=[f"smtpd_greet_pause = {GREET_PAUSE}s",
                        f"smtpd_max_connections_per_client = {MAX_CONN}",
                        f"smtpd_max_junk_commands = {MAX_JUNK}"])
    yield inst
    finish(inst)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    inst = build(tmp_path_factory.mktemp("smtpd-plain"),
                 tmp_path_factory.getbasetemp().parent)
    yield inst
    finish(inst)


@pytest.fixture(scope="module")
def hdr(tmp_path_factory):
    """smtpd_max_header_size = 2k, and an AUTH timeout (1 s) shorter than
    the command timeout (TIMEOUT)."""
    with last_setting_wins():
        inst = build(tmp_path_factory.mktemp("smtpd-hdr"),
                     tmp_path_factory.getbasetemp().parent,
                     extra=["smtpd_max_header_size = 2k",
                            f"smtpd_auth_timeout = {AUTH_TIMEOUT_SHORT}s"])
    yield inst
    finish(inst)


# ---- 1. greeting pause ----

def test_greet_pause_outside_client(lim):
    r, code, text, took = greeting_time(lim.ports[0])
    assert code == 220 and text == [f"{HOST} ESMTP postern".encode()]
    assert GREET_PAUSE - 0.1 <= took < GREET_PAUSE + 2, took
    assert r.cmd("EHLO client.example")[0] == 250
    quit(r)


def test_early_talker(lim):
    before = lim.log_text().count("early talker")
    r = Raw(lim.ports[0])
    r.send(b"EHLO x\r\n")
    code, text = r.reply()
    assert code == 554 and text[0].startswith(b"5.5.1"), text
    assert r.closed()
    # Nothing else came: no greeting, no reply to the EHLO.
    assert r.buf == b""
    r.close()
    lim.wait_log(r"reject: early talker: CONNECT from unknown\[127\.0\.0\.1\]",
                 count=before + 1)


def test_early_talker_after_partial_line(lim):
    """A few bytes without a line end are talking too."""
    r = Raw(lim.ports[0])
    r.send(b"EH")
    code, text = r.reply()
    assert code == 554 and text[0].startswith(b"5.5.1"), text
    assert r.closed()
    r.close()


def test_no_greet_pause_for_mynetworks(lim):
    r, code, _, took = greeting_time(lim.ports[0], source="127.0.0.2")
    assert code == 220 and took < 0.5, took
    quit(r)
    # A trusted client may even talk first: it is not an early talker.
    r = Raw(lim.ports[0], source="127.0.0.2")
    r.send(b"EHLO client.example\r\n")
    assert r.reply()[0] == 220
    assert r.reply()[0] == 250
    quit(r)


def test_no_greet_pause_on_submission_and_smtps(lim):
    r, code, _, took = greeting_time(lim.ports[1])
    assert code == 220 and took < 0.5, took
    quit(r)
    t0 = time.monotonic()
    t = tls_raw(lim, 2)
    assert time.monotonic() - t0 < 0.9
    quit(t)


# ---- 2. connections per client ----

def test_connections_per_client(lim):
    open_ = [Raw(lim.ports[0]) for _ in range(MAX_CONN)]
    try:
        for r in open_:
            assert r.reply()[0] == 220
        # One more from the same address: refused at once, no pause.
        r, code, text, took = greeting_time(lim.ports[0])
        assert code == 421 and text[0].startswith(b"4.7.0"), text
        assert took < 0.5, took
        assert r.closed()
        r.close()
        lim.wait_log(r"reject: CONNECT from unknown\[127\.0\.0\.1\]: too many "
                     r"connections \(4\)")
        # The limit is per client address, whatever the listener.
        r, code, text, _ = greeting_time(lim.ports[1])
        assert code == 421 and text[0].startswith(b"4.7.0"), text
        assert r.closed()
        r.close()
        # The open ones still work.
        for r in open_:
            assert r.cmd("NOOP")[0] == 250
        # One leaves: a new one is accepted again ...
        quit(open_.pop())
        r = Raw(lim.ports[0])
        open_.append(r)
        assert r.reply()[0] == 220
        # ... and the refused ones left nothing behind: full again.
        r, code, _, _ = greeting_time(lim.ports[1])
        assert code == 421
        r.close()
    finally:
        quit_all(open_)


def test_connections_from_mynetworks_unlimited(lim):
    conns = []
    try:
        for _ in range(MAX_CONN + 3):
            r, code, _, took = greeting_time(lim.ports[0], source="127.0.0.2")
            conns.append(r)
            assert code == 220 and took < 0.5
        for r in conns:
            assert r.cmd("NOOP")[0] == 250
        # They do not count against 127.0.0.1 either.
        r, code, _, _ = greeting_time(lim.ports[1])
        assert code == 220
        quit(r)
    finally:
        quit_all(conns)


# ---- 3. junk commands ----

def junk_refused(r):
    code, text = r.reply()
    assert code == 421 and text[0].startswith(b"4.7.0"), text
    assert r.closed()
    r.close()


def test_junk_commands_limit(lim):
    """From outside (after the pause): exactly MAX_JUNK NOOPs answered."""
    r = Raw(lim.ports[0])
    assert r.reply()[0] == 220
    for _ in range(MAX_JUNK):
        assert r.cmd("NOOP")[0] == 250
    r.send(b"NOOP\r\n")
    junk_refused(r)
    lim.wait_log(r"reject: NOOP from unknown\[127\.0\.0\.1\]: too many commands")


def test_junk_commands_mixed(lim):
    """EHLO, RSET, VRFY, HELP and unknown commands count as well."""
    r = Raw(lim.ports[0], source="127.0.0.2")
    assert r.reply()[0] == 220
    cmds = ["EHLO client.example", "NOOP", "RSET", "VRFY alice", "HELP",
            "BOGUS", "NOOP", "RSET", "VRFY bob", "HELP"]
    assert len(cmds) == MAX_JUNK
    for c in cmds:
        code, text = r.cmd(c)
        assert code in (250, 252, 214, 502), (c, code, text)
    r.send(b"HELP\r\n")
    junk_refused(r)
    # An unknown command is the one too many.
    r = Raw(lim.ports[0], source="127.0.0.2")
    assert r.reply()[0] == 220
    for _ in range(MAX_JUNK):
        assert r.cmd("NOOP")[0] == 250
    r.send(b"XYZZY\r\n")
    junk_refused(r)


def test_junk_count_reset_by_message(lim):
    r = Raw(lim.ports[0], source="127.0.0.2")
    assert r.reply()[0] == 220
    assert r.cmd("EHLO client.example")[0] == 250
    for _ in range(MAX_JUNK - 2):
        assert r.cmd("NOOP")[0] == 250
    # MAIL, RCPT and DATA are not junk; the accepted message resets.
    assert r.cmd("MAIL FROM:<a@remote.test>")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(stuffed(MESSAGE))
    code, text = r.reply()
    assert code == 250, text
    for _ in range(MAX_JUNK):
        assert r.cmd("NOOP")[0] == 250
    r.send(b"NOOP\r\n")
    junk_refused(r)


def test_junk_count_mail_rcpt_data_bdat_free(lim):
    r = Raw(lim.ports[0], source="127.0.0.2")
    assert r.reply()[0] == 220
    assert r.cmd("EHLO client.example")[0] == 250        # 1
    for _ in range(MAX_JUNK - 3):                        # 2 .. 8
        assert r.cmd("NOOP")[0] == 250
    # Many MAIL/RCPT/DATA/BDAT, and messages that are refused (no reset).
    for _ in range(3):
        assert r.cmd("MAIL FROM:<a@remote.test>")[0] == 250
        assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert r.cmd("RCPT TO:<bob@example.test>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(b"Subject: bare\r\n\r\nbare\nLF\r\n.\r\n")
        assert r.reply()[0] == 554
    assert r.cmd("MAIL FROM:<a@remote.test>")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    r.send(b"BDAT 4\r\nx\ny\n")
    assert r.reply()[0] == 250
    r.send(b"BDAT 0 LAST\r\n")
    assert r.reply()[0] == 554
    assert r.cmd("NOOP")[0] == 250                        # 9
    assert r.cmd("NOOP")[0] == 250                        # 10
    r.send(b"RSET\r\n")                                   # 11
    junk_refused(r)


# ---- 4. per-state timeouts ----

def _idle_in_data(inst):
    r = Raw(inst.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@remote.test>")
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: idle\r\n\r\npart of a line")
    return r


def _idle_in_bdat_chunk(inst):
    r = Raw(inst.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@remote.test>")
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    r.send(b"BDAT 100\r\nSubject: idle\r\n\r\n")
    return r


def _idle_between_bdat_chunks(inst):
    r = Raw(inst.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@remote.test>")
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    r.send(b"BDAT 17\r\nSubject: idle\r\n\r\n")
    assert r.reply()[0] == 250
    return r


def _idle_in_auth(inst, port_index=1):
    t = tls_raw(inst, port_index)
    code, text = t.cmd("AUTH LOGIN")
    assert code == 334, text
    return t


def _wait_421(setup, inst):
    r = setup(inst)
    try:
        code, text, took = elapsed_reply(r)
        closed = r.closed()
        return code, text, took, closed
    finally:
        r.close()


def test_per_state_timeouts(srv):
    """In parallel: idle after 354, inside a BDAT chunk (both
    smtpd_data_timeout = 2*TIMEOUT), between BDAT chunks (smtpd_timeout)
    and in an AUTH exchange (smtpd_auth_timeout = TIMEOUT)."""
    before = queue_files(srv)
    cases = {"data": (_idle_in_data, 2 * TIMEOUT),
             "bdat chunk": (_idle_in_bdat_chunk, 2 * TIMEOUT),
             "between chunks": (_idle_between_bdat_chunks, TIMEOUT),
             "auth": (_idle_in_auth, TIMEOUT)}
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
        futs = {name: pool.submit(_wait_421, setup, srv)
                for name, (setup, _) in cases.items()}
        results = {name: f.result(timeout=4 * TIMEOUT + 10)
                   for name, f in futs.items()}
    for name, (code, text, took, closed) in results.items():
        want = cases[name][1]
        assert code == 421 and text[0].startswith(b"4.4.2"), (name, text)
        assert want - 0.5 <= took < want + 2, (name, took, want)
        assert closed, name
    # Nothing half-written stays behind.
    assert queue_files(srv) == before
    srv.wait_log(r"timeout after DATA from unknown\[127\.0\.0\.1\]")
    srv.wait_log(r"timeout after BDAT from unknown\[127\.0\.0\.1\]", count=2)
    srv.wait_log(r"timeout after AUTH from unknown\[127\.0\.0\.1\]")


def test_auth_timeout_shorter_than_command_timeout(hdr):
    """With smtpd_auth_timeout (1 s) below smtpd_timeout (TIMEOUT), an AUTH
    exchange times out after the former; a command wait does not."""
    t = _idle_in_auth(hdr, 2)
    code, text, took = elapsed_reply(t)
    assert code == 421 and text[0].startswith(b"4.4.2"), text
    assert AUTH_TIMEOUT_SHORT - 0.3 <= took < TIMEOUT - 0.5, took
    assert t.closed()
    t.close()
    # The second step of AUTH LOGIN as well.
    t = _idle_in_auth(hdr, 2)
    code, _ = t.cmd(base64.b64encode(b"alice@example.test").decode())
    assert code == 334
    code, text, took = elapsed_reply(t)
    assert code == 421 and took < TIMEOUT - 0.5, (text, took)
    t.close()
    # After AUTH, the command timeout applies again.
    t = tls_raw(hdr, 2)
    auth_plain(t)
    code, text, took = elapsed_reply(t)
    assert code == 421 and TIMEOUT - 0.5 <= took < TIMEOUT + 2, (text, took)
    t.close()


# ---- 5. Message-ID and Date on submission ----

HEAD = (b"From: a@example.test\r\nTo: alice@example.test\r\nSubject: hi\r\n")
REST = b"\r\nhello\r\n.leading dot\r\n"
assert MESSAGE == HEAD + REST

GIVEN_MID = b"Message-ID: <given.1@client.example>\r\n"
GIVEN_DATE = b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"


def test_submission_adds_message_id_and_date(srv):
    body_mid = b"\r\nMessage-ID: <in.body@x>\r\nDate: in the body\r\n"
    folded = b"Subject: a\r\n folded\r\n\tline\r\n"
    cases = [
        # (message, head, rest, add Message-ID, add Date, allow a gap)
        (MESSAGE, HEAD, REST, True, True, False),
        (GIVEN_MID + GIVEN_DATE + MESSAGE, GIVEN_MID + GIVEN_DATE + MESSAGE,
         b"", False, False, False),
        (HEAD + GIVEN_DATE + REST, HEAD + GIVEN_DATE, REST, True, False, False),
        (b"message-id: <lower@x>\r\n" + MESSAGE,
         b"message-id: <lower@x>\r\n" + HEAD, REST, False, True, False),
        (b"DATE : Mon, 01 Jan 2024 10:00:00 +0000\r\n" + MESSAGE,
         b"DATE : Mon, 01 Jan 2024 10:00:00 +0000\r\n" + HEAD, REST,
         True, False, False),
        # In the body they do not count.
        (HEAD + body_mid, HEAD, body_mid, True, True, False),
        (folded + b"\r\nbody\r\n", folded, b"\r\nbody\r\n", True, True, False),
        # No header at all, no empty line, nothing after the header.
        (b"hello\r\n", b"", b"hello\r\n", True, True, True),
        (b"Subject: x\r\nthis is the body\r\nmore\r\n", b"Subject: x\r\n",
         b"this is the body\r\nmore\r\n", True, True, True),
        (b"Subject: only\r\n", b"Subject: only\r\n", b"", True, True, False),
        (b"\r\nbody after an empty header\r\n", b"",
         b"\r\nbody after an empty header\r\n", True, True, False),
    ]
    ids = submit(srv, [c[0] for c in cases])
    mids = set()
    for (msg, head, rest, mid, date, gap), qid in zip(cases, ids):
        stored = stored_message(srv, qid)
        check_added(stored, head, rest, qid, mid, date, gap)
        if mid:
            mids.add(re.search(MID_RX, stored).group(0))
    assert len(mids) == sum(1 for c in cases if c[3])


def test_submission_big_headers(srv):
    """Header sections around the filter's 4096-byte output blocks and far
    beyond them: the fields go exactly where the header ends."""
    msgs = []
    for size in (4094, 4095, 4096, 4097, 4098, 8192, 30000):
        head = header_of(size)
        rest = b"\r\n" + b"body line\r\n" * 2000
        msgs.append((head + rest, head, rest))
    ids = submit(srv, [m for m, _, _ in msgs])
    for (_, head, rest), qid in zip(msgs, ids):
        check_added(stored_message(srv, qid), head, rest, qid)


def test_submission_fields_with_bdat(srv):
    t = tls_raw(srv, 1)
    auth_plain(t)
    splits = [
        [b"Subject: chunked\r\nFr", b"om: a@example.test\r\n\r\nbody\r\n"],
        [b"Subject: chunked\r\n", b"\r\nbody\r\n"],
        [b"Subject: chunked\r\n\r", b"\nbody\r\n"],
        [b"Subj", b"ect: c", b"\r\n", b"\r\n", b"body\r\n"],
    ]
    for chunks in splits:
        assert t.cmd("MAIL FROM:<alice@example.test>")[0] == 250
        assert t.cmd("RCPT TO:<bob@example.test>")[0] == 250
        for i, chunk in enumerate(chunks):
            last = " LAST" if i == len(chunks) - 1 else ""
            t.send(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
            code, text = t.reply()
            assert code == 250, text
        qid = queued_id(text[0])
        whole = b"".join(chunks)
        cut = whole.index(b"\r\n\r\n") + 2
        check_added(stored_message(srv, qid), whole[:cut], whole[cut:], qid)
    # BDAT 0 LAST after the whole message.
    assert t.cmd("MAIL FROM:<alice@example.test>")[0] == 250
    assert t.cmd("RCPT TO:<bob@example.test>")[0] == 250
    t.send(b"BDAT 25\r\nSubject: z\r\n\r\nbody\r\n\r\nx\r\n")
    assert t.reply()[0] == 250
    t.send(b"BDAT 0 LAST\r\n")
    code, text = t.reply()
    assert code == 250, text
    qid = queued_id(text[0])
    check_added(stored_message(srv, qid), b"Subject: z\r\n",
                b"\r\nbody\r\n\r\nx\r\n", qid)
    quit(t)


def test_smtps_adds_fields(srv):
    [qid] = submit(srv, [MESSAGE], port_index=2)
    check_added(stored_message(srv, qid), HEAD, REST, qid)


def test_port_25_adds_nothing(srv):
    [qid] = submit(srv, [MESSAGE, b"hello\r\n"], port_index=0)[:1]
    assert stored_message(srv, qid) == MESSAGE
    # Not even for an authenticated client on port 25.
    t = tls_raw(srv, 0)
    auth_plain(t)
    assert t.cmd("MAIL FROM:<alice@example.test>")[0] == 250
    assert t.cmd("RCPT TO:<bob@example.test>")[0] == 250
    assert t.cmd("DATA")[0] == 354
    t.send(stuffed(MESSAGE))
    code, text = t.reply()
    assert code == 250
    assert stored_message(srv, queued_id(text[0])) == MESSAGE
    quit(t)


def message_of(size, head=b"Subject: big\r\n"):
    """(head, body): a message of exactly size bytes, lines of 100."""
    line = b"x" * 98 + b"\r\n"
    body = b"\r\n" + line * ((size - len(head) - 2 - 40) // len(line))
    body += b"y" * (size - len(head) - len(body) - 2) + b"\r\n"
    assert len(head + body) == size
    return head, body


def test_port_25_message_at_max_size(srv):
    head, body = message_of(MAX_SIZE)
    [qid] = submit(srv, [head + body], port_index=0)
    assert stored_message(srv, qid) == head + body
    [qid] = submit(srv, [b"".join(message_of(MAX_SIZE, GIVEN_MID + GIVEN_DATE))],
                   port_index=1)


# Message-ID and Date add about 104 bytes: below the limit by less than
# that, by more, and at the limit through BDAT.
@pytest.mark.parametrize("short_by,bdat", [(0, False), (50, False),
                                           (103, False), (200, False),
                                           (0, True), (50, True)])
def test_submission_message_near_max_size(srv, short_by, bdat):
    """A message the client may send (not over smtpd_max_message_size) is
    accepted on submission, and completed with Message-ID and Date, although
    they make the stored message larger than the limit.  It gets its reply
    at once, whatever it is."""
    head, body = message_of(MAX_SIZE - short_by)
    t = tls_raw(srv, 1)
    auth_plain(t)
    t.sock.settimeout(TIMEOUT + 5)
    assert t.cmd("MAIL FROM:<alice@example.test>")[0] == 250
    assert t.cmd("RCPT TO:<bob@example.test>")[0] == 250
    if bdat:
        t.send(f"BDAT {len(head + body)} LAST\r\n".encode() + head + body)
    else:
        assert t.cmd("DATA")[0] == 354
        t.send(stuffed(head + body))
    t0 = time.monotonic()
    try:
        code, text = t.reply()
    except (ConnectionError, socket.timeout) as exc:
        pytest.fail(f"no reply to the end of the message: {exc!r} after "
                    f"{time.monotonic() - t0:.1f} s")
    took = time.monotonic() - t0
    assert took < 2, f"the reply took {took:.1f} s: {code} {text}"
    assert code == 250, text
    qid = queued_id(text[0])
    quit(t)
    check_added(stored_message(srv, qid), head, body, qid)


# ---- 6. smtpd_max_header_size ----

def data_reply(r, msg):
    assert r.cmd("MAIL FROM:<a@remote.test>")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(stuffed(msg))
    return r.reply()


def test_max_header_size(hdr):
    r = Raw(hdr.ports[0])
    r.reply()
    r.cmd("EHLO client.example")
    before = queue_files(hdr)
    # At the limit.
    head = header_of(HEADER_MAX)
    code, text = data_reply(r, head + b"\r\nbody\r\n")
    assert code == 250, text
    assert stored_message(hdr, queued_id(text[0])) == head + b"\r\nbody\r\n"
    # One byte over; far over (100 KiB of header lines); a header section
    # without an end.
    for msg in (header_of(HEADER_MAX + 1) + b"\r\nbody\r\n",
                header_of(100 * 1024) + b"\r\nbody\r\n",
                header_of(HEADER_MAX + 1)):
        before = queue_files(hdr)
        code, text = data_reply(r, msg)
        assert code == 552 and text[0].startswith(b"5.3.4"), (len(msg), text)
        assert queue_files(hdr) == before
    hdr.wait_log(r"reject: DATA from unknown\[127\.0\.0\.1\]: 552 5\.3\.4")
    # A big body after a small header is fine.
    code, text = data_reply(r, b"Subject: s\r\n\r\n" + b"b" * 50 + b"\r\n" +
                            header_of(HEADER_MAX * 4))
    assert code == 250, text
    # Through BDAT as well.
    r.cmd("MAIL FROM:<a@remote.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    big = header_of(HEADER_MAX + 1) + b"\r\nbody\r\n"
    r.send(f"BDAT {len(big)} LAST\r\n".encode() + big)
    code, text = r.reply()
    assert code == 552 and text[0].startswith(b"5.3.4"), text
    assert r.cmd("NOOP")[0] == 250
    quit(r)


def test_max_header_size_on_submission(hdr):
    t = tls_raw(hdr, 1)
    auth_plain(t)
    head = header_of(HEADER_MAX)
    code, text = data_reply(t, head + b"\r\nbody\r\n")
    assert code == 250, text
    qid = queued_id(text[0])
    check_added(stored_message(hdr, qid), head, b"\r\nbody\r\n", qid)
    before = queue_files(hdr)
    code, text = data_reply(t, header_of(HEADER_MAX + 1) + b"\r\nbody\r\n")
    assert code == 552 and text[0].startswith(b"5.3.4"), text
    assert queue_files(hdr) == before
    quit(t)


# ---- 7. notices to the queue manager ----

def send_one(inst, port_index=0):
    r = Raw(inst.ports[port_index])
    r.reply()
    r.cmd("EHLO client.example")
    code, text = data_reply(r, MESSAGE)
    assert code == 250, text
    quit(r)
    return queued_id(text[0])


class FakeQmgr:
    """A listening socket at private/qmgr that reads IPC frames."""

    def __init__(self, inst):
        self.path = inst.spool / "private" / "qmgr"
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(str(self.path))
        os.chmod(self.path, 0o666)
        self.lsock.listen(4)
        self.conn = None
        self.buf = b""

    def accept(self, timeout):
        self.lsock.settimeout(timeout)
        self.conn, _ = self.lsock.accept()
        self.conn.settimeout(5)

    def recv(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            got = ipc.decode_frame(self.buf)
            if got is not None:
                msg, used = got
                self.buf = self.buf[used:]
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no frame from smtpd")
            self.conn.settimeout(left)
            data = self.conn.recv(65536)
            if not data:
                raise ConnectionError("smtpd closed the notice connection")
            self.buf += data

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.lsock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def test_qmgr_notices(tmp_path, tmp_path_factory):
    inst = build(tmp_path / "qmgr", tmp_path_factory.getbasetemp().parent,
                 users={"alice@example.test": "x"}, tls=False)
    q = None
    try:
        assert (inst.spool / "private").is_dir()
        q = FakeQmgr(inst)
        qid = send_one(inst)
        q.accept(5)
        hello = q.recv()
        assert hello.type == ipc.HELLO, hello
        assert hello.get("version") == str(ipc.PROTOCOL_VERSION)
        assert hello.get("program") == "smtpd", hello
        q.conn.sendall(ipc.encode_frame(ipc.OK))
        m = q.recv()
        assert m.type == ipc.QMGR_QUEUED and m.get("id") == qid, m
        # The next ones on the same connection, no new HELLO.
        ids = [send_one(inst) for _ in range(3)]
        for want in ids:
            m = q.recv()
            assert m.type == ipc.QMGR_QUEUED and m.get("id") == want, m
        # The queue manager goes away: mail is still accepted.
        q.close()
        q = None
        t0 = time.monotonic()
        send_one(inst)
        send_one(inst)
        assert time.monotonic() - t0 < 5
        inst.wait_log(r"queue manager notices: .*qmgr closed")
        # It comes back: within the retry interval smtpd connects again.
        q = FakeQmgr(inst)
        deadline = time.monotonic() + 3 * 2 + 2
        got = None
        while got is None and time.monotonic() < deadline:
            qid = send_one(inst)
            try:
                q.accept(0.7)
                got = qid
            except socket.timeout:
                pass
        assert got is not None, "smtpd did not reconnect to private/qmgr"
        assert q.recv().type == ipc.HELLO
        m = q.recv()
        assert m.type == ipc.QMGR_QUEUED and m.get("id") == got, m
        # A queue manager that refuses HELLO: smtpd goes on.
        q.conn.sendall(ipc.encode_frame(ipc.ERROR, {"error": "go away"}))
        inst.wait_log(r"queue manager notices: .* refused us")
        send_one(inst)
    finally:
        if q is not None:
            q.close()
        finish(inst)
