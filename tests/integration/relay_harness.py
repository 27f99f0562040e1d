# SPDX-License-Identifier: ISC
"""Test servers for the relay tests (postern-transfer-agent): a loopback
DNS server (dnsmasq), scriptable SMTP receivers, a test certificate
authority, and a builder for a postern instance that relays.

DnsServer     dnsmasq in the foreground on 127.0.0.1 and a free UDP+TCP
              port, answering only from the records it is given: MX, A,
              AAAA, null MX (RFC 7505); every other name under the same
              top-level labels is NXDOMAIN, and a name that exists answers
              NODATA for a type it lacks.
SmtpReceiver  an SMTP server (stdlib only: socket, ssl, threading) on one
              (host, port), a thread per connection, that records every
              connection and transaction and can be told to fail, stall or
              answer garbage.
TestCA        a CA made with the openssl CLI, server certificates for DNS
              names, and certificates from a second CA that nobody trusts.
RelayEnv      one test's world: the sink port (the port every MX or A
              target is reached at; receivers listen on 127.0.0.2,
              127.0.0.3, ... and [::1] on it), the DNS server, the
              receivers and the postern instances, all stopped by close().

Every wait is bounded; every process started here is stopped by its pid.
"""

import base64
import email
import email.policy
import os
import pwd
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import postern_harness as ph

TRANSFER_AGENT = ph.BUILDDIR / "transfer-agent" / "postern-transfer-agent"
DNSMASQ = "/usr/sbin/dnsmasq"

# The sender of every test message; bounces land in her Maildir.
SENDER = "alice@local.test"
SENDER_PASSWORD = "alice-secret"
LOCAL_DOMAIN = "local.test"
LOCAL_HOSTNAME = "mail.local.test"

# Loopback addresses the receivers may use, and IPv6's.
SINK_HOSTS = tuple(f"127.0.0.{n}" for n in range(2, 10))
SINK_HOST6 = "::1"

LINE_MAX = 4096             # longest command line a receiver takes
IDLE_TIMEOUT = 60.0         # a receiver drops a silent client after this
STOP_BOUND = 5.0            # how long stop() waits for a thread / process


def dnsmasq_missing():
    """None when dnsmasq can run, else the reason to skip."""
    if not os.access(DNSMASQ, os.X_OK):
        return f"{DNSMASQ} is missing (Debian package dnsmasq-base)"
    return None


def ipv6_loopback():
    """True when [::1] can be bound."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind((SINK_HOST6, 0))
        return True
    except OSError:
        return False


def _bindable(family, kind, host, port):
    with socket.socket(family, kind) as s:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def sink_port(hosts=SINK_HOSTS, ipv6=None, tries=50):
    """A TCP port free on every one of hosts (and on [::1] when it can be
    bound): the port the receivers of one test share (smtp_port)."""
    if ipv6 is None:
        ipv6 = ipv6_loopback()
    for _ in range(tries):
        port = ph.free_port()
        if not all(_bindable(socket.AF_INET, socket.SOCK_STREAM, h, port) for h in hosts):
            continue
        if ipv6 and not _bindable(socket.AF_INET6, socket.SOCK_STREAM, SINK_HOST6, port):
            continue
        return port
    raise AssertionError(f"no TCP port free on all of {hosts} in {tries} tries")


def udp_tcp_port(host="127.0.0.1", tries=50):
    """A port free for both UDP and TCP on host (for the DNS server)."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if (_bindable(socket.AF_INET, socket.SOCK_STREAM, host, port) and
                _bindable(socket.AF_INET, socket.SOCK_DGRAM, host, port)):
            return port
    raise AssertionError(f"no port free for UDP and TCP on {host}")


def _stop_process(proc, timeout=STOP_BOUND):
    """SIGTERM to proc (a Popen we started), SIGKILL after timeout."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
    except ProcessLookupError:
        pass


# ---- DNS -------------------------------------------------------------------------

class DnsServer:
    """dnsmasq serving exactly the records given.

    mx:      (domain, host, preference) each
    a:       (name, IPv4) each; a name may appear more than once
    aaaa:    (name, IPv6) each
    null_mx: domains with the RFC 7505 null MX (MX 0 ".")
    nxdomain: names that must not exist (checked not to collide with the
             others; every name not given is NXDOMAIN anyway)

    A name given only AAAA answers NODATA (NOERROR, no answer) for A; a
    name without MX answers NODATA for MX when it has any other record.
    Names are answered only under the top-level labels of the records
    (and "test"): dnsmasq is made local (--local=/TLD/) for them, so a
    name it does not know is NXDOMAIN, not REFUSED.
    """

    def __init__(self, folder, mx=(), a=(), aaaa=(), null_mx=(), nxdomain=(),
                 port=None):
        reason = dnsmasq_missing()
        if reason:
            import pytest
            pytest.skip(reason)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mx = [(d.lower(), h.lower(), int(p)) for d, h, p in mx]
        self.a = [(n.lower(), ip) for n, ip in a]
        self.aaaa = [(n.lower(), ip) for n, ip in aaaa]
        self.null_mx = [d.lower() for d in null_mx]
        self.nxdomain = [n.lower() for n in nxdomain]
        known = ({d for d, _, _ in self.mx} | {n for n, _ in self.a} |
                 {n for n, _ in self.aaaa} | set(self.null_mx))
        clash = known & set(self.nxdomain)
        if clash:
            raise ValueError(f"names both defined and NXDOMAIN: {sorted(clash)}")
        for d in self.null_mx:
            if any(m == d for m, _, _ in self.mx):
                raise ValueError(f"{d} has both a null MX and MX records")
        self.port = port
        self.log = self.folder / "dnsmasq.log"
        self.out = self.folder / "dnsmasq.out"
        self.proc = None
        self._out = None

    @property
    def address(self):
        """As dns_servers wants it."""
        return f"127.0.0.1:{self.port}"

    def args(self):
        tlds = {"test"}
        for name in ([d for d, _, _ in self.mx] + [n for n, _ in self.a] +
                     [n for n, _ in self.aaaa] + self.null_mx + self.nxdomain):
            tlds.add(name.rstrip(".").rsplit(".", 1)[-1])
        cmd = [DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts",
               "--conf-file=/dev/null", "--bind-interfaces",
               "--listen-address=127.0.0.1", f"--port={self.port}",
               "--pid-file=", "--no-poll",
               "--log-queries", f"--log-facility={self.log}",
               "--cache-size=0", "--local-ttl=1"]
        if ph.is_root():
            cmd += ["--user=root", "--group=root"]
        for tld in sorted(tlds):
            cmd.append(f"--local=/{tld}/")
        for domain, host, pref in self.mx:
            cmd.append(f"--mx-host={domain},{host},{pref}")
        for name, ip in self.a + self.aaaa:
            cmd.append(f"--host-record={name},{ip}")
        for domain in self.null_mx:
            # RDATA: preference 0 (two bytes), the root name (one zero byte).
            cmd.append(f"--dns-rr={domain},15,000000")
        return cmd

    def start(self, timeout=ph.START_TIMEOUT):
        assert self.proc is None, "already started"
        if self.port is None:
            self.port = udp_tcp_port()
        self._out = open(self.out, "ab")
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"dnsmasq exited with {self.proc.returncode}:\n"
                    f"{self.out.read_text(errors='replace')}\n{self.log_text()}")
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        try:
            ph.wait_for(ready, timeout, f"dnsmasq on 127.0.0.1:{self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        _stop_process(self.proc)
        if self._out is not None:
            self._out.close()
            self._out = None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---- SMTP receiver ---------------------------------------------------------------

DEFAULT_EHLO = ("PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8", "DSN",
                "ENHANCEDSTATUSCODES")

_ENVELOPE = re.compile(r"(?i)(MAIL FROM|RCPT TO):\s*<([^>]*)>\s*(.*)")


def _params(text):
    """"KEY=VALUE KEY2 ..." as {KEY: VALUE or None} (keys upper-cased)."""
    out = {}
    for item in text.split():
        key, eq, value = item.partition("=")
        out[key.upper()] = value if eq else None
    return out


class Rcpt:
    """One RCPT command: the address, its parameters, our reply."""

    def __init__(self, line, addr, params, reply):
        self.line = line
        self.addr = addr
        self.params = params
        self.reply = reply

    @property
    def accepted(self):
        return self.reply.startswith("2")

    def __repr__(self):
        return f"Rcpt({self.addr!r}, {self.params!r}, {self.reply!r})"


class Transaction:
    """One MAIL transaction of one connection."""

    def __init__(self, conn, mail_line, mail_from, mail_params):
        self.conn = conn
        self.peer = conn.peer
        self.conn_no = conn.number
        self.helo = conn.helo
        self.tls_version = conn.tls_version
        self.tls_cipher = conn.tls_cipher
        self.auth_user = conn.auth_user
        self.mail = mail_line          # "MAIL FROM:<...> PARAMS"
        self.mail_from = mail_from
        self.mail_params = mail_params
        self.rcpts = []                # Rcpt, every RCPT command
        self.data = None               # bytes, dot-unstuffed, CRLF as sent
        self.reply = None              # our reply to the final dot
        self.stalled = False

    @property
    def tls(self):
        return (self.tls_version, self.tls_cipher) if self.tls_version else None

    @property
    def rcpt_to(self):
        """The addresses we accepted."""
        return [r.addr for r in self.rcpts if r.accepted]

    @property
    def accepted(self):
        return self.reply is not None and self.reply.startswith("2")

    def message(self):
        """The DATA content as an email.message.EmailMessage."""
        return email.message_from_bytes(self.data or b"", policy=email.policy.default)

    def header(self, name):
        msg = self.message()
        return msg[name]

    def __repr__(self):
        return (f"Transaction(conn={self.conn_no}, from={self.mail_from!r}, "
                f"rcpts={self.rcpts!r}, reply={self.reply!r}, "
                f"size={len(self.data) if self.data is not None else None})")


class Connection:
    """One client connection: what it said and what it became."""

    def __init__(self, number, peer):
        self.number = number
        self.peer = peer
        self.commands = []             # every command line, as text
        self.helo = None
        self.tls_version = None
        self.tls_cipher = None
        self.tls_error = None
        self.auth_user = None
        self.auth_attempts = []        # (user, ok)
        self.transactions = []
        self.closed = False


class _Dropped(Exception):
    """The connection is over (peer gone, we drop it, or we stop)."""


class SmtpReceiver:
    """A scriptable SMTP server on (host, port).

    ehlo:        extension lines advertised (DEFAULT_EHLO)
    starttls:    (certfile, keyfile): STARTTLS is offered
    auth:        {user: password}: AUTH PLAIN LOGIN is offered and checked
    auth_tls_only: offer AUTH only after STARTTLS
    require_auth: MAIL without AUTH gets 530 5.7.0
    greeting:    the greeting line ("220 NAME ESMTP ..."); a 421 greeting
                 is followed by a close, after a 554 every command but QUIT
                 gets 503
    helo_only:   EHLO answers 502, so the client must fall back to HELO
    mail_reply:  f(addr, attempt_no) -> reply line or None (default)
    rcpt_reply:  f(addr, attempt_no) -> reply line or None; attempt_no
                 counts the RCPTs of addr at this receiver, from 1
    data_reply:  f(n) -> reply line or None for the n-th DATA whose content
                 arrived (from 1)
    stall_in_data: (nbytes, seconds): after nbytes of content, stop reading
                 for seconds (or until stop()), then drop the connection
    stall_after_dot: read the whole content but never answer; the
                 connection is held until the client closes it or stop()
    garbage:     {VERB: bytes}: answer that command with these bytes
                 instead ("GREETING" replaces the greeting, "DOT" the reply
                 after the content)
    delay:       {VERB: seconds} before the reply ("DOT" as above)
    rcvbuf:      SO_RCVBUF of the accepted sockets (small for a stall that
                 must block the sender; default 8192 with stall_in_data)

    The options are attributes and may be changed while it runs; a new
    connection (and each command) sees the current values.

    Records: connections (count), conns (Connection each), transactions
    (every one with DATA content), messages (the accepted ones).
    """

    def __init__(self, host, port, name="mx.remote.test", ehlo=DEFAULT_EHLO,
                 starttls=None, auth=None, auth_tls_only=False,
                 require_auth=False, greeting=None, helo_only=False,
                 mail_reply=None, rcpt_reply=None, data_reply=None,
                 stall_in_data=None, stall_after_dot=False, garbage=None,
                 delay=None, rcvbuf=None, start=True):
        self.host = host
        self.port = port
        self.name = name
        self.ehlo = list(ehlo)
        self.starttls = starttls
        self.auth = dict(auth) if auth else None
        self.auth_tls_only = auth_tls_only
        self.require_auth = require_auth
        self.greeting = greeting or f"220 {name} ESMTP postern test receiver"
        self.helo_only = helo_only
        self.mail_reply = mail_reply
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.stall_in_data = stall_in_data
        self.stall_after_dot = stall_after_dot
        self.garbage = dict(garbage) if garbage else {}
        self.delay = dict(delay) if delay else {}
        if rcvbuf is None and stall_in_data is not None:
            rcvbuf = 8192
        self.rcvbuf = rcvbuf

        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.conns = []
        self.transactions = []
        self.messages = []
        self.rcpt_attempts = {}
        self.mail_attempts = {}
        self.data_count = 0
        self.queued = 0
        self.errors = []               # exceptions of connection threads
        self._socks = set()
        self._threads = []
        self._ssl = None
        self.listener = None
        self._accept_thread = None
        if start:
            self.start()

    # -- life --------------------------------------------------------------------

    @property
    def family(self):
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def start(self):
        s = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if self.rcvbuf:
                # Set on the listener so that the window is small from the
                # handshake on (accepted sockets inherit it).
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            s.bind((self.host, self.port))
            s.listen(64)
            s.settimeout(0.2)
        except BaseException:
            s.close()
            raise
        if self.port == 0:
            self.port = s.getsockname()[1]
        self.listener = s
        self._accept_thread = threading.Thread(target=self._accept_loop,
                                               name=f"rcv-{self.host}",
                                               daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(STOP_BOUND)
        if self.listener is not None:
            self.listener.close()
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + STOP_BOUND
        for t in list(self._threads):
            t.join(max(0.1, deadline - time.monotonic()))
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def connections(self):
        with self.lock:
            return len(self.conns)

    @property
    def address(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    # -- what the tests read -------------------------------------------------------

    def wait_messages(self, n, timeout=20.0):
        """Waits until at least n messages were accepted; returns a copy of
        the list.  AssertionError after timeout seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:.1f} s waiting for {n} messages "
                        f"at {self.address} (have {len(self.messages)}; "
                        f"{len(self.conns)} connections; transactions "
                        f"{self.transactions!r}; commands "
                        f"{[c.commands for c in self.conns][-5:]!r})")
                self.changed.wait(min(left, 0.5))
            return list(self.messages)

    def wait_connections(self, n, timeout=20.0):
        ph.wait_for(lambda: self.connections >= n, timeout,
                    f"{n} connections at {self.address}")

    def wait_for(self, cond, timeout=20.0, what="a receiver condition"):
        """Polls cond(self) under the lock."""
        def check():
            with self.lock:
                return cond(self)
        return ph.wait_for(check, timeout, what)

    def commands(self):
        """Every command line of every connection, in order."""
        with self.lock:
            return [c for conn in self.conns for c in conn.commands]

    def data_transactions(self):
        with self.lock:
            return list(self.transactions)

    # -- the server ---------------------------------------------------------------

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                sock, peer = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                time.sleep(0.05)
                continue
            with self.lock:
                conn = Connection(len(self.conns) + 1, peer)
                self.conns.append(conn)
                self._socks.add(sock)
                self.changed.notify_all()
            t = threading.Thread(target=self._serve, args=(sock, conn),
                                 name=f"rcv-{self.host}-{conn.number}", daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, sock, conn):
        session = _Session(self, sock, conn)
        try:
            session.run()
        except _Dropped:
            pass
        except (OSError, ssl.SSLError):
            pass
        except Exception as exc:  # a bug here: keep it for the test
            with self.lock:
                self.errors.append(exc)
        finally:
            with self.lock:
                conn.closed = True
                self._socks.discard(session.sock)
                self._socks.discard(sock)
                self.changed.notify_all()
            try:
                session.sock.close()
            except OSError:
                pass

    def ssl_context(self):
        if self._ssl is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.starttls)
            self._ssl = ctx
        return self._ssl


class _Session:
    """One connection's SMTP dialogue (runs in its own thread)."""

    def __init__(self, rcv, sock, conn):
        self.rcv = rcv
        self.sock = sock
        self.conn = conn
        self.buf = b""
        self.ehlo_done = False
        self.tls = False
        self.authed = None
        self.tx = None
        self.refusing = False          # after a 554 greeting
        sock.settimeout(0.5)

    # -- I/O ------------------------------------------------------------------------

    def _recv(self):
        idle = time.monotonic() + IDLE_TIMEOUT
        while True:
            if self.rcv.stopping.is_set():
                raise _Dropped()
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                if time.monotonic() > idle:
                    raise _Dropped()
                continue
            except ssl.SSLWantReadError:
                continue
            if not data:
                raise _Dropped()
            return data

    def readline(self):
        """A command line without its CRLF, or None when it was longer than
        LINE_MAX (then the rest of it was read and thrown away)."""
        too_long = False
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                if too_long or len(line) > LINE_MAX + 1:
                    return None
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > LINE_MAX + 2:
                too_long = True
                self.buf = b""
            self.buf += self._recv()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self.sock.sendall(data)

    def reply(self, line, verb=None):
        """Sends line + CRLF, or the garbage configured for verb."""
        if verb is not None:
            d = self.rcv.delay.get(verb)
            if d:
                if self.rcv.stopping.wait(d):
                    raise _Dropped()
            junk = self.rcv.garbage.get(verb)
            if junk is not None:
                self.send(junk)
                return
        self.send(line + "\r\n")

    def record(self, text):
        with self.rcv.lock:
            self.conn.commands.append(text)

    # -- the dialogue ------------------------------------------------------------

    def run(self):
        g = self.rcv.garbage.get("GREETING")
        if g is not None:
            self.send(g)
        else:
            self.send(self.rcv.greeting + "\r\n")
            code = self.rcv.greeting[:3]
            if code == "421":
                return
            if code == "554":
                self.refusing = True
        while True:
            raw = self.readline()
            if raw is None:
                self.record("(line too long)")
                self.reply("500 5.5.0 Line too long")
                continue
            text = raw.decode("utf-8", "surrogateescape")
            self.record(text)
            verb = text.split(" ", 1)[0].upper()
            arg = text[len(verb):].strip()
            if self.refusing and verb != "QUIT":
                self.reply("503 5.5.1 Bad sequence of commands", verb)
                continue
            handler = getattr(self, "cmd_" + verb.lower(), None)
            if handler is None or not verb.isalpha():
                self.reply("502 5.5.2 Error: command not recognized", verb)
                continue
            if handler(arg, verb) == "quit":
                return

    def cmd_ehlo(self, arg, verb):
        if self.rcv.helo_only:
            self.reply("502 5.5.2 Error: command not recognized", verb)
            return
        self._reset()
        self.ehlo_done = True
        with self.rcv.lock:
            self.conn.helo = arg
        ext = list(self.rcv.ehlo)
        if self.rcv.starttls and not self.tls:
            ext.append("STARTTLS")
        if self.rcv.auth and (self.tls or not self.rcv.auth_tls_only):
            ext.append("AUTH PLAIN LOGIN")
        lines = [self.rcv.name] + ext
        out = "".join(f"250-{ln}\r\n" for ln in lines[:-1]) + f"250 {lines[-1]}"
        self.reply(out, verb)

    def cmd_helo(self, arg, verb):
        self._reset()
        self.ehlo_done = True
        with self.rcv.lock:
            self.conn.helo = arg
        self.reply(f"250 {self.rcv.name}", verb)

    def cmd_starttls(self, arg, verb):
        if not self.rcv.starttls or self.tls:
            self.reply("502 5.5.1 STARTTLS not available", verb)
            return
        self.reply("220 2.0.0 Ready to start TLS", verb)
        self.buf = b""                 # nothing pipelined before TLS counts
        self.sock.settimeout(10)
        try:
            tls = self.rcv.ssl_context().wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            with self.rcv.lock:
                self.conn.tls_error = str(exc)
            raise _Dropped()
        with self.rcv.lock:
            self.rcv._socks.add(tls)
        self.sock = tls
        self.sock.settimeout(0.5)
        self.tls = True
        self.ehlo_done = False
        self.authed = None
        self._reset()
        with self.rcv.lock:
            self.conn.tls_version = tls.version()
            self.conn.tls_cipher = tls.cipher()[0]
            self.conn.helo = None
            self.conn.auth_user = None

    def cmd_auth(self, arg, verb):
        if not self.rcv.auth or (self.rcv.auth_tls_only and not self.tls):
            self.reply("502 5.5.1 AUTH not available", verb)
            return
        if self.authed is not None:
            self.reply("503 5.5.1 Already authenticated", verb)
            return
        if self.tx is not None:
            self.reply("503 5.5.1 AUTH not allowed in a transaction", verb)
            return
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        try:
            if mech == "PLAIN":
                if len(parts) > 1:
                    resp = parts[1]
                else:
                    self.send("334 \r\n")
                    resp = self._auth_line()
                fields = base64.b64decode(resp, validate=True).split(b"\0")
                if len(fields) != 3:
                    raise ValueError("PLAIN needs three fields")
                user, password = fields[1].decode(), fields[2].decode()
            elif mech == "LOGIN":
                if len(parts) > 1:
                    user = base64.b64decode(parts[1], validate=True).decode()
                else:
                    self.send("334 VXNlcm5hbWU6\r\n")
                    user = base64.b64decode(self._auth_line(), validate=True).decode()
                self.send("334 UGFzc3dvcmQ6\r\n")
                password = base64.b64decode(self._auth_line(), validate=True).decode()
            else:
                self.reply("504 5.5.4 Unrecognized authentication type", verb)
                return
        except _AuthCancelled:
            self.reply("501 5.7.0 Authentication cancelled", verb)
            return
        except (ValueError, UnicodeDecodeError):
            self.reply("501 5.5.2 Cannot decode response", verb)
            return
        ok = self.rcv.auth.get(user) == password
        with self.rcv.lock:
            self.conn.auth_attempts.append((user, ok))
            if ok:
                self.conn.auth_user = user
        if ok:
            self.authed = user
            self.reply("235 2.7.0 Authentication successful", verb)
        else:
            self.reply("535 5.7.8 Error: authentication failed", verb)

    def _auth_line(self):
        raw = self.readline()
        if raw is None:
            raise ValueError("line too long")
        text = raw.decode("ascii", "replace")
        self.record(text)
        if text == "*":
            raise _AuthCancelled()
        return text

    def cmd_mail(self, arg, verb):
        m = _ENVELOPE.fullmatch("MAIL " + arg)
        if not m or m.group(1).upper() != "MAIL FROM":
            self.reply("501 5.5.4 Syntax: MAIL FROM:<address>", verb)
            return
        if not self.ehlo_done:
            self.reply("503 5.5.1 Error: send HELO/EHLO first", verb)
            return
        if self.tx is not None:
            self.reply("503 5.5.1 Error: nested MAIL command", verb)
            return
        if self.rcv.require_auth and self.authed is None:
            self.reply("530 5.7.0 Authentication required", verb)
            return
        addr = m.group(2)
        with self.rcv.lock:
            n = self.rcv.mail_attempts[addr] = self.rcv.mail_attempts.get(addr, 0) + 1
        line = None
        if self.rcv.mail_reply is not None:
            line = self.rcv.mail_reply(addr, n)
        line = line or "250 2.1.0 Ok"
        if line.startswith("2"):
            self.tx = Transaction(self.conn, "MAIL " + arg, addr, _params(m.group(3)))
        self.reply(line, verb)

    def cmd_rcpt(self, arg, verb):
        m = _ENVELOPE.fullmatch("RCPT " + arg)
        if not m or m.group(1).upper() != "RCPT TO":
            self.reply("501 5.5.4 Syntax: RCPT TO:<address>", verb)
            return
        if self.tx is None:
            self.reply("503 5.5.1 Error: need MAIL command", verb)
            return
        addr = m.group(2)
        with self.rcv.lock:
            n = self.rcv.rcpt_attempts[addr] = self.rcv.rcpt_attempts.get(addr, 0) + 1
        line = None
        if self.rcv.rcpt_reply is not None:
            line = self.rcv.rcpt_reply(addr, n)
        line = line or "250 2.1.5 Ok"
        self.tx.rcpts.append(Rcpt("RCPT " + arg, addr, _params(m.group(3)), line))
        self.reply(line, verb)

    def cmd_data(self, arg, verb):
        if self.tx is None:
            self.reply("503 5.5.1 Error: need MAIL command", verb)
            return
        if not self.tx.rcpt_to:
            self.reply("554 5.5.1 Error: no valid recipients", verb)
            return
        self.reply("354 End data with <CR><LF>.<CR><LF>", verb)
        tx = self.tx
        stall = self.rcv.stall_in_data
        lines = []
        size = 0
        pos = 0
        while True:
            i = self.buf.find(b"\n", pos)
            if i < 0:
                self.buf = self.buf[pos:]
                pos = 0
                if stall is not None and size + len(self.buf) >= stall[0]:
                    self._stall(tx, stall[1])
                self.buf += self._recv()
                continue
            line = self.buf[pos:i + 1]
            pos = i + 1
            if line == b".\r\n" or line == b".\n":
                break
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line)
            size += len(line)
            if stall is not None and size >= stall[0]:
                self._stall(tx, stall[1])
        self.buf = self.buf[pos:]
        tx.data = b"".join(lines)
        with self.rcv.lock:
            self.rcv.data_count += 1
            n = self.rcv.data_count
            self.rcv.transactions.append(tx)
            self.rcv.changed.notify_all()
        if self.rcv.stall_after_dot:
            tx.stalled = True
            while True:                # until the client leaves or we stop
                self._recv()
        line = None
        if self.rcv.data_reply is not None:
            line = self.rcv.data_reply(n)
        if line is None:
            with self.rcv.lock:
                self.rcv.queued += 1
                line = f"250 2.0.0 Ok: queued as {self.rcv.queued}"
        tx.reply = line
        self.tx = None
        if line.startswith("2") and "DOT" not in self.rcv.garbage:
            # Recorded before the reply goes out, so that a test that saw
            # the client's log line finds the message here.
            with self.rcv.lock:
                self.rcv.messages.append(tx)
                self.rcv.changed.notify_all()
        self.reply(line, "DOT")

    def _stall(self, tx, seconds):
        tx.stalled = True
        tx.data = None
        with self.rcv.lock:
            self.rcv.transactions.append(tx)
            self.rcv.changed.notify_all()
        self.rcv.stopping.wait(seconds)
        raise _Dropped()

    def cmd_rset(self, arg, verb):
        self._reset()
        self.reply("250 2.0.0 Ok", verb)

    def cmd_noop(self, arg, verb):
        self.reply("250 2.0.0 Ok", verb)

    def cmd_vrfy(self, arg, verb):
        self.reply("252 2.0.0 Cannot VRFY user", verb)

    def cmd_quit(self, arg, verb):
        self.reply("221 2.0.0 Bye", verb)
        return "quit"

    def _reset(self):
        self.tx = None


class _AuthCancelled(Exception):
    pass


# ---- test CA ----------------------------------------------------------------------

class TestCA:
    """A certificate authority made with the openssl CLI in folder.

    ca_file: the CA certificate (PEM) to trust.
    cert(names) -> (certfile, keyfile): a server certificate for names
    (DNS names or IP addresses, all in subjectAltName; the first is the
    CN), signed by this CA.
    untrusted_cert(names): the same from a second CA (made on first use)
    that nobody is told to trust.
    """

    __test__ = False               # not a pytest test class

    def __init__(self, folder, cn="postern test CA"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.key = self.folder / "ca-key.pem"
        self.ca_file = self.folder / "ca.pem"
        self.serial = 1
        self._other = None
        self._openssl("req", "-x509", "-new", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", self.key, "-out", self.ca_file, "-days", "3",
                      "-subj", f"/CN={cn}",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                      "-addext", "subjectKeyIdentifier=hash")
        os.chmod(self.key, 0o600)

    @staticmethod
    def _openssl(*args):
        r = subprocess.run(["openssl"] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"openssl {' '.join(str(a) for a in args)}:\n{r.stderr}")
        return r.stdout

    def cert(self, names, stem=None):
        if isinstance(names, str):
            names = [names]
        stem = stem or re.sub(r"[^A-Za-z0-9.-]", "_", names[0]) + f"-{self.serial}"
        key = self.folder / f"{stem}-key.pem"
        csr = self.folder / f"{stem}.csr"
        cert = self.folder / f"{stem}.pem"
        ext = self.folder / f"{stem}.ext"
        san = []
        for n in names:
            kind = "IP" if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*", n) else "DNS"
            san.append(f"{kind}:{n}")
        ext.write_text("basicConstraints = critical,CA:FALSE\n"
                       "keyUsage = critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage = serverAuth\n"
                       f"subjectAltName = {','.join(san)}\n"
                       "subjectKeyIdentifier = hash\n"
                       "authorityKeyIdentifier = keyid\n")
        self._openssl("req", "-new", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", f"/CN={names[0]}")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_file,
                      "-CAkey", self.key, "-set_serial", self.serial,
                      "-days", "2", "-out", cert, "-extfile", ext)
        self.serial += 1
        os.chmod(key, 0o600)
        return cert, key

    def untrusted_cert(self, names):
        if self._other is None:
            self._other = TestCA(self.folder / "untrusted", cn="untrusted test CA")
        return self._other.cert(names)

    @property
    def untrusted_ca_file(self):
        if self._other is None:
            self._other = TestCA(self.folder / "untrusted", cn="untrusted test CA")
        return self._other.ca_file


# ---- a postern instance that relays --------------------------------------------------

def agent_missing():
    """None when the build has the transfer agent, else why not."""
    if not os.access(TRANSFER_AGENT, os.X_OK):
        return f"the build under test lacks {TRANSFER_AGENT}"
    return None


def relay_services(smtpd_listen, agent=True, qmgr=True, delivery=True):
    """smtpd on smtpd_listen ("HOST:PORT"), authd, the queue manager, the
    delivery agent and the transfer agent (test_queue.queue_services)."""
    from test_queue import queue_services
    return queue_services(None, qmgr=qmgr, agent=delivery,
                          listen=smtpd_listen, relay=agent)


# Defaults of every relaying instance; a test's extra lines replace them by
# name.  The smtp_* timeouts are short so that no test waits minutes.
RELAY_DEFAULTS = {
    "authd_failure_delay": "0",
    "smtpd_greet_pause": "0",
    "queue_scan_interval": "2s",
    "queue_retry_min": "1s",
    "queue_retry_max": "2s",
    "dns_timeout": "1s",
    "smtp_connect_timeout": "3s",
    "smtp_greeting_timeout": "5s",
    "smtp_helo_timeout": "5s",
    "smtp_starttls_timeout": "5s",
    "smtp_mail_timeout": "5s",
    "smtp_rcpt_timeout": "5s",
    "smtp_data_init_timeout": "5s",
    "smtp_data_xfer_timeout": "5s",
    "smtp_data_done_timeout": "5s",
    "smtp_quit_timeout": "5s",
}


def merge_config(defaults, extra):
    """defaults ({name: value}) then extra lines; a line of extra whose
    name is in defaults replaces that default."""
    defaults = dict(defaults)
    for line in extra:
        defaults.pop(line.split("=", 1)[0].strip(), None)
    return [f"{k} = {v}" for k, v in defaults.items()] + list(extra)


def build_instance(root, top, dns_port=None, sink=None, extra=(),
                   domain=LOCAL_DOMAIN, hostname=LOCAL_HOSTNAME,
                   users=None, smtpd_host="127.0.0.1", smtpd_port=None,
                   agent=True, start=True):
    """A postern instance that relays: smtpd on smtpd_host:smtpd_port (a
    free port on 127.0.0.1 by default), authd, the queue manager, the
    delivery agent and (agent) the transfer agent; mydomains = domain,
    users {address: password} (default alice@local.test), mail_directory
    ROOT/mail, mynetworks 127.0.0.1 (so the tests may relay),
    dns_servers = 127.0.0.1:dns_port, smtp_port = sink, RELAY_DEFAULTS
    and extra.  Started (and waited for) unless start is False; .port,
    .host and .mail are set."""
    from test_smtpd import postctl_in
    if users is None:
        users = {SENDER: SENDER_PASSWORD}
    port = smtpd_port or ph.free_port()
    listen = f"[{smtpd_host}]:{port}" if ":" in smtpd_host else f"{smtpd_host}:{port}"
    inst = ph.Instance(root, services=relay_services(listen, agent=agent),
                       open_up_to=top)
    link = inst.libexec / "postern-transfer-agent"
    if not link.is_symlink():
        link.symlink_to(TRANSFER_AGENT)
    mail = inst.root / "mail"
    mail.mkdir(exist_ok=True)
    if ph.is_root():
        os.chown(mail, pwd.getpwnam("nobody").pw_uid, -1)
    lines = [f"myhostname = {hostname}",
             f"mydomains = {domain}",
             "mynetworks = 127.0.0.1/32",
             f"mail_directory = {mail}"]
    defaults = dict(RELAY_DEFAULTS)
    if dns_port is not None:
        defaults["dns_servers"] = f"127.0.0.1:{dns_port}"
    if sink is not None:
        defaults["smtp_port"] = str(sink)
    inst.extra = lines + merge_config(defaults, extra)
    inst.write_config()
    for address, password in users.items():
        r = postctl_in(inst, "user", "add", "--stdin", address, stdin=password + "\n")
        assert r.returncode == 0, r.stderr
    inst.port = port
    inst.host = smtpd_host
    inst.mail = mail
    inst.agent = agent
    if start:
        start_instance(inst)
    return inst


def smtp_ready(host, port):
    """True when an SMTP server greets with 220 at host:port."""
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.settimeout(2)
            if s.recv(512).startswith(b"220 "):
                s.sendall(b"QUIT\r\n")
                return True
    except OSError:
        pass
    return False


def start_instance(inst, timeout=ph.START_TIMEOUT):
    """Starts the master and waits for smtpd, authd's and the queue
    manager's sockets, and (when enabled) the transfer agent's socket and
    process."""
    inst.proc = None
    inst.start(wait=False)
    try:
        ph.wait_for(lambda: smtp_ready(inst.host, inst.port), timeout,
                    f"smtpd on {inst.host}:{inst.port}")
        names = ["auth", "qmgr"] + (["smtp"] if inst.agent else [])
        for name in names:
            ph.wait_for(lambda: (inst.spool / "private" / name).exists(),
                        timeout, f"private/{name}")
        if inst.agent:
            ph.wait_for(lambda: agent_pids(inst), timeout,
                        "the transfer agent's process")
    except BaseException:
        inst.teardown()
        raise


def agent_pids(inst, program="postern-transfer-agent"):
    """The pids of the master's children that run program."""
    out = []
    for pid in inst.children():
        argv = ph.proc_cmdline(pid)
        if argv and argv[0].endswith(program):
            out.append(pid)
    return out


def submit(inst, rcpts, body, sender=SENDER, mail_options=(), rcpt_options=(),
           timeout=20):
    """Sends one message to inst's smtpd with smtplib; returns its queue
    ID (from "250 2.0.0 Ok: queued as ID").  Raises on any refusal."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    if isinstance(body, str):
        body = body.encode()
    with smtplib.SMTP(inst.host, inst.port, "client.local.test", timeout=timeout) as c:
        c.ehlo()
        code, msg = c.mail(sender, list(mail_options))
        assert code == 250, (code, msg)
        for r in rcpts:
            code, msg = c.rcpt(r, list(rcpt_options))
            assert code in (250, 251), (r, code, msg)
        code, msg = c.data(body)
        assert code == 250, (code, msg)
    m = re.search(rb"queued as ([0-9A-V]+)", msg)
    assert m, msg
    return m.group(1).decode()


def message(subject, body="hello\r\n", sender=SENDER, to="bob@remote.test",
            headers=()):
    """A small RFC 5322 message as bytes (CRLF)."""
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
             f"Message-ID: <{subject.replace(' ', '.')}.{time.monotonic_ns()}@local.test>"]
    lines += list(headers)
    text = "\r\n".join(lines) + "\r\n\r\n" + body
    return text.encode("utf-8")


def flush(inst):
    r = inst.postctl("queue", "flush")
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r


# -- mailboxes and bounces -------------------------------------------------------------

def maildir_new(inst, address):
    local, domain = address.split("@")
    d = inst.mail / domain / local / "Maildir" / "new"
    return sorted(d.iterdir()) if d.is_dir() else []


def wait_maildir(inst, address, n, timeout=20):
    ph.wait_for(lambda: len(maildir_new(inst, address)) >= n, timeout,
                f"{n} messages in {address}'s Maildir")
    return maildir_new(inst, address)


def parse_dsn(data):
    """An RFC 3464 report: (message, per_message fields, [per_recipient
    fields]) with the fields as {lower-case name: value}."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    assert status, "no message/delivery-status part"
    blocks = _status_blocks(status[0])
    fields = [{k.lower(): str(v) for k, v in b.items()} for b in blocks]
    return msg, fields[0], fields[1:]


def _status_blocks(part):
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return payload
    # Not parsed into blocks: split the text at empty lines.
    text = payload if isinstance(payload, str) else part.as_string()
    out = []
    for chunk in re.split(r"\r?\n\r?\n", text.strip()):
        out.append(email.message_from_string(chunk + "\n", policy=email.policy.default))
    return out


def wait_bounces(inst, n=1, timeout=20, address=SENDER):
    """Waits for n reports in the sender's Maildir; returns their parsed
    forms (see parse_dsn), oldest first."""
    files = wait_maildir(inst, address, n, timeout)
    return [parse_dsn(f.read_bytes()) for f in files]


def bounce_for(inst, rcpt, timeout=20, address=SENDER):
    """Waits for a report in the sender's Maildir that names rcpt; returns
    (message, per_message, per_recipient fields of rcpt)."""
    found = {}

    def look():
        for f in maildir_new(inst, address):
            if f in found:
                continue
            data = f.read_bytes()
            if rcpt.encode() not in data:
                continue
            msg, pm, prs = parse_dsn(data)
            for pr in prs:
                if rcpt.lower() in pr.get("final-recipient", "").lower() or \
                        rcpt.lower() in pr.get("original-recipient", "").lower():
                    found[f] = (msg, pm, pr)
                    return True
        return False
    ph.wait_for(look, timeout, f"a delivery status report for {rcpt}")
    return next(iter(found.values()))


# ---- one test's world --------------------------------------------------------------------

class RelayEnv:
    """The servers and instances of one relay test.  close() stops them
    all: instances first (their agents stop talking), then receivers,
    then DNS."""

    def __init__(self, folder, top):
        self.folder = Path(folder)
        self.top = top
        self.sink = sink_port()
        self.dns = None
        self.ca = None
        self.receivers = []
        self.instances = []

    def start_dns(self, **records):
        self.dns = DnsServer(self.folder / "dns", **records)
        self.dns.start()
        return self.dns

    def receiver(self, host, port=None, **opts):
        rcv = SmtpReceiver(host, self.sink if port is None else port, **opts)
        self.receivers.append(rcv)
        return rcv

    def test_ca(self):
        if self.ca is None:
            self.ca = TestCA(self.folder / "ca")
        return self.ca

    def etc(self, name="relay"):
        """The etc/ folder the instance called name has (or will have)."""
        return self.folder / name / "etc"

    def instance(self, extra=(), name="relay", tables=None, start=True, **kw):
        """A relaying instance (build_instance) in FOLDER/name.  tables:
        {file name: [(key, value), ...]} written into its etc/ and built
        (hash:) before it starts; extra may name them as
        hash:{env.etc(name)}/FILE."""
        kw.setdefault("dns_port", self.dns.port if self.dns is not None else None)
        kw.setdefault("sink", self.sink)
        inst = build_instance(self.folder / name, self.top, extra=extra,
                              start=False, **kw)
        self.instances.append(inst)
        for fname, entries in (tables or {}).items():
            self.table(inst, fname, entries)
        if start:
            start_instance(inst)
        return inst

    def table(self, inst, name, entries):
        """Writes etc/NAME with lines "key value" and builds hash:etc/NAME;
        returns "hash:PATH" for the configuration."""
        from test_smtpd import postctl_in
        path = inst.etc / name
        path.write_text("".join(f"{k} {v}\n" for k, v in entries))
        r = postctl_in(inst, "map", "build", f"hash:{path}")
        assert r.returncode == 0, r.stderr
        return f"hash:{path}"

    def close(self):
        errors = []
        for inst in self.instances:
            try:
                inst.teardown()
            except Exception as exc:     # keep stopping the rest
                errors.append(exc)
        for rcv in self.receivers:
            rcv.stop()
        if self.dns is not None:
            self.dns.stop()
        reports = []
        for inst in self.instances:
            reports.extend(inst.sanitizer_reports())
        bugs = [e for rcv in self.receivers for e in rcv.errors]
        return errors, reports, bugs

