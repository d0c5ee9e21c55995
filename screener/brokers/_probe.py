"""Blocking Kafka-protocol readiness probe.

An open TCP port is not enough: Kafka binds its listener before the broker has
registered with its controller. The probe therefore asks for cluster metadata and
only reports ready once the broker lists itself. It speaks the wire protocol with
``struct`` so it can run from synchronous code (fixtures, CLI) without an event loop.
"""

from __future__ import annotations

import socket
import struct

_API_VERSIONS = 18
_METADATA = 3
# Metadata v4..v8 share the non-flexible encoding decoded below; Kafka 4 dropped v0..v3.
_METADATA_MIN, _METADATA_MAX = 4, 8
_CLIENT_ID = b"screener-probe"


class ProbeError(Exception):
    """The broker answered, but not (yet) like a usable broker."""


def _request(sock: socket.socket, api_key: int, version: int, body: bytes, corr: int) -> bytes:
    header = struct.pack(">hhih", api_key, version, corr, len(_CLIENT_ID)) + _CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    frame = _recv_exact(sock, size)
    (got_corr,) = struct.unpack_from(">i", frame)
    if got_corr != corr:
        raise ProbeError(f"correlation id mismatch: sent {corr}, got {got_corr}")
    return frame[4:]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProbeError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _metadata_version(api_versions: bytes) -> int:
    error, count = struct.unpack_from(">hi", api_versions)
    if error:
        raise ProbeError(f"ApiVersions error code {error}")
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", api_versions, 6 + 6 * i)
        if key == _METADATA:
            version = max(int(lo), _METADATA_MIN)
            if version > min(hi, _METADATA_MAX):
                raise ProbeError(f"broker supports only Metadata v{lo}..v{hi}")
            return version
    raise ProbeError("broker does not offer the Metadata API")


def broker_count(host: str, port: int, timeout: float = 2.0) -> int:
    """Return how many brokers the cluster reports; raises ``OSError``/``ProbeError``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        version = _metadata_version(_request(sock, _API_VERSIONS, 0, b"", 1))
        # topics = [] (not null: null would mean "all topics"), allow_auto_topic_creation = false
        reply = _request(sock, _METADATA, version, struct.pack(">ib", 0, 0), 2)
        (count,) = struct.unpack_from(">i", reply, 4)  # after throttle_time_ms
        return int(count)
