#!/usr/bin/env python3
"""Makes the RSA-3072 CSR vectors of protocol-tests/compliance_keys.rs.

Each CSR is signed (PKCS#1 v1.5, SHA-256) with its own private key, so it
passes the proof-of-possession check and reaches the weak-key checks. The
keys are built from their definition with textbook RSA in pure Python (no
library would load some of them), written as PEM CSRs, one file each, into
the directory given as the first argument. Deterministic for a
seed, so `python3 make_csrs.py DIR 1` reproduces the committed files.
"""
import hashlib
import random
import sys


def is_probable_prime(n, rng, rounds=40):
    if n < 2:
        return False
    for p in SMALL_PRIMES[:60]:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        a = rng.randrange(2, n - 1)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


SMALL_PRIMES = [p for p in range(2, 2000) if all(p % q for q in range(2, int(p**0.5) + 1))]


def prime(bits, rng, e):
    while True:
        c = rng.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if (c - 1) % e and is_probable_prime(c, rng):
            return c


def next_prime(n, rng, e):
    n |= 1
    while not ((n - 1) % e and is_probable_prime(n, rng)):
        n += 2
    return n


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def der_int(n):
    b = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return tlv(0x02, b)


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    body = bytes([arcs[0] * 40 + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, body)


def csr_pem(n, e, d, cn):
    seq = lambda *parts: tlv(0x30, b"".join(parts))
    rsa_alg = seq(oid("1.2.840.113549.1.1.1"), b"\x05\x00")
    spki = seq(rsa_alg, tlv(0x03, b"\x00" + seq(der_int(n), der_int(e))))
    name = seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0C, cn.encode()))))
    info = seq(der_int(0), name, spki, b"\xa0\x00")
    # EMSA-PKCS1-v1_5 with SHA-256 (RFC 8017 9.2)
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(info).digest()
    k = (n.bit_length() + 7) // 8
    em = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
    sig = pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")
    csr = seq(info, seq(oid("1.2.840.113549.1.1.11"), b"\x05\x00"), tlv(0x03, b"\x00" + sig))
    import base64
    b64 = base64.b64encode(csr).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE REQUEST-----\n"


def key_from_factors(factors, e):
    n = 1
    phi = 1
    for p in factors:
        n *= p
        phi *= p - 1
    return n, pow(e, -1, phi)


def main():
    out, seed = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    e = 65537
    vectors = {}

    # A sound RSA-3072 key: the control that must still issue.
    p, q = prime(1536, rng, e), prime(1536, rng, e)
    vectors["rsa3072-good"] = (key_from_factors([p, q], e), e)

    # Fermat: q is the next prime after p + a 700-bit offset, so
    # a = ceil(sqrt(n)) already gives a^2 - n = b^2 (found in one round).
    p = prime(1536, rng, e)
    q = next_prime(p + rng.getrandbits(700), rng, e)
    vectors["rsa3072-fermat"] = (key_from_factors([p, q], e), e)

    # A modulus with the small factor 751 (what the audit got issued).
    while True:
        q = prime(3062, rng, e)
        if (751 * q).bit_length() == 3072:
            break
    vectors["rsa3072-smallfactor-751"] = (key_from_factors([751, q], e), e)

    # ROCA: both primes of Infineon RSALib's form p = k*M + (65537^a mod M),
    # M the product of the first 126 primes (their choice for 1984..3936-bit
    # keys); k and a random. The fingerprint flags every modulus of this form.
    primes126 = SMALL_PRIMES[:126]
    m = 1
    for s in primes126:
        m *= s
    def roca_prime():
        while True:
            a = rng.randrange(1, 1 << 60)
            k = rng.getrandbits(1536 - m.bit_length()) | (1 << (1535 - m.bit_length()))
            c = k * m + pow(65537, a, m)
            if c.bit_length() == 1536 and (c - 1) % e and is_probable_prime(c, rng):
                return c
    while True:
        p, q = roca_prime(), roca_prime()
        if (p * q).bit_length() == 3072:
            break
    vectors["rsa3072-roca"] = (key_from_factors([p, q], e), e)

    # Public exponent 3 (CS BR 6.1.6 wants an odd e of at least 65537 ... here: refused).
    p, q = prime(1536, rng, 3), prime(1536, rng, 3)
    vectors["rsa3072-e3"] = (key_from_factors([p, q], 3), 3)

    for name, ((n, d), e_) in vectors.items():
        with open(f"{out}/{name}.csr", "w") as f:
            f.write(csr_pem(n, e_, d, name))
        print(name, n.bit_length())


if __name__ == "__main__":
    main()
