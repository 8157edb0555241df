//! Text that came from outside, made safe to show.
//!
//! A CSR subject, a decline reason or a request path can carry a newline (a
//! forged log line), terminal escape codes (a rewritten screen) or bidi
//! controls (text that reads backwards). Every value that leaves Signet in a
//! log line, an EST or ACME error text or a mail goes through [`escape`]
//! first: control and bidi characters become visible `\n`, `\u{1b}`, ...
//! escapes; everything else, non-ASCII letters included, stays as it is.

use std::borrow::Cow;
use std::fmt::Write as _;
use tracing_subscriber::field::MakeExt as _;

/// True for characters that must not reach a log, terminal or mail as they
/// are: the C0 and C1 controls, DEL, and the Unicode bidi embedding, override
/// and isolate controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
/// U+061C), and the line and paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` with every unsafe character written as an escape (`\n`, `\t`, `\r`,
/// `\\` before an escape-looking backslash is not needed: only the unsafe
/// characters change, so the result is unambiguous for a reader).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Like [`escape`], but keeps line breaks: for multi-line text written to a
/// place that is line-oriented by nature (a mail body).
pub fn escape_keeping_lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// A log field formatter for `tracing_subscriber`'s text output: every field
/// value, the message included, is escaped, so a value from outside cannot
/// start a new log line or send escape codes to the operator's terminal.
pub fn log_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let shown = format!("{value:?}");
        let shown = escape(&shown);
        if field.name() == "message" {
            write!(writer, "{shown}")
        } else {
            write!(writer, "{}={shown}", field.name())
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_become_visible_and_letters_stay() {
        assert_eq!(escape("Müller GmbH 株式会社"), "Müller GmbH 株式会社");
        assert_eq!(
            escape("CN=x\n2026-12-08 INFO forged\u{1b}[2J"),
            "CN=x\\n2026-12-08 INFO forged\\u{1b}[2J"
        );
        assert_eq!(escape("evil\u{202E}exe.txt"), "evil\\u{202e}exe.txt");
        assert_eq!(escape("a\tb\rc\u{7f}\u{85}"), "a\\tb\\rc\\u{7f}\\u{85}");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn mail_bodies_keep_their_lines() {
        assert_eq!(
            escape_keeping_lines("Reason: no\u{1b}[31m\nnext line\r"),
            "Reason: no\\u{1b}[31m\nnext line\\r"
        );
    }
}
