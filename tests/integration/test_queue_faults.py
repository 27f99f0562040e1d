# SPDX-License-Identifier: ISC
"""The fault campaign of the queue (issue 5), in the form `scripts/check
--long` runs (POSTERN_CHECK_LONG=1); skipped otherwise, because
test_queue.py's test_kill_9_queue_manager_and_agent is its bounded form.

Eight clients send POSTERN_FAULT_MESSAGES messages (default 20,000) while
smtpd, the queue manager and the delivery agent are SIGKILLed at random
moments, one at a time, every 0.2 to 1.5 seconds, until the clients are
done.  A client whose session dies reconnects; a message counts as
acknowledged only when smtplib saw its 250.  Then the queue must drain and
every acknowledged message must be in the Maildir exactly as sent, with
duplicates (a crash between a delivery and its record) counted and
reported.  Bounded by count and time (POSTERN_FAULT_SECONDS, default
900)."""

import os
import random
import smtplib
import threading
import time

import pytest

import postern_harness as ph
from test_queue import build, finish, new_files, queue_empty

LONG = os.environ.get("POSTERN_CHECK_LONG") == "1"
MESSAGES = int(os.environ.get("POSTERN_FAULT_MESSAGES", "20000"))
SECONDS = int(os.environ.get("POSTERN_FAULT_SECONDS", "900"))
CLIENTS = 8
VICTIMS = ("postern-smtpd", "postern-queue-manager", "postern-delivery-agent")


@pytest.mark.skipif(not LONG, reason="the long fault campaign runs with scripts/check --long")
def test_random_kills_of_every_queue_process(tmp_path, tmp_path_factory):
    inst = build(tmp_path / "f", tmp_path_factory.getbasetemp().parent,
                 extra=["queue_retry_min = 1s", "queue_retry_max = 2s"])
    acked = []
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS
    per_client = MESSAGES // CLIENTS
    try:
        def sender(n):
            i = 0
            c = None
            while i < per_client and time.monotonic() < deadline:
                tag = f"f{n}-{i}"
                body = (f"Subject: {tag}\r\n\r\n" + f"line {i} of {tag}\r\n" * (1 + i % 50)).encode()
                try:
                    if c is None:
                        c = smtplib.SMTP("127.0.0.1", inst.port, "client.test", timeout=10)
                    c.sendmail("carol@remote.test", ["bob@example.test"], body)
                except (OSError, smtplib.SMTPException):
                    # Killed mid-session (or refused while smtpd restarts):
                    # not acknowledged, sent again under a new tag.
                    try:
                        if c is not None:
                            c.close()
                    except OSError:
                        pass
                    c = None
                    time.sleep(0.05)
                    i += 1
                    continue
                with lock:
                    acked.append((tag, body))
                i += 1
            if c is not None:
                try:
                    c.quit()
                except (OSError, smtplib.SMTPException):
                    pass

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        rng = random.Random(int(os.environ.get("POSTERN_FAULT_SEED", "5")))
        kills = {v: 0 for v in VICTIMS}
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.2, 1.5))
            victim = rng.choice(VICTIMS)
            for pid in inst.children():
                if any(a.endswith(victim) for a in ph.proc_cmdline(pid)[:1]):
                    try:
                        os.kill(pid, 9)
                        kills[victim] += 1
                    except ProcessLookupError:
                        pass
                    break
        for t in threads:
            t.join(60)
        ph.wait_for(lambda: queue_empty(inst), 300, "the queue to empty")
        files = new_files(inst, "bob@example.test")
        seen = {}
        sent = dict(acked)
        corrupt = []
        for f in files:
            data = f.read_bytes()
            tag = data.split(b"Subject: ")[1].split(b"\n")[0].decode()
            seen[tag] = seen.get(tag, 0) + 1
            body = data.split(b"\n\n", 1)[1]
            if tag in sent and body != sent[tag].split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n"):
                corrupt.append(f.name)
            if f",S={len(data)}" not in f.name:
                corrupt.append(f.name)
        missing = [t for t, _ in acked if t not in seen]
        dups = sum(n - 1 for n in seen.values())
        print(f"\nfault campaign: {len(acked)} acknowledged, {len(files)} files, "
              f"{dups} duplicates, {len(missing)} lost, {len(corrupt)} corrupt, kills {kills}")
        assert not missing, f"lost: {missing[:10]}"
        assert not corrupt, f"corrupt: {corrupt[:10]}"
        assert sum(kills.values()) >= 3
        assert len(acked) >= MESSAGES // 2
    finally:
        finish(inst)
