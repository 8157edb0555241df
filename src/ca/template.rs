//! The certificate template: a subscriber TBSCertificate assembled from DER
//! pieces computed once per issuer and template (signature AlgorithmIdentifier,
//! issuer Name, authorityKeyIdentifier, keyUsage, extKeyUsage,
//! cRLDistributionPoints, authorityInfoAccess, certificatePolicies), with only
//! the per-certificate parts encoded on each issuance: serial, validity,
//! subject, the request's SubjectPublicKeyInfo (copied verbatim),
//! subjectAltName and subjectKeyIdentifier.
//!
//! rcgen remains the reference encoder: the output is byte-identical to what
//! `CertificateParams::signed_by` produces for the profile's parameters
//! (checked at start-up by the self-test and in `ca::tests` over a spread of
//! inputs), in the profile's extension order (see [`super::profile`]).

use time::OffsetDateTime;

use super::profile::SubjectAttr;
use super::{CaError, Template};

/// DER tags used here.
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// [0] EXPLICIT (version) / [0] IMPLICIT constructed (CDP fullName).
    pub const CTX0_CONSTRUCTED: u8 = 0xa0;
    /// [3] EXPLICIT (extensions).
    pub const CTX3_CONSTRUCTED: u8 = 0xa3;
    /// [0] IMPLICIT primitive (AKI keyIdentifier).
    pub const CTX0: u8 = 0x80;
    /// [1] IMPLICIT IA5String (rfc822Name).
    pub const CTX1: u8 = 0x81;
    /// [6] IMPLICIT IA5String (uniformResourceIdentifier).
    pub const CTX6: u8 = 0x86;
}

/// Extension OIDs (content octets).
pub(crate) mod ext_oid {
    pub const SKI: &[u8] = &[0x55, 0x1d, 0x0e];
    pub const KU: &[u8] = &[0x55, 0x1d, 0x0f];
    pub const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    pub const CDP: &[u8] = &[0x55, 0x1d, 0x1f];
    pub const POLICIES: &[u8] = &[0x55, 0x1d, 0x20];
    pub const AKI: &[u8] = &[0x55, 0x1d, 0x23];
    pub const EKU: &[u8] = &[0x55, 0x1d, 0x25];
    pub const AIA: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
    /// id-kp-codeSigning 1.3.6.1.5.5.7.3.3
    pub const KP_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
}

/// Length of the DER length octets for `len` content octets.
#[inline]
pub(crate) const fn len_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else if len <= 0xff {
        2
    } else if len <= 0xffff {
        3
    } else if len <= 0xff_ffff {
        4
    } else {
        5
    }
}

/// Size of a whole TLV (one-octet tag) with `len` content octets.
#[inline]
pub(crate) const fn tlv_len(len: usize) -> usize {
    1 + len_len(len) + len
}

/// Appends a tag and the DER (minimal, definite) length.
#[inline]
pub(crate) fn put_header(buf: &mut Vec<u8>, tag: u8, len: usize) {
    buf.push(tag);
    let n = len_len(len);
    if n == 1 {
        buf.push(len as u8);
    } else {
        buf.push(0x80 | (n - 1) as u8);
        for i in (0..n - 1).rev() {
            buf.push((len >> (8 * i)) as u8);
        }
    }
}

/// A whole TLV.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(tlv_len(content.len()));
    put_header(&mut v, tag, content.len());
    v.extend_from_slice(content);
    v
}

/// An Extension (critical only when TRUE, as DER requires for DEFAULT FALSE).
pub(crate) fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut content = tlv(tag::OID, oid);
    if critical {
        content.extend_from_slice(&[tag::BOOLEAN, 1, 0xff]);
    }
    content.extend_from_slice(&tlv(tag::OCTET_STRING, value));
    tlv(tag::SEQUENCE, &content)
}

/// Everything of a subscriber certificate that is the same for every
/// certificate of one issuer and template.
#[derive(Debug, Clone)]
pub(crate) struct CertTemplate {
    /// The signature AlgorithmIdentifier (TBS `signature` and the outer one).
    pub sig_alg: Vec<u8>,
    /// The issuer Name, exactly the issuing CA certificate's subject.
    pub issuer: Vec<u8>,
    /// authorityKeyIdentifier (first extension).
    pub aki: Vec<u8>,
    /// keyUsage, extKeyUsage, cRLDistributionPoints (between SAN and SKI).
    pub middle: Vec<u8>,
    /// authorityInfoAccess, certificatePolicies (after SKI).
    pub tail: Vec<u8>,
    pub template: Template,
}

/// The per-issuer facts a template is built from.
pub(crate) struct IssuerPieces<'a> {
    pub sig_alg: &'a [u8],
    pub issuer_subject_raw: &'a [u8],
    pub issuer_key_id: &'a [u8],
    pub crl_url: &'a str,
    /// The contents (extnValue) of the AIA and certificatePolicies extensions.
    pub aia_value: &'a [u8],
    pub policies_value: &'a [u8],
}

/// The variable parts of one certificate, already validated.
pub(crate) struct Variable<'a> {
    pub serial: &'a [u8; 16],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub subject: &'a [SubjectAttr<'a>],
    pub spki_der: &'a [u8],
    pub email: &'a str,
    pub ski: &'a [u8; 20],
}

const VERSION_V3: [u8; 5] = [tag::CTX0_CONSTRUCTED, 3, tag::INTEGER, 1, 2];
/// SKI extension: SEQUENCE { OID, OCTET STRING { OCTET STRING (20) } } = 31 octets.
const SKI_EXT_LEN: usize = 31;

impl CertTemplate {
    pub(crate) fn new(p: &IssuerPieces<'_>, template: Template) -> Result<CertTemplate, CaError> {
        if p.crl_url.is_empty() || !p.crl_url.is_ascii() {
            return Err(CaError::Config(
                "ca.crl_url must be a non-empty ASCII URL".into(),
            ));
        }
        let aki = extension(
            ext_oid::AKI,
            false,
            &tlv(tag::SEQUENCE, &tlv(tag::CTX0, p.issuer_key_id)),
        );
        // keyUsage: digitalSignature only = BIT STRING, 7 unused bits, 0x80.
        let mut middle = extension(ext_oid::KU, true, &[tag::BIT_STRING, 2, 7, 0x80]);
        middle.extend_from_slice(&extension(
            ext_oid::EKU,
            false,
            &tlv(tag::SEQUENCE, &tlv(tag::OID, ext_oid::KP_CODE_SIGNING)),
        ));
        // CRLDistributionPoints ::= SEQUENCE OF DistributionPoint { [0] fullName [0] GeneralNames { [6] URI } }
        let full_name = tlv(tag::CTX0_CONSTRUCTED, &tlv(tag::CTX6, p.crl_url.as_bytes()));
        let dp = tlv(tag::SEQUENCE, &tlv(tag::CTX0_CONSTRUCTED, &full_name));
        middle.extend_from_slice(&extension(ext_oid::CDP, false, &tlv(tag::SEQUENCE, &dp)));
        let mut tail = extension(ext_oid::AIA, false, p.aia_value);
        tail.extend_from_slice(&extension(ext_oid::POLICIES, false, p.policies_value));
        Ok(CertTemplate {
            sig_alg: p.sig_alg.to_vec(),
            issuer: p.issuer_subject_raw.to_vec(),
            aki,
            middle,
            tail,
            template,
        })
    }

    /// The DER TBSCertificate for `v`.
    pub(crate) fn tbs(&self, v: &Variable<'_>) -> Vec<u8> {
        // Lengths, inside out.
        let validity = validity_len(v.not_before) + validity_len(v.not_after);
        let subject = subject_content_len(v.subject);
        let email = v.email.len();
        let san_general_names = tlv_len(email);
        let san_value = tlv_len(san_general_names);
        let san_ext = tlv_len(tlv_len(ext_oid::SAN.len()) + tlv_len(san_value));
        let exts = self.aki.len() + san_ext + self.middle.len() + SKI_EXT_LEN + self.tail.len();
        let exts_seq = tlv_len(exts);
        let content = VERSION_V3.len()
            + tlv_len(16)
            + self.sig_alg.len()
            + self.issuer.len()
            + tlv_len(validity)
            + tlv_len(subject)
            + v.spki_der.len()
            + tlv_len(exts_seq);

        let mut b = Vec::with_capacity(tlv_len(content));
        put_header(&mut b, tag::SEQUENCE, content);
        b.extend_from_slice(&VERSION_V3);
        put_header(&mut b, tag::INTEGER, 16);
        b.extend_from_slice(v.serial);
        b.extend_from_slice(&self.sig_alg);
        b.extend_from_slice(&self.issuer);
        put_header(&mut b, tag::SEQUENCE, validity);
        put_time(&mut b, v.not_before);
        put_time(&mut b, v.not_after);
        put_header(&mut b, tag::SEQUENCE, subject);
        for a in v.subject {
            let atv = atv_len(a);
            put_header(&mut b, tag::SET, tlv_len(atv));
            put_header(&mut b, tag::SEQUENCE, atv);
            put_header(&mut b, tag::OID, a.oid_der.len());
            b.extend_from_slice(a.oid_der);
            let t = if a.printable {
                tag::PRINTABLE_STRING
            } else {
                tag::UTF8_STRING
            };
            put_header(&mut b, t, a.value.len());
            b.extend_from_slice(a.value.as_bytes());
        }
        b.extend_from_slice(v.spki_der);
        put_header(&mut b, tag::CTX3_CONSTRUCTED, exts_seq);
        put_header(&mut b, tag::SEQUENCE, exts);
        b.extend_from_slice(&self.aki);
        // subjectAltName: one rfc822Name (not critical: the subject is never empty).
        put_header(
            &mut b,
            tag::SEQUENCE,
            tlv_len(ext_oid::SAN.len()) + tlv_len(san_value),
        );
        put_header(&mut b, tag::OID, ext_oid::SAN.len());
        b.extend_from_slice(ext_oid::SAN);
        put_header(&mut b, tag::OCTET_STRING, san_value);
        put_header(&mut b, tag::SEQUENCE, san_general_names);
        put_header(&mut b, tag::CTX1, email);
        b.extend_from_slice(v.email.as_bytes());
        b.extend_from_slice(&self.middle);
        // subjectKeyIdentifier
        b.extend_from_slice(&[tag::SEQUENCE, 29, tag::OID, 3]);
        b.extend_from_slice(ext_oid::SKI);
        b.extend_from_slice(&[tag::OCTET_STRING, 22, tag::OCTET_STRING, 20]);
        b.extend_from_slice(v.ski);
        b.extend_from_slice(&self.tail);
        debug_assert_eq!(b.len(), tlv_len(content));
        b
    }

    /// The whole Certificate: SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }.
    pub(crate) fn certificate(&self, tbs: &[u8], signature: &[u8]) -> Vec<u8> {
        let bits = 1 + signature.len();
        let content = tbs.len() + self.sig_alg.len() + tlv_len(bits);
        let mut b = Vec::with_capacity(tlv_len(content));
        put_header(&mut b, tag::SEQUENCE, content);
        b.extend_from_slice(tbs);
        b.extend_from_slice(&self.sig_alg);
        put_header(&mut b, tag::BIT_STRING, bits);
        b.push(0);
        b.extend_from_slice(signature);
        b
    }
}

/// Content length of the subject Name (SEQUENCE OF single-attribute RDNs).
#[inline]
fn subject_content_len(attrs: &[SubjectAttr<'_>]) -> usize {
    attrs.iter().map(|a| tlv_len(tlv_len(atv_len(a)))).sum()
}

/// Content length of one AttributeTypeAndValue.
#[inline]
fn atv_len(a: &SubjectAttr<'_>) -> usize {
    tlv_len(a.oid_der.len()) + tlv_len(a.value.len())
}

/// RFC 5280 4.1.2.5: UTCTime for the years 1950-2049, GeneralizedTime otherwise.
fn uses_utc_time(t: OffsetDateTime) -> bool {
    (1950..2050).contains(&t.year())
}

fn validity_len(t: OffsetDateTime) -> usize {
    if uses_utc_time(t) {
        2 + 13
    } else {
        2 + 15
    }
}

/// YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ (UTC, whole seconds: the caller has
/// converted to UTC and truncated; years 0..=9999).
#[inline]
fn put_time(b: &mut Vec<u8>, t: OffsetDateTime) {
    let two = |b: &mut Vec<u8>, n: u32| {
        b.push(b'0' + (n / 10 % 10) as u8);
        b.push(b'0' + (n % 10) as u8);
    };
    let year = t.year().clamp(0, 9999) as u32;
    if uses_utc_time(t) {
        b.extend_from_slice(&[tag::UTC_TIME, 13]);
    } else {
        b.extend_from_slice(&[tag::GENERALIZED_TIME, 15]);
        two(b, year / 100);
    }
    two(b, year % 100);
    two(b, u8::from(t.month()) as u32);
    two(b, t.day() as u32);
    two(b, t.hour() as u32);
    two(b, t.minute() as u32);
    two(b, t.second() as u32);
    b.push(b'Z');
}
