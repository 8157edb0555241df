#!/usr/bin/env python3
"""Enrolls against Signet's EST front end with acme2certifier's EST CA handler
(acme2certifier.cahandlers.est_ca_handler), the way acme2certifier itself
would forward a CSR to an upstream EST server: cacerts, then simpleenroll with
HTTP Basic.

usage: a2c_enroll.py BASE_URL ROOT_PEM KID HMAC_KEY WORKDIR
Writes WORKDIR/a2c.key, WORKDIR/a2c-bundle.pem; exits non-zero on any error.
"""
import base64
import logging
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def main() -> int:
    base_url, root_pem, kid, hmac_key, workdir = sys.argv[1:6]
    cfg = os.path.join(workdir, "a2c.cfg")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(
            "[CAhandler]\n"
            f"est_host: {base_url}\n"
            f"est_user: {kid}\n"
            f"est_password: {hmac_key}\n"
            f"ca_bundle: {root_pem}\n"
            "request_timeout: 30\n"
        )
    os.environ["ACME_SRV_CONFIGFILE"] = cfg
    logging.basicConfig(level=logging.INFO, format="a2c: %(levelname)s %(message)s")
    logger = logging.getLogger("a2c")

    # Imported only now: acme2certifier reads its configuration at import time in places.
    from acme2certifier.cahandlers.est_ca_handler import CAhandler

    key = ec.generate_private_key(ec.SECP256R1())
    with open(os.path.join(workdir, "a2c.key"), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a2c-agent")]))
        .sign(key, hashes.SHA256())
    )
    # acme2certifier hands its CA handlers the CSR as base64url DER (from ACME finalize).
    csr_b64url = base64.urlsafe_b64encode(csr.public_bytes(serialization.Encoding.DER)).decode().rstrip("=")

    with CAhandler(None, logger) as handler:
        if handler.handler_check():
            print(f"a2c: handler configuration error: {handler.handler_check()}", file=sys.stderr)
            return 1
        error, bundle, raw, _poll = handler.enroll(csr_b64url)
    if error or not bundle or not raw:
        print(f"a2c: enrollment failed: {error}", file=sys.stderr)
        return 1
    with open(os.path.join(workdir, "a2c-bundle.pem"), "w", encoding="utf-8") as f:
        f.write(bundle)
    leaf = x509.load_der_x509_certificate(base64.b64decode(raw))
    leaf_key = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    our_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if leaf_key != our_key:
        print("a2c: the issued certificate is not for our key", file=sys.stderr)
        return 1
    print(f"a2c: issued serial {leaf.serial_number:x}; bundle has {bundle.count('BEGIN CERTIFICATE')} certificates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
