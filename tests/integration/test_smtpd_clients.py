# SPDX-License-Identifier: ISC
"""postern-smtpd against real SMTP clients: swaks (plain, PIPELINING,
STARTTLS, AUTH PLAIN and LOGIN on submission, implicit TLS, relay refusal
and mynetworks, an unknown user, a bare-LF smuggling attempt) and
openssl s_client (STARTTLS on port 25, implicit TLS with AUTH PLAIN).
A test is skipped only when its client is not installed.  STARTTLS
command injection is covered by test_smtpd.py with raw sockets."""

import base64
import re
import shutil
import subprocess

import pytest

from test_smtpd import (HOST, USERS, build, finish, queue_files,
                        read_queue_file)
from test_smtpd import service_user  # noqa: F401  (autouse fixture)

CLIENT_TIMEOUT = 30
QUEUED_RX = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-V]{18})")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    inst = build(tmp_path_factory.mktemp("smtpd-clients"),
                 tmp_path_factory.getbasetemp().parent)
    yield inst
    finish(inst)


def need(binary):
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed")
    return path


def swaks(inst, *args, port_index=0):
    """Runs swaks against one of inst's ports; returns (exit code, its
    transcript)."""
    cmd = [need("swaks"), "--server", f"127.0.0.1:{inst.ports[port_index]}",
           "--helo", "client.example", "--timeout", "10"] + list(args)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, errors="replace", timeout=CLIENT_TIMEOUT)
    return r.returncode, r.stdout + r.stderr


def queued(inst, out):
    """The queue id in a client's transcript; its queue file must exist."""
    ids = QUEUED_RX.findall(out)
    assert len(ids) == 1, out
    assert ids[0] in queue_files(inst), (ids[0], queue_files(inst))
    return ids[0]


# ---- swaks ----

def test_swaks_plain(srv):
    rc, out = swaks(srv, "--from", "x@remote.test", "--to", "alice@example.test")
    assert rc == 0, out
    qid = queued(srv, out)
    data = read_queue_file(srv, qid)
    assert b"Received: from client.example (unknown [127.0.0.1])" in data
    assert b"with ESMTP id " + qid.encode() in data
    assert b"X-Mailer: swaks" in data


def test_swaks_pipeline(srv):
    rc, out = swaks(srv, "--pipeline", "--from", "x@remote.test",
                    "--to", "alice@example.test,bob@example.test")
    assert rc == 0, out
    qid = queued(srv, out)
    assert b"bob@example.test" in read_queue_file(srv, qid)
    # swaks really pipelined (it only does so when PIPELINING is offered).
    assert "PIPELINING" in out


def test_swaks_starttls(srv):
    rc, out = swaks(srv, "--tls", "--from", "x@remote.test",
                    "--to", "alice@example.test")
    assert rc == 0, out
    assert "220 2.0.0 Ready to start TLS" in out or "STARTTLS" in out, out
    qid = queued(srv, out)
    assert b"with ESMTPS id " + qid.encode() in read_queue_file(srv, qid)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_submission_auth(srv, mech):
    rc, out = swaks(srv, "--tls", "--auth", mech,
                    "--auth-user", "alice@example.test",
                    "--auth-password", USERS["alice@example.test"],
                    "--from", "alice@example.test",
                    "--to", "friend@elsewhere.test", port_index=1)
    assert rc == 0, out
    assert "235 " in out, out
    qid = queued(srv, out)
    data = read_queue_file(srv, qid)
    assert b"with ESMTPSA id " + qid.encode() in data
    assert b"alice@example.test" in data
    srv.wait_log(rf"{qid}: client=unknown\[127\.0\.0\.1\], sasl_method={mech}, "
                 r"sasl_username=alice@example\.test")


def test_swaks_wrong_password(srv):
    before = queue_files(srv)
    rc, out = swaks(srv, "--tls", "--auth", "PLAIN",
                    "--auth-user", "alice@example.test",
                    "--auth-password", "not-the-password",
                    "--from", "alice@example.test",
                    "--to", "friend@elsewhere.test", port_index=1)
    assert rc != 0, out
    assert re.search(r"535 5\.7\.8", out), out
    assert queue_files(srv) == before


def test_swaks_smtps_auth(srv):
    rc, out = swaks(srv, "--tlsc", "--auth", "LOGIN",
                    "--auth-user", "bob@example.test",
                    "--auth-password", USERS["bob@example.test"],
                    "--from", "bob@example.test",
                    "--to", "alice@example.test", port_index=2)
    assert rc == 0, out
    qid = queued(srv, out)
    data = read_queue_file(srv, qid)
    assert b"with ESMTPSA id " + qid.encode() in data
    assert re.search(rb"\(using TLSv1\.3 with cipher ", data), data[:400]


def test_swaks_relay(srv):
    rc, out = swaks(srv, "--from", "x@remote.test",
                    "--to", "someone@elsewhere.test")
    assert rc != 0, out
    assert re.search(r"554 5\.7\.1", out), out
    assert not QUEUED_RX.search(out)
    # From mynetworks the same mail is relayed.
    rc, out = swaks(srv, "--local-interface", "127.0.0.2",
                    "--from", "x@example.test", "--to", "someone@elsewhere.test")
    assert rc == 0, out
    queued(srv, out)
    srv.wait_log(r"client=unknown\[127\.0\.0\.2\]")


def test_swaks_unknown_user(srv):
    before = queue_files(srv)
    rc, out = swaks(srv, "--from", "x@remote.test",
                    "--to", "nosuch@example.test")
    assert rc != 0, out
    assert re.search(r"550 5\.1\.1", out), out
    assert queue_files(srv) == before


def test_swaks_bare_lf_smuggling(srv, tmp_path):
    """An attempt to end the message with LF . LF and smuggle a second one
    behind it: the whole message is refused, nothing is queued, and the
    smuggled MAIL is never a command."""
    data = tmp_path / "smuggle.eml"
    # swaks -ndf sends the file unchanged and then CR LF: the file ends
    # with the "." of the real end marker.
    data.write_bytes(b"From: x@remote.test\r\nSubject: smuggle\r\n\r\n"
                     b"first\n.\nMAIL FROM:<evil@remote.test>\r\n"
                     b"RCPT TO:<bob@example.test>\r\nDATA\r\n"
                     b"Subject: smuggled\r\n\r\nsecond\r\n.")
    before = queue_files(srv)
    rc, out = swaks(srv, "--from", "x@remote.test", "--to", "alice@example.test",
                    "-ndf", "--data", f"@{data}")
    assert rc != 0, out
    assert re.search(r"554 5\.6\.11", out), out
    assert not QUEUED_RX.search(out)
    assert queue_files(srv) == before
    srv.wait_log(r"reject: DATA from unknown\[127\.0\.0\.1\]: 554 5\.6\.11")
    assert "evil@remote.test" not in srv.log_text()


# ---- openssl s_client ----

def s_client(args, lines):
    cmd = [need("openssl"), "s_client"] + args + ["-crlf", "-quiet"]
    r = subprocess.run(cmd, input="".join(x + "\n" for x in lines).encode(),
                       capture_output=True, timeout=CLIENT_TIMEOUT)
    return (r.returncode, r.stdout.decode("utf-8", "replace"),
            r.stderr.decode("utf-8", "replace"))


MESSAGE_LINES = ["From: x@remote.test", "To: alice@example.test",
                 "Subject: via openssl", "", "hello from s_client", "..dot",
                 "."]


def test_openssl_starttls(srv):
    _, out, err = s_client(
        ["-starttls", "smtp", "-connect", f"127.0.0.1:{srv.ports[0]}"],
        ["EHLO client.example", "MAIL FROM:<x@remote.test>",
         "RCPT TO:<alice@example.test>", "DATA"] + MESSAGE_LINES + ["QUIT"])
    assert re.search(r"^250[ -]AUTH PLAIN LOGIN\r?$", out, re.M), out
    assert re.search(r"^221 ", out, re.M), out
    qid = queued(srv, out)
    data = read_queue_file(srv, qid)
    assert b"with ESMTPS id " + qid.encode() in data
    assert re.search(rb"\(using TLSv1\.3 with cipher ", data), data[:400]
    assert b"hello from s_client\r\n.dot\r\n" in data


def test_openssl_smtps_auth_plain(srv):
    token = base64.b64encode(b"\0alice@example.test\0" +
                             USERS["alice@example.test"].encode()).decode()
    _, out, err = s_client(
        ["-connect", f"127.0.0.1:{srv.ports[2]}", "-servername", HOST],
        ["EHLO client.example", "AUTH PLAIN " + token,
         "MAIL FROM:<alice@example.test>", "RCPT TO:<friend@elsewhere.test>",
         "DATA"] + MESSAGE_LINES + ["QUIT"])
    assert re.search(r"^220 mx\.example\.test ESMTP", out, re.M), out
    assert re.search(r"^235 2\.7\.0", out, re.M), out
    qid = queued(srv, out)
    data = read_queue_file(srv, qid)
    m = re.search(rb"Received: from client\.example \(unknown \[127\.0\.0\.1\]\)\r\n"
                  rb"\t\(using (TLSv1\.\d) with cipher \S+ \(\d+/\d+ bits\)\)\r\n"
                  rb"\tby mx\.example\.test \(postern\) with (\w+) id " +
                  qid.encode(), data)
    assert m, data[:600]
    assert m.group(1) == b"TLSv1.3" and m.group(2) == b"ESMTPSA", m.group(0)
    assert b"friend@elsewhere.test" in data


@pytest.mark.parametrize("port_index", [0, 2])
def test_openssl_clean_tls_close(srv, port_index):
    """After QUIT over TLS the server ends TLS with close_notify (RFC 8446
    6.1) before it closes the connection; OpenSSL 3 clients otherwise
    report "unexpected eof while reading" and s_client exits with 1."""
    args = ["-connect", f"127.0.0.1:{srv.ports[port_index]}"]
    if port_index == 0:
        args = ["-starttls", "smtp"] + args
    rc, out, err = s_client(args, ["EHLO client.example", "QUIT"])
    assert re.search(r"^221 ", out, re.M), (out, err)
    assert "unexpected eof" not in err, err
    assert rc == 0, (out, err)
