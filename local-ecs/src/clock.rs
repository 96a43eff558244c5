//! Timestamps as the two wire protocols want them: epoch seconds (awsJson) and ISO 8601
//! (awsQuery).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the epoch with millisecond precision, as awsJson timestamps are sent.
pub fn epoch_seconds(t: SystemTime) -> f64 {
    let millis = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    millis as f64 / 1000.0
}

/// A JSON number for an awsJson timestamp.
pub fn json_time(t: SystemTime) -> serde_json::Value {
    serde_json::json!(epoch_seconds(t))
}

/// `2024-05-01T12:34:56.789Z`, as awsQuery (XML) timestamps are sent.
pub fn iso8601(t: SystemTime) -> String {
    let millis = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i128;
    let dt = OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    // Rfc3339 prints the fraction only when non-zero; AWS always prints milliseconds.
    let whole = dt.replace_nanosecond(0).unwrap_or(dt);
    let text = whole.format(&Rfc3339).unwrap_or_default();
    let base = text.trim_end_matches('Z');
    format!("{base}.{:03}Z", millis.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(epoch_seconds(t), 1_700_000_000.123);
        assert_eq!(iso8601(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
