# SPDX-License-Identifier: ISC
"""Helpers for postern's integration tests: a throw-away instance of the
master and its services in a temporary folder, and small clients.

An Instance owns a folder with etc/ (postern.conf), spool/, data/, run/,
log/, asan/ and libexec/ (symlinks to the programs of the build under test,
POSTERN_BUILDDIR or <repo>/build).  It starts the master itself with -f (so
the test knows its pid) or through postctl, waits for the listeners to
answer, and on teardown stops everything it started: by the pids it started
or found as children of its master, never by name.  Every wait is bounded
in time.  The sanitizer build's reports land in asan/ (ASAN_OPTIONS and
UBSAN_OPTIONS log_path), which the fixture turns into a test failure.
"""

import errno
import os
import pwd
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILDDIR = Path(os.environ.get("POSTERN_BUILDDIR") or REPO / "build").resolve()

MASTER = BUILDDIR / "master" / "postern-master"
POSTCTL = BUILDDIR / "postctl" / "postctl"
TEST_SERVICE = BUILDDIR / "tests" / "test-service"
AUTHD = BUILDDIR / "authd" / "postern-authd"
SMTPD = BUILDDIR / "smtpd" / "postern-smtpd"
QMGR = BUILDDIR / "queue-manager" / "postern-queue-manager"
DELIVERY = BUILDDIR / "delivery-agent" / "postern-delivery-agent"
TRANSFER = BUILDDIR / "transfer-agent" / "postern-transfer-agent"
POSTDROP = BUILDDIR / "postdrop" / "postern-postdrop"
IMAP_LOGIN = BUILDDIR / "imapd" / "postern-imap-login"
IMAP = BUILDDIR / "imapd" / "postern-imap"

# Bounds of the waits (seconds).
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 5.0
POLL = 0.05


def is_root():
    return os.geteuid() == 0


def wait_for(cond, timeout=START_TIMEOUT, what="condition", interval=POLL):
    """Polls cond() until it returns something true; returns that value.
    Raises AssertionError after timeout seconds.  The number of polls is
    bounded by the time as well as by timeout / interval + 2."""
    deadline = time.monotonic() + timeout
    tries = int(timeout / interval) + 2
    last_exc = None
    for _ in range(tries):
        try:
            value = cond()
            if value:
                return value
        except (OSError, ValueError) as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    msg = f"timed out after {timeout:.1f} s waiting for {what}"
    if last_exc is not None:
        msg += f" (last error: {last_exc})"
    raise AssertionError(msg)


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- /proc ---------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid, starttime) of pid from /proc/PID/stat, or None when
    there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) S ppid ...": comm may hold spaces and parentheses.
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def pid_alive(pid):
    """True when pid runs (a zombie does not count)."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def children_of(pid):
    """The live processes whose parent is pid."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[1] == pid and st[0] not in ("Z", "X"):
            kids.append(int(name))
    return sorted(kids)


def proc_status(pid):
    """/proc/PID/status as a dict of name -> value text."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


# ---- a client of tests/test-service --------------------------------------

class ServiceClient:
    """A line client of the test service: connects, reads "ready PID"."""

    def __init__(self, address, timeout=IO_TIMEOUT):
        self.address = address
        self.timeout = timeout
        self.buf = b""
        if isinstance(address, tuple):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(address if isinstance(address, tuple) else str(address))
            line = self.readline()
        except BaseException:
            self.sock.close()
            raise
        m = re.fullmatch(r"ready (\d+)", line)
        if not m:
            self.sock.close()
            raise ValueError(f"expected 'ready PID' from {address}, got {line!r}")
        self.pid = int(m.group(1))

    def readline(self, timeout=None):
        """One line without CRLF.  Raises ConnectionError at end of stream,
        socket.timeout after timeout seconds."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"no line from {self.address}")
            self.sock.settimeout(left)
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError(f"{self.address} closed the connection")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def cmd(self, line, timeout=None):
        self.send(line)
        return self.readline(timeout)

    def at_eof(self, timeout=IO_TIMEOUT):
        """True when the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect_service(address, timeout=START_TIMEOUT):
    """Connects to the test service, retrying until it answers."""
    return wait_for(lambda: _try_connect(address), timeout,
                    f"the test service at {address}")


def _try_connect(address):
    try:
        return ServiceClient(address, timeout=min(IO_TIMEOUT, 2.0))
    except (OSError, ValueError, ConnectionError):
        return None


def port_refuses(port):
    """True when nothing accepts on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            s.connect(("127.0.0.1", port))
        except (ConnectionRefusedError, socket.timeout):
            return True
        except OSError as exc:
            return exc.errno in (errno.ECONNREFUSED,)
        return False


# ---- an instance ---------------------------------------------------------

# The CONF_SERVICE rows of common/conf_defs.def.
BUILTIN_SERVICES = ("authd", "smtpd", "queue-manager", "delivery-agent",
                    "transfer-agent", "imap-login", "imap")


class Instance:
    """One postern instance in its own folder.

    services: {name: {setting: value}}; "program" defaults to test-service;
    values that are lists are joined with ", ".  extra: more lines for
    postern.conf.
    """

    def __init__(self, root, services=None, extra=(), stop_timeout=2,
                 open_up_to=None, detect_leaks=True):
        self.root = Path(root)
        self.etc = self.root / "etc"
        self.spool = self.root / "spool"
        self.data = self.root / "data"
        self.run = self.root / "run"
        self.logdir = self.root / "log"
        self.asan = self.root / "asan"
        self.libexec = self.root / "libexec"
        self.log = self.logdir / "postern.log"
        self.pidfile = self.run / "master.pid"
        self.ctl = self.run / "master.ctl"
        self.proc = None            # Popen of a master started with -f
        self.master_pid = None      # the master, however it was started
        self.seen = {}              # pid -> starttime of every process we saw
        self.services = services if services is not None else {}
        self.extra = list(extra)
        self.stop_timeout = int(stop_timeout)    # master_stop_timeout, seconds
        self.port = None                          # set by the instance fixture
        # LeakSanitizer needs /proc, which a chrooted service lacks.
        self.detect_leaks = detect_leaks

        for d in (self.etc, self.logdir, self.asan, self.libexec):
            d.mkdir(parents=True, exist_ok=True)
        for name, target in (("postern-master", MASTER),
                             ("test-service", TEST_SERVICE),
                             ("postern-authd", AUTHD),
                             ("postern-smtpd", SMTPD),
                             ("postern-queue-manager", QMGR),
                             ("postern-delivery-agent", DELIVERY),
                             ("postern-transfer-agent", TRANSFER),
                             ("postern-postdrop", POSTDROP),
                             ("postern-imap-login", IMAP_LOGIN),
                             ("postern-imap", IMAP),
                             ("postctl", POSTCTL)):
            link = self.libexec / name
            if not link.is_symlink():
                link.symlink_to(target)
        if is_root():
            self._open_for_services(Path(open_up_to or self.root))
        self.write_config()

    def _open_for_services(self, top):
        """As root the services run as another user: they must reach the
        log and sanitizer folders (the sanitizers open their report files
        after the privilege drop), so the folders from top (pytest's
        pytest-of-USER) down to this one get o+x, and those two folders
        become writable by everyone (sticky)."""
        chain = [self.root] + list(self.root.parents)
        if top not in chain:
            chain = [self.root]
        for p in chain:
            st = p.stat()
            if st.st_uid == os.geteuid() and not (st.st_mode & 0o001):
                p.chmod((st.st_mode & 0o7777) | 0o011)
            if p == top or p == p.parent:
                break
        for d in (self.asan, self.logdir):
            d.chmod(0o1777)

    # -- configuration ------------------------------------------------------

    @property
    def mail_owner(self):
        # The build has no postern user here: root runs services as nobody.
        return "nobody" if is_root() else pwd.getpwuid(os.geteuid()).pw_name

    def config_text(self):
        lines = [
            "# written by tests/integration/postern_harness.py",
            f"queue_directory = {self.spool}",
            f"data_directory = {self.data}",
            f"run_directory = {self.run}",
            f"daemon_directory = {self.libexec}",
            f"mail_owner = {self.mail_owner}",
            f"log_target = file:{self.log}",
            "log_debug = yes",
            "master_backoff_min = 1s",
            "master_backoff_max = 4s",
            f"master_stop_timeout = {self.stop_timeout}s",
            "ipc_timeout = 10s",
        ]
        # Built-in services stay off unless a test configures them, so
        # that each test sees only the processes it asked for.
        for name in BUILTIN_SERVICES:
            if name not in self.services:
                lines.append(f"{name}.enable = no")
        for name, settings in self.services.items():
            settings = dict(settings)
            if name not in BUILTIN_SERVICES:
                settings.setdefault("program", "test-service")
            for key, value in settings.items():
                if isinstance(value, (list, tuple)):
                    value = ", ".join(str(v) for v in value)
                lines.append(f"{name}.{key} = {value}")
        # A setting in extra replaces the harness's own.
        mine = {e.split("=", 1)[0].strip() for e in self.extra if "=" in e}
        lines = [ln for ln in lines
                 if ln.split("=", 1)[0].strip() not in mine]
        lines.extend(self.extra)
        return "\n".join(lines) + "\n"

    def write_config(self, text=None):
        (self.etc / "postern.conf").write_text(text if text is not None
                                               else self.config_text())

    # -- environment and commands --------------------------------------------

    def env(self):
        env = dict(os.environ)
        env.pop("POSTERN_CONFIG_DIR", None)
        leaks = 1 if self.detect_leaks else 0
        env["ASAN_OPTIONS"] = f"log_path={self.asan}/asan:detect_leaks={leaks}"
        env["UBSAN_OPTIONS"] = f"print_stacktrace=1:log_path={self.asan}/ubsan"
        return env

    def postctl(self, *args, timeout=60, conf_dir=None):
        """Runs postctl -c ETC ARGS; returns a CompletedProcess with text
        stdout and stderr.  Output goes through files, not pipes: a master
        started by "postctl start" must not keep the test waiting on a pipe
        it inherited."""
        out = self.logdir / "postctl.out"
        err = self.logdir / "postctl.err"
        cmd = [str(POSTCTL), "-c", str(conf_dir or self.etc)] + [str(a) for a in args]
        with open(out, "w+b") as fo, open(err, "w+b") as fe:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=fo,
                               stderr=fe, env=self.env(), timeout=timeout)
            fo.seek(0)
            fe.seek(0)
            return subprocess.CompletedProcess(
                cmd, r.returncode, fo.read().decode("utf-8", "replace"),
                fe.read().decode("utf-8", "replace"))

    # -- addresses --------------------------------------------------------------

    def listeners(self, service):
        """The addresses of a service's listeners, as connect() wants them:
        (host, port) or a Unix socket path."""
        listen = self.services.get(service, {}).get("listen", [])
        if isinstance(listen, str):
            listen = [x for x in re.split(r"[,\s]+", listen) if x]
        out = []
        for item in listen:
            m = re.fullmatch(r"(?:([a-z0-9_-]+)=)?(.*)", item)
            addr = m.group(2)
            hp = re.fullmatch(r"(\[[^]]*\]|[^:/]*):(\d+)", addr)
            if hp:
                host = hp.group(1).strip("[]") or "127.0.0.1"
                if host == "*":
                    host = "127.0.0.1"
                out.append((host, int(hp.group(2))))
            else:
                out.append(addr if addr.startswith("/") else str(self.spool / addr))
        return out

    def _answering_services(self):
        names = []
        for name, s in self.services.items():
            args = str(s.get("args", ""))
            if str(s.get("enable", "yes")) == "no":
                continue
            if "--crash-at-start" in args or "--exit-at-start" in args:
                continue
            names.append(name)
        return names

    # -- master -------------------------------------------------------------------

    def master_cmd(self, *extra):
        return [str(self.libexec / "postern-master"), "-c", str(self.etc), "-f"] + list(extra)

    def start(self, wait=True, debug=False):
        """Starts the master in the foreground as a child of the test, then
        waits until its control socket exists and every listener of every
        service that should answer does."""
        assert self.proc is None, "already started"
        self.master_out = open(self.logdir / "master.out", "ab")
        cmd = self.master_cmd("-d") if debug else self.master_cmd()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.master_out,
                                     stderr=subprocess.STDOUT, env=self.env())
        self.master_pid = self.proc.pid
        self._remember(self.proc.pid)
        if wait:
            self.wait_ready()
        return self.proc

    def start_postctl(self):
        """Starts the master with "postctl start" (it daemonizes)."""
        r = self.postctl("start")
        if r.returncode == 0:
            self.master_pid = self.read_pidfile()
            if self.master_pid:
                self._remember(self.master_pid)
        return r

    def read_pidfile(self):
        try:
            text = self.pidfile.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"postern-master exited with {self.proc.returncode} "
                    f"during start-up:\n{self.master_output()}\n{self.log_tail()}")
            return self.ctl.exists() and self.read_pidfile() == self.master_pid
        wait_for(ready, timeout, "the master's pid file and control socket")
        deadline = time.monotonic() + timeout
        for name in self._answering_services():
            for addr in self.listeners(name):
                c = connect_service(addr, max(0.5, deadline - time.monotonic()))
                self._remember(c.pid)
                c.close()

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return self.master_pid is not None and pid_alive(self.master_pid)

    def children(self):
        """The master's live children (remembered for the teardown)."""
        if self.master_pid is None:
            return []
        kids = children_of(self.master_pid)
        for k in kids:
            self._remember(k)
        return kids

    def _remember(self, pid):
        st = proc_stat(pid)
        if st is not None:
            self.seen[pid] = st[2]

    def signal(self, sig):
        os.kill(self.master_pid, sig)

    def stop(self, timeout=None):
        """SIGTERM to the master, then waits for it.  Returns its exit code
        (None when it was not our child)."""
        if timeout is None:
            timeout = max(STOP_TIMEOUT, self.stop_timeout + 5)
        if self.master_pid is None or not self.alive():
            return self.proc.returncode if self.proc is not None else None
        self.children()
        os.kill(self.master_pid, signal.SIGTERM)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=None):
        if timeout is None:
            timeout = max(STOP_TIMEOUT, self.stop_timeout + 5)
        if self.proc is not None:
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"postern-master did not exit within {timeout} s")
        wait_for(lambda: not pid_alive(self.master_pid), timeout,
                 "postern-master to exit")
        return None

    def teardown(self):
        """Stops the master and kills whatever it left: only processes this
        instance started or saw as the master's children, checked by their
        start time so a recycled pid is never hit."""
        try:
            if self.master_pid is None and self.proc is None:
                pid = self.read_pidfile()
                if pid and pid_alive(pid) and str(self.etc) in " ".join(proc_cmdline(pid)):
                    self.master_pid = pid
            if self.master_pid is not None and self.alive():
                self.children()
                try:
                    self.stop()
                except AssertionError:
                    pass
        finally:
            for pid, started in self.seen.items():
                st = proc_stat(pid)
                if st is not None and st[2] == started and st[0] not in ("Z", "X"):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            if self.proc is not None:
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
            if getattr(self, "master_out", None) is not None:
                self.master_out.close()

    # -- logs and reports ------------------------------------------------------

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        text = self.log_text().splitlines()
        return "\n".join(text[-lines:]) if text else "(the log is empty)"

    def master_output(self):
        try:
            return (self.logdir / "master.out").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=START_TIMEOUT, count=1):
        """Waits until the log matches the regular expression pattern at
        least count times; returns the matches."""
        rx = re.compile(pattern)

        def found():
            m = rx.findall(self.log_text())
            return m if len(m) >= count else None
        return wait_for(found, timeout, f"log line /{pattern}/")

    def sanitizer_reports(self):
        """The text of every sanitizer report file of this instance."""
        out = []
        if self.asan.is_dir():
            for f in sorted(self.asan.iterdir()):
                out.append(f"==== {f.name} ====\n{f.read_text(errors='replace')}")
        return out
