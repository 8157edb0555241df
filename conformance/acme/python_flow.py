#!/usr/bin/env python3
"""Signet ACME conformance with certbot's Python `acme` library.

Full RFC 8555 + RFC 8823 flow for an email identifier:
EAB account from a fresh invitation -> email order -> read the challenge mail
from the outbox -> reply piped into `signet mail ingest` -> poll -> finalize
with a PEM CSR (Signet's documented extension) -> download the chain.

Usage: python_flow.py DIRECTORY_URL ROOT_PEM KID HMAC_KEY EMAIL OUTBOX SIGNET DATA_DIR OUT_DIR
Writes OUT_DIR/{fullchain.pem,cert.pem,key.pem,account.txt}.
"""
import datetime
import email
import email.policy
import hashlib
import base64
import json
import os
import subprocess
import sys
import time
from typing import Optional

import josepy as jose
from acme import client, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Empty(jose.JSONObjectWithFields):
    """The `{}` a client posts to a challenge URL to respond. (An object
    without fields is falsy, and the acme library would turn it into a
    POST-as-GET; one omitted field keeps it truthy.)"""
    unused: Optional[str] = jose.field("unused", omitempty=True, default=None)


class PemFinalize(jose.JSONObjectWithFields):
    """finalize with the CSR as a PEM string (Signet extension)."""
    csr: str = jose.field("csr")


def newest_challenge_mail(outbox: str, to: str, seen: set) -> email.message.EmailMessage:
    deadline = time.time() + 30
    while time.time() < deadline:
        for name in sorted(os.listdir(outbox)):
            path = os.path.join(outbox, name)
            if name.startswith(".") or path in seen:
                continue
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            if msg["To"] and to in msg["To"] and str(msg["Subject"]).startswith("ACME: "):
                return msg
        time.sleep(0.2)
    found = []
    for name in sorted(os.listdir(outbox)):
        with open(os.path.join(outbox, name), "rb") as f:
            m = email.message_from_binary_file(f, policy=email.policy.default)
        found.append(f"{name}: To={m['To']!s} Subject={m['Subject']!s}")
    raise SystemExit(f"no challenge mail for {to} in {outbox}; found:\n" + "\n".join(found))


def main() -> None:
    (directory_url, root_pem, kid, hmac_key, addr, outbox, signet, data_dir, out_dir) = sys.argv[1:10]
    os.makedirs(out_dir, exist_ok=True)
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(key, alg=jose.ES256, verify_ssl=root_pem,
                               user_agent="signet-conformance-python-acme")
    directory = client.ClientV2.get_directory(directory_url, net)
    assert directory.meta.external_account_required, "externalAccountRequired must be true"
    acme = client.ClientV2(directory, net)

    eab = messages.ExternalAccountBinding.from_data(
        account_public_key=key.public_key(), kid=kid, hmac_key=hmac_key, directory=directory)
    regr = acme.new_account(messages.NewRegistration.from_data(
        email=addr, terms_of_service_agreed=True, external_account_binding=eab))
    print("account", regr.uri)
    with open(os.path.join(out_dir, "account.txt"), "w") as f:
        f.write(regr.uri + "\n")

    # A second account with the same invitation must fail.
    key2 = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net2 = client.ClientNetwork(key2, alg=jose.ES256, verify_ssl=root_pem)
    acme2 = client.ClientV2(client.ClientV2.get_directory(directory_url, net2), net2)
    eab2 = messages.ExternalAccountBinding.from_data(
        account_public_key=key2.public_key(), kid=kid, hmac_key=hmac_key, directory=directory)
    try:
        acme2.new_account(messages.NewRegistration.from_data(
            email=addr, terms_of_service_agreed=True, external_account_binding=eab2))
        raise SystemExit("reusing the invitation must fail")
    except errors.Error as e:
        assert "unauthorized" in str(getattr(e, "typ", "")) or "already been used" in str(e), e
        print("second use refused:", e)

    # Order for the email identifier (registered at runtime, RFC 8823).
    email_type = messages.IdentifierType("email")
    new_order = messages.NewOrder(identifiers=[messages.Identifier(typ=email_type, value=addr)])
    resp = acme._post(directory["newOrder"], new_order)
    order = messages.Order.from_json(resp.json())
    order_url = resp.headers["Location"]
    assert order.status == messages.STATUS_PENDING, order.status
    authz_url = order.authorizations[0]
    authzr = acme._authzr_from_response(acme._post_as_get(authz_url), uri=authz_url)
    challb = authzr.body.challenges[0]
    chall = challb.chall.to_partial_json()
    assert chall["type"] == "email-reply-00", chall
    token_part2 = chall["token"]
    assert chall["from"], "challenge has a from address"

    seen = set(os.path.join(outbox, n) for n in os.listdir(outbox))
    resp = acme._post(challb.uri, Empty())
    assert resp.json()["status"] == "processing", resp.text
    mail = newest_challenge_mail(outbox, addr, seen)
    assert mail["Auto-Submitted"].startswith("auto-generated"), mail["Auto-Submitted"]
    token_part1 = str(mail["Subject"])[len("ACME: "):].strip()
    thumb = b64u(key.thumbprint(hash_function=hashes.SHA256))
    key_auth = f"{token_part1}{token_part2}.{thumb}"
    digest = b64u(hashlib.sha256(key_auth.encode()).digest())

    reply = email.message.EmailMessage()
    reply["From"] = addr
    reply["To"] = str(mail["From"])
    reply["Subject"] = "Re: " + str(mail["Subject"])
    reply["Message-ID"] = email.utils.make_msgid(domain="example.com")
    reply["In-Reply-To"] = mail["Message-ID"]
    reply["References"] = mail["Message-ID"]
    reply.set_content(f"-----BEGIN ACME RESPONSE-----\n{digest}\n-----END ACME RESPONSE-----\n")
    env = dict(os.environ, SIGNET_SERVER__DATA_DIR=data_dir)
    env.pop("SIGNET_CONFIG", None)
    subprocess.run([signet, "mail", "ingest"], input=reply.as_bytes(), env=env, check=True)

    deadline = time.time() + 30
    while True:
        authzr, _ = acme.poll(authzr)
        if authzr.body.status == messages.STATUS_VALID:
            break
        if authzr.body.status != messages.STATUS_PENDING or time.time() > deadline:
            raise SystemExit(f"authorization ended {authzr.body.status}: {authzr.body.to_json()}")
        time.sleep(0.5)
    print("authorization valid")

    cert_key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, addr)]))
           .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(addr)]), critical=False)
           .sign(cert_key, hashes.SHA256()))
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    resp = acme._post(order.finalize, PemFinalize(csr=csr_pem.decode()))
    orderr = messages.OrderResource(body=messages.Order.from_json(resp.json()), uri=order_url,
                                    csr_pem=csr_pem)
    orderr = acme.poll_finalization(orderr, datetime.datetime.now() + datetime.timedelta(seconds=60))
    fullchain = orderr.fullchain_pem
    assert fullchain.count("BEGIN CERTIFICATE") == 2, fullchain
    with open(os.path.join(out_dir, "fullchain.pem"), "w") as f:
        f.write(fullchain)
    leaf = fullchain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    with open(os.path.join(out_dir, "cert.pem"), "w") as f:
        f.write(leaf)
    with open(os.path.join(out_dir, "key.pem"), "wb") as f:
        f.write(cert_key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    print("certificate issued:", orderr.body.certificate)


if __name__ == "__main__":
    main()
