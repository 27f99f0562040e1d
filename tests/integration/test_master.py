# SPDX-License-Identifier: ISC
"""The master (postern-master) against a real instance: it starts the test
service with its listeners open, restarts it, backs off a crash loop,
reloads without dropping connections, stops cleanly, refuses to run twice,
and confines its services.  See master-spec / man/postern-master.8."""

import os
import pwd
import re
import signal
import stat
import subprocess
import time

import pytest

import postern_harness as ph

EXIT_RE = r"service test: process (\d+) (?:exited with status \d+|killed by signal \d+)"


def expected_ids():
    """The uid and gid the services run as: the mail_owner (nobody) as
    root, the invoking user otherwise."""
    if ph.is_root():
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    return os.getuid(), os.getgid()


def addr(port):
    return ("127.0.0.1", port)


def test_starts_service_with_listener(instance):
    with ph.connect_service(addr(instance.port)) as c:
        assert c.pid in instance.children()
        assert c.cmd("ping") == f"pong {c.pid}"
        assert c.cmd("hello there") == "echo: hello there"
        uid, gid = expected_ids()
        assert c.cmd("whoami") == f"uid={uid} gid={gid}"
        assert c.cmd("quit") == "bye"
        assert c.at_eof()
    env = open(f"/proc/{c.pid}/environ", "rb").read().split(b"\0")
    assert b"POSTERN_SERVICE=test" in env
    assert f"POSTERN_LISTENERS=|127.0.0.1:{instance.port}".encode() in env
    argv = ph.proc_cmdline(c.pid)
    assert argv[1:4] == ["-c", str(instance.etc), "--"]
    assert instance.read_pidfile() == instance.master_pid


def test_creates_folders_and_files(instance):
    modes = {instance.spool: 0o755, instance.spool / "private": 0o700,
             instance.spool / "public": 0o710, instance.data: 0o700,
             instance.run: 0o755, instance.spool / "incoming": 0o700,
             instance.spool / "corrupt": 0o700}
    for path, mode in modes.items():
        st = os.lstat(path)
        assert stat.S_ISDIR(st.st_mode), path
        assert stat.S_IMODE(st.st_mode) == mode, f"{path}: {oct(st.st_mode)}"
    owner = pwd.getpwnam(instance.mail_owner).pw_uid
    for path in (instance.spool / "private", instance.spool / "public",
                 instance.data, instance.spool / "incoming",
                 instance.spool / "corrupt"):
        assert os.lstat(path).st_uid == owner, path
    st = os.lstat(instance.ctl)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert instance.pidfile.read_text().strip() == str(instance.master_pid)


@pytest.mark.skipif(os.geteuid() == 0, reason="the notice is for non-root runs")
def test_logs_running_without_root(instance):
    user = pwd.getpwuid(os.geteuid()).pw_name
    instance.wait_log(rf"running as {re.escape(user)} without root")
    assert len(re.findall("without root", instance.log_text())) == 1


def test_restarts_after_kill9(instance):
    with ph.connect_service(addr(instance.port)) as c:
        old = c.pid
    os.kill(old, signal.SIGKILL)
    instance.wait_log(rf"service test: process {old} killed by signal 9")

    def new_pid():
        with ph.connect_service(addr(instance.port), timeout=2) as c2:
            return c2.pid if c2.pid != old else None
    new = ph.wait_for(new_pid, 10, "a new test service process")
    assert new in instance.children()
    assert not ph.pid_alive(old)
    assert instance.alive()


def test_backs_off_crash_loop(make_instance):
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"],
                                   "args": "--crash-at-start"}})
    inst.start()
    begin = time.monotonic()
    inst.wait_log(r"crashing in a loop", timeout=5)
    time.sleep(max(0.0, 6.0 - (time.monotonic() - begin)))
    text = inst.log_text()
    # abort() in the service: SIGABRT
    assert re.search(r"service test: process \d+ killed by signal 6", text), inst.log_tail()
    starts = re.findall(EXIT_RE, text)
    # backoff 1 s, 2 s, 4 s: starts at about 0, 1, 3 (and 7) seconds.
    assert 2 <= len(starts) <= 5, f"{len(starts)} starts in 6 s:\n{inst.log_tail()}"
    delays = [int(d) for d in re.findall(r"crashing in a loop; next start in (\d+) ?s", text)]
    assert delays, inst.log_tail()
    assert delays[0] == 1
    assert delays == sorted(delays) and max(delays) <= 4
    assert inst.alive()
    # the listener stays bound while the service backs off
    assert not ph.port_refuses(port)


def test_exit_at_start_is_logged_and_replaced(make_instance):
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"],
                                   "args": "--exit-at-start"}})
    inst.start()
    inst.wait_log(r"service test: process \d+ exited with status 0", count=2)
    assert inst.alive()


def test_reload_keeps_open_connection(make_instance):
    port = ph.free_port()
    # a stop timeout long enough that the old process is not killed meanwhile
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"]}},
                         stop_timeout=20)
    inst.start()
    old = ph.connect_service(addr(port))
    try:
        old_pid = old.pid
        inst.signal(signal.SIGHUP)

        def new_conn():
            c = ph.connect_service(addr(port), timeout=2)
            if c.pid != old_pid:
                return c
            c.close()
            return None
        new = ph.wait_for(new_conn, 10, "a process started by the reload")
        with new:
            assert new.cmd("ping") == f"pong {new.pid}"
            assert old.cmd("ping") == f"pong {old_pid}"
            assert ph.pid_alive(old_pid)
            assert old.cmd("quit") == "bye"
            ph.wait_for(lambda: not ph.pid_alive(old_pid), 5,
                        "the old process to exit after its last client")
            assert new.cmd("ping") == f"pong {new.pid}"
    finally:
        old.close()
    assert inst.alive()


def test_reload_with_broken_config_keeps_running(instance):
    with ph.connect_service(addr(instance.port)) as c:
        before = c.pid
    text = instance.config_text() + "no_such_setting = 1\n"
    bad_line = text.count("\n")
    instance.write_config(text)
    instance.signal(signal.SIGHUP)
    instance.wait_log(rf"postern\.conf:{bad_line}:")
    time.sleep(0.5)
    assert instance.alive()
    with ph.connect_service(addr(instance.port)) as c:
        assert c.pid == before
        assert c.cmd("ping") == f"pong {before}"


def test_stops_on_sigterm(instance):
    with ph.connect_service(addr(instance.port)) as c:
        assert c.cmd("ping").startswith("pong")
    kids = instance.children()
    assert kids
    assert instance.stop() == 0
    assert not instance.pidfile.exists()
    assert not instance.ctl.exists()
    assert ph.port_refuses(instance.port)
    ph.wait_for(lambda: not any(ph.pid_alive(k) for k in kids), 5,
                "the master's children to be gone")


def test_sigterm_with_open_session_kills_after_stop_timeout(instance):
    c = ph.connect_service(addr(instance.port))
    try:
        begin = time.monotonic()
        assert instance.stop() == 0
        took = time.monotonic() - begin
        # the session kept its process until master_stop_timeout (2 s)
        assert 1.0 <= took <= instance.stop_timeout + 5, took
        assert not ph.pid_alive(c.pid)
        assert c.at_eof()
    finally:
        c.close()


def test_refuses_to_start_twice(instance):
    r = subprocess.run(instance.master_cmd(), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, env=instance.env(),
                       timeout=15)
    assert r.returncode == 1, r
    assert f"already running (pid {instance.master_pid})" in r.stderr
    assert instance.alive()
    assert instance.read_pidfile() == instance.master_pid
    with ph.connect_service(addr(instance.port)) as c:
        assert c.cmd("ping") == f"pong {c.pid}"


def test_unix_listener(make_instance):
    inst = make_instance({"test": {"listen": ["private/test"]}})
    inst.start()
    path = inst.spool / "private" / "test"
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o666
    with ph.connect_service(str(path)) as c:
        assert c.cmd("ping") == f"pong {c.pid}"
        assert c.cmd("role") == ""
        assert c.pid in inst.children()


def test_two_listeners_with_roles(make_instance):
    p1, p2 = ph.free_port(), ph.free_port()
    inst = make_instance({"test": {"listen": [f"alpha=127.0.0.1:{p1}",
                                              f"beta=127.0.0.1:{p2}"]}})
    inst.start()
    with ph.connect_service(addr(p1)) as a, ph.connect_service(addr(p2)) as b:
        assert a.cmd("role") == "alpha"
        assert b.cmd("role") == "beta"
        env = open(f"/proc/{a.pid}/environ", "rb").read().split(b"\0")
        assert (f"POSTERN_LISTENERS=alpha|127.0.0.1:{p1},beta|127.0.0.1:{p2}"
                .encode() in env)


def test_process_min(make_instance):
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"],
                                   "process_min": 2}})
    inst.start()
    kids = ph.wait_for(lambda: len(inst.children()) == 2 and inst.children(),
                       5, "two test service processes")
    assert len(kids) == 2


def test_starts_on_demand(make_instance):
    """process_min = 0: nothing runs until a client connects."""
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"],
                                   "process_min": 0}})
    inst.start(wait=False)
    ph.wait_for(lambda: inst.pidfile.exists(), 5, "the master's pid file")
    time.sleep(0.5)
    assert inst.children() == []
    with ph.connect_service(addr(port)) as c:
        assert c.pid in inst.children()
        assert c.cmd("ping") == f"pong {c.pid}"


def test_idle_exit_above_process_min(make_instance):
    """An idle process exits after idle_exit only while more than
    process_min run; the last one stays with process_min = 1."""
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"],
                                   "client_limit": 1, "process_limit": 2,
                                   "idle_exit": "1s"}})
    inst.start()
    first = ph.connect_service(addr(port))
    try:
        ph.wait_for(lambda: len(inst.children()) == 2, 5,
                    "a second process once the first is full")
    finally:
        first.close()
    # Both idle now: one may go, the other stays (process_min = 1).
    ph.wait_for(lambda: len(inst.children()) == 1, 10,
                "an idle process to exit")
    time.sleep(2.5)
    assert len(inst.children()) == 1
    assert "backing off" not in inst.log_text()
    assert "in a loop" not in inst.log_text()
    with ph.connect_service(addr(port)) as c:
        assert c.cmd("ping") == f"pong {c.pid}"


def test_starts_more_processes_when_full(make_instance):
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"],
                                   "client_limit": 1, "process_limit": 2}})
    inst.start()
    first = ph.connect_service(addr(port))
    try:
        ph.wait_for(lambda: len(inst.children()) == 2, 5,
                    "a second process once the first is full")
        second = ph.connect_service(addr(port))
        with second:
            assert second.pid != first.pid
            assert len(inst.children()) == 2
    finally:
        first.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_privilege_drop_and_chroot(make_instance):
    port = ph.free_port()
    # LeakSanitizer cannot run in a chroot without /proc (it fails at exit
    # in the sanitizer build): leak checks are off for this instance only;
    # the other tests check the same programs for leaks.
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"],
                                   "user": "nobody", "chroot": "empty"}},
                         detect_leaks=False)
    inst.start()
    nobody = pwd.getpwnam("nobody")
    with ph.connect_service(addr(port)) as c:
        assert c.cmd("whoami") == f"uid={nobody.pw_uid} gid={nobody.pw_gid}"
        status = ph.proc_status(c.pid)
        assert status["Uid"].split() == [str(nobody.pw_uid)] * 4
        assert status["Gid"].split() == [str(nobody.pw_gid)] * 4
        assert status["Groups"].split() in ([], [str(nobody.pw_gid)])
        for cap in ("CapEff", "CapPrm", "CapInh"):
            assert status[cap] == "0000000000000000", (cap, status[cap])
        if "CapAmb" in status:
            assert status["CapAmb"] == "0000000000000000"
        assert status["NoNewPrivs"] == "1"
        assert os.readlink(f"/proc/{c.pid}/root") != "/"
        assert c.cmd("ping") == f"pong {c.pid}"
    master = ph.proc_status(inst.master_pid)
    assert master["Uid"].split() == ["0"] * 4
    assert inst.stop() == 0
    # the confined process finished cleanly on SIGTERM
    assert re.search(rf"service test: process {c.pid} exited with status 0",
                     inst.log_text()), inst.log_tail()


def test_test_service_line_limit(instance):
    """The test service itself: 1000 bytes a line, one more is refused."""
    with ph.connect_service(addr(instance.port)) as c:
        longest = "y" * 1000
        assert c.cmd(longest) == "echo: " + longest
        assert c.cmd("z" * 1001) == "error: line too long"
        assert c.cmd("ping") == f"pong {c.pid}"
        c.send("ping\nping")          # bare LF ends a line too
        assert c.readline() == f"pong {c.pid}"
        c.send("")
        assert c.readline() == f"pong {c.pid}"
