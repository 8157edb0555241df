//! What every vendor's tests share: the fixed instant, the corpus and
//! vector locations, PEM helpers, verify/decide wrappers, and the generator
//! of adversarial evidence (`gen`).
#![allow(dead_code)]

pub use std::path::{Path, PathBuf};

pub use signet::ra::attestation::{AttestationPolicy, AttestationRefusal};
pub use signet::va::attestation::{
    self, AttestationError, AttestationFacts, Evidence, Format, KeyOrigin, PinPolicy, TouchPolicy,
    TrustFamily, TrustStore,
};
pub use time::macros::datetime;
pub use time::OffsetDateTime;

/// All tests run at a fixed instant (the corpus was checked on this day).
pub const NOW: OffsetDateTime = datetime!(2026-11-21 06:00 UTC);

pub fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/attestation");
    if dir.join("INDEX.md").is_file() {
        Some(dir)
    } else {
        println!("SKIPPED: attestation corpus {} is absent", dir.display());
        None
    }
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// DER certificates of a PEM file.
pub fn pem_certs(path: &Path) -> Vec<Vec<u8>> {
    let text = read(path);
    let blocks = pem::parse_many(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    assert!(!out.is_empty(), "{}: no certificates", path.display());
    out
}

pub fn evidence(format: Format, files: &[PathBuf]) -> Evidence {
    Evidence {
        format,
        certificates: files.iter().flat_map(|f| pem_certs(f)).collect(),
        blob: None,
    }
}

pub fn store() -> TrustStore {
    TrustStore::load(None).expect("shipped roots load")
}

pub fn verify_ok(ev: &Evidence) -> AttestationFacts {
    match attestation::verify(ev, &store(), NOW) {
        Ok(f) => f,
        Err(e) => panic!("expected acceptance, got: {e}"),
    }
}

pub fn verify_err(ev: &Evidence) -> AttestationError {
    match attestation::verify(ev, &store(), NOW) {
        Ok(f) => panic!("expected rejection, got facts: {f:?}"),
        Err(e) => e,
    }
}

/// DER SPKI of a PEM public key or certificate file.
pub fn spki_of(path: &Path) -> Vec<u8> {
    let text = read(path);
    let block = pem::parse(&text).unwrap();
    match block.tag() {
        "PUBLIC KEY" => block.into_contents(),
        "CERTIFICATE" => {
            let (_, c) = x509_parser::parse_x509_certificate(block.contents()).unwrap();
            c.tbs_certificate.subject_pki.raw.to_vec()
        }
        other => panic!("unexpected PEM block {other}"),
    }
}

// ---------------------------------------------------------------- YubiKey PIV

/// Parses a corpus CSR with `Csr::parse` (every CSR here is one OpenSSL
/// accepts, including the Windows requests with Microsoft attributes).
pub fn load_csr(path: &Path) -> signet::csr::Csr {
    signet::csr::Csr::parse(&read(path))
        .unwrap_or_else(|e| panic!("Csr::parse refused {}: {e}", path.display()))
}

pub fn decide(
    policy: &AttestationPolicy,
    csr: &signet::csr::Csr,
    ev: Option<&Evidence>,
) -> Result<Option<AttestationFacts>, AttestationRefusal> {
    signet::ra::attestation::decide(policy, &csr.spki_der, ev, &store(), NOW)
}

// ------------------------------------------------------- generated evidence
//
// Always run: adversarial evidence built with rcgen, verified against trust
// stores holding the generated roots (and, where the point is a look-alike of
// a real vendor root, against the shipped store).

pub mod gen {
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa,
        Issuer, KeyPair, KeyUsagePurpose,
    };
    use time::OffsetDateTime;

    pub struct Node {
        pub params: CertificateParams,
        pub key: KeyPair,
        pub der: Vec<u8>,
    }

    impl Node {
        pub fn pem(&self) -> String {
            pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
        }

        pub fn spki(&self) -> Vec<u8> {
            let (_, c) = x509_parser::parse_x509_certificate(&self.der).unwrap();
            c.tbs_certificate.subject_pki.raw.to_vec()
        }
    }

    pub struct Spec<'a> {
        pub cn: &'a str,
        pub ca: Option<Option<u8>>,
        pub exts: Vec<CustomExtension>,
        pub validity: Option<(OffsetDateTime, OffsetDateTime)>,
        pub key: Option<KeyPair>,
        pub eku: Vec<Vec<u64>>,
    }

    impl<'a> Spec<'a> {
        pub fn leaf(cn: &'a str) -> Spec<'a> {
            Spec {
                cn,
                ca: None,
                exts: Vec::new(),
                validity: None,
                key: None,
                eku: Vec::new(),
            }
        }

        pub fn ca(cn: &'a str, path_len: Option<u8>) -> Spec<'a> {
            Spec {
                ca: Some(path_len),
                ..Spec::leaf(cn)
            }
        }

        pub fn ext(mut self, oid: &[u64], content: Vec<u8>) -> Self {
            self.exts
                .push(CustomExtension::from_oid_content(oid, content));
            self
        }

        pub fn valid(mut self, from: OffsetDateTime, to: OffsetDateTime) -> Self {
            self.validity = Some((from, to));
            self
        }

        pub fn with_key(mut self, key: KeyPair) -> Self {
            self.key = Some(key);
            self
        }

        pub fn eku(mut self, oid: &[u64]) -> Self {
            self.eku.push(oid.to_vec());
            self
        }
    }

    fn params(spec: &Spec<'_>) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, spec.cn);
        p.distinguished_name = dn;
        if let Some(pl) = spec.ca {
            p.is_ca = IsCa::Ca(match pl {
                Some(n) => BasicConstraints::Constrained(n),
                None => BasicConstraints::Unconstrained,
            });
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        if let Some((a, b)) = spec.validity {
            p.not_before = a;
            p.not_after = b;
        }
        p.custom_extensions = spec.exts.clone();
        if !spec.eku.is_empty() {
            p.extended_key_usages = spec
                .eku
                .iter()
                .map(|o| rcgen::ExtendedKeyUsagePurpose::Other(o.clone()))
                .collect();
        }
        p
    }

    pub fn root(spec: Spec<'_>) -> Node {
        let p = params(&spec);
        let key = spec.key.unwrap_or_else(|| KeyPair::generate().unwrap());
        let der = p.self_signed(&key).unwrap().der().to_vec();
        Node {
            params: p,
            key,
            der,
        }
    }

    pub fn issue(issuer: &Node, spec: Spec<'_>) -> Node {
        let p = params(&spec);
        let key = spec.key.unwrap_or_else(|| KeyPair::generate().unwrap());
        let iss = Issuer::from_params(&issuer.params, &issuer.key);
        let der = p.signed_by(&key, &iss).unwrap().der().to_vec();
        Node {
            params: p,
            key,
            der,
        }
    }

    pub const YK: [u64; 9] = [1, 3, 6, 1, 4, 1, 41482, 3, 0];

    pub fn yk(arc: u64) -> Vec<u64> {
        let mut o = YK.to_vec();
        o[8] = arc;
        o
    }

    pub fn hsm(arc: u64) -> Vec<u64> {
        vec![1, 3, 6, 1, 4, 1, 41482, 4, arc]
    }

    /// Minimal DER INTEGER.
    pub fn int(v: u64) -> Vec<u8> {
        let b = v.to_be_bytes();
        let mut digits: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        if matches!(digits.first(), None | Some(0x80..)) {
            digits.insert(0, 0);
        }
        let mut out = vec![0x02, digits.len() as u8];
        out.extend(digits);
        out
    }

    /// A slot attestation certificate spec with realistic YubiKey extensions.
    pub fn slot(cn: &str, serial: u32, pin: u8, touch: u8, form: u8) -> Spec<'_> {
        Spec::leaf(cn)
            .ext(&yk(3), vec![5, 7, 4])
            .ext(&yk(7), int(serial.into()))
            .ext(&yk(8), vec![pin, touch])
            .ext(&yk(9), vec![form])
    }

    /// A YubiHSM key attestation spec.
    pub fn hsm_key(cn: &str, serial: u32, origin: u8, caps: u64, id: u8) -> Spec<'_> {
        let mut capv = vec![0x03, 0x09, 0x00];
        capv.extend(caps.to_be_bytes());
        Spec::leaf(cn)
            .ext(&hsm(1), vec![0x04, 0x03, 2, 4, 0])
            .ext(&hsm(2), int(serial.into()))
            .ext(&hsm(3), vec![0x03, 0x02, 0x00, origin])
            .ext(&hsm(5), capv)
            .ext(&hsm(6), int(id.into()))
    }
}

pub use gen::Spec;

pub fn store_with(
    family: signet::va::attestation::TrustFamily,
    roots: &[&gen::Node],
) -> TrustStore {
    let mut s = TrustStore::empty();
    for r in roots {
        s.add_pem(family, r.pem().as_bytes(), "generated").unwrap();
    }
    s
}

pub fn ev_of(format: Format, nodes: &[&gen::Node]) -> Evidence {
    Evidence {
        format,
        certificates: nodes.iter().map(|n| n.der.clone()).collect(),
        blob: None,
    }
}

pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/vectors/attestation")
}

pub fn cloud_evidence(dir: &Path, blob: &str, certs: &str) -> Evidence {
    Evidence {
        format: Format::GoogleCloudHsm,
        certificates: pem_certs(&dir.join(certs)),
        blob: Some(read(&dir.join(blob))),
    }
}
