# SPDX-License-Identifier: ISC
"""postctl against a real instance: start, status, reload and stop drive
the master; check and config read the configuration; map builds and
queries tables.  See man/postctl.8."""

import os
import re
import select
import socket
import subprocess
import time

import pytest

import postern_harness as ph

STATUS_HEAD = "SERVICE          STATE     PID      UPTIME   CLIENTS"


def addr(port):
    return ("127.0.0.1", port)


def status_rows(out):
    """The process lines of "postctl status": [(service, state, pid, up, clients)]."""
    lines = out.splitlines()
    assert re.fullmatch(r"postern-master pid \d+, up \d+[smhd]\S*", lines[0]), out
    assert lines[1] == STATUS_HEAD, out
    rows = []
    for line in lines[2:]:
        m = re.fullmatch(r"(\S+) +(\S+(?: \([^)]*\))?) +(\S+) +(\S+) +(\S+)", line)
        assert m, f"bad status line {line!r}"
        rows.append(m.groups())
    return rows


@pytest.fixture
def started(make_instance):
    """An instance started with "postctl start"."""
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"]}})
    inst.port = port
    r = inst.start_postctl()
    assert r.returncode == 0, (r.stdout, r.stderr)
    return inst


def test_usage(make_instance):
    inst = make_instance()
    r = inst.postctl("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: postctl")
    r = inst.postctl("no-such-command")
    assert r.returncode == 2
    assert "unknown command" in r.stderr and "usage: postctl" in r.stderr
    r = inst.postctl("status", "extra")
    assert r.returncode == 2


def test_start_status_reload_stop(started):
    inst = started
    pid = inst.master_pid
    assert pid and ph.pid_alive(pid)
    assert f"pid {pid}" in inst.postctl("status").stdout
    with ph.connect_service(addr(inst.port)) as c:
        first = c.pid

    r = inst.postctl("status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith(f"postern-master pid {pid}, up ")
    rows = status_rows(r.stdout)
    assert ("test", "running", str(first)) in [row[:3] for row in rows], r.stdout

    r = inst.postctl("reload")
    assert r.returncode == 0, r.stderr

    def new_pid():
        with ph.connect_service(addr(inst.port), timeout=2) as c2:
            return c2.pid if c2.pid != first else None
    second = ph.wait_for(new_pid, 10, "a process started by the reload")
    ph.wait_for(lambda: str(second) in inst.postctl("status").stdout, 5,
                "the new process in postctl status")
    assert inst.read_pidfile() == pid

    r = inst.postctl("stop")
    assert r.returncode == 0, r.stderr
    assert not ph.pid_alive(pid)
    assert not inst.pidfile.exists()
    assert ph.port_refuses(inst.port)
    r = inst.postctl("status")
    assert r.returncode == 3
    assert "postctl: postern is not running" in r.stderr


def _read_to_eof(f, timeout):
    """Reads f until end of file; returns (data, True), or (data, False)
    when it is still open after timeout seconds."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        ready, _, _ = select.select([f], [], [], left)
        if ready:
            chunk = os.read(f.fileno(), 4096)
            if not chunk:
                return data, True
            data += chunk


def test_start_releases_its_output(make_instance):
    """"postctl start | cat" and "$(postctl start)" must not hang: neither
    the daemon nor its first processes may keep postctl's stdout/stderr."""
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"]}})
    p = subprocess.Popen([str(ph.POSTCTL), "-c", str(inst.etc), "start"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=inst.env())
    try:
        rc = p.wait(timeout=30)
        inst.master_pid = inst.read_pidfile()
        if inst.master_pid:
            inst._remember(inst.master_pid)
            inst.children()
        out, eof = _read_to_eof(p.stdout, 5)
    finally:
        p.stdout.close()
    assert rc == 0
    assert b"started" in out
    assert eof, ("postctl start's stdout stays open after it exited: the "
                 "master or its processes hold it")


def test_stop_without_services(make_instance):
    """A master with no service at all (the demo before any daemon exists)
    still answers stop before it exits."""
    inst = make_instance()
    r = inst.start_postctl()
    assert r.returncode == 0, (r.stdout, r.stderr)
    pid = inst.master_pid
    assert pid and ph.pid_alive(pid)
    r = inst.postctl("status")
    # Only the built-in services the harness turned off, shown as such.
    rows = status_rows(r.stdout)
    assert r.returncode == 0 and all(row[1] == "disabled" and row[2] == "-"
                                     for row in rows), r.stdout
    r = inst.postctl("stop")
    assert r.returncode == 0, r.stderr
    assert "stopped" in r.stdout + r.stderr
    ph.wait_for(lambda: not ph.pid_alive(pid), 10, "the master to exit")
    assert not inst.pidfile.exists()


def test_start_when_running(started):
    r = started.postctl("start")
    assert r.returncode == 1
    assert f"postctl: postern is already running (pid {started.master_pid})" in r.stderr
    assert ph.pid_alive(started.master_pid)


def test_status_shows_backoff(make_instance):
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"],
                                   "args": "--crash-at-start"}})
    assert inst.start_postctl().returncode == 0
    inst.wait_log(r"crashing in a loop")

    def backoff_row():
        rows = status_rows(inst.postctl("status").stdout)
        return [r for r in rows if r[0] == "test" and r[1].startswith("backoff")]
    rows = ph.wait_for(backoff_row, 5, "the service in backoff in postctl status")
    assert re.fullmatch(r"backoff \(next start in \d+s\)", rows[0][1]), rows
    assert rows[0][2:] == ("-", "-", "-")


def test_not_running(make_instance):
    inst = make_instance()
    for cmd in ("stop", "status", "reload"):
        r = inst.postctl(cmd)
        assert r.returncode == 3, (cmd, r.stderr)
        assert "postctl: postern is not running" in r.stderr


def test_stale_pid_file_is_not_running(make_instance):
    inst = make_instance()
    inst.run.mkdir(parents=True, exist_ok=True)
    # a pid that is surely not running: beyond pid_max
    inst.pidfile.write_text("4194305\n")
    r = inst.postctl("status")
    assert r.returncode == 3, r.stderr


def test_reload_with_broken_config(started):
    inst = started
    with ph.connect_service(addr(inst.port)) as c:
        before = c.pid
    text = inst.config_text() + "no_such_setting = yes\n"
    bad_line = text.count("\n")
    inst.write_config(text)
    r = inst.postctl("reload")
    assert r.returncode == 1
    assert f"postern.conf:{bad_line}:" in r.stderr, r.stderr
    assert ph.pid_alive(inst.master_pid)
    with ph.connect_service(addr(inst.port)) as c:
        assert c.pid == before


def test_start_failure_is_reported(make_instance):
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"]}})
    # someone else holds the port: the master cannot bind it
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        r = inst.start_postctl()
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stderr.strip(), "the reason must be printed"
    assert not inst.pidfile.exists()


def test_check_good_config(make_instance):
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{ph.free_port()}"]}})
    r = inst.postctl("check")
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout + r.stderr


def test_check_broken_config(make_instance):
    inst = make_instance()
    text = inst.config_text() + "no_such_setting = 1\nmaster_backoff_min = soon\n"
    inst.write_config(text)
    n = text.count("\n")
    r = inst.postctl("check")
    assert r.returncode == 1
    conf = str(inst.etc / "postern.conf")
    assert f"{conf}:{n - 1}:" in r.stderr, r.stderr
    assert f"{conf}:{n}:" in r.stderr, r.stderr


def test_check_tls_files(make_instance):
    """tls_cert_file and tls_key_file name files, not folders: they must
    exist, and the key must not be readable by every user."""
    inst = make_instance()
    cert, key = inst.etc / "cert.pem", inst.etc / "key.pem"
    cert.write_text("certificate\n")
    key.write_text("key\n")
    cert.chmod(0o644)
    key.chmod(0o600)
    base = inst.config_text() + f"tls_cert_file = {cert}\ntls_key_file = {key}\n"
    inst.write_config(base)
    r = inst.postctl("check")
    assert r.returncode == 0, r.stderr

    key.chmod(0o644)
    r = inst.postctl("check")
    assert r.returncode == 1 and "readable by every user" in r.stderr, r.stderr
    key.chmod(0o600)

    inst.write_config(base.replace(str(cert), str(inst.etc / "missing.pem")))
    r = inst.postctl("check")
    assert r.returncode == 1 and "missing.pem" in r.stderr, r.stderr


def test_config_prints_names(make_instance):
    inst = make_instance()
    r = inst.postctl("config", "-d")
    assert r.returncode == 0, r.stderr
    defaults = dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "")
                    for line in r.stdout.splitlines())
    assert defaults.get("queue_directory") == "/var/spool/postern"
    assert "master_backoff_max" in defaults
    r = inst.postctl("config")
    assert r.returncode == 0, r.stderr
    assert f"queue_directory = {inst.spool}" in r.stdout.splitlines()
    r = inst.postctl("config", "-n")
    assert r.returncode == 0, r.stderr
    names = [line.split(" = ", 1)[0] for line in r.stdout.splitlines()]
    assert "queue_directory" in names and "myhostname" not in names
    r = inst.postctl("config", "run_directory")
    assert r.returncode == 0
    assert r.stdout == f"run_directory = {inst.run}\n"
    r = inst.postctl("config", "no_such_name")
    assert r.returncode == 1
    assert "no_such_name" in r.stderr


def _has_bdb():
    try:
        text = (ph.BUILDDIR / "config.h").read_text()
    except FileNotFoundError:
        return True
    return re.search(r"^#define HAVE_BDB 1", text, re.M) is not None


@pytest.mark.parametrize("kind", [
    pytest.param("hash", marks=pytest.mark.skipif(not _has_bdb(),
                                                  reason="built --without-bdb")),
    "lmdb",
])
def test_map_build_and_query(make_instance, kind):
    inst = make_instance()
    src = inst.etc / "aliases"
    src.write_text("# a comment\n"
                   "postmaster: root\n"
                   "Alice@Example.org alice\n"
                   "bob@example.org bob,\n"
                   "  carol\n")
    r = inst.postctl("map", "build", f"{kind}:{src}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    for key, value in (("postmaster", "root"), ("alice@example.org", "alice"),
                       ("ALICE@example.ORG", "alice")):
        r = inst.postctl("map", "query", f"{kind}:{src}", key)
        assert r.returncode == 0, (key, r.stderr)
        assert r.stdout.strip() == value
    r = inst.postctl("map", "query", f"{kind}:{src}", "bob@example.org")
    assert r.returncode == 0 and "carol" in r.stdout and "bob" in r.stdout
    r = inst.postctl("map", "query", f"{kind}:{src}", "nobody@example.org")
    assert r.returncode == 1 and r.stdout == ""
    # an error (a repeated key) names the file and the line
    src.write_text("ok value\nOK other\n")
    r = inst.postctl("map", "build", f"{kind}:{src}")
    assert r.returncode == 1
    assert f"{src}:2:" in r.stderr, r.stderr
    # the old table is still there
    r = inst.postctl("map", "query", f"{kind}:{src}", "postmaster")
    assert r.returncode == 0 and r.stdout.strip() == "root"
