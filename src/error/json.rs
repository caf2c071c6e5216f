//! The JSON body extractor: `axum::Json`, with its rejections turned into our problems.

use axum::{
    Json,
    extract::{FromRequest, rejection::JsonRejection},
    http::StatusCode,
};

use super::ApiError;

/// `axum::Json`, rejecting with [`ApiError`] so that a bad body gets a problem document.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(error) => ApiError::invalid_body(&error.body_text()),
            JsonRejection::JsonSyntaxError(error) => ApiError::malformed_json(&error.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(error)
                if error.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::PayloadTooLarge
            }
            other => ApiError::malformed_json(&other.body_text()),
        }
    }
}

/// The names a parser message may quote back: the fields of our request bodies. Anything
/// else it quotes (an unknown field's name, a wrong value) came from the client and is left
/// out, so that a problem body never repeats input.
const KNOWN_NAMES: &[&str] = &[
    "notification_type",
    "source",
    "payload",
    "name",
    "scopes",
    "agents",
    "rate_per_second",
    "trust_trace_context",
    "description",
    "queue_type",
    "notify",
    "read",
    "admin",
    "classic",
    "quorum",
];

impl ApiError {
    /// A body whose JSON does not fit the schema (422), described without the client's input.
    pub fn invalid_body(parser_message: &str) -> Self {
        Self::InvalidBody(without_input(parser_message))
    }

    /// A body that is not JSON (400), described without the client's input.
    pub fn malformed_json(parser_message: &str) -> Self {
        Self::MalformedJson(without_input(parser_message))
    }
}

/// serde's messages quote names in backticks and values in double quotes: keep quoted names
/// we know and single punctuation characters (``expected `,` ``), replace the rest with `…`.
fn without_input(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().expect("found above");
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find(quote) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let quoted = &after[..end];
        let safe = KNOWN_NAMES.contains(&quoted)
            || (quoted.chars().count() == 1 && quoted.chars().all(|c| c.is_ascii_punctuation()));
        out.push(quote);
        out.push_str(if safe { quoted } else { "…" });
        out.push(quote);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::without_input;

    #[test]
    fn parser_messages_keep_our_field_names_and_drop_the_clients_input() {
        let cases = [
            (
                "unknown field `password_hunter2`, expected one of `notification_type`, `source`, `payload`",
                "unknown field `…`, expected one of `notification_type`, `source`, `payload`",
            ),
            (
                "invalid type: string \"secret@example.com\", expected u32 at line 1 column 9",
                "invalid type: string \"…\", expected u32 at line 1 column 9",
            ),
            (
                "expected `,` or `}` at line 1 column 5",
                "expected `,` or `}` at line 1 column 5",
            ),
            ("missing field `source`", "missing field `source`"),
            ("unterminated `quote", "unterminated `quote"),
        ];
        for (message, expected) in cases {
            assert_eq!(without_input(message), expected);
        }
    }
}
