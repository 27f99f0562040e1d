# SPDX-License-Identifier: ISC
"""A small Python client of postern's framed IPC protocol (common/ipc.h),
for the integration tests.

A frame is a 12-byte big-endian header (u16 type, u16 flags, u32 body
length, u32 peer_id) and a body of fields, each a u8 key length, the key
([a-z0-9_-], 1..32 bytes), a u32 value length and the value bytes.  Keys
may repeat.  The message type numbers are read from common/ipc_types.h so
that they cannot drift from the C side.  No descriptor passing.
"""

import re
import socket
import struct
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEADER = struct.Struct(">HHII")
HEADER_SIZE = HEADER.size
KEY_MAX = 32
F_FD = 0x0001


def _read_types(path=REPO / "common" / "ipc_types.h"):
    """{name: number} of enum ipc_type, and IPC_PROTOCOL_VERSION."""
    text = path.read_text()
    version = int(re.search(r"#define\s+IPC_PROTOCOL_VERSION\s+(\d+)", text).group(1))
    body = re.search(r"enum\s+ipc_type\s*\{(.*?)\};", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    types = {}
    n = 0
    for m in re.finditer(r"\b(IPC_[A-Z0-9_]+)\s*(?:=\s*(\d+))?\s*,", body):
        if m.group(2) is not None:
            n = int(m.group(2))
        types[m.group(1)] = n
        n += 1
    return types, version


TYPES, PROTOCOL_VERSION = _read_types()
NAMES = {v: k for k, v in TYPES.items()}
# Module attributes HELLO, ERROR, OK, AUTH_BEGIN, ... for convenience.
globals().update({k[len("IPC_"):]: v for k, v in TYPES.items()})


def _bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, int):
        return str(value).encode()
    return str(value).encode()


def encode_fields(fields):
    """fields: a dict or a list of (key, value); values are bytes, str,
    int or bool (numbers travel as decimal text)."""
    items = fields.items() if isinstance(fields, dict) else fields
    out = bytearray()
    for key, value in items:
        k = key.encode() if isinstance(key, str) else key
        v = _bytes(value)
        out += bytes([len(k)]) + k + struct.pack(">I", len(v)) + v
    return bytes(out)


def encode_frame(mtype, fields=(), peer_id=0, flags=0, body=None):
    """One frame; body (raw bytes) overrides fields."""
    if body is None:
        body = encode_fields(fields)
    return HEADER.pack(mtype, flags, len(body), peer_id) + body


class Msg:
    def __init__(self, mtype, flags, peer_id, fields):
        self.type = mtype
        self.flags = flags
        self.peer_id = peer_id
        self.fields = fields        # [(key str, value bytes)]

    @property
    def name(self):
        return NAMES.get(self.type, str(self.type))

    def get_bytes(self, key, default=None):
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def get(self, key, default=None):
        v = self.get_bytes(key)
        return default if v is None else v.decode("utf-8", "replace")

    def get_all(self, key):
        return [v.decode("utf-8", "replace") for k, v in self.fields if k == key]

    def __repr__(self):
        return f"Msg({self.name}, peer_id={self.peer_id}, {self.fields!r})"


def decode_fields(body):
    fields = []
    pos = 0
    while pos < len(body):
        klen = body[pos]
        if klen == 0 or klen > KEY_MAX or pos + 1 + klen + 4 > len(body):
            raise ValueError("malformed field")
        key = body[pos + 1:pos + 1 + klen].decode("ascii")
        pos += 1 + klen
        (vlen,) = struct.unpack_from(">I", body, pos)
        pos += 4
        if pos + vlen > len(body):
            raise ValueError("field value past the end of the body")
        fields.append((key, body[pos:pos + vlen]))
        pos += vlen
    return fields


def decode_frame(data):
    """(Msg, bytes used), or None when data holds no whole frame yet."""
    if len(data) < HEADER_SIZE:
        return None
    mtype, flags, length, peer_id = HEADER.unpack_from(data)
    if len(data) < HEADER_SIZE + length:
        return None
    body = data[HEADER_SIZE:HEADER_SIZE + length]
    return Msg(mtype, flags, peer_id, decode_fields(body)), HEADER_SIZE + length


class IpcClient:
    """A blocking client over an AF_UNIX stream socket.  With hello (the
    default) it sends HELLO {version, program} and expects IPC_OK."""

    def __init__(self, path, program="pytest", hello=True, timeout=5.0):
        self.path = str(path)
        self.timeout = timeout
        self.buf = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(self.path)
            if hello:
                r = self.request(HELLO, {"version": PROTOCOL_VERSION,
                                         "program": program})
                if r.type != OK:
                    raise ConnectionError(f"HELLO refused: {r!r}")
        except BaseException:
            self.sock.close()
            raise

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, mtype, fields=(), peer_id=0, flags=0):
        self.send_raw(encode_frame(mtype, fields, peer_id, flags))

    def recv(self, timeout=None):
        """The next message.  Raises ConnectionError at end of stream,
        socket.timeout after timeout seconds."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            got = decode_frame(self.buf)
            if got is not None:
                msg, used = got
                self.buf = self.buf[used:]
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"no message from {self.path}")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"{self.path} closed the connection")
            self.buf += data

    def request(self, mtype, fields=(), peer_id=0, timeout=None):
        self.send(mtype, fields, peer_id)
        return self.recv(timeout)

    def at_eof(self, timeout=None):
        """True when the server closes the connection (after any frames
        still buffered) within timeout."""
        try:
            while True:
                self.recv(timeout)
        except (ConnectionError, OSError) as exc:
            return not isinstance(exc, socket.timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
