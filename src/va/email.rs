//! RFC 8823 `email-reply-00` facts: the challenge mail Signet sends, and what
//! a reply says (who it is from, which message it answers, what sender
//! authentication the receiving MTA recorded, and whether it carries the right
//! key-authorization digest). Nothing here decides; the ACME front end and the
//! RA act on these facts.

use aws_lc_rs::digest;
use base64::Engine;
use mail_parser::{HeaderName, MessageParser};
use subtle::ConstantTimeEq;

use crate::mail::OutgoingMail;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// First line of the response block in a reply.
pub const RESPONSE_BEGIN: &str = "-----BEGIN ACME RESPONSE-----";
/// Last line of the response block in a reply.
pub const RESPONSE_END: &str = "-----END ACME RESPONSE-----";
/// Bytes of randomness in token-part1 (a multiple of 3, so both ways clients
/// join the token parts give the same string).
pub const TOKEN_PART1_BYTES: usize = 24;
/// Bytes of randomness in token-part2.
pub const TOKEN_PART2_BYTES: usize = 24;
/// Largest reply accepted.
pub const MAX_REPLY_BYTES: usize = 256 * 1024;

/// A fresh token part (base64url of `n` random bytes).
pub fn new_token(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    B64.encode(b)
}

/// The Subject of a challenge mail.
pub fn challenge_subject(token_part1: &str) -> String {
    format!("ACME: {token_part1}")
}

/// The challenge mail for `to` (RFC 8823 §3): Subject `ACME: <token-part1>` and
/// `Auto-Submitted: auto-generated; type=acme`. The mailer adds From, Date and
/// the Message-ID.
pub fn challenge_mail(to: &str, token_part1: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.to_string(),
        subject: challenge_subject(token_part1),
        body: format!(
            "This is an automatically generated ACME challenge for email address\n\
             {to}. If you did not request a certificate for it, ignore this message.\n\
             \n\
             Your ACME client answers it by replying to this message with the\n\
             key authorization digest between the lines\n\
             {RESPONSE_BEGIN}\n\
             {RESPONSE_END}\n\
             (RFC 8823). Keep this Subject (with \"Re: \") in the reply.\n"
        ),
        headers: vec![(
            "Auto-Submitted".to_string(),
            "auto-generated; type=acme".to_string(),
        )],
    }
}

/// The key authorizations a correct client may compute: token-part1 and
/// token-part2 joined as strings, or as the base64url of their decoded bytes
/// joined, then `.` and the account key thumbprint.
pub fn key_authorizations(token_part1: &str, token_part2: &str, thumbprint: &str) -> Vec<String> {
    let mut out = vec![format!("{token_part1}{token_part2}.{thumbprint}")];
    if let (Ok(mut a), Ok(b)) = (B64.decode(token_part1), B64.decode(token_part2)) {
        a.extend_from_slice(&b);
        let joined = format!("{}.{thumbprint}", B64.encode(a));
        if !out.contains(&joined) {
            out.push(joined);
        }
    }
    out
}

/// base64url(SHA-256(key authorization)): what the reply must carry.
pub fn response_digest(key_authorization: &str) -> String {
    B64.encode(digest::digest(&digest::SHA256, key_authorization.as_bytes()).as_ref())
}

/// Whether `response` equals the digest of one of the key authorizations
/// (constant time per candidate).
pub fn digest_matches(
    response: &str,
    token_part1: &str,
    token_part2: &str,
    thumbprint: &str,
) -> bool {
    let mut ok = false;
    for ka in key_authorizations(token_part1, token_part2, thumbprint) {
        let expected = response_digest(&ka);
        if expected.len() == response.len() {
            ok |= bool::from(expected.as_bytes().ct_eq(response.as_bytes()));
        }
    }
    ok
}

/// One `resinfo` of an Authentication-Results header (RFC 8601).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResult {
    /// Method, e.g. "dkim", "spf", "dmarc" (lower case).
    pub method: String,
    /// Result, e.g. "pass" (lower case).
    pub result: String,
    /// Properties, e.g. ("header.d", "example.com").
    pub props: Vec<(String, String)>,
}

/// One Authentication-Results header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub authserv_id: String,
    pub results: Vec<AuthResult>,
}

/// The header fields the challenge validation relies on, which RFC 5322
/// (§3.6) allows at most once.
pub const SINGLE_HEADERS: [&str; 6] = [
    "From",
    "Sender",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
];

/// What a reply says.
#[derive(Debug, Clone, Default)]
pub struct ReplyFacts {
    /// Every mailbox of every From header, in order (a mailbox without an
    /// address as an empty string).
    pub from: Vec<String>,
    /// Every mailbox of every Sender header, in order (as `from`).
    pub sender: Vec<String>,
    /// The [`SINGLE_HEADERS`] that occur more than once, with their counts.
    pub repeated_headers: Vec<(&'static str, usize)>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// Message-IDs in In-Reply-To and References (no angle brackets).
    pub answers: Vec<String>,
    pub auto_submitted: Option<String>,
    pub auth_results: Vec<AuthResults>,
    /// The text between the ACME RESPONSE lines, whitespace removed.
    pub response: Option<String>,
}

/// Why a reply could not be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplyError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is larger than {MAX_REPLY_BYTES} bytes")]
    TooLarge,
    #[error("the message is not an RFC 5322 message")]
    NotAMessage,
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c)
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Parses one Authentication-Results header value.
pub fn parse_auth_results(value: &str) -> Option<AuthResults> {
    let clean = strip_comments(&value.replace(['\r', '\n'], " "));
    let mut parts = clean.split(';');
    let authserv_id = parts
        .next()?
        .split_whitespace()
        .next()?
        .trim()
        .to_ascii_lowercase();
    if authserv_id.is_empty() {
        return None;
    }
    let mut results = Vec::new();
    for part in parts {
        let mut tokens = part.split_whitespace();
        let Some(first) = tokens.next() else { continue };
        let Some((method, result)) = first.split_once('=') else {
            continue; // "none"
        };
        let method = method.split('/').next().unwrap_or(method);
        let props = tokens
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_string()))
            .collect();
        results.push(AuthResult {
            method: method.to_ascii_lowercase(),
            result: result.to_ascii_lowercase(),
            props,
        });
    }
    Some(AuthResults {
        authserv_id,
        results,
    })
}

fn unbracket(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// Extracts the response block from a text body.
pub fn response_block(text: &str) -> Option<String> {
    let start = text.find(RESPONSE_BEGIN)? + RESPONSE_BEGIN.len();
    let rest = &text[start..];
    let end = rest.find(RESPONSE_END)?;
    let inner: String = rest[..end]
        .lines()
        // quoted replies ("> ...") keep the block readable too
        .map(|l| l.trim().trim_start_matches('>').trim())
        .collect::<Vec<_>>()
        .concat();
    let inner: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    (!inner.is_empty()).then_some(inner)
}

/// Reads the facts of a reply (one RFC 5322 message).
pub fn parse_reply(raw: &[u8]) -> Result<ReplyFacts, ReplyError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ReplyError::Empty);
    }
    if raw.len() > MAX_REPLY_BYTES {
        return Err(ReplyError::TooLarge);
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ReplyError::NotAMessage)?;
    if msg.headers().is_empty() {
        return Err(ReplyError::NotAMessage);
    }
    // Every instance of From and Sender, not only the one the parser's
    // accessors pick: a second From must not hide behind the first.
    let mailboxes = |name: HeaderName<'static>| -> Vec<String> {
        let mut out = Vec::new();
        for value in msg.header_values(name) {
            match value.as_address() {
                Some(addr) => out.extend(addr.iter().map(|x| {
                    x.address()
                        .map(|s| s.trim().to_string())
                        .unwrap_or_default()
                })),
                // present but not an address list
                None => out.push(String::new()),
            }
        }
        out
    };
    let from = mailboxes(HeaderName::From);
    let sender = mailboxes(HeaderName::Sender);
    let repeated_headers = SINGLE_HEADERS
        .iter()
        .map(|&name| {
            let count = msg
                .headers()
                .iter()
                .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
                .count();
            (name, count)
        })
        .filter(|(_, count)| *count > 1)
        .collect();
    let mut answers = Vec::new();
    for hv in [msg.in_reply_to(), msg.references()] {
        if let Some(list) = hv.as_text_list() {
            answers.extend(list.iter().map(|s| unbracket(s)));
        } else if let Some(t) = hv.as_text() {
            answers.extend(t.split_whitespace().map(unbracket));
        }
    }
    let mut auth_results = Vec::new();
    let mut auto_submitted = None;
    for (name, value) in msg.headers_raw() {
        if name.eq_ignore_ascii_case("Authentication-Results") {
            if let Some(ar) = parse_auth_results(value) {
                auth_results.push(ar);
            }
        } else if name.eq_ignore_ascii_case("Auto-Submitted") {
            auto_submitted = Some(value.trim().to_string());
        }
    }
    let mut response = None;
    for i in 0..msg.text_body_count().max(1) {
        if let Some(text) = msg.body_text(i) {
            if let Some(r) = response_block(&text) {
                response = Some(r);
                break;
            }
        }
    }
    Ok(ReplyFacts {
        from,
        sender,
        repeated_headers,
        subject: msg.subject().map(str::to_string),
        message_id: msg.message_id().map(str::to_string),
        answers,
        auto_submitted,
        auth_results,
        response,
    })
}

impl ReplyFacts {
    /// Whether the reply answers the message with this Message-ID.
    pub fn answers(&self, message_id: &str) -> bool {
        let want = unbracket(message_id);
        self.answers.contains(&want)
    }

    /// Whether the (single) From address is `address` (case-insensitive).
    pub fn from_is(&self, address: &str) -> bool {
        self.from.len() == 1 && self.from[0].eq_ignore_ascii_case(address.trim())
    }

    /// Whether one of the `trusted` authserv-ids reported `dkim=pass` with a
    /// signing domain (`header.d`, or the domain of `header.i`) equal to `domain`.
    pub fn dkim_pass_for(&self, trusted: &[String], domain: &str) -> bool {
        self.auth_results
            .iter()
            .filter(|ar| {
                trusted
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&ar.authserv_id))
            })
            .flat_map(|ar| ar.results.iter())
            .filter(|r| r.method == "dkim" && r.result == "pass")
            .any(|r| {
                r.props.iter().any(|(k, v)| {
                    let d = match k.as_str() {
                        "header.d" => v.as_str(),
                        "header.i" => v.rsplit('@').next().unwrap_or(""),
                        _ => return false,
                    };
                    d.eq_ignore_ascii_case(domain)
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(extra_headers: &str, body: &str) -> Vec<u8> {
        format!(
            "From: Dev <dev@example.com>\r\nTo: signet@ca.example\r\nSubject: Re: ACME: abc\r\n\
             Message-ID: <r1@example.com>\r\nIn-Reply-To: <chal1@ca.example>\r\n{extra_headers}\
             Content-Type: text/plain\r\n\r\n{body}"
        )
        .into_bytes()
    }

    #[test]
    fn challenge_mail_has_rfc8823_subject_and_auto_submitted() {
        let m = challenge_mail("dev@example.com", "TOKEN1");
        assert_eq!(m.subject, "ACME: TOKEN1");
        assert!(m
            .headers
            .contains(&("Auto-Submitted".into(), "auto-generated; type=acme".into())));
        assert!(m.body.contains(RESPONSE_BEGIN));
    }

    #[test]
    fn both_token_joining_conventions_are_accepted() {
        let p1 = new_token(TOKEN_PART1_BYTES);
        let p2 = new_token(TOKEN_PART2_BYTES);
        let ka_str = format!("{p1}{p2}.THUMB");
        let mut bytes = B64.decode(&p1).unwrap();
        bytes.extend(B64.decode(&p2).unwrap());
        let ka_bytes = format!("{}.THUMB", B64.encode(bytes));
        assert!(digest_matches(&response_digest(&ka_str), &p1, &p2, "THUMB"));
        assert!(digest_matches(
            &response_digest(&ka_bytes),
            &p1,
            &p2,
            "THUMB"
        ));
        assert!(!digest_matches(
            &response_digest("x.THUMB"),
            &p1,
            &p2,
            "THUMB"
        ));
        assert!(!digest_matches(
            &response_digest(&ka_str),
            &p1,
            &p2,
            "OTHER"
        ));
        // A part1 that is not a multiple of 3 bytes gives two different strings; both accepted.
        let p1 = B64.encode([1u8; 16]);
        let mut b = vec![1u8; 16];
        b.extend(B64.decode(&p2).unwrap());
        let ka_bytes = format!("{}.T", B64.encode(b));
        let ka_str = format!("{p1}{p2}.T");
        assert_ne!(ka_bytes, ka_str);
        assert!(digest_matches(&response_digest(&ka_bytes), &p1, &p2, "T"));
        assert!(digest_matches(&response_digest(&ka_str), &p1, &p2, "T"));
    }

    #[test]
    fn parses_a_reply() {
        let raw = reply(
            "Authentication-Results: mx.example.org; dkim=pass (good) header.d=example.com header.s=s1; spf=fail\r\n\
             Authentication-Results: evil.example; dkim=pass header.d=example.com\r\n",
            "Hi\r\n\r\n-----BEGIN ACME RESPONSE-----\r\nLoqXcYV8q5ONbJQxbmR7SCTN\r\no3tiAXDfowyjxAjEuX0\r\n-----END ACME RESPONSE-----\r\n",
        );
        let f = parse_reply(&raw).unwrap();
        assert!(f.from_is("DEV@example.com"));
        assert!(f.answers("<chal1@ca.example>"));
        assert!(!f.answers("other@ca.example"));
        assert_eq!(
            f.response.as_deref(),
            Some("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0")
        );
        assert!(f.dkim_pass_for(&["mx.example.org".into()], "example.com"));
        assert!(!f.dkim_pass_for(&["mx.example.org".into()], "other.com"));
        assert!(!f.dkim_pass_for(&["trusted.only".into()], "example.com"));
    }

    #[test]
    fn every_from_and_sender_and_repeated_headers_are_reported() {
        let raw = reply(
            "From: victim@example.com\r\nSender: a@example.com, b@example.com\r\nSubject: again\r\n",
            "",
        );
        let f = parse_reply(&raw).unwrap();
        assert_eq!(f.from, vec!["dev@example.com", "victim@example.com"]);
        assert!(!f.from_is("victim@example.com"));
        assert_eq!(f.sender, vec!["a@example.com", "b@example.com"]);
        assert_eq!(f.repeated_headers, vec![("From", 2), ("Subject", 2)]);
        let f = parse_reply(&reply("", "")).unwrap();
        assert!(f.repeated_headers.is_empty() && f.sender.is_empty());
    }

    #[test]
    fn dkim_fail_is_not_pass() {
        let raw = reply(
            "Authentication-Results: mx.example.org; dkim=fail header.d=example.com\r\n",
            "-----BEGIN ACME RESPONSE-----\r\nabc\r\n-----END ACME RESPONSE-----\r\n",
        );
        let f = parse_reply(&raw).unwrap();
        assert!(!f.dkim_pass_for(&["mx.example.org".into()], "example.com"));
    }

    #[test]
    fn garbage_is_not_a_reply() {
        assert_eq!(parse_reply(b"").unwrap_err(), ReplyError::Empty);
        let f = parse_reply(&reply("", "no block here")).unwrap();
        assert!(f.response.is_none());
    }

    #[test]
    fn auth_results_grammar() {
        let ar = parse_auth_results(
            "mx.example.org 1; (comment; with semicolon) dkim=pass header.i=@example.com; none",
        )
        .unwrap();
        assert_eq!(ar.authserv_id, "mx.example.org");
        assert_eq!(ar.results.len(), 1);
        assert_eq!(
            ar.results[0].props[0],
            ("header.i".into(), "@example.com".into())
        );
    }
}
