"""The county CA (DESIGN §4): made by ``hub init``, it certifies every node's keys.

The CA key is ECDSA P-256 so that TLS stacks and ``openssl`` verify its signatures everywhere.
It signs certificates for keys made elsewhere (from CSRs) and never sees a node's private key.
The identity in a certificate is the one the CA decides from the enrolment token, not whatever
the CSR asked for; the CSR only proves that the node holds the key.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.kernel.errors import UsageError
from node.kernel.identity import NodeIdentity

__all__ = ["CA_VALIDITY", "NODE_VALIDITY", "check_csr", "issue_certificate", "make_ca"]

CA_VALIDITY = dt.timedelta(days=365 * 20)
NODE_VALIDITY = dt.timedelta(days=365 * 10)
_BACKDATE = dt.timedelta(hours=1)  # tolerate nodes whose clocks run a little behind


def make_ca(county_code: str, county_name: str, now: dt.datetime, *,
            key: ec.EllipticCurvePrivateKey | None = None, serial: int | None = None,
            ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The county CA's key and self-signed certificate (``key`` and ``serial``: given, for the
    test vectors' fixed county; otherwise new)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"bianmin county CA {county_code}"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, county_name),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return key, cert


def check_csr(csr: x509.CertificateSigningRequest, purpose: str) -> None:
    """The CSR is self-signed by a key of the kind ``purpose`` needs."""
    if not csr.is_signature_valid:
        raise UsageError(f"{purpose} CSR signature does not verify", code="bad_csr")
    key = csr.public_key()
    if purpose in ("records", "catalog") and not isinstance(key, ed25519.Ed25519PublicKey):
        raise UsageError(f"{purpose} CSR must carry an Ed25519 key", code="bad_csr")
    if purpose == "tls" and not (isinstance(key, ec.EllipticCurvePublicKey)
                                 and isinstance(key.curve, ec.SECP256R1)):
        raise UsageError("tls CSR must carry an ECDSA P-256 key", code="bad_csr")


def issue_certificate(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey,
    identity: NodeIdentity,
    now: dt.datetime,
    validity: dt.timedelta = NODE_VALIDITY,
    serial: int | None = None,
) -> x509.Certificate:
    """A certificate of ``identity`` for ``public_key``. Signed deterministically (RFC 6979: no
    nonce to get wrong), so the test vectors' certificates are the same bytes every time."""
    tls = identity.purpose == "tls"
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, identity.node_id),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.tier),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, identity.county_code),
        ]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName(identity.node_id),
                x509.UniformResourceIdentifier(identity.uri()),
            ]),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=not tls,
                          key_encipherment=False, data_encipherment=False,
                          key_agreement=tls, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if tls:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                   ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
