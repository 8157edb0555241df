//! Request bodies: JSON deserialized with the path of the offending field,
//! so a refusal names the field and what it accepts (`template: "xx" is not
//! one of: ov, ev`), never a parser position.

use serde::de::DeserializeOwned;

use super::ApiError;

/// Deserializes a JSON request body; an error names the field.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = readable(&e.into_inner());
        // an unknown or missing field is named in the message itself
        let quoted = message.split('"').nth(1).map(str::to_string);
        let field = if !matches!(path.as_str(), "." | "?" | "") {
            path
        } else if message.starts_with("unknown field") || message.starts_with("missing field") {
            quoted.unwrap_or_else(|| "body".into())
        } else {
            "body".into()
        };
        ApiError::field(&field, message)
    })
}

/// serde's message without the parser position, values in double quotes,
/// and an unknown enum value said with the accepted ones.
fn readable(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_string(),
        _ => text,
    };
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        let quoted: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        if let Some((given, accepted)) = quoted.split_first() {
            return format!("{given:?} is not one of: {}", accepted.join(", "));
        }
    }
    text.replace('`', "\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Template {
        Ov,
        Ev,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        template: Template,
        #[serde(default)]
        terms: Vec<u32>,
    }

    fn refusal(body: &str) -> (String, String) {
        let e = parse::<Body>(body.as_bytes()).unwrap_err();
        (e.field.unwrap_or_default(), e.message)
    }

    #[test]
    fn an_unknown_enum_value_names_the_field_and_the_accepted_values() {
        let (field, msg) = refusal(r#"{"name": "cs", "template": "xx"}"#);
        assert_eq!(field, "template");
        assert_eq!(msg, r#""xx" is not one of: ov, ev"#);
    }

    #[test]
    fn wrong_types_unknown_and_missing_fields_are_named_without_a_position() {
        let (field, msg) = refusal(r#"{"name": "cs", "template": "ov", "terms": ["x"]}"#);
        assert_eq!(field, "terms[0]");
        assert!(!msg.contains("line"), "{msg}");
        let (field, msg) = refusal(r#"{"name": "cs", "template": "ov", "extra": 1}"#);
        assert_eq!(field, "extra", "{msg}");
        let (field, msg) = refusal(r#"{"template": "ov"}"#);
        assert_eq!(
            (field.as_str(), msg.as_str()),
            ("name", r#"missing field "name""#)
        );
        let (field, _) = refusal("{not json");
        assert_eq!(field, "body");
    }
}
