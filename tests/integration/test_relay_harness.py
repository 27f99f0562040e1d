# SPDX-License-Identifier: ISC
"""Self-tests of relay_harness: the DNS server (asked by a tiny DNS client
written here with struct, over UDP and TCP: MX by preference, A, AAAA,
NODATA for a type a name lacks, the null MX, NXDOMAIN), the SMTP receiver
(driven by smtplib and raw sockets: the dialogue, PIPELINING, STARTTLS,
AUTH, scripted replies, long lines, stalls, garbage, IPv6, stop()), the
test CA (a good certificate verifies, a wrong name and an untrusted CA do
not) and the instance builder (without the transfer agent: local
delivery to the sender's Maildir works).  None needs the transfer agent."""

import base64
import ipaddress
import random
import smtplib
import socket
import ssl
import struct
import subprocess
import time

import pytest

import postern_harness as ph
import relay_harness as rh
from test_smtpd import Raw as SmtpRaw
from test_smtpd import service_user  # noqa: F401  (autouse: postern-auth)

# ---- a tiny DNS client -----------------------------------------------------------

TYPES = {"A": 1, "MX": 15, "AAAA": 28, "TXT": 16}
NOERROR, NXDOMAIN = 0, 3


def _qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def _name(msg, pos):
    """(name, position after it) of a possibly compressed name at pos."""
    labels = []
    after = None
    for _ in range(128):
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            if after is None:
                after = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            continue
        pos += 1
        if n == 0:
            break
        labels.append(msg[pos:pos + n].decode())
        pos += n
    return ".".join(labels), (after if after is not None else pos)


def dns_query(port, name, qtype, tcp=False, timeout=3.0):
    """Asks 127.0.0.1:port; returns (rcode, [answers]) where an answer is
    (type, value): an address text for A/AAAA, (preference, exchange) for
    MX (exchange "" for the root)."""
    qid = random.randrange(1, 65535)
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _qname(name) + \
        struct.pack(">HH", TYPES[qtype], 1)
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(struct.pack(">H", len(query)) + query)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
                chunk = s.recv(4096)
                assert chunk, "DNS server closed the TCP connection"
                data += chunk
            msg = data[2:]
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(query, ("127.0.0.1", port))
            msg, _ = s.recvfrom(65535)
    rid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    assert rid == qid and flags & 0x8000, "not an answer to our query"
    pos = 12
    for _ in range(qd):
        _, pos = _name(msg, pos)
        pos += 4
    answers = []
    for _ in range(an):
        _, pos = _name(msg, pos)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlen]
        if rtype == 1:
            answers.append(("A", str(ipaddress.IPv4Address(rdata))))
        elif rtype == 28:
            answers.append(("AAAA", str(ipaddress.IPv6Address(rdata))))
        elif rtype == 15:
            pref = struct.unpack(">H", rdata[:2])[0]
            exch, _ = _name(msg, pos + 2)
            answers.append(("MX", (pref, exch)))
        else:
            answers.append((rtype, rdata))
        pos += rdlen
    return flags & 0xF, answers


@pytest.fixture
def dns(tmp_path):
    server = rh.DnsServer(
        tmp_path / "dns",
        mx=[("remote.test", "mx1.remote.test", 10),
            ("remote.test", "mx2.remote.test", 20)],
        a=[("mx1.remote.test", "127.0.0.2"), ("mx2.remote.test", "127.0.0.3"),
           ("afallback.test", "127.0.0.4"), ("multi.test", "127.0.0.5"),
           ("multi.test", "127.0.0.6"), ("nullmx.test", "127.0.0.7")],
        aaaa=[("v6only.test", "::1"), ("multi.test", "::1")],
        null_mx=["nullmx.test"],
        nxdomain=["nosuch.test"])
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_dns_records(dns, tcp):
    q = lambda name, t: dns_query(dns.port, name, t, tcp=tcp)  # noqa: E731
    rcode, ans = q("remote.test", "MX")
    assert rcode == NOERROR
    assert sorted(v for _, v in ans) == [(10, "mx1.remote.test"), (20, "mx2.remote.test")]
    assert q("mx1.remote.test", "A") == (NOERROR, [("A", "127.0.0.2")])
    assert q("mx2.remote.test", "A") == (NOERROR, [("A", "127.0.0.3")])
    # A name that has only AAAA: NODATA for A, not NXDOMAIN.
    assert q("v6only.test", "A") == (NOERROR, [])
    assert q("v6only.test", "AAAA") == (NOERROR, [("AAAA", "::1")])
    # No MX: NODATA for MX (the A fallback applies), not NXDOMAIN.
    assert q("afallback.test", "MX") == (NOERROR, [])
    assert q("afallback.test", "A") == (NOERROR, [("A", "127.0.0.4")])
    assert q("afallback.test", "AAAA") == (NOERROR, [])
    assert q("mx1.remote.test", "MX") == (NOERROR, [])
    # An MX-only name: NODATA for A and AAAA.
    assert q("remote.test", "A") == (NOERROR, [])
    assert q("remote.test", "AAAA") == (NOERROR, [])
    rcode, ans = q("multi.test", "A")
    assert rcode == NOERROR and sorted(ans) == [("A", "127.0.0.5"), ("A", "127.0.0.6")]
    assert q("multi.test", "AAAA") == (NOERROR, [("AAAA", "::1")])
    # RFC 7505: one MX, preference 0, exchange the root.
    assert q("nullmx.test", "MX") == (NOERROR, [("MX", (0, ""))])
    assert q("nullmx.test", "A") == (NOERROR, [("A", "127.0.0.7")])
    # Names that do not exist.
    for name in ("nosuch.test", "other.nosuch.test", "unknown.test"):
        for t in ("MX", "A", "AAAA"):
            assert q(name, t) == (NXDOMAIN, []), (name, t)


def test_dns_log_and_stop(dns):
    dns_query(dns.port, "remote.test", "MX")
    ph.wait_for(lambda: "query[MX] remote.test" in dns.log_text(), 5, "the query log")
    pid = dns.pid
    assert ph.pid_alive(pid)
    t0 = time.monotonic()
    dns.stop()
    assert time.monotonic() - t0 < rh.STOP_BOUND
    assert not ph.pid_alive(pid)
    with pytest.raises(OSError):
        dns_query(dns.port, "remote.test", "MX", timeout=0.5)
    dns.stop()                                   # twice is harmless


def test_dns_args(tmp_path):
    server = rh.DnsServer(tmp_path, mx=[("a.example", "mx.a.example", 5)],
                          a=[("mx.a.example", "127.0.0.2")], null_mx=["n.test"],
                          port=5353)
    args = server.args()
    for want in ("--keep-in-foreground", "--no-resolv", "--no-hosts",
                 "--conf-file=/dev/null", "--bind-interfaces",
                 "--listen-address=127.0.0.1", "--port=5353", "--pid-file=",
                 "--local=/example/", "--local=/test/",
                 "--mx-host=a.example,mx.a.example,5",
                 "--host-record=mx.a.example,127.0.0.2",
                 "--dns-rr=n.test,15,000000"):
        assert want in args, want
    if ph.is_root():
        assert "--user=root" in args
    with pytest.raises(ValueError):
        rh.DnsServer(tmp_path, a=[("x.test", "127.0.0.2")], nxdomain=["x.test"])
    with pytest.raises(ValueError):
        rh.DnsServer(tmp_path, mx=[("x.test", "mx.x.test", 1)], null_mx=["x.test"])


# ---- ports ---------------------------------------------------------------------------

def test_sink_port_free_everywhere():
    port = rh.sink_port()
    for host in rh.SINK_HOSTS:
        with socket.socket() as s:
            s.bind((host, port))
    if rh.ipv6_loopback():
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", port))
    p = rh.udp_tcp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
        u.bind(("127.0.0.1", p))
        t.bind(("127.0.0.1", p))


# ---- the SMTP receiver ------------------------------------------------------------------

def Raw(host, port, timeout=5):
    """test_smtpd's line client, to the receiver at host."""
    c = SmtpRaw(port, host=host)
    c.sock.settimeout(timeout)
    return c


@pytest.fixture
def receivers():
    made = []

    def make(host="127.0.0.2", port=None, **kw):
        r = rh.SmtpReceiver(host, port if port is not None else rh.sink_port(), **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop()
    for r in made:
        assert not r.errors, r.errors


def test_receiver_dialogue(receivers):
    rcv = receivers("127.0.0.2", name="mx.remote.test")
    body = (b"From: a@local.test\r\nSubject: t\r\n\r\nline\r\n.dot first\r\n"
            b"..two dots\r\n\xc3\xa9 8-bit\r\nlast")
    with smtplib.SMTP("127.0.0.2", rcv.port, "client.test", timeout=5) as c:
        code, text = c.ehlo()
        assert code == 250 and text.startswith(b"mx.remote.test")
        for ext in ("pipelining", "size", "8bitmime", "smtputf8", "dsn",
                    "enhancedstatuscodes"):
            assert c.has_extn(ext), ext
        assert c.esmtp_features["size"] == "10240000"
        assert not c.has_extn("starttls") and not c.has_extn("auth")
        c.sendmail("a@local.test", ["b@remote.test", "c@remote.test"], body,
                   mail_options=["BODY=8BITMIME"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;b@remote.test"])
        assert c.noop()[0] == 250
        assert c.rset()[0] == 250
        assert c.docmd("VRFY", "x")[0] == 252
        assert c.docmd("XYZZY")[0] == 502
        assert c.docmd("RCPT", "TO:<x@y>")[0] == 503
        assert c.docmd("DATA")[0] == 503
    [m] = rcv.wait_messages(1, 5)
    assert rcv.connections == 1
    assert m.helo == "client.test" and m.peer[0] == "127.0.0.1"
    assert m.mail_from == "a@local.test"
    assert m.mail_params["BODY"] == "8BITMIME"
    assert int(m.mail_params["SIZE"]) > 0
    assert m.rcpt_to == ["b@remote.test", "c@remote.test"]
    assert m.rcpts[0].params == {"NOTIFY": "SUCCESS,FAILURE",
                                 "ORCPT": "rfc822;b@remote.test"}
    # Exactly the bytes sent: CRLF kept, dots unstuffed (smtplib stuffed
    # them), smtplib's added final CRLF.
    assert m.data == body + b"\r\n"
    assert m.reply == "250 2.0.0 Ok: queued as 1"
    assert m.tls is None and m.auth_user is None
    assert m.message()["Subject"] == "t"
    cmds = rcv.commands()
    assert cmds[0] == "ehlo client.test" and cmds[-1] == "QUIT"


def test_receiver_pipelining(receivers):
    rcv = receivers("127.0.0.3")
    c = Raw("127.0.0.3", rcv.port)
    assert c.reply()[0] == 220
    c.sock.sendall(b"EHLO p.test\r\nMAIL FROM:<a@x.test> BODY=7BIT\r\n"
                   b"RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test> NOTIFY=NEVER\r\n"
                   b"DATA\r\nSubject: p\r\n\r\nhi\r\n.\r\n"
                   b"MAIL FROM:<>\r\nRCPT TO:<d@y.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n")
    codes = [c.reply()[0] for _ in range(11)]
    assert codes == [250, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221]
    assert c.closed()
    c.close()
    m1, m2 = rcv.wait_messages(2, 5)
    assert m1.rcpt_to == ["b@y.test", "c@y.test"] and m1.data == b"Subject: p\r\n\r\nhi\r\n"
    assert m1.rcpts[1].params == {"NOTIFY": "NEVER"}
    assert m2.mail_from == "" and m2.data == b"x\r\n"
    assert m2.reply == "250 2.0.0 Ok: queued as 2"
    assert m1.conn_no == m2.conn_no == 1


def test_receiver_scripted_replies(receivers):
    rcv = receivers(
        "127.0.0.2",
        mail_reply=lambda a, n: "451 4.3.0 mail later" if a == "slow@x.test" else None,
        rcpt_reply=lambda a, n: ("550 5.1.1 no such user" if a.startswith("bad")
                                 else "450 4.2.0 try later" if a.startswith("later") and n == 1
                                 else None),
        data_reply=lambda n: "451 4.3.0 busy" if n == 1 else None)
    with smtplib.SMTP("127.0.0.2", rcv.port, timeout=5) as c:
        c.ehlo()
        assert c.mail("slow@x.test") == (451, b"4.3.0 mail later")
        assert c.mail("a@x.test")[0] == 250
        assert c.rcpt("good@y.test")[0] == 250
        assert c.rcpt("bad@y.test") == (550, b"5.1.1 no such user")
        assert c.rcpt("later@y.test") == (450, b"4.2.0 try later")
        assert c.data(b"one\r\n") == (451, b"4.3.0 busy")
        assert c.mail("a@x.test")[0] == 250
        assert c.rcpt("later@y.test")[0] == 250
        code, text = c.data(b"two\r\n")
        assert code == 250 and text == b"2.0.0 Ok: queued as 1"
        assert c.mail("a@x.test")[0] == 250
        assert c.rcpt("bad@y.test")[0] == 550
        assert c.docmd("DATA")[0] == 554        # no valid recipients
    [m] = rcv.wait_messages(1, 5)
    assert m.rcpt_to == ["later@y.test"] and m.data == b"two\r\n"
    assert [t.reply for t in rcv.transactions] == ["451 4.3.0 busy", "250 2.0.0 Ok: queued as 1"]
    assert rcv.rcpt_attempts == {"good@y.test": 1, "bad@y.test": 2, "later@y.test": 2}


def test_receiver_helo_only_and_greetings(receivers):
    rcv = receivers("127.0.0.2", helo_only=True)
    with smtplib.SMTP("127.0.0.2", rcv.port, "h.test", timeout=5) as c:
        c.sendmail("a@x.test", ["b@y.test"], b"x\r\n")   # EHLO 502, then HELO
    [m] = rcv.wait_messages(1, 5)
    assert m.helo == "h.test"
    assert rcv.commands()[:2] == ["ehlo h.test", "helo h.test"]

    r421 = receivers("127.0.0.3", greeting="421 4.3.2 go away")
    c = Raw("127.0.0.3", r421.port)
    assert c.reply() == (421, [b"4.3.2 go away"])
    assert c.closed()
    c.close()

    r554 = receivers("127.0.0.4", greeting="554 5.7.1 no service")
    c = Raw("127.0.0.4", r554.port)
    assert c.reply()[0] == 554
    assert c.cmd("EHLO x")[0] == 503
    assert c.cmd("MAIL FROM:<a@b>")[0] == 503
    assert c.cmd("QUIT")[0] == 221
    c.close()


def test_receiver_long_line_and_garbage(receivers):
    rcv = receivers("127.0.0.2")
    c = Raw("127.0.0.2", rcv.port)
    c.reply()
    assert c.cmd("NOOP " + "x" * rh.LINE_MAX)[0] == 500          # 4101 bytes
    assert c.cmd("NOOP " + "x" * (rh.LINE_MAX - 5))[0] == 250     # 4096 bytes
    assert c.cmd("NOOP")[0] == 250
    c.close()
    rcv.garbage = {"MAIL": b"hello\r\n", "EHLO": b"250-" + b"x" * 5000 + b"\r\n250 ok\r\n"}
    c = Raw("127.0.0.2", rcv.port)
    c.reply()
    c.sock.sendall(b"EHLO x\r\n")
    first = c.line()
    assert first == b"250-" + b"x" * 5000
    assert c.line() == b"250 ok"
    c.sock.sendall(b"MAIL FROM:<a@b.test>\r\n")
    assert c.line() == b"hello"
    assert c.cmd("RSET")[0] == 250
    c.close()
    # The greeting and the reply after the dot too.
    rcv.garbage = {"GREETING": b"\x00\xffjunk\r\n", "DOT": b"2\r\n"}
    c = Raw("127.0.0.2", rcv.port)
    assert c.line() == b"\x00\xffjunk"
    c.cmd("EHLO x")
    c.cmd("MAIL FROM:<a@b.test>")
    c.cmd("RCPT TO:<c@d.test>")
    assert c.cmd("DATA")[0] == 354
    c.sock.sendall(b"body\r\n.\r\n")
    assert c.line() == b"2"
    c.close()
    assert rcv.messages == []


def test_receiver_delay(receivers):
    rcv = receivers("127.0.0.2", delay={"DOT": 0.5})
    with smtplib.SMTP("127.0.0.2", rcv.port, timeout=5) as c:
        c.ehlo()
        c.mail("a@x.test")
        c.rcpt("b@y.test")
        t0 = time.monotonic()
        assert c.data(b"x\r\n")[0] == 250
        assert time.monotonic() - t0 >= 0.45


def test_receiver_stall_in_data(receivers):
    rcv = receivers("127.0.0.2", stall_in_data=(20000, 1.5))
    assert rcv.rcvbuf == 8192
    c = Raw("127.0.0.2", rcv.port)
    c.reply()
    c.cmd("EHLO x")
    c.cmd("MAIL FROM:<a@b.test>")
    c.cmd("RCPT TO:<c@d.test>")
    assert c.cmd("DATA")[0] == 354
    # 16 MiB cannot fit in the socket buffers: the send blocks.
    c.sock.settimeout(0.5)
    chunk = (b"y" * 78 + b"\r\n") * 1000
    t0 = time.monotonic()
    blocked = False
    try:
        for _ in range(200):
            c.sock.sendall(chunk)
    except socket.timeout:
        blocked = True
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert blocked, "the receiver kept reading"
    # Dropped after the stall: the connection ends within a bound.
    assert c.closed(timeout=5)
    assert time.monotonic() - t0 < 5
    c.close()
    [t] = rcv.transactions
    assert t.stalled and t.data is None and not rcv.messages
    # Behaving again (the option changed): the next connection delivers.
    rcv.stall_in_data = None
    with smtplib.SMTP("127.0.0.2", rcv.port, timeout=5) as s:
        s.sendmail("a@b.test", ["c@d.test"], b"x" * 100000 + b"\r\n")
    rcv.wait_messages(1, 5)


def test_receiver_stall_after_dot(receivers):
    rcv = receivers("127.0.0.2", stall_after_dot=True)
    c = Raw("127.0.0.2", rcv.port)
    c.reply()
    c.cmd("EHLO x")
    c.cmd("MAIL FROM:<a@b.test>")
    c.cmd("RCPT TO:<c@d.test>")
    assert c.cmd("DATA")[0] == 354
    c.sock.sendall(b"all of it\r\n.\r\n")
    c.sock.settimeout(1)
    with pytest.raises(socket.timeout):
        c.line()
    c.close()
    rcv.wait_for(lambda r: r.conns[0].closed, 5, "the receiver to see the close")
    [t] = rcv.transactions
    assert t.stalled and t.data == b"all of it\r\n" and t.reply is None
    assert rcv.messages == []


def test_receiver_stop_bounded(receivers):
    rcv = receivers("127.0.0.2", stall_in_data=(1, 300))
    idle = Raw("127.0.0.2", rcv.port)
    idle.reply()
    stalled = Raw("127.0.0.2", rcv.port)
    stalled.reply()
    for line in ("EHLO x", "MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>", "DATA"):
        stalled.cmd(line)
    stalled.sock.sendall(b"some data\r\n")
    rcv.wait_for(lambda r: len(r.transactions) == 1, 5, "the stall")
    t0 = time.monotonic()
    rcv.stop()
    assert time.monotonic() - t0 < 2 * rh.STOP_BOUND
    assert idle.closed(2) and stalled.closed(2)
    assert all(not t.is_alive() for t in rcv._threads)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", rcv.port), timeout=1)


def test_receiver_ipv6(receivers):
    if not rh.ipv6_loopback():
        pytest.skip("no IPv6 on the loopback interface")
    rcv = receivers("::1")
    with smtplib.SMTP("::1", rcv.port, timeout=5) as c:
        c.sendmail("a@x.test", ["b@y.test"], b"v6\r\n")
    [m] = rcv.wait_messages(1, 5)
    assert m.peer[0] == "::1" and rcv.address == f"[::1]:{rcv.port}"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return rh.TestCA(tmp_path_factory.mktemp("ca"))


def test_ca_certificates(ca):
    cert, key = ca.cert(["mx.remote.test", "127.0.0.5"])
    r = subprocess.run(["openssl", "verify", "-CAfile", str(ca.ca_file),
                        "-verify_hostname", "mx.remote.test", str(cert)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(cert)],
                          capture_output=True, text=True, timeout=30).stdout
    assert "DNS:mx.remote.test" in text and "IP Address:127.0.0.5" in text
    bad, _ = ca.untrusted_cert(["mx.remote.test"])
    r = subprocess.run(["openssl", "verify", "-CAfile", str(ca.ca_file), str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert ca.untrusted_ca_file != ca.ca_file


def test_receiver_starttls(receivers, ca):
    good = ca.cert(["mx.remote.test"])
    rcv = receivers("127.0.0.2", starttls=good, name="mx.remote.test")
    ctx = ssl.create_default_context(cafile=str(ca.ca_file))
    with smtplib.SMTP("127.0.0.2", rcv.port, "c.test", timeout=5) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        c._host = "mx.remote.test"          # the name to verify
        assert c.starttls(context=ctx)[0] == 220
        c.ehlo()
        assert not c.has_extn("starttls")
        c.sendmail("a@x.test", ["b@y.test"], b"secret\r\n")
    [m] = rcv.wait_messages(1, 5)
    assert m.tls[0] in ("TLSv1.2", "TLSv1.3") and m.tls_cipher
    assert m.helo == "c.test"
    # EHLO is forgotten after STARTTLS, and pipelined lines after it too.
    c = Raw("127.0.0.2", rcv.port)
    c.reply()
    c.cmd("EHLO x")
    c.sock.sendall(b"STARTTLS\r\nMAIL FROM:<inject@x.test>\r\n")
    assert c.reply()[0] == 220
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    c.sock = insecure.wrap_socket(c.sock)
    c.buf = b""
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 503
    assert c.cmd("EHLO y")[0] == 250
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    c.close()
    rcv.wait_for(lambda r: r.conns[1].closed, 5, "the close")
    assert "MAIL FROM:<inject@x.test>" not in rcv.commands()
    # A client that checks the name or the CA refuses the wrong ones.
    for certs, cafile in ((ca.cert(["other.test"]), ca.ca_file),
                          (ca.untrusted_cert(["mx.remote.test"]), ca.ca_file)):
        bad = receivers("127.0.0.3", starttls=certs)
        with smtplib.SMTP("127.0.0.3", bad.port, timeout=5) as c:
            c.ehlo()
            c._host = "mx.remote.test"
            with pytest.raises(ssl.SSLCertVerificationError):
                c.starttls(context=ssl.create_default_context(cafile=str(cafile)))
        bad.stop()


def test_receiver_auth(receivers, ca):
    rcv = receivers("127.0.0.5", auth={"relayuser": "relay pass"}, require_auth=True)
    with smtplib.SMTP("127.0.0.5", rcv.port, timeout=5) as c:
        c.ehlo()
        assert "PLAIN" in c.esmtp_features["auth"] and "LOGIN" in c.esmtp_features["auth"]
        assert c.mail("a@x.test") == (530, b"5.7.0 Authentication required")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login("relayuser", "wrong")
        c.user, c.password = "relayuser", "relay pass"
        assert c.auth("PLAIN", c.auth_plain)[0] == 235
        c.sendmail("a@x.test", ["b@y.test"], b"x\r\n")
    with smtplib.SMTP("127.0.0.5", rcv.port, timeout=5) as c:
        c.ehlo()
        c.user, c.password = "relayuser", "relay pass"
        assert c.auth("LOGIN", c.auth_login, initial_response_ok=False)[0] == 235
        assert c.docmd("AUTH", "PLAIN")[0] == 503
        c.sendmail("a@x.test", ["b@y.test"], b"y\r\n")
    m1, m2 = rcv.wait_messages(2, 5)
    assert m1.auth_user == m2.auth_user == "relayuser"
    # smtplib's login() tried PLAIN, then LOGIN, both refused.
    attempts = rcv.conns[0].auth_attempts
    assert attempts[-1] == ("relayuser", True)
    assert len(attempts) >= 2 and all(a == ("relayuser", False) for a in attempts[:-1])
    # PLAIN with the response on its own line; a cancelled exchange.
    c = Raw("127.0.0.5", rcv.port)
    c.reply()
    c.cmd("EHLO x")
    assert c.cmd("AUTH PLAIN")[0] == 334
    assert c.cmd("*")[0] == 501
    assert c.cmd("AUTH CRAM-MD5")[0] == 504
    assert c.cmd("AUTH PLAIN " + base64.b64encode(b"\0relayuser\0relay pass").decode())[0] == 235
    c.close()
    # auth_tls_only: no AUTH before STARTTLS, AUTH after it.
    tls = receivers("127.0.0.6", auth={"u": "p"}, auth_tls_only=True,
                    starttls=ca.cert(["mx.remote.test"]))
    with smtplib.SMTP("127.0.0.6", tls.port, timeout=5) as c:
        c.ehlo()
        assert not c.has_extn("auth")
        assert c.docmd("AUTH", "PLAIN AHUAcA==")[0] == 502
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.starttls(context=ctx)
        c.ehlo()
        assert c.has_extn("auth")
        c.login("u", "p")
        c.sendmail("a@x.test", ["b@y.test"], b"z\r\n")
    [m] = tls.wait_messages(1, 5)
    assert m.auth_user == "u" and m.tls


# ---- the instance builder -------------------------------------------------------------

def test_build_instance_local_delivery(tmp_path, tmp_path_factory, request):
    """Without the transfer agent: the configuration a relay test gets,
    and a message to the sender herself lands in her Maildir (so bounces
    will)."""
    env = rh.RelayEnv(tmp_path, tmp_path_factory.getbasetemp().parent)
    request.node.postern_instances = env.instances
    try:
        dns = env.start_dns(mx=[("remote.test", "mx.remote.test", 10)],
                            a=[("mx.remote.test", "127.0.0.2")])
        inst = env.instance(agent=False, extra=["queue_retry_min = 2s", "smtp_port = 2525"],
                            tables={"transport": [("remote.test", "smtp:[127.0.0.9]")]})
        conf = (inst.etc / "postern.conf").read_text()
        for line in (f"dns_servers = 127.0.0.1:{dns.port}", "mydomains = local.test",
                     "queue_retry_max = 2s", "queue_retry_min = 2s",
                     "transfer-agent.program = postern-transfer-agent",
                     "transfer-agent.listen = smtp=private/smtp",
                     "transfer-agent.enable = no", "mynetworks = 127.0.0.1/32"):
            assert line + "\n" in conf, line
        assert "queue_retry_min = 1s" not in conf
        assert conf.count("smtp_port =") == 1 and "smtp_port = 2525" in conf
        assert (inst.etc / "transport").exists()
        assert (inst.libexec / "postern-transfer-agent").is_symlink()
        qid = rh.submit(inst, [rh.SENDER], rh.message("to myself", to=rh.SENDER))
        [f] = rh.wait_maildir(inst, rh.SENDER, 1)
        assert b"Subject: to myself" in f.read_bytes()
        inst.wait_log(rf"{qid}: to=<alice@local\.test>, relay=local, .*status=sent")
        assert rh.agent_pids(inst) == []
    finally:
        errors, reports, bugs = env.close()
    assert not errors and not reports and not bugs, (errors, reports, bugs)


def test_bounce_parsing_real_report(tmp_path, tmp_path_factory, request):
    """bounce_for() on a report the queue manager really writes: a remote
    recipient that no transfer agent takes expires after queue_lifetime
    (10 s, the least allowed) and alice gets the 4.4.7 report."""
    env = rh.RelayEnv(tmp_path, tmp_path_factory.getbasetemp().parent)
    request.node.postern_instances = env.instances
    try:
        inst = env.instance(agent=False, extra=["queue_lifetime = 10s"])
        qid = rh.submit(inst, ["bob@remote.test"], rh.message("expires"))
        msg, pm, pr = rh.bounce_for(inst, "bob@remote.test", timeout=40)
        assert pr["action"] == "failed" and pr["status"] == "4.4.7"
        assert "rfc822;" in pr["final-recipient"].replace(" ", "").lower()
        assert "reporting-mta" in pm
        assert pm.get("x-postern-queue-id") == qid
    finally:
        errors, reports, bugs = env.close()
    assert not errors and not reports and not bugs, (errors, reports, bugs)


def test_build_instance_as_receiver(tmp_path, tmp_path_factory, request):
    """The second postern of test_postern_to_postern: smtpd on
    127.0.0.4:SINK with a certificate of the test CA, mydomains
    remote.test; a client that verifies mx.remote.test against the CA
    delivers into bob's Maildir there."""
    env = rh.RelayEnv(tmp_path, tmp_path_factory.getbasetemp().parent)
    request.node.postern_instances = env.instances
    try:
        ca = env.test_ca()
        cert, key = ca.cert(["mx.remote.test"])
        remote = env.instance(
            name="remote", domain="remote.test", hostname="mx.remote.test",
            users={"bob@remote.test": "bob-pass"}, smtpd_host="127.0.0.4",
            smtpd_port=env.sink, agent=False, dns_port=None, sink=None,
            extra=[f"tls_cert_file = {cert}", f"tls_key_file = {key}"])
        conf = (remote.etc / "postern.conf").read_text()
        assert "dns_servers" not in conf and "smtp_port" not in conf
        assert f"smtpd.listen = smtp=127.0.0.4:{env.sink}\n" in conf
        ctx = ssl.create_default_context(cafile=str(ca.ca_file))
        with smtplib.SMTP("127.0.0.4", env.sink, "mail.local.test", timeout=10) as c:
            c.ehlo()
            c._host = "mx.remote.test"
            c.starttls(context=ctx)
            c.ehlo()
            c.sendmail(rh.SENDER, ["bob@remote.test"], rh.message("to remote"))
            assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        [f] = rh.wait_maildir(remote, "bob@remote.test", 1)
        assert b"Subject: to remote" in f.read_bytes()
    finally:
        errors, reports, bugs = env.close()
    assert not errors and not reports and not bugs, (errors, reports, bugs)


def test_parse_dsn():
    report = (b"From: MAILER-DAEMON@local.test\r\nTo: alice@local.test\r\n"
              b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status;\r\n"
              b" boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsorry\r\n"
              b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
              b"Reporting-MTA: dns; mail.local.test\r\n\r\n"
              b"Final-Recipient: rfc822; bad@remote.test\r\nAction: failed\r\n"
              b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n"
              b"Final-Recipient: rfc822; other@remote.test\r\nAction: failed\r\n"
              b"Status: 5.1.10\r\n\r\n"
              b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: x\r\n\r\n--B--\r\n")
    msg, pm, prs = rh.parse_dsn(report)
    assert pm["reporting-mta"] == "dns; mail.local.test"
    assert [p["status"] for p in prs] == ["5.1.1", "5.1.10"]
    assert prs[0]["diagnostic-code"] == "smtp; 550 5.1.1 no such user"
