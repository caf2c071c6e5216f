//! What a rejected field looks like, and the rule for short labels.

/// Longest `notification_type` or `source`, in characters.
pub const MAX_LABEL_CHARS: usize = 128;

/// A field of the input that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct ValidationError {
    pub field: &'static str,
    pub problem: &'static str,
}

impl ValidationError {
    pub fn new(field: &'static str, problem: &'static str) -> Self {
        Self { field, problem }
    }
}

/// A short, printable label (`notification_type`, `source`): trimmed, non-empty, at most
/// [`MAX_LABEL_CHARS`], no control characters.
pub(super) fn parse_label(field: &'static str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_LABEL_CHARS {
        return Err(ValidationError::new(
            field,
            "must be at most 128 characters",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}
