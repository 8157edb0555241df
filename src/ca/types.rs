//! The values the CA core exchanges with the RA: templates, serials, the
//! decided subject and issuance request, CRL entries, and the CA's errors.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The certificate template: which reserved CS BR policy OID the certificate carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    /// Organization validated: 2.23.140.1.4.1
    Ov,
    /// Extended validation: 2.23.140.1.3
    Ev,
}

/// A certificate serial number: 16 bytes from the CSPRNG, positive, non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(pub [u8; 16]);

impl Serial {
    /// The serial of a new end-entity certificate: 16 octets, positive, with
    /// no leading zero octet. The first five octets count up from a random
    /// start (per process, see [`crate::storage::sequence`]); the other
    /// eleven, 88 bits, come from the CSPRNG (CS BR 7.1 asks for at least
    /// 64). Consecutive issuances thus get neighbouring store keys: sled
    /// inserts them into the same few leaves instead of paging a random
    /// leaf of a large tree in for each (docs/performance-log.md, session 4).
    pub fn fresh() -> Serial {
        use rand::RngCore;
        static NEXT: std::sync::OnceLock<crate::storage::sequence::Sequence> =
            std::sync::OnceLock::new();
        // 0x01_0000_0000 ..= 0x7f_ffff_ffff: a non-zero first octet below 0x80
        const SPAN: u64 = 0x7f_0000_0000;
        let n = NEXT
            .get_or_init(|| crate::storage::sequence::Sequence::new(SPAN))
            .next();
        let prefix = 0x01_0000_0000 + n;
        let mut bytes = [0u8; 16];
        bytes[..5].copy_from_slice(&prefix.to_be_bytes()[3..]);
        rand::rngs::OsRng.fill_bytes(&mut bytes[5..]);
        Serial(bytes)
    }

    /// A fresh random serial (127 random bits; top bit cleared so the INTEGER is positive).
    pub fn random() -> Serial {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        loop {
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            bytes[0] &= 0x7f;
            // keep it 16 bytes long in DER (no leading zero octet trimmed) and non-zero
            if bytes[0] != 0 {
                return Serial(bytes);
            }
        }
    }

    /// Lower-case hex, the form used in the store, the CLI and the API.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Serial> {
        let bytes = hex::decode(s.trim().trim_start_matches("0x")).ok()?;
        let arr: [u8; 16] = bytes.try_into().ok()?;
        Some(Serial(arr))
    }
}

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The subject distinguished name the RA decided on.
///
/// The CS BRs (7.1.4.2.2) require localityName or stateOrProvinceName. The
/// EV fields are required in EV certificates (EV Guidelines 9.2.3-9.2.5) and
/// refused in OV ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectInfo {
    pub common_name: String,
    pub organization: String,
    pub organizational_unit: Option<String>,
    pub locality: Option<String>,
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2
    pub country: String,
    /// EV: businessCategory (2.5.4.15), e.g. "Private Organization".
    #[serde(default)]
    pub business_category: Option<String>,
    /// EV: jurisdictionCountryName (1.3.6.1.4.1.311.60.2.1.3), ISO 3166-1 alpha-2.
    #[serde(default)]
    pub jurisdiction_country: Option<String>,
    /// EV: jurisdictionStateOrProvinceName (1.3.6.1.4.1.311.60.2.1.2).
    #[serde(default)]
    pub jurisdiction_state: Option<String>,
    /// EV: jurisdictionLocalityName (1.3.6.1.4.1.311.60.2.1.1).
    #[serde(default)]
    pub jurisdiction_locality: Option<String>,
    /// EV: serialNumber (2.5.4.5), the registration number.
    #[serde(default)]
    pub registration_number: Option<String>,
}

/// A decided issuance: everything the CA needs, nothing it must decide.
#[derive(Debug, Clone)]
pub struct IssuanceRequest {
    pub serial: Serial,
    pub subject: SubjectInfo,
    /// rfc822Name placed in the subjectAltName.
    pub email: String,
    /// DER SubjectPublicKeyInfo taken from the (verified) CSR.
    pub spki_der: Vec<u8>,
    pub template: Template,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}
