//! Certificate subjects as RFC 4514 strings: the most specific RDN first,
//! attributes of one RDN joined by `+`, and every character that would
//! change how the string reads escaped (`CN=Comma\, Inc.\+CN\=evil` is one
//! attribute, not three). Control and bidi characters are written as
//! `\XX` hex pairs, so a subject cannot rewrite an operator's terminal.

use std::fmt::Write as _;

use x509_parser::der_parser::asn1_rs::ToDer;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

/// Short names for the attribute types Signet puts in subjects (RFC 4514
/// 3's table, the LDAP-registered descriptors, and the EV jurisdiction
/// names as OpenSSL prints them); others are written as dotted OIDs.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.15" => "businessCategory",
        "2.5.4.17" => "postalCode",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => return None,
    })
}

/// An attribute value escaped as RFC 4514 2.4 says, plus `=` and every
/// control or bidi character (as UTF-8 hex pairs).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '#' if i == 0 => out.push_str("\\#"),
            c if crate::text::is_unsafe(c) || c == '\0' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{b:02X}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn attribute(a: &AttributeTypeAndValue<'_>) -> String {
    let oid = a.attr_type().to_id_string();
    let name = short_name(&oid).map(str::to_string).unwrap_or(oid);
    match a.as_str() {
        Ok(v) => format!("{name}={}", escape_value(v)),
        // not a string type: the value's DER as `#` + hex (RFC 4514 2.4)
        Err(_) => match a.attr_value().to_der_vec() {
            Ok(der) => format!("{name}=#{}", hex::encode(der)),
            Err(_) => format!("{name}=#"),
        },
    }
}

/// The subject of the DER certificate `der` as an RFC 4514 string; None
/// when the certificate does not parse.
pub fn rfc4514(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.reverse();
    Some(rdns.join(","))
}

#[cfg(test)]
mod tests {
    use super::escape_value;

    #[test]
    fn values_that_would_read_as_more_name_parts_are_escaped() {
        assert_eq!(
            escape_value("Comma, Inc.+CN=evil"),
            r"Comma\, Inc.\+CN\=evil"
        );
        assert_eq!(escape_value(r#"a"b;c<d>e\f"#), r#"a\"b\;c\<d\>e\\f"#);
        assert_eq!(escape_value(" #lead# "), r"\ #lead#\ ");
        assert_eq!(escape_value("#x"), r"\#x");
        assert_eq!(escape_value("Müller GmbH"), "Müller GmbH");
    }

    #[test]
    fn control_and_bidi_characters_become_hex_pairs() {
        assert_eq!(escape_value("a\nb\u{1b}[2J"), r"a\0Ab\1B[2J");
        assert_eq!(escape_value("x\u{202E}y"), r"x\E2\80\AEy");
    }
}
