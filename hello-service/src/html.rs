//! The two transformations user input goes through before it reaches a response body:
//! strict percent-decoding of the path segment, then HTML escaping.

use std::borrow::Cow;

pub use hello_page::escape;

/// Why a path segment could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Percent-decodes a raw URL path segment, rejecting malformed escapes instead of passing them
/// through (browsers and the Express original are lenient; a 400 is clearer).
pub fn percent_decode(raw: &str) -> Result<Cow<'_, str>, DecodeError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(DecodeError::BadEscape)?;
            let high = hex_value(hex[0]).ok_or(DecodeError::BadEscape)?;
            let low = hex_value(hex[1]).ok_or(DecodeError::BadEscape)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_html_specials() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#x27;s&lt;/a&gt;"
        );
        assert!(matches!(escape("plain world"), Cow::Borrowed(_)));
    }

    #[test]
    fn decodes_strictly() {
        for (raw, want) in [
            ("world", Ok("world")),
            ("J%C3%BCrgen", Ok("Jürgen")),
            ("a%20b", Ok("a b")),
            ("%3Cscript%3E", Ok("<script>")),
            ("100%", Err(DecodeError::BadEscape)),
            ("%zz", Err(DecodeError::BadEscape)),
            ("%4", Err(DecodeError::BadEscape)),
            ("%ff", Err(DecodeError::NotUtf8)),
        ] {
            assert_eq!(
                percent_decode(raw).as_deref().map_err(|e| *e),
                want,
                "{raw}"
            );
        }
    }
}
