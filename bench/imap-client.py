#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""imap-client.py [--host H] --port P --user U --password PW TEST [options]

The measuring client of bench/imap-dovecot (bench/README.md): the same load
against any IMAP server, over plain sockets, with Python's standard library
only. It does not parse what the server sends: it sends a command and reads
until the tagged reply of that command ("\\r\\nTAG "), counting bytes, so
that the time measured is the server's, not the client's (imaplib spends
most of a 100,000-message FETCH in its own parsing). Literals are not
parsed either: a message containing CRLF, the tag and a space would end a
response early, which the generated test messages (bench/gen-maildir.py)
never do. Every run also reports this process's own CPU time (user +
system) over the same span, to show the client is not the bottleneck.

Tests:
  fetch --mailbox M --items ITEMS [--runs N] [--warmup W]
        W + N times: connect, LOGIN, EXAMINE M, FETCH 1:* ITEMS, LOGOUT.
        One line per measured run:
          run=K wall=S login=S examine=S fetch=S cpu=S messages=N bytes=B
        then "median wall=S cpu=S login=S examine=S fetch=S messages=N
        bytes=B runs=N", each the median of its own column.
  search --mailbox M --word W [--runs N] [--warmup W]
        connect, LOGIN, EXAMINE M once, then W + N times UID SEARCH BODY W:
          run=K wall=S cpu=S messages=N hits=H
        then "median wall=S cpu=S messages=N hits=H runs=N".
  idle --count N --mailbox M --pid PID [--hold S]
        opens N connections, each LOGIN, SELECT M, IDLE (until the server's
        "+"), one after another; waits S seconds (2); sums the proportional
        set size (Pss of /proc/X/smaps_rollup) of PID and all its
        descendants before and with the N connections:
          before procs=P pss_kib=K detail=D
          with procs=P pss_kib=K setup=S detail=D
          result per_conn_pss_kib=K procs_added=P count=N
        then ends IDLE and logs out on every connection. D lists, largest
        first, COMMAND:PROCESSES:KIB for each command name (/proc/X/comm).
On an error: one line "error: WHAT" on standard error, exit status 1.
"""
import argparse
import os
import re
import resource
import socket
import statistics
import sys
import time

CHUNK = 1 << 20
TAIL = 64			# bytes kept from one read to the next


class Failed(Exception):
    pass


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Conn:
    """One IMAP connection that sends commands and skips to their tagged
    replies."""

    def __init__(self, host, port, timeout):
        try:
            self.s = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise Failed(f"connect to {host}:{port}: {e.strerror or e}")
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.n = 0
        self.buf = None
        self.pending = b""
        self.tail = b"\r\n"
        greeting = self._line()
        self.buf = bytearray(TAIL + CHUNK)
        if not greeting.startswith(b"* OK") and \
                not greeting.startswith(b"* PREAUTH"):
            raise Failed(f"greeting: {greeting[:200]!r}")

    def _recv(self):
        try:
            data = self.s.recv(CHUNK)
        except socket.timeout:
            raise Failed("timed out waiting for the server")
        except OSError as e:
            raise Failed(f"recv: {e.strerror or e}")
        if not data:
            raise Failed("the server closed the connection")
        return data

    def _line(self):
        """The next line (without CRLF), from what is pending first."""
        buf = self.pending
        while b"\r\n" not in buf:
            buf += self._recv()
        line, self.pending = buf.split(b"\r\n", 1)
        self.tail = b"\r\n"
        return line

    def send(self, text):
        try:
            self.s.sendall(text)
        except OSError as e:
            raise Failed(f"send: {e.strerror or e}")

    def cmd(self, text, keep=False):
        """Sends a command, reads up to its tagged reply. Returns (bytes
        read, everything read before the tagged line when keep else b"").
        Raises Failed unless the reply is OK."""
        self.n += 1
        tag = b"b%d" % self.n
        self.send(tag + b" " + text.encode() + b"\r\n")
        return self.wait(tag, keep, text.split(" ", 1)[0])

    def wait(self, tag, keep, what):
        """Reads up to the tagged reply of tag into one buffer, received
        with recv_into() and searched in place: no allocation and no copy
        per chunk but the kept bytes."""
        pat = b"\r\n" + tag + b" "
        kept = []
        total = 0
        buf = self.buf
        t = len(self.tail)
        buf[0:t] = self.tail
        p = self.pending
        self.pending = b""
        buf[t:t + len(p)] = p		# grows buf if need be (not yet)
        mv = memoryview(buf)
        end = t + len(p)
        new = t
        while True:
            i = buf.find(pat, 0, end)
            if i >= 0:
                j = buf.find(b"\r\n", i + 2, end)
                if j >= 0:
                    line = bytes(buf[i + 2:j])
                    self.pending = bytes(buf[j + 2:end])
                    total += j + 2 - new
                else:
                    rest = bytes(buf[i + 2:end])
                    total += end - new
                    while b"\r\n" not in rest:
                        more = self._recv()
                        rest += more
                        total += len(more)
                    line, self.pending = rest.split(b"\r\n", 1)
                    total -= len(self.pending)
                self.tail = b"\r\n"
                if keep:
                    kept.append(bytes(buf[new:i + 2]))
                words = line.split(b" ", 2)
                if len(words) < 2 or words[1] != b"OK":
                    raise Failed(f"{what}: {line[:200]!r}")
                return total, b"".join(kept)
            total += end - new
            if keep:
                kept.append(bytes(buf[new:end]))
            k = min(TAIL, end)
            buf[0:k] = buf[end - k:end]
            end = new = k
            try:
                n = self.s.recv_into(mv[end:end + CHUNK])
            except socket.timeout:
                raise Failed("timed out waiting for the server")
            except OSError as e:
                raise Failed(f"recv: {e.strerror or e}")
            if n == 0:
                raise Failed("the server closed the connection")
            end += n

    def wait_continuation(self, what):
        """Reads up to a continuation request ("+ ..." line)."""
        data = self.pending
        self.pending = b""
        hay = self.tail + data
        while True:
            i = hay.find(b"\r\n+")
            if i >= 0:
                rest = hay[i + 2:]
                while b"\r\n" not in rest:
                    rest += self._recv()
                self.pending = rest.split(b"\r\n", 1)[1]
                self.tail = b"\r\n"
                return
            m = re.search(rb"\r\n(b\d+ (?:NO|BAD)[^\r]*)\r\n", hay)
            if m:
                raise Failed(f"{what}: {m.group(1)[:200]!r}")
            if b"\r\n* BYE" in hay:
                raise Failed(f"{what}: BYE")
            hay = hay[-TAIL:] + self._recv()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def login(a):
    c = Conn(a.host, a.port, a.timeout)
    c.cmd(f"LOGIN {quote(a.user)} {quote(a.password)}")
    return c


def exists(head):
    m = re.search(rb"\* (\d+) EXISTS", head)
    return int(m.group(1)) if m else -1


def t_fetch(a):
    res = []
    for k in range(a.warmup + a.runs):
        c0 = cpu()
        w0 = time.perf_counter()
        c = login(a)
        w1 = time.perf_counter()
        _, head = c.cmd(f"EXAMINE {quote(a.mailbox)}", keep=True)
        w2 = time.perf_counter()
        nbytes, _ = c.cmd(f"FETCH 1:* {a.items}")
        w3 = time.perf_counter()
        c.cmd("LOGOUT")
        c.close()
        w4 = time.perf_counter()
        c4 = cpu()
        n = exists(head)
        if k < a.warmup:
            print(f"warmup={k + 1} wall={w4 - w0:.3f} messages={n} "
                  f"bytes={nbytes}", flush=True)
            continue
        res.append((w4 - w0, c4 - c0, w1 - w0, w2 - w1, w3 - w2))
        print(f"run={k - a.warmup + 1} wall={w4 - w0:.3f} "
              f"login={w1 - w0:.3f} examine={w2 - w1:.3f} "
              f"fetch={w3 - w2:.3f} cpu={c4 - c0:.3f} messages={n} "
              f"bytes={nbytes}", flush=True)
    med = [statistics.median(r[i] for r in res) for i in range(5)]
    print(f"median wall={med[0]:.3f} cpu={med[1]:.3f} login={med[2]:.3f} "
          f"examine={med[3]:.3f} fetch={med[4]:.3f} messages={n} "
          f"bytes={nbytes} runs={len(res)}", flush=True)


def t_search(a):
    c = login(a)
    _, head = c.cmd(f"EXAMINE {quote(a.mailbox)}", keep=True)
    n = exists(head)
    res = []
    for k in range(a.warmup + a.runs):
        c0 = cpu()
        w0 = time.perf_counter()
        _, out = c.cmd(f"UID SEARCH BODY {quote(a.word)}", keep=True)
        w1 = time.perf_counter()
        c1 = cpu()
        m = re.search(rb"\* SEARCH([ 0-9]*)\r\n", out)
        hits = len(m.group(1).split()) if m else -1
        if k < a.warmup:
            print(f"warmup={k + 1} wall={w1 - w0:.3f} hits={hits}",
                  flush=True)
            continue
        res.append((w1 - w0, c1 - c0))
        print(f"run={k - a.warmup + 1} wall={w1 - w0:.3f} cpu={c1 - c0:.3f} "
              f"messages={n} hits={hits}", flush=True)
    c.cmd("LOGOUT")
    c.close()
    print(f"median wall={statistics.median(r[0] for r in res):.3f} "
          f"cpu={statistics.median(r[1] for r in res):.3f} messages={n} "
          f"hits={hits} runs={len(res)}", flush=True)


def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip().replace(" ", "_") or "?"
    except OSError:
        return "?"


def tree_pss(top):
    """(processes, summed Pss in KiB, {command: [processes, KiB]}) of top
    and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    procs = total = 0
    by = {}
    stack = [top]
    while stack:
        p = stack.pop()
        kib = pss(p)
        if kib is not None:
            procs += 1
            total += kib
            e = by.setdefault(comm(p), [0, 0])
            e[0] += 1
            e[1] += kib
        stack.extend(children.get(p, []))
    return procs, total, by


def detail(by):
    return ",".join(f"{k}:{v[0]}:{v[1]}" for k, v in
                    sorted(by.items(), key=lambda kv: -kv[1][1]))


def t_idle(a):
    if pss(a.pid) is None:
        raise Failed(f"no process {a.pid} (or no smaps_rollup)")
    p0, k0, by0 = tree_pss(a.pid)
    print(f"before procs={p0} pss_kib={k0} detail={detail(by0)}",
          flush=True)
    conns = []
    try:
        w0 = time.perf_counter()
        for i in range(a.count):
            try:
                c = login(a)
                conns.append(c)
                c.cmd(f"SELECT {quote(a.mailbox)}")
                c.n += 1
                c.send(b"b%d IDLE\r\n" % c.n)
                c.wait_continuation("IDLE")
            except Failed as e:
                raise Failed(f"connection {i + 1}: {e}")
        w1 = time.perf_counter()
        time.sleep(a.hold)
        p1, k1, by1 = tree_pss(a.pid)
        print(f"with procs={p1} pss_kib={k1} setup={w1 - w0:.2f} "
              f"detail={detail(by1)}", flush=True)
        print(f"result per_conn_pss_kib={(k1 - k0) / a.count:.1f} "
              f"procs_added={p1 - p0} count={a.count}", flush=True)
    finally:
        for c in conns:
            try:
                c.s.setblocking(False)
                c.s.send(b"DONE\r\nb0 LOGOUT\r\n")
            except OSError:
                pass
        time.sleep(0.5)
        for c in conns:
            c.close()


def main():
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds to wait for the server at any one read")
    ap.add_argument("test", choices=("fetch", "search", "idle"))
    ap.add_argument("--mailbox", default="INBOX")
    ap.add_argument("--items", default="(UID FLAGS)")
    ap.add_argument("--word", default="zanzibarite")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--hold", type=float, default=2.0)
    a = ap.parse_args()
    if a.runs < 1 or a.warmup < 0 or a.count < 1:
        ap.error("--runs and --count must be at least 1")
    try:
        {"fetch": t_fetch, "search": t_search, "idle": t_idle}[a.test](a)
    except Failed as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
