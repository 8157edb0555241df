//! A minimal, strict DER reader for the few hand-parsed structures of the
//! attestation formats (vendor extension values, PKCS#7 certificate bags,
//! ECDSA signature values). Certificates themselves are parsed by x509-parser.
//!
//! Only single-byte tags are supported (every structure read here uses them);
//! indefinite lengths and non-minimal length encodings are rejected.

use std::fmt;

/// Why a DER structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub String);

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, DerError> {
    Err(DerError(msg.into()))
}

pub const TAG_BOOLEAN: u8 = 0x01;
pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_BIT_STRING: u8 = 0x03;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_OID: u8 = 0x06;
pub const TAG_UTF8_STRING: u8 = 0x0c;
pub const TAG_SEQUENCE: u8 = 0x30;

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// The whole element (tag, length and contents).
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and the rest.
pub fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = match input.split_first() {
        Some(x) => x,
        None => return err("unexpected end of data (expected a tag)"),
    };
    if tag & 0x1f == 0x1f {
        return err(format!("multi-byte tag 0x{tag:02x} is not supported"));
    }
    let (&first, rest) = match rest.split_first() {
        Some(x) => x,
        None => return err("unexpected end of data (expected a length)"),
    };
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else if first == 0x80 {
        return err("indefinite length is not DER");
    } else {
        let n = (first & 0x7f) as usize;
        if n > 4 {
            return err(format!("length of {n} octets is too large"));
        }
        if rest.len() < n {
            return err("unexpected end of data (truncated length)");
        }
        let (len_bytes, rest) = rest.split_at(n);
        if len_bytes[0] == 0 {
            return err("non-minimal length encoding");
        }
        let mut len = 0usize;
        for b in len_bytes {
            len = (len << 8) | *b as usize;
        }
        if len < 0x80 {
            return err("non-minimal length encoding");
        }
        (len, rest)
    };
    if rest.len() < len {
        return err(format!(
            "element with tag 0x{tag:02x} claims {len} octets but only {} remain",
            rest.len()
        ));
    }
    let header_len = input.len() - rest.len();
    let (value, rest) = rest.split_at(len);
    Ok((
        Tlv {
            tag,
            value,
            raw: &input[..header_len + len],
        },
        rest,
    ))
}

/// Reads exactly one element with the given tag; trailing data is an error.
pub fn read_single(input: &[u8], tag: u8) -> Result<Tlv<'_>, DerError> {
    let (tlv, rest) = read_tlv(input)?;
    if tlv.tag != tag {
        return err(format!("expected tag 0x{tag:02x}, found 0x{:02x}", tlv.tag));
    }
    if !rest.is_empty() {
        return err(format!("{} octets of trailing data", rest.len()));
    }
    Ok(tlv)
}

/// Splits the contents of a constructed element into its elements.
pub fn read_children(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, DerError> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tlv, rest) = read_tlv(input)?;
        out.push(tlv);
        input = rest;
    }
    Ok(out)
}

/// The contents of a DER INTEGER as an unsigned value (rejects negatives and
/// values wider than 64 bits).
pub fn integer_u64(value: &[u8]) -> Result<u64, DerError> {
    if value.is_empty() {
        return err("empty INTEGER");
    }
    if value[0] & 0x80 != 0 {
        return err("negative INTEGER");
    }
    if value.len() > 1 && value[0] == 0 && value[1] & 0x80 == 0 {
        return err("non-minimal INTEGER");
    }
    let digits = if value[0] == 0 { &value[1..] } else { value };
    if digits.len() > 8 {
        return err("INTEGER wider than 64 bits");
    }
    Ok(digits.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64))
}

/// Decodes a whole DER INTEGER element to an unsigned value.
pub fn parse_integer_u64(der: &[u8]) -> Result<u64, DerError> {
    integer_u64(read_single(der, TAG_INTEGER)?.value)
}

/// The contents of a BIT STRING interpreted as a big-endian unsigned number
/// (the unused-bits count must be 0; at most 64 bits).
pub fn bit_string_u64(value: &[u8]) -> Result<u64, DerError> {
    let (&unused, bits) = match value.split_first() {
        Some(x) => x,
        None => return err("empty BIT STRING"),
    };
    if unused != 0 {
        return err(format!("BIT STRING with {unused} unused bits"));
    }
    if bits.len() > 8 {
        return err("BIT STRING wider than 64 bits");
    }
    Ok(bits.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64))
}

/// Dotted-decimal form of OID contents octets.
pub fn oid_to_string(value: &[u8]) -> Result<String, DerError> {
    if value.is_empty() {
        return err("empty OBJECT IDENTIFIER");
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    let mut in_arc = false;
    for &b in value {
        if !in_arc && b == 0x80 {
            return err("non-minimal OBJECT IDENTIFIER arc");
        }
        if acc > (u64::MAX >> 7) {
            return err("OBJECT IDENTIFIER arc too large");
        }
        acc = (acc << 7) | (b & 0x7f) as u64;
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(acc);
            acc = 0;
        }
    }
    if in_arc {
        return err("truncated OBJECT IDENTIFIER");
    }
    let first = arcs[0];
    let (a, b) = if first < 40 {
        (0, first)
    } else if first < 80 {
        (1, first - 40)
    } else {
        (2, first - 80)
    };
    let mut s = format!("{a}.{b}");
    for arc in &arcs[1..] {
        s.push('.');
        s.push_str(&arc.to_string());
    }
    Ok(s)
}

/// Encodes a length in DER.
pub fn encode_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes one element.
pub fn encode_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    encode_len(value.len(), &mut out);
    out.extend_from_slice(value);
    out
}

/// Encodes an unsigned big-endian magnitude as a DER INTEGER element.
pub fn encode_unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let digits = &magnitude[skip..];
    let mut v = Vec::with_capacity(digits.len() + 1);
    if digits.is_empty() || digits[0] & 0x80 != 0 {
        v.push(0);
    }
    v.extend_from_slice(digits);
    encode_tlv(TAG_INTEGER, &v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let (t, rest) = read_tlv(&[0x04, 0x02, 0xaa, 0xbb, 0x00]).unwrap();
        assert_eq!(t.tag, 0x04);
        assert_eq!(t.value, &[0xaa, 0xbb]);
        assert_eq!(rest, &[0x00]);
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let (t, rest) = read_tlv(&long).unwrap();
        assert_eq!(t.value.len(), 0x80);
        assert!(rest.is_empty());
    }

    #[test]
    fn rejects_bad_lengths() {
        assert!(read_tlv(&[0x04, 0x80, 0x00, 0x00]).is_err());
        assert!(read_tlv(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err());
        assert!(read_tlv(&[0x04, 0x82, 0x00, 0x85]).is_err());
        assert!(read_tlv(&[0x04, 0x05, 1, 2]).is_err());
        assert!(read_tlv(&[0x04]).is_err());
        assert!(read_tlv(&[]).is_err());
        assert!(read_tlv(&[0x1f, 0x01, 0x00]).is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(parse_integer_u64(&[0x02, 0x01, 0x07]).unwrap(), 7);
        assert_eq!(
            parse_integer_u64(&[0x02, 0x04, 0x01, 0x85, 0x53, 0xfb]).unwrap(),
            25515003
        );
        assert_eq!(parse_integer_u64(&[0x02, 0x02, 0x00, 0x80]).unwrap(), 128);
        assert!(parse_integer_u64(&[0x02, 0x01, 0x80]).is_err());
        assert!(parse_integer_u64(&[0x02, 0x02, 0x00, 0x01]).is_err());
        assert!(parse_integer_u64(&[0x02, 0x00]).is_err());
        assert!(parse_integer_u64(&[0x02, 0x01, 0x01, 0x00]).is_err());
    }

    #[test]
    fn bit_strings_and_oids() {
        assert_eq!(bit_string_u64(&[0x00, 0x01]).unwrap(), 1);
        assert_eq!(
            bit_string_u64(&[0x00, 0x00, 0x01, 0x01, 0x00]).unwrap(),
            0x10100
        );
        assert!(bit_string_u64(&[0x01, 0x00]).is_err());
        assert_eq!(
            oid_to_string(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xc4, 0x0a, 0x03, 0x07]).unwrap(),
            "1.3.6.1.4.1.41482.3.7"
        );
        assert!(oid_to_string(&[0x2b, 0x86]).is_err());
    }

    #[test]
    fn encodes_unsigned_integers() {
        assert_eq!(
            encode_unsigned_integer(&[0x80]),
            vec![0x02, 0x02, 0x00, 0x80]
        );
        assert_eq!(
            encode_unsigned_integer(&[0x00, 0x00, 0x05]),
            vec![0x02, 0x01, 0x05]
        );
        assert_eq!(encode_unsigned_integer(&[]), vec![0x02, 0x01, 0x00]);
    }
}
