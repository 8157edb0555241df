//! What a subject attribute value may be, checked by the CA core on every
//! request before anything is signed (the RA checks the same rules, naming
//! its fields, when an organization or department is created):
//!
//! - **No metadata** (CS BR 7.1.4.2.2 d): no value that only says it is
//!   absent -- punctuation or blanks only (`-`, `.`, `...`), or words such as
//!   "N/A", "not applicable", "none", "null", "unknown".
//! - **Country codes** (7.1.4.2.2 f, EV Guidelines 9.2.4): ISO 3166-1 alpha-2
//!   as officially assigned; `XX` (no code assigned) only in countryName.
//! - **Jurisdiction** (EV Guidelines 9.2.4, CS BR 7.1.4.2.4 c):
//!   jurisdictionLocalityName only with jurisdictionStateOrProvinceName.
//! - **No publisher-name spoofing** (Windows shows O/CN as the publisher):
//!   no bidirectional controls, zero-width or other invisible characters
//!   (Unicode general category Cf, default-ignorable code points, spaces
//!   other than U+0020, line/paragraph separators, private-use and
//!   unassigned code points), and no word that mixes scripts (UTS #39
//!   single-script test per word, e.g. Latin + Cyrillic; Han with Hiragana
//!   or Katakana counts as one script, as UTS #39 says). Ordinary non-ASCII
//!   names (`Müller GmbH`, `株式会社`) pass.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::{GeneralSecurityProfile, MixedScript};

use super::{CaError, SubjectInfo};

/// Values that only say the attribute is absent (compared lower-cased,
/// inner whitespace collapsed).
/// More non-space characters than any of [`METADATA_WORDS`] has.
const METADATA_WORD_MAX_LETTERS: usize = 16;

const METADATA_WORDS: &[&str] = &[
    "n/a",
    "n.a.",
    "n.a",
    "na",
    "n/a.",
    "not applicable",
    "not available",
    "unavailable",
    "none",
    "null",
    "nil",
    "unknown",
    "undefined",
    "not known",
    "tbd",
    "tba",
    "blank",
    "empty",
    "void",
];

/// ISO 3166-1 alpha-2: the officially assigned codes (249).
pub(crate) const ISO_3166_ALPHA2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Checks an ISO 3166-1 alpha-2 code (upper case); `XX` only if `allow_xx`.
pub(crate) fn check_country_code(code: &str, allow_xx: bool) -> Result<(), String> {
    if allow_xx && code == "XX" {
        return Ok(());
    }
    if ISO_3166_ALPHA2.binary_search(&code).is_ok() {
        return Ok(());
    }
    Err(format!(
        "{code:?} is not an ISO 3166-1 alpha-2 country code{}",
        if allow_xx {
            " (or XX where no code is assigned)"
        } else {
            ""
        }
    ))
}

/// Why `c` may not appear in a subject attribute (None: it may).
fn invisible(c: char) -> Option<&'static str> {
    // ASCII has no format, separator, private-use or default-ignorable
    // characters: only its controls count (and this runs on every issuance)
    if c.is_ascii() {
        return c.is_ascii_control().then_some("a control character");
    }
    match c {
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => return Some("a bidirectional control character"),
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => return Some("a zero-width character"),
        ' ' => return None,
        _ => {}
    }
    match c.general_category() {
        GeneralCategory::Format => Some("an invisible formatting character (Unicode Cf)"),
        GeneralCategory::Control => Some("a control character"),
        GeneralCategory::SpaceSeparator => Some("a space other than U+0020"),
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
            Some("a line or paragraph separator")
        }
        GeneralCategory::PrivateUse => Some("a private-use character"),
        GeneralCategory::Unassigned | GeneralCategory::Surrogate => {
            Some("an unassigned code point")
        }
        _ if c.identifier_type() == Some(IdentifierType::Default_Ignorable) => {
            Some("an invisible (default-ignorable) character")
        }
        _ => None,
    }
}

/// Checks one attribute value: not metadata, nothing invisible, no word of
/// mixed scripts. The reason names the offending character as U+XXXX.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    if let Some((i, c, why)) = value
        .chars()
        .enumerate()
        .find_map(|(i, c)| invisible(c).map(|why| (i, c, why)))
    {
        return Err(format!(
            "contains {why} (U+{:04X} at position {}); it could disguise the publisher name",
            c as u32,
            i + 1
        ));
    }
    if value.trim().is_empty() {
        return Err("must not be empty or blank".into());
    }
    if value.chars().all(|c| !c.is_alphanumeric()) {
        return Err(format!(
            "{value:?} is only punctuation; a value that says it is absent must be left out (CS BR 7.1.4.2.2)"
        ));
    }
    // a value with more letters than the longest metadata word is none of
    // them; only short values are normalized (this runs on every issuance)
    let letters = value.chars().filter(|c| !c.is_whitespace()).count();
    if letters <= METADATA_WORD_MAX_LETTERS {
        let normalized = value
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if METADATA_WORDS.contains(&normalized.as_str()) {
            return Err(format!(
                "{value:?} only says the value is absent or not applicable; leave the attribute out instead (CS BR 7.1.4.2.2)"
            ));
        }
    }
    if value.is_ascii() {
        // ASCII letters are Latin and the rest Common: no word mixes scripts
        return Ok(());
    }
    for word in value.split(|c: char| c.is_whitespace() || !(c.is_alphanumeric() || is_mark(c))) {
        if !word.is_empty() && !word.is_single_script() {
            return Err(format!(
                "the word {word:?} mixes scripts (e.g. Latin and Cyrillic look-alikes); write each word in one script"
            ));
        }
    }
    Ok(())
}

fn is_mark(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::NonspacingMark
            | GeneralCategory::SpacingMark
            | GeneralCategory::EnclosingMark
    )
}

/// The subject rules on a whole subject, before signing.
pub(crate) fn check_subject(s: &SubjectInfo) -> Result<(), CaError> {
    // The rules are a pure function of the subject, and a CA issues for the
    // same few organizations over and over: each signing thread remembers
    // the last subjects that passed, so a repeat costs one comparison
    // instead of the Unicode checks (about 0.7 us per P-256 issuance).
    if PASSED.with(|p| p.borrow().iter().any(|known| known == s)) {
        return Ok(());
    }
    check_subject_rules(s)?;
    PASSED.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() >= PASSED_PER_THREAD {
            p.remove(0);
        }
        p.push(s.clone());
    });
    Ok(())
}

/// How many subjects that passed each thread remembers.
const PASSED_PER_THREAD: usize = 8;

thread_local! {
    static PASSED: std::cell::RefCell<Vec<SubjectInfo>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn check_subject_rules(s: &SubjectInfo) -> Result<(), CaError> {
    let bad = |name: &str, why: String| CaError::InvalidRequest(format!("subject {name}: {why}"));
    let attributes = [
        ("commonName", Some(&s.common_name)),
        ("organizationName", Some(&s.organization)),
        ("organizationalUnitName", s.organizational_unit.as_ref()),
        ("localityName", s.locality.as_ref()),
        ("stateOrProvinceName", s.state.as_ref()),
        ("countryName", Some(&s.country)),
        ("businessCategory", s.business_category.as_ref()),
        ("jurisdictionCountryName", s.jurisdiction_country.as_ref()),
        (
            "jurisdictionStateOrProvinceName",
            s.jurisdiction_state.as_ref(),
        ),
        ("jurisdictionLocalityName", s.jurisdiction_locality.as_ref()),
        ("serialNumber", s.registration_number.as_ref()),
    ];
    for (name, value) in attributes {
        if let Some(v) = value {
            check_value(v).map_err(|why| bad(name, why))?;
        }
    }
    check_country_code(&s.country, true).map_err(|why| bad("countryName", why))?;
    if let Some(jc) = &s.jurisdiction_country {
        check_country_code(jc, false).map_err(|why| bad("jurisdictionCountryName", why))?;
    }
    if s.jurisdiction_locality.is_some() && s.jurisdiction_state.is_none() {
        return Err(bad(
            "jurisdictionLocalityName",
            "requires jurisdictionStateOrProvinceName (EV Guidelines 9.2.4)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_letter_bound_covers_every_metadata_word() {
        for w in super::METADATA_WORDS {
            let letters = w.chars().filter(|c| !c.is_whitespace()).count();
            assert!(letters <= super::METADATA_WORD_MAX_LETTERS, "{w}");
        }
    }

    use super::*;

    #[test]
    fn the_country_list_is_sorted_and_complete() {
        let mut sorted = ISO_3166_ALPHA2.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, ISO_3166_ALPHA2.to_vec());
        for ok in ["DE", "US", "GB", "JP", "NA", "NO", "SS"] {
            assert_eq!(check_country_code(ok, false), Ok(()), "{ok}");
        }
        for bad in ["UK", "EU", "XK", "ZZ", "QQ", "AA", "de"] {
            assert!(check_country_code(bad, true).is_err(), "{bad}");
        }
        assert_eq!(check_country_code("XX", true), Ok(()));
        assert!(check_country_code("XX", false).is_err());
    }

    #[test]
    fn metadata_values_are_refused() {
        for v in [
            "-",
            ".",
            "..",
            " - ",
            "_",
            "N/A",
            "n/a",
            "NA",
            "Not Applicable",
            "not  applicable",
            "none",
            "NULL",
            "unknown",
            "n.a.",
            "TBD",
            "",
        ] {
            assert!(check_value(v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for v in [
            "Müller GmbH",
            "株式会社",
            "ソニー株式会社",
            "Société Générale S.A.",
            "Acme Corp",
            "Россия ООО",
            "Acme Россия",
            "O'Neil & Sons, Inc.",
            "3M",
            "Nordrhein-Westfalen",
            "Ελληνική Εταιρεία",
            "삼성전자",
        ] {
            assert_eq!(check_value(v), Ok(()), "{v:?}");
        }
    }

    #[test]
    fn spoofing_characters_and_mixed_scripts_are_refused() {
        for (v, why) in [
            ("Acme\u{202E}exe.", "bidirectional"),
            ("Ac\u{200B}me", "zero-width"),
            ("Ac\u{200D}me", "zero-width"),
            ("Acme\u{2066}", "bidirectional"),
            ("Ac\u{00AD}me", "Cf"),
            ("Acme\u{00A0}Corp", "space other than"),
            ("Acme\u{E000}", "private-use"),
            ("Ac\u{034F}me", "default-ignorable"),
            ("\u{0410}cme Corp", "mixes scripts"), // Cyrillic А
            ("Micr\u{043E}soft", "mixes scripts"), // Cyrillic о
        ] {
            let e = check_value(v).unwrap_err();
            assert!(e.contains(why), "{v:?}: {e}");
        }
    }

    #[test]
    fn ev_jurisdiction_locality_needs_the_state() {
        let mut s = SubjectInfo {
            common_name: "Acme".into(),
            organization: "Acme".into(),
            organizational_unit: None,
            locality: Some("Berlin".into()),
            state: None,
            country: "DE".into(),
            business_category: Some("Private Organization".into()),
            jurisdiction_country: Some("DE".into()),
            jurisdiction_state: None,
            jurisdiction_locality: Some("Berlin".into()),
            registration_number: Some("HRB 1".into()),
        };
        let e = check_subject(&s).unwrap_err().to_string();
        assert!(e.contains("jurisdictionStateOrProvinceName"), "{e}");
        s.jurisdiction_state = Some("Berlin".into());
        check_subject(&s).unwrap();
        s.organizational_unit = Some("-".into());
        let e = check_subject(&s).unwrap_err().to_string();
        assert!(e.contains("organizationalUnitName"), "{e}");
        s.organizational_unit = None;
        s.country = "UK".into();
        assert!(check_subject(&s).is_err());
        s.country = "XX".into();
        check_subject(&s).unwrap();
        s.jurisdiction_country = Some("XX".into());
        assert!(check_subject(&s).is_err());
    }

    #[test]
    fn a_remembered_subject_lets_no_changed_one_through() {
        let good = SubjectInfo {
            common_name: "Acme".into(),
            organization: "Acme".into(),
            country: "DE".into(),
            locality: Some("Berlin".into()),
            ..Default::default()
        };
        for _ in 0..3 {
            check_subject(&good).unwrap();
        }
        for (field, bad) in [
            (
                "organizationName",
                SubjectInfo {
                    organization: "N/A".into(),
                    ..good.clone()
                },
            ),
            (
                "commonName",
                SubjectInfo {
                    common_name: "Acme\u{202E}".into(),
                    ..good.clone()
                },
            ),
            (
                "countryName",
                SubjectInfo {
                    country: "ZZ".into(),
                    ..good.clone()
                },
            ),
        ] {
            let e = check_subject(&bad).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        // more distinct subjects than a thread remembers: each is still checked
        for i in 0..(PASSED_PER_THREAD + 2) {
            let s = SubjectInfo {
                organization: format!("Acme {i}"),
                ..good.clone()
            };
            check_subject(&s).unwrap();
        }
        assert!(check_subject(&SubjectInfo {
            locality: Some("-".into()),
            ..good
        })
        .is_err());
    }
}
