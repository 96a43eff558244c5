//! What xtask knows of hello-service's answers: the header naming the build, and how the
//! greeting is escaped into the page. A copy, not a dependency: depending on hello-service would
//! rebuild and relink xtask after every greeting edit (and every commit, which changes its build
//! id) before `cargo xtask deploy` could even start. A test holds the copy to the original.

use std::borrow::Cow;

/// `hello_service::APP_VERSION_HEADER`: the build id of the answering task.
pub const APP_VERSION_HEADER: &str = "x-app-version";

/// `hello_service::html::escape`: `&`, `<`, `>`, `"` and `'` as HTML entities.
pub fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_matches_hello_service() {
        assert_eq!(APP_VERSION_HEADER, hello_service::APP_VERSION_HEADER);
        for text in [
            "",
            "Hello AWS ECS!",
            "<script>alert('x')</script>",
            "a & b \"c\" 'd' <e>",
            "caf\u{e9} &amp; \u{1f600}",
        ] {
            assert_eq!(
                escape_html(text),
                hello_service::html::escape(text),
                "{text:?}"
            );
        }
    }
}
