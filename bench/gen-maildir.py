#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""gen-maildir.py [options] MAILDIR...: writes the same generated messages
into one or more Maildir folders (bench/imap-dovecot, bench/README.md).

Every message is a plain RFC 5322 text/plain message of about --size bytes
(headers included), LF line ends, as a delivery agent would leave it. The
content depends only on the options (--seed), never on the time or the
process, so that two servers get byte-for-byte the same mail: each MAILDIR
gets its own copy of every file, under the same name, in cur/ with the info
":2," (no flags), and the file's mtime is the message's Date: (the
INTERNALDATE most servers take). Every --every-th message (the first, the
101st, ...) has the word --word in its body once; no other message has it,
as the other words are at most 10 letters long. File names carry no S= or
W= size (servers must stat or read the file, as for mail from other tools).

Folders and their cur/ new/ tmp/ are created when missing; everything
created (files included) belongs to --owner (user name or uid), or to the
owner of each MAILDIR's parent. Files already in cur/ with a generated name
are overwritten, any other file is left alone. Ends with sync(2).

Prints one line: "generated N messages, B bytes, in S s".
"""
import argparse
import os
import pwd
import random
import sys
import time

T0 = 1700000000			# Date: of the first message (2023-11-14)
LINE_POOL = 4096		# body lines to pick from
WORDS = 3000


def make_words(r):
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(r.choice(letters) for _ in range(r.randint(2, 10)))
            for _ in range(WORDS)]


def make_lines(r, words):
    """The pool of body lines, each 60 to 76 characters."""
    lines = []
    for _ in range(LINE_POOL):
        out = []
        n = 0
        while n < 60:
            w = words[r.randrange(len(words))]
            if n + len(w) + 1 > 76:
                break
            out.append(w)
            n += len(w) + 1
        lines.append((" ".join(out) + "\n").encode())
    return lines


def message(i, a, r, words, lines):
    t = T0 + i * 7
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
    s = i % 97
    head = (f"Return-Path: <sender{s}@example.test>\n"
            f"Delivered-To: {a.rcpt}\n"
            f"Received: from client.example.test (localhost [127.0.0.1])\n"
            f"\tby bench.example.test with ESMTP id {i:08X}; {date}\n"
            f"Date: {date}\n"
            f"From: Sender {s} <sender{s}@example.test>\n"
            f"To: Bench <{a.rcpt}>\n"
            f"Subject: benchmark message {i} "
            f"{words[r.randrange(len(words))]}\n"
            f"Message-ID: <{i}.{a.seed}@bench.example.test>\n"
            f"MIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=us-ascii\n"
            f"Content-Transfer-Encoding: 7bit\n\n").encode()
    parts = [head]
    n = len(head)
    if a.every > 0 and i % a.every == 0:
        w = f"This message mentions {a.word} once.\n".encode()
        parts.append(w)
        n += len(w)
    while n < a.size:
        ln = lines[r.randrange(LINE_POOL)]
        parts.append(ln)
        n += len(ln)
    return t, b"".join(parts)


def owner_of(spec, path):
    if spec is None:
        st = os.stat(os.path.dirname(os.path.abspath(path)) or "/")
        return st.st_uid, st.st_gid
    if spec.isdigit():
        return int(spec), int(spec)
    pw = pwd.getpwnam(spec)
    return pw.pw_uid, pw.pw_gid


def makedir(path, uid, gid):
    if not os.path.isdir(path):
        os.mkdir(path, 0o700)
        os.chown(path, uid, gid)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("maildir", nargs="+")
    ap.add_argument("--count", type=int, required=True,
                    help="messages per folder")
    ap.add_argument("--size", type=int, default=4096,
                    help="approximate message size in bytes (4096)")
    ap.add_argument("--seed", type=int, default=1,
                    help="the content (1)")
    ap.add_argument("--word", default="zanzibarite",
                    help="the search word (zanzibarite)")
    ap.add_argument("--every", type=int, default=100,
                    help="every how many messages the word appears (100)")
    ap.add_argument("--rcpt", default="bench@example.test",
                    help="To: and Delivered-To: (bench@example.test)")
    ap.add_argument("--owner", default=None,
                    help="owner of what is created (default: the owner "
                         "of the folder's parent)")
    a = ap.parse_args()
    if a.count < 0 or a.size < 0:
        sys.exit("gen-maildir.py: --count and --size must not be negative")
    if not a.word.isalpha() or len(a.word) <= 10:
        sys.exit("gen-maildir.py: --word must be letters only and longer "
                 "than 10, so that no generated word contains it")

    dirs = []
    for md in a.maildir:
        md = md.rstrip("/") or "/"
        uid, gid = owner_of(a.owner, md)
        makedir(md, uid, gid)
        for sub in ("cur", "new", "tmp"):
            makedir(os.path.join(md, sub), uid, gid)
        dirs.append((os.path.join(md, "cur"), uid, gid))

    r = random.Random(a.seed)
    words = make_words(r)
    lines = make_lines(r, words)
    start = time.monotonic()
    total = 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    for i in range(a.count):
        t, data = message(i, a, r, words, lines)
        name = f"{t}.M{i:06d}P{a.seed}.benchgen:2,"
        for cur, uid, gid in dirs:
            path = os.path.join(cur, name)
            fd = os.open(path, flags, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchown(fd, uid, gid)
                os.utime(fd, (t, t))
            finally:
                os.close(fd)
        total += len(data)
    os.sync()
    print(f"generated {a.count} messages, {total} bytes, "
          f"in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
