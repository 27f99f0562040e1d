# SPDX-License-Identifier: ISC
"""Relaying through postern-transfer-agent, end to end: mail submitted to
a postern instance (smtpd on 127.0.0.1, sender alice@local.test, client
127.0.0.1 in mynetworks) goes to the mail exchangers that a loopback
dnsmasq names, where scriptable SMTP receivers (relay_harness) listen on
127.0.0.2, 127.0.0.3, ... and [::1], all on one port (smtp_port).

Routing: MX preference with the preferred host down or answering 421, A
fallback, AAAA only, null MX (5.1.10), NXDOMAIN (5.1.2), DNS down (4.4.3),
an MX that is ourselves (5.4.6), relayhost, transport_maps.  Results:
partial recipient failure, 4xx at DATA, 5xx at MAIL.  TLS may, encrypt,
verify; AUTH to a smart host; 8BITMIME conversion; SIZE; SMTPUTF8; DSN
parameters; timeouts (stall in DATA, no answer after the dot), garbage;
connection reuse; postern to postern; SIGKILL of the agent in a burst.
See man/postern-transfer-agent.8."""

import os
import re
import signal
import time

import pytest

import postern_harness as ph
import postern_ipc as ipc
import relay_harness as rh
from relay_harness import SENDER
from test_queue import queue_empty
from test_smtpd import service_user  # noqa: F401  (autouse: postern-auth)

WAIT = 15           # bound of a wait for one delivery attempt's outcome


@pytest.fixture
def env(tmp_path, tmp_path_factory, request):
    reason = rh.agent_missing()
    if reason:
        pytest.fail(reason + " (build it, or set POSTERN_BUILDDIR)", pytrace=False)
    e = rh.RelayEnv(tmp_path, tmp_path_factory.getbasetemp().parent)
    request.node.postern_instances = e.instances
    yield e
    errors, reports, bugs = e.close()
    # Shown by pytest when the test failed.
    for rcv in e.receivers:
        print(f"receiver {rcv.address}: {rcv.connections} connections")
        for conn in rcv.conns[:10]:
            print(f"  #{conn.number} {conn.peer} tls={conn.tls_version} "
                  f"auth={conn.auth_attempts}: {[c[:100] for c in conn.commands[:30]]}")
    if e.dns is not None:
        print("dnsmasq log tail:\n" + "\n".join(e.dns.log_text().splitlines()[-30:]))
    if reports:
        pytest.fail("sanitizer reports:\n" + "\n".join(reports), pytrace=False)
    assert not bugs, f"receiver errors: {bugs}"
    assert not errors, f"teardown errors: {errors}"


# ---- helpers ------------------------------------------------------------------------

def relay(host, addr, port):
    """The relay= value of a log line, as a regular expression."""
    return re.escape(f"{host}[{addr}]:{port}")


def wait_status(inst, rcpt, status, qid=None, relay_rx=None, more="",
                timeout=WAIT, count=1):
    """Waits for the queue manager's line for rcpt with status (sent,
    deferred, bounced); returns the matching lines."""
    ahead = rf"(?=.*{more})" if more else ""
    # The log writes bytes outside printable ASCII as octal escapes.
    logged = "".join(c if ord(c) < 128 else
                     "".join(f"\\{b:03o}" for b in c.encode()) for c in rcpt)
    rx = (rf"(?m)^{ahead}.*{qid or '[0-9A-V]+'}: to=<{re.escape(logged)}>, "
          rf"relay={relay_rx or '[^,]*'}, .*status={status}\b.*$")
    return inst.wait_log(rx, timeout=timeout, count=count)


def agent_pid(inst):
    pids = ph.wait_for(lambda: rh.agent_pids(inst), ph.START_TIMEOUT,
                       "the transfer agent")
    assert len(pids) == 1, pids
    return pids[0]


def no_mail_commands(rcv):
    return not any(c.upper().startswith("MAIL") for c in rcv.commands())


def _relay_client(path):
    """A client of the transfer agent's socket, once it answers HELLO."""
    from test_delivery_agent import AgentClient
    try:
        return AgentClient(path, program="qmgr", timeout=WAIT)
    except OSError:
        return None


def settle(inst, timeout=WAIT):
    """Waits until the queue is empty (every recipient final)."""
    ph.wait_for(lambda: queue_empty(inst), timeout, "the queue to empty")


def dsn_status(fields):
    return fields.get("status", "")


# ---- routing -----------------------------------------------------------------------

def test_mx_preference_preferred_down(env):
    """MX 10 on 127.0.0.2 (nothing listens) and MX 20 on 127.0.0.3: the
    mail goes to the second, named in the log; our EHLO name is
    myhostname.  A domain whose only MX is down is deferred, relay=none."""
    env.start_dns(mx=[("remote.test", "mx1.remote.test", 10),
                      ("remote.test", "mx2.remote.test", 20),
                      ("down.test", "mx.down.test", 10)],
                  a=[("mx1.remote.test", "127.0.0.2"), ("mx2.remote.test", "127.0.0.3"),
                     ("mx.down.test", "127.0.0.8")])
    rcv = env.receiver("127.0.0.3", name="mx2.remote.test")
    inst = env.instance()
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("pref"))
    [m] = rcv.wait_messages(1, WAIT)
    assert m.mail_from == SENDER and m.rcpt_to == ["bob@remote.test"]
    assert m.helo == rh.LOCAL_HOSTNAME
    assert b"Subject: pref\r\n" in m.data
    wait_status(inst, "bob@remote.test", "sent", qid,
                relay("mx2.remote.test", "127.0.0.3", env.sink), more=r"dsn=2\.0\.0, ")
    inst.wait_log(rf"{qid}: to=<bob@remote\.test>, .*status=sent "
                  rf"\(250 2\.0\.0 Ok: queued as 1\)")
    qid2 = rh.submit(inst, ["carol@down.test"], rh.message("down"))
    wait_status(inst, "carol@down.test", "deferred", qid2, "none")


def test_mx_preference_4xx_greeting(env):
    """The preferred MX answers 421 at the greeting: the next one gets the
    mail, the one after that nothing."""
    env.start_dns(mx=[("remote.test", "mx1.remote.test", 10),
                      ("remote.test", "mx2.remote.test", 20),
                      ("remote.test", "mx3.remote.test", 30)],
                  a=[("mx1.remote.test", "127.0.0.2"), ("mx2.remote.test", "127.0.0.3"),
                     ("mx3.remote.test", "127.0.0.4")])
    busy = env.receiver("127.0.0.2", greeting="421 4.3.2 mx1 busy")
    good = env.receiver("127.0.0.3", name="mx2.remote.test")
    last = env.receiver("127.0.0.4", name="mx3.remote.test")
    inst = env.instance()
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("greeting"))
    good.wait_messages(1, WAIT)
    wait_status(inst, "bob@remote.test", "sent", qid,
                relay("mx2.remote.test", "127.0.0.3", env.sink))
    assert busy.connections >= 1
    assert last.connections == 0


def test_a_fallback(env):
    """No MX: the domain's own A record."""
    env.start_dns(a=[("afallback.test", "127.0.0.4")])
    rcv = env.receiver("127.0.0.4", name="afallback.test")
    inst = env.instance()
    qid = rh.submit(inst, ["bob@afallback.test"], rh.message("a fallback"))
    [m] = rcv.wait_messages(1, WAIT)
    assert m.rcpt_to == ["bob@afallback.test"]
    wait_status(inst, "bob@afallback.test", "sent", qid,
                relay("afallback.test", "127.0.0.4", env.sink))


def test_aaaa_only(env):
    """An MX host with only an AAAA record, and a domain without MX with
    only AAAA: both reached at [::1]."""
    if not rh.ipv6_loopback():
        pytest.skip("no IPv6 on the loopback interface")
    env.start_dns(mx=[("v6.test", "mx6.v6.test", 10)],
                  aaaa=[("mx6.v6.test", "::1"), ("v6a.test", "::1")])
    rcv = env.receiver("::1", name="mx6.v6.test")
    inst = env.instance()
    q1 = rh.submit(inst, ["bob@v6.test"], rh.message("v6 mx"))
    q2 = rh.submit(inst, ["bob@v6a.test"], rh.message("v6 a"))
    msgs = rcv.wait_messages(2, WAIT)
    assert sorted(r for m in msgs for r in m.rcpt_to) == ["bob@v6.test", "bob@v6a.test"]
    assert all(m.peer[0] == "::1" for m in msgs)
    wait_status(inst, "bob@v6.test", "sent", q1, relay("mx6.v6.test", "::1", env.sink))
    wait_status(inst, "bob@v6a.test", "sent", q2, relay("v6a.test", "::1", env.sink))


def test_null_mx_bounce(env):
    """RFC 7505: a null MX fails at once with 5.1.10, even though the
    domain has an A record (where a receiver would take the mail)."""
    env.start_dns(null_mx=["nullmx.test"], a=[("nullmx.test", "127.0.0.2")])
    web = env.receiver("127.0.0.2", name="nullmx.test")
    inst = env.instance()
    qid = rh.submit(inst, ["bob@nullmx.test"], rh.message("null mx"))
    wait_status(inst, "bob@nullmx.test", "bounced", qid, more=r"dsn=5\.1\.10, ")
    msg, pm, pr = rh.bounce_for(inst, "bob@nullmx.test")
    assert msg["Return-Path"] in (None, "<>")
    assert pr["action"] == "failed" and dsn_status(pr) == "5.1.10"
    assert web.connections == 0
    settle(inst)


def test_nxdomain_bounce(env):
    """A domain that does not exist: 5.1.2, Host or domain name not found."""
    env.start_dns(mx=[("remote.test", "mx.remote.test", 10)],
                  a=[("mx.remote.test", "127.0.0.2")], nxdomain=["nosuch.test"])
    inst = env.instance()
    qid = rh.submit(inst, ["bob@nosuch.test"], rh.message("nxdomain"))
    wait_status(inst, "bob@nosuch.test", "bounced", qid,
                more=r"dsn=5\.1\.2, ")
    inst.wait_log(rf"{qid}: to=<bob@nosuch\.test>, .*Host or domain name not found")
    msg, pm, pr = rh.bounce_for(inst, "bob@nosuch.test")
    assert pr["action"] == "failed" and dsn_status(pr) == "5.1.2"
    settle(inst)


def test_dns_down_deferred(env):
    """No DNS server answers: deferred 4.4.3; once it runs, delivered."""
    port = rh.udp_tcp_port()
    inst = env.instance(dns_port=port, extra=["dns_timeout = 1s"])
    rcv = env.receiver("127.0.0.2")
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("dns down"))
    wait_status(inst, "bob@remote.test", "deferred", qid, more=r"dsn=4\.4\.3, ",
                timeout=30)
    dns = rh.DnsServer(env.folder / "late-dns", port=port,
                       mx=[("remote.test", "mx.remote.test", 10)],
                       a=[("mx.remote.test", "127.0.0.2")])
    env.dns = dns
    dns.start()
    rh.flush(inst)
    rcv.wait_messages(1, 20)
    wait_status(inst, "bob@remote.test", "sent", qid)


def test_mx_loops_back_to_myself(env):
    """The only MX is our own hostname: bounced 5.4.6, never connected."""
    env.start_dns(mx=[("loop.test", rh.LOCAL_HOSTNAME, 10)],
                  a=[(rh.LOCAL_HOSTNAME, "127.0.0.2")])
    rcv = env.receiver("127.0.0.2")
    inst = env.instance()
    qid = rh.submit(inst, ["bob@loop.test"], rh.message("loop"))
    wait_status(inst, "bob@loop.test", "bounced", qid, more=r"dsn=5\.4\.6, ")
    inst.wait_log(rf"{qid}: to=<bob@loop\.test>, .*mail for loop\.test loops back to myself")
    _, _, pr = rh.bounce_for(inst, "bob@loop.test")
    assert dsn_status(pr) == "5.4.6"
    assert rcv.connections == 0


# ---- results per recipient ----------------------------------------------------------

def test_partial_recipient_failure(env):
    """One transaction, three recipients: good 250 (sent once), bad 550
    (bounced with the remote reply in Diagnostic-Code), later 450 (deferred,
    then sent alone on the retry)."""
    env.start_dns(mx=[("remote.test", "mx.remote.test", 10)],
                  a=[("mx.remote.test", "127.0.0.2")])

    def rcpt(addr, n):
        if addr == "bad@remote.test":
            return "550 5.1.1 <bad@remote.test>: no such user"
        if addr == "later@remote.test" and n == 1:
            return "450 4.2.0 <later@remote.test>: try later"
        return None
    rcv = env.receiver("127.0.0.2", rcpt_reply=rcpt)
    inst = env.instance()
    rcpts = ["good@remote.test", "bad@remote.test", "later@remote.test"]
    qid = rh.submit(inst, rcpts, rh.message("partial"))
    first = rcv.wait_messages(1, WAIT)[0]
    assert first.rcpt_to == ["good@remote.test"]
    assert sorted(r.addr for r in first.rcpts) == sorted(rcpts)
    wait_status(inst, "good@remote.test", "sent", qid)
    wait_status(inst, "bad@remote.test", "bounced", qid, more=r"dsn=5\.1\.1, ")
    wait_status(inst, "later@remote.test", "deferred", qid, more=r"dsn=4\.2\.0, ")
    inst.wait_log(rf"{qid}: to=<later@remote\.test>, .*status=deferred "
                  rf"\(.*450 4\.2\.0 <later@remote\.test>: try later")
    _, _, pr = rh.bounce_for(inst, "bad@remote.test")
    assert pr["action"] == "failed" and dsn_status(pr) == "5.1.1"
    assert "550 5.1.1 <bad@remote.test>: no such user" in pr["diagnostic-code"]
    assert pr["diagnostic-code"].lower().startswith("smtp;")
    second = rcv.wait_messages(2, 20)[1]
    assert second.rcpt_to == ["later@remote.test"]
    assert [r.addr for r in second.rcpts] == ["later@remote.test"]
    assert second.data == first.data
    wait_status(inst, "later@remote.test", "sent", qid)
    settle(inst)
    delivered = [r for m in rcv.messages for r in m.rcpt_to]
    assert sorted(delivered) == ["good@remote.test", "later@remote.test"]
    # One report, for bad alone.
    [(_, _, prs)] = rh.wait_bounces(inst, 1)
    assert [p["final-recipient"].split(";")[-1].strip() for p in prs] == ["bad@remote.test"]


def test_data_4xx_then_retry(env):
    """451 after the dot: deferred, then delivered exactly once on retry."""
    env.start_dns(mx=[("remote.test", "mx.remote.test", 10)],
                  a=[("mx.remote.test", "127.0.0.2")])
    rcv = env.receiver("127.0.0.2",
                       data_reply=lambda n: "451 4.3.0 busy, come back" if n == 1 else None)
    inst = env.instance()
    qid = rh.submit(inst, ["bob@remote.test", "carol@remote.test"], rh.message("data 4xx"))
    for r in ("bob@remote.test", "carol@remote.test"):
        wait_status(inst, r, "deferred", qid, more=r"dsn=4\.3\.0, ")
    inst.wait_log(rf"{qid}: to=<bob@remote\.test>, .*451 4\.3\.0 busy, come back")
    [m] = rcv.wait_messages(1, 20)
    assert sorted(m.rcpt_to) == ["bob@remote.test", "carol@remote.test"]
    for r in ("bob@remote.test", "carol@remote.test"):
        wait_status(inst, r, "sent", qid)
    settle(inst)
    assert len(rcv.messages) == 1
    assert rh.maildir_new(inst, SENDER) == []


def test_mail_5xx_applies_to_all(env):
    """550 to MAIL FROM: every recipient of the transaction bounces."""
    env.start_dns(mx=[("remote.test", "mx.remote.test", 10)],
                  a=[("mx.remote.test", "127.0.0.2")])
    rcv = env.receiver("127.0.0.2", mail_reply=lambda a, n: "550 5.7.1 sender rejected")
    inst = env.instance()
    qid = rh.submit(inst, ["bob@remote.test", "carol@remote.test"], rh.message("mail 5xx"))
    for r in ("bob@remote.test", "carol@remote.test"):
        wait_status(inst, r, "bounced", qid, more=r"dsn=5\.7\.1, ")
        _, _, pr = rh.bounce_for(inst, r)
        assert dsn_status(pr) == "5.7.1"
        assert "550 5.7.1 sender rejected" in pr["diagnostic-code"]
    assert rcv.messages == [] and rcv.transactions == []


def test_helo_fallback_and_helo_name(env):
    """EHLO answered 502: HELO, with smtp_helo_name."""
    env.start_dns(mx=[("remote.test", "mx.remote.test", 10)],
                  a=[("mx.remote.test", "127.0.0.2")])
    rcv = env.receiver("127.0.0.2", helo_only=True)
    inst = env.instance(extra=["smtp_helo_name = out.local.test"])
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("helo"))
    [m] = rcv.wait_messages(1, WAIT)
    assert m.helo == "out.local.test"
    cmds = [c.upper() for c in rcv.commands()]
    assert cmds[:2] == ["EHLO OUT.LOCAL.TEST", "HELO OUT.LOCAL.TEST"]
    # No ESMTP parameters after HELO.
    for c in cmds:
        if c.startswith(("MAIL", "RCPT")):
            assert re.fullmatch(r"(MAIL FROM|RCPT TO):<[^>]*>", c), c
    wait_status(inst, "bob@remote.test", "sent", qid)


# ---- TLS --------------------------------------------------------------------------------

def _mx_zone(env, domains):
    """MX 10 mx.DOMAIN -> ADDR for {domain: addr}."""
    env.start_dns(mx=[(d, f"mx.{d}", 10) for d in domains],
                  a=[(f"mx.{d}", a) for d, a in domains.items()])


TLS_LINE = r"(Trusted|Untrusted|Anonymous|Verified) TLS connection established to "


def test_tls_may_with_starttls(env):
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    ca = env.test_ca()
    rcv = env.receiver("127.0.0.2", starttls=ca.cert(["mx.remote.test"]))
    inst = env.instance()
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("may tls"))
    [m] = rcv.wait_messages(1, WAIT)
    assert m.tls is not None and m.tls_version in ("TLSv1.2", "TLSv1.3")
    assert m.helo == rh.LOCAL_HOSTNAME          # EHLO again after STARTTLS
    [conn] = rcv.conns
    assert [c.split()[0].upper() for c in conn.commands[:3]] == ["EHLO", "STARTTLS", "EHLO"]
    wait_status(inst, "bob@remote.test", "sent", qid,
                relay("mx.remote.test", "127.0.0.2", env.sink),
                more=rf"tls={re.escape(m.tls_version)}:{re.escape(m.tls_cipher)}, ")
    inst.wait_log(TLS_LINE + relay("mx.remote.test", "127.0.0.2", env.sink) +
                  rf": {re.escape(m.tls_version)} with cipher {re.escape(m.tls_cipher)}")


def test_tls_may_without_starttls(env):
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2")
    inst = env.instance()
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("may plain"))
    [m] = rcv.wait_messages(1, WAIT)
    assert m.tls is None
    lines = wait_status(inst, "bob@remote.test", "sent", qid)
    assert not any("tls=" in ln for ln in lines)
    assert not re.search(TLS_LINE, inst.log_text())


def test_tls_encrypt_global(env):
    """smtp_tls_security_level = encrypt: no STARTTLS, deferred (no MAIL
    sent); once the server offers it, delivered over TLS."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    ca = env.test_ca()
    rcv = env.receiver("127.0.0.2")
    inst = env.instance(extra=["smtp_tls_security_level = encrypt"])
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("encrypt"))
    wait_status(inst, "bob@remote.test", "deferred", qid,
                more=r"TLS is required, but was not offered by host mx\.remote\.test")
    assert no_mail_commands(rcv) and rcv.messages == []
    rcv.starttls = ca.cert(["mx.remote.test"])
    rh.flush(inst)
    [m] = rcv.wait_messages(1, 20)
    assert m.tls is not None
    wait_status(inst, "bob@remote.test", "sent", qid, more=r"tls=TLSv1\.[23]:")


def test_tls_encrypt_policy_table(env):
    """smtp_tls_policy_maps: encrypt for plain.test (no STARTTLS there:
    deferred) and tls.test (delivered over TLS); other.test, not in the
    table, under the global may (delivered in the clear)."""
    _mx_zone(env, {"plain.test": "127.0.0.2", "tls.test": "127.0.0.3",
                   "other.test": "127.0.0.4"})
    ca = env.test_ca()
    plain = env.receiver("127.0.0.2", name="mx.plain.test")
    tls = env.receiver("127.0.0.3", name="mx.tls.test", starttls=ca.cert(["mx.tls.test"]))
    other = env.receiver("127.0.0.4", name="mx.other.test")
    inst = env.instance(
        tables={"tls_policy": [("plain.test", "encrypt"), ("tls.test", "encrypt")]},
        extra=[f"smtp_tls_policy_maps = hash:{env.etc()}/tls_policy"])
    q1 = rh.submit(inst, ["bob@plain.test"], rh.message("p"))
    q2 = rh.submit(inst, ["bob@tls.test"], rh.message("t"))
    q3 = rh.submit(inst, ["bob@other.test"], rh.message("o"))
    wait_status(inst, "bob@plain.test", "deferred", q1,
                more=r"TLS is required, but was not offered by host mx\.plain\.test")
    [m] = tls.wait_messages(1, WAIT)
    assert m.tls is not None
    wait_status(inst, "bob@tls.test", "sent", q2, more=r"tls=TLSv1\.[23]:")
    [m] = other.wait_messages(1, WAIT)
    assert m.tls is None
    wait_status(inst, "bob@other.test", "sent", q3)
    assert no_mail_commands(plain)


@pytest.mark.parametrize("case", ["good", "wrong_name", "untrusted_ca"])
def test_tls_verify(env, case):
    """verify: the certificate must chain to smtp_tls_ca_file and name the
    MX host; a wrong name or an unknown CA defers (nothing sent)."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    ca = env.test_ca()
    cert = {"good": lambda: ca.cert(["mx.remote.test"]),
            "wrong_name": lambda: ca.cert(["other.test"]),
            "untrusted_ca": lambda: ca.untrusted_cert(["mx.remote.test"])}[case]()
    rcv = env.receiver("127.0.0.2", starttls=cert)
    inst = env.instance(extra=["smtp_tls_security_level = verify",
                               f"smtp_tls_ca_file = {ca.ca_file}"])
    qid = rh.submit(inst, ["bob@remote.test"], rh.message(f"verify {case}"))
    where = relay("mx.remote.test", "127.0.0.2", env.sink)
    if case == "good":
        [m] = rcv.wait_messages(1, WAIT)
        assert m.tls is not None
        wait_status(inst, "bob@remote.test", "sent", qid, where, more=r"tls=TLSv1\.[23]:")
        inst.wait_log(r"Verified TLS connection established to " + where)
    else:
        wait_status(inst, "bob@remote.test", "deferred", qid)
        rcv.wait_connections(1, 5)
        assert no_mail_commands(rcv) and rcv.messages == []
        assert "Verified TLS connection established" not in inst.log_text()


# ---- smart host, AUTH, transport_maps -------------------------------------------------

def _smarthost_env(env, rcv_opts, password="s3cret-pass", extra=()):
    port = rh.sink_port()
    hop = f"[127.0.0.5]:{port}"
    # remote.test's MX would take the mail too: relayhost must win.
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    mx = env.receiver("127.0.0.2")
    smart = env.receiver("127.0.0.5", port=port, name="smarthost.test", **rcv_opts)
    inst = env.instance(
        tables={"sasl_passwd": [(hop, f"relayuser:{password}")]},
        extra=[f"relayhost = {hop}",
               f"smtp_sasl_password_maps = hash:{env.etc()}/sasl_passwd"] + list(extra))
    return inst, smart, mx, port


def test_smarthost_auth(env):
    """relayhost = [127.0.0.5]:PORT that requires AUTH after STARTTLS: the
    agent logs in with the table's credentials; no MX lookup."""
    ca = env.test_ca()
    inst, smart, mx, port = _smarthost_env(env, dict(
        starttls=ca.cert(["smarthost.test", "127.0.0.5"]),
        auth={"relayuser": "s3cret-pass"}, auth_tls_only=True, require_auth=True))
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("smart"))
    [m] = smart.wait_messages(1, WAIT)
    assert m.auth_user == "relayuser" and m.tls is not None
    assert m.rcpt_to == ["bob@remote.test"]
    assert smart.conns[0].auth_attempts == [("relayuser", True)]
    wait_status(inst, "bob@remote.test", "sent", qid, rf"[^,]*\[127\.0\.0\.5\]:{port}")
    assert mx.connections == 0


def test_smarthost_auth_refused(env):
    """Wrong password: 535, deferred."""
    ca = env.test_ca()
    inst, smart, mx, port = _smarthost_env(env, dict(
        starttls=ca.cert(["smarthost.test"]), auth={"relayuser": "right"},
        require_auth=True), password="wrong")
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("smart 535"))
    wait_status(inst, "bob@remote.test", "deferred", qid, more=r"535 5\.7\.8")
    assert smart.messages == []
    assert ("relayuser", False) in smart.conns[0].auth_attempts


def test_smarthost_no_credentials_without_tls(env):
    """smtp_sasl_tls_only = yes (default): a server that offers AUTH but
    not STARTTLS gets the mail without AUTH, and no credentials."""
    inst, smart, mx, port = _smarthost_env(env, dict(auth={"relayuser": "s3cret-pass"}))
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("no creds"))
    [m] = smart.wait_messages(1, WAIT)
    assert m.auth_user is None and m.tls is None
    assert not any(c.upper().startswith("AUTH") for c in smart.commands())
    assert smart.conns[0].auth_attempts == []
    wait_status(inst, "bob@remote.test", "sent", qid)


def test_transport_maps(env):
    """transport_maps beats DNS: an exact domain to smtp:[127.0.0.6]:PORT2,
    .sub.remote.test (names below it) to smtp:[127.0.0.7], other.test
    delivered here (local)."""
    port2 = rh.sink_port()
    env.start_dns(mx=[("remote.test", "mx.remote.test", 10)],
                  a=[("mx.remote.test", "127.0.0.2"), ("host.sub.remote.test", "127.0.0.3")])
    mx = env.receiver("127.0.0.2")
    sub_a = env.receiver("127.0.0.3")
    exact = env.receiver("127.0.0.6", port=port2, name="exact.test")
    sub = env.receiver("127.0.0.7", name="sub.test")
    inst = env.instance(
        users={SENDER: rh.SENDER_PASSWORD, "carol@other.test": "carol-pass"},
        tables={"transport": [("remote.test", f"smtp:[127.0.0.6]:{port2}"),
                              (".sub.remote.test", "smtp:[127.0.0.7]"),
                              ("other.test", "local")]},
        extra=[f"transport_maps = hash:{env.etc()}/transport"])
    q1 = rh.submit(inst, ["bob@remote.test"], rh.message("exact"))
    q2 = rh.submit(inst, ["x@host.sub.remote.test"], rh.message("sub"))
    q3 = rh.submit(inst, ["carol@other.test"], rh.message("local", to="carol@other.test"))
    [m] = exact.wait_messages(1, WAIT)
    assert m.rcpt_to == ["bob@remote.test"]
    [m] = sub.wait_messages(1, WAIT)
    assert m.rcpt_to == ["x@host.sub.remote.test"]
    [f] = rh.wait_maildir(inst, "carol@other.test", 1)
    assert b"Subject: local" in f.read_bytes()
    wait_status(inst, "bob@remote.test", "sent", q1, rf"[^,]*\[127\.0\.0\.6\]:{port2}")
    wait_status(inst, "x@host.sub.remote.test", "sent", q2,
                rf"[^,]*\[127\.0\.0\.7\]:{env.sink}")
    wait_status(inst, "carol@other.test", "sent", q3, "local")
    assert mx.connections == 0 and sub_a.connections == 0


# ---- 8BITMIME, SIZE, SMTPUTF8, DSN ----------------------------------------------------

NO_8BIT = ("PIPELINING", "SIZE 10240000", "DSN", "ENHANCEDSTATUSCODES")

BODY_8BIT = ("Grüße aus Köln,\r\nÄrger über Öl — und ein Ende.\r\n"
             "=ein Gleichheitszeichen, trailing space \r\n.leading dot\r\n")


def test_8bit_to_server_without_8bitmime(env):
    """The body is converted to quoted-printable: 7-bit on the wire, the
    header says so, and it decodes to the original."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2", ehlo=NO_8BIT)
    inst = env.instance()
    body = rh.message("8bit body", body=BODY_8BIT,
                      headers=["MIME-Version: 1.0",
                               "Content-Type: text/plain; charset=utf-8",
                               "Content-Transfer-Encoding: 8bit"])
    qid = rh.submit(inst, ["bob@remote.test"], body, mail_options=["BODY=8BITMIME"])
    [m] = rcv.wait_messages(1, WAIT)
    assert all(b < 0x80 for b in m.data), "8-bit bytes reached a 7-bit server"
    assert "BODY" not in m.mail_params or m.mail_params["BODY"].upper() == "7BIT"
    msg = m.message()
    assert msg["Content-Transfer-Encoding"].strip().lower() == "quoted-printable"
    assert msg["Subject"] == "8bit body"
    decoded = msg.get_payload(decode=True).replace(b"\r\n", b"\n")
    assert decoded == BODY_8BIT.encode().replace(b"\r\n", b"\n")
    body_lines = m.data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(ln) for ln in body_lines) <= 76
    wait_status(inst, "bob@remote.test", "sent", qid)


def test_8bit_header_deferred(env):
    """An 8-bit byte in a header cannot be converted: deferred, not sent."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2", ehlo=NO_8BIT)
    inst = env.instance()
    body = ("From: alice@local.test\r\nTo: bob@remote.test\r\n"
            "Subject: Grüße\r\n\r\nplain body\r\n").encode()
    qid = rh.submit(inst, ["bob@remote.test"], body, mail_options=["BODY=8BITMIME"])
    wait_status(inst, "bob@remote.test", "deferred", qid,
                relay("mx.remote.test", "127.0.0.2", env.sink))
    assert rcv.connections >= 1 and rcv.messages == []
    assert not any(t.data for t in rcv.transactions)


def test_size_bounce(env):
    """The server's SIZE is below the message's size: bounced 5.3.4
    without sending the message."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2", ehlo=("PIPELINING", "SIZE 1000", "8BITMIME",
                                          "ENHANCEDSTATUSCODES"))
    inst = env.instance()
    qid = rh.submit(inst, ["bob@remote.test"],
                    rh.message("big", body=("0123456789" * 7 + "\r\n") * 70))
    wait_status(inst, "bob@remote.test", "bounced", qid, more=r"dsn=5\.3\.4, ")
    _, _, pr = rh.bounce_for(inst, "bob@remote.test")
    assert dsn_status(pr) == "5.3.4"
    assert rcv.transactions == [] and rcv.messages == []


def test_smtputf8_bounce(env):
    """An envelope that needs SMTPUTF8 to a server without it: 5.6.7."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2", ehlo=("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"))
    inst = env.instance()
    rcpt = "jörg@remote.test"
    qid = rh.submit(inst, [rcpt], rh.message("utf8", to="jorg@remote.test"),
                    mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    wait_status(inst, rcpt, "bounced", qid, more=r"dsn=5\.6\.7, ")
    [(msg, pm, prs)] = rh.wait_bounces(inst, 1)
    assert [dsn_status(p) for p in prs] == ["5.6.7"]
    assert rcv.messages == [] and rcv.transactions == []
    assert not any("jörg" in c or "SMTPUTF8" in c.upper() for c in rcv.commands())


def test_dsn_parameters(env):
    """RET, ENVID, NOTIFY and ORCPT reach a server that offers DSN, and
    are left out for one that does not."""
    _mx_zone(env, {"dsn.test": "127.0.0.2", "nodsn.test": "127.0.0.3"})
    with_dsn = env.receiver("127.0.0.2", name="mx.dsn.test")
    without = env.receiver("127.0.0.3", name="mx.nodsn.test",
                           ehlo=("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"))
    inst = env.instance()
    for domain in ("dsn.test", "nodsn.test"):
        rh.submit(inst, [f"bob@{domain}"], rh.message(f"dsn {domain}"),
                  mail_options=["RET=HDRS", "ENVID=QQ314159"],
                  rcpt_options=["NOTIFY=SUCCESS,DELAY", f"ORCPT=rfc822;Bob@{domain}"])
    [m] = with_dsn.wait_messages(1, WAIT)
    assert m.mail_params.get("RET", "").upper() == "HDRS"
    assert m.mail_params.get("ENVID") == "QQ314159"
    [r] = m.rcpts
    assert set(r.params.get("NOTIFY", "").upper().split(",")) == {"SUCCESS", "DELAY"}
    otype, _, oaddr = r.params.get("ORCPT", "").partition(";")
    assert otype.lower() == "rfc822" and oaddr == "Bob@dsn.test"
    [m] = without.wait_messages(1, WAIT)
    assert "RET" not in m.mail_params and "ENVID" not in m.mail_params
    assert "NOTIFY" not in m.rcpts[0].params and "ORCPT" not in m.rcpts[0].params


# ---- timeouts, garbage -------------------------------------------------------------------

def test_stall_mid_data_deferred_then_retried(env):
    """The server stops reading after 64 KiB of a 6 MiB message: deferred
    after smtp_data_xfer_timeout (or data_done), then delivered whole once
    the server reads again."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2", stall_in_data=(65536, 60))
    inst = env.instance(extra=["smtp_data_xfer_timeout = 2s",
                               "smtp_data_done_timeout = 3s"])
    line = "0123456789" * 7 + "abcdefg\r\n"            # 79 bytes
    body = line * (6 * 1024 * 1024 // len(line)) + "the end\r\n"
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("stall", body=body), timeout=60)
    t0 = time.monotonic()
    rcv.wait_for(lambda r: any(t.stalled for t in r.transactions), WAIT, "the stall")
    wait_status(inst, "bob@remote.test", "deferred", qid, timeout=WAIT)
    assert time.monotonic() - t0 < 12
    assert rcv.messages == []
    rcv.stall_in_data = None
    rh.flush(inst)
    [m] = rcv.wait_messages(1, 20)
    assert m.data.endswith(line.encode() + b"the end\r\n")
    assert m.data.count(line.encode()) == 6 * 1024 * 1024 // len(line)
    wait_status(inst, "bob@remote.test", "sent", qid)


def test_no_answer_after_dot(env):
    """The server takes the whole message but never answers the dot:
    deferred after smtp_data_done_timeout; delivered once it answers."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2", stall_after_dot=True)
    inst = env.instance(extra=["smtp_data_done_timeout = 2s"])
    qid = rh.submit(inst, ["bob@remote.test"], rh.message("no answer"))
    rcv.wait_for(lambda r: len(r.transactions) >= 1, WAIT, "the message")
    t0 = time.monotonic()
    wait_status(inst, "bob@remote.test", "deferred", qid)
    assert time.monotonic() - t0 < 8
    assert rcv.messages == []
    rcv.stall_after_dot = False
    rh.flush(inst)
    [m] = rcv.wait_messages(1, 20)
    assert b"Subject: no answer" in m.data
    wait_status(inst, "bob@remote.test", "sent", qid)
    settle(inst)
    assert len(rcv.messages) == 1


def test_garbage_replies(env):
    """Junk instead of a reply (to MAIL, a 5000-byte EHLO line, to the
    greeting): deferred, the agent keeps running (same pid), and delivers
    once the servers behave."""
    _mx_zone(env, {"g1.test": "127.0.0.2", "g2.test": "127.0.0.3", "g3.test": "127.0.0.4"})
    g1 = env.receiver("127.0.0.2", garbage={"MAIL": b"hello\r\n"})
    g2 = env.receiver("127.0.0.3", garbage={"EHLO": b"250-" + b"x" * 5000 + b"\r\n250 ok\r\n"})
    g3 = env.receiver("127.0.0.4", garbage={"GREETING": b"\x00\xff\xfe garbage\r\n"})
    inst = env.instance()
    pid = agent_pid(inst)
    qids = {}
    for d in ("g1.test", "g2.test", "g3.test"):
        qids[d] = rh.submit(inst, [f"bob@{d}"], rh.message(f"garbage {d}"))
    for d in ("g1.test", "g2.test", "g3.test"):
        wait_status(inst, f"bob@{d}", "deferred", qids[d])
    for rcv in (g1, g2, g3):
        assert rcv.connections >= 1 and rcv.messages == []
    assert ph.pid_alive(pid) and rh.agent_pids(inst) == [pid]
    for rcv in (g1, g2, g3):
        rcv.garbage = {}
    rh.flush(inst)
    for rcv in (g1, g2, g3):
        rcv.wait_messages(1, 20)
    for d in ("g1.test", "g2.test", "g3.test"):
        wait_status(inst, f"bob@{d}", "sent", qids[d])
    assert rh.agent_pids(inst) == [pid]


# ---- connections ---------------------------------------------------------------------------

def test_connection_reuse(env):
    """Five messages in a row to one destination: fewer connections than
    messages (smtp_connection_cache_time > 0)."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2")
    inst = env.instance(extra=["smtp_connection_cache_time = 5s",
                               "queue_destination_concurrency = 1"])
    for i in range(5):
        rh.submit(inst, ["bob@remote.test"], rh.message(f"reuse {i}"))
    msgs = rcv.wait_messages(5, 20)
    assert rcv.connections < 5, [m.conn_no for m in msgs]
    assert len({m.conn_no for m in msgs}) < 5
    # RSET between, or a new MAIL after a finished transaction: never a
    # second EHLO on a reused connection.
    for conn in rcv.conns:
        assert sum(c.upper().startswith(("EHLO", "HELO")) for c in conn.commands) == 1


def test_postern_to_postern(env):
    """A second postern instance (mydomains remote.test, smtpd on
    127.0.0.4:SINK with a certificate from the test CA) is the MX: the
    mail lands in bob's Maildir there, over verified TLS."""
    _mx_zone(env, {"remote.test": "127.0.0.4"})
    ca = env.test_ca()
    cert, key = ca.cert(["mx.remote.test"])
    remote = env.instance(
        name="remote", domain="remote.test", hostname="mx.remote.test",
        users={"bob@remote.test": "bob-pass"}, smtpd_host="127.0.0.4",
        smtpd_port=env.sink, agent=False, dns_port=None, sink=None,
        extra=[f"tls_cert_file = {cert}", f"tls_key_file = {key}"])
    inst = env.instance(extra=["smtp_tls_security_level = verify",
                               f"smtp_tls_ca_file = {ca.ca_file}"])
    body = rh.message("postern to postern", body="over the wire\r\n.dot\r\n")
    qid = rh.submit(inst, ["bob@remote.test"], body)
    [f] = rh.wait_maildir(remote, "bob@remote.test", 1, timeout=20)
    data = f.read_bytes()
    assert data.endswith(body.replace(b"\r\n", b"\n"))
    assert data.count(b"\nReceived: ") + data.startswith(b"Received: ") >= 2
    lines = wait_status(inst, "bob@remote.test", "sent", qid,
                         relay("mx.remote.test", "127.0.0.4", env.sink),
                         more=r"tls=TLSv1\.[23]:")
    rqid = re.search(r"queued as ([0-9A-V]{18})", lines[0]).group(1)
    remote.wait_log(rf"{rqid}: to=<bob@remote\.test>, relay=local, .*status=sent")
    assert rh.maildir_new(inst, SENDER) == []


def test_agent_refuses_malformed_requests(env):
    """The transfer agent checks every field of IPC_RELAY as network
    input: a request without the queue file, with lists that do not
    match, or with a NOTIFY that is no set of NOTIFY bits gets IPC_ERROR,
    and the same connection and agent go on to relay a good request."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2")
    inst = env.instance()
    pid = agent_pid(inst)
    msg = b"Subject: direct\r\n\r\nhello\r\n"
    qf = inst.root / "message"
    qf.write_bytes(msg)
    good = [("id", "0" * 13 + "00001"), ("sender", SENDER),
            ("nexthop", "remote.test"), ("body", 0), ("ret", 0),
            ("smtputf8", 0), ("rcpt", "bob@remote.test"), ("orcpt", ""),
            ("notify", 0), ("offset", 0), ("length", len(msg)),
            ("arrival", 0)]

    def without(key):
        return [(k, v) for k, v in good if k != key]

    bad = [
        (good, False),                                  # no descriptor
        (without("orcpt"), True),                       # lists differ
        (good + [("rcpt", "carol@remote.test")], True),
        ([(k, 16 if k == "notify" else v) for k, v in good], True),
        ([(k, "x" if k == "notify" else v) for k, v in good], True),
        ([(k, "" if k == "rcpt" else v) for k, v in good], True),
        (without("nexthop"), True),
    ]
    path = inst.spool / "private" / "smtp"
    with open(qf, "rb") as f, ph.wait_for(
            lambda: _relay_client(path), ph.START_TIMEOUT, "private/smtp") as c:
        for n, (fields, with_fd) in enumerate(bad, 1):
            if with_fd:
                c.send_fd(ipc.RELAY, fields, n, f.fileno())
            else:
                c.send(ipc.RELAY, fields, peer_id=n)
            r = c.recv()
            assert (r.type, r.peer_id) == (ipc.ERROR, n), (n, r)
        c.send_fd(ipc.RELAY, good, 99, f.fileno())
        r = c.recv(timeout=WAIT)
        assert (r.type, r.peer_id) == (ipc.RELAY_RESULT, 99), r
        assert r.get_all("status") == ["ok"], r
    [m] = rcv.wait_messages(1, WAIT)
    assert m.data == msg
    assert agent_pid(inst) == pid


def test_kill_9_agent_mid_burst(env):
    """20 messages; the transfer agent is SIGKILLed after a few arrived:
    the master restarts it and every message arrives at least once."""
    _mx_zone(env, {"remote.test": "127.0.0.2"})
    rcv = env.receiver("127.0.0.2", delay={"DOT": 0.3})
    inst = env.instance(extra=["queue_destination_concurrency = 2"])
    pid = agent_pid(inst)
    tags = [f"burst-{i}" for i in range(20)]
    for t in tags:
        rh.submit(inst, ["bob@remote.test"], rh.message(t))
    rcv.wait_messages(3, WAIT)
    assert len(rcv.messages) < 20, "too fast to kill in the middle"
    os.kill(pid, signal.SIGKILL)
    ph.wait_for(lambda: not ph.pid_alive(pid), 5, "the agent to die")
    ph.wait_for(lambda: (lambda p: p and p != [pid])(rh.agent_pids(inst)), 15,
                "a new transfer agent")

    def subjects():
        with rcv.lock:
            return {m.message()["Subject"] for m in rcv.messages}
    ph.wait_for(lambda: set(tags) <= subjects(), 30, "all 20 messages")
    settle(inst, 20)
    dups = len(rcv.messages) - len(subjects())
    print(f"{len(rcv.messages)} received, {dups} duplicates")
    assert rh.maildir_new(inst, SENDER) == []
