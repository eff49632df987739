"""Mutual TLS material and channel settings for gRPC (DESIGN §4, §8).

* Every sync call is mutual TLS: the server requires and verifies a client certificate from
  the county CA, and handlers read the caller's identity from that certificate only.
* Clients verify the upstream against the identity they expect -- its node id as a DNS name,
  via ``grpc.ssl_target_name_override`` -- so any routable address works.
* Enrolment happens before a node has a certificate, so it is served on its own port with
  server-only TLS. The node pins the county CA by the fingerprint in its token: it reads the
  certificate chain the server presents (unverified), keeps the certificate whose sha256 matches
  the pin, and only then talks to the enrolment service, verifying the server against it.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from dataclasses import dataclass

import grpc

from sync.errors import CallRefused, Refusal, Unreachable

__all__ = [
    "CHANNEL_OPTIONS",
    "MAX_MESSAGE_BYTES",
    "SERVER_OPTIONS",
    "ClientTls",
    "ServerTls",
    "fetch_pinned_ca",
    "parse_address",
    "peer_certificate_pem",
]

MAX_MESSAGE_BYTES = 8 << 20

_COMMON_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]

# Keepalive for links that go quiet (a village uplink behind a carrier NAT drops idle flows),
# and no built-in retries: tenacity is the one retry layer (STYLE §12).
CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    *_COMMON_OPTIONS,
    ("grpc.enable_retries", 0),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]

SERVER_OPTIONS: list[tuple[str, int | str]] = [
    *_COMMON_OPTIONS,
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 5),
    ("grpc.so_reuseport", 0),
]


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, kw_only=True)
class ServerTls:
    """A server's key and chain (leaf first, then the CA), and the CA its clients must chain to."""

    private_key_pem: bytes
    certificate_chain_pem: bytes
    client_ca_pem: bytes

    def mutual(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key_pem, self.certificate_chain_pem)],
            root_certificates=self.client_ca_pem,
            require_client_auth=True,
        )

    def server_only(self) -> grpc.ServerCredentials:
        """For enrolment only: the caller has no certificate yet."""
        return grpc.ssl_server_credentials([(self.private_key_pem, self.certificate_chain_pem)])


@dataclass(frozen=True, kw_only=True)
class ClientTls:
    ca_pem: bytes
    private_key_pem: bytes | None = None
    certificate_pem: bytes | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.private_key_pem,
            certificate_chain=self.certificate_pem,
        )

    def channel(self, address: str, expected_node_id: str,
                *, compression: bool = True) -> grpc.Channel:
        options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", expected_node_id)]
        return grpc.secure_channel(
            address,
            self.credentials(),
            options=options,
            compression=grpc.Compression.Gzip if compression else None,
        )


def peer_certificate_pem(context: grpc.ServicerContext) -> bytes | None:
    """The verified client certificate of this call (DESIGN §4: identity from TLS only)."""
    values = context.auth_context().get("x509_pem_cert")
    if not values:
        return None
    first = values[0] if isinstance(values, list | tuple) else values
    return first if isinstance(first, bytes) else None


def fetch_pinned_ca(address: str, fingerprint_hex: str, *, timeout_s: float = 10.0) -> bytes:
    """The DER county CA certificate presented by the server at ``address``, if it matches the
    pinned sha256 fingerprint. Raises ``Unreachable`` or ``CallRefused``.

    The chain is read without verification -- there is nothing to verify it against yet -- and
    trusted only through the pin, which came with the enrolment token.
    """
    host, port = parse_address(address)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=None) as tls,
        ):
            chain = _unverified_chain(tls)
    except (OSError, ssl.SSLError) as exc:
        raise Unreachable(f"enrolment service unreachable at {address}: {exc}",
                          address=address) from exc
    wanted = fingerprint_hex.lower()
    for der in chain:
        if hashlib.sha256(der).hexdigest() == wanted:
            return der
    raise CallRefused(
        Refusal.UNAUTHENTICATED,
        f"the server at {address} does not present the county CA named in the token "
        f"(fingerprint {wanted[:16]}...); check the address, or ask the county for a new token",
        code="ca_mismatch",
    )


def _unverified_chain(tls: ssl.SSLSocket) -> list[bytes]:
    # Python 3.13 has SSLSocket.get_unverified_chain(); 3.11 and 3.12 have it on the C object.
    getter = getattr(tls, "get_unverified_chain", None)
    if getter is None:
        getter = tls._sslobj.get_unverified_chain  # type: ignore[attr-defined]
    certs = getter() or []
    return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            for c in certs]
