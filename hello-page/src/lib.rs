//! What a client sees of hello-service's answers: the header that names the build, and how
//! text (the greeting, a name) is escaped into the page. hello-service serves with these and
//! `cargo xtask deploy` verifies with them. A crate of its own, with no build script and no
//! dependency, so that editing the greeting (or a commit, which changes hello-service's build
//! id) does not rebuild and relink xtask before `cargo xtask deploy` can start.

use std::borrow::Cow;

/// The response header carrying the build id of the task that answered.
pub const APP_VERSION_HEADER: &str = "x-app-version";

/// Escapes `&`, `<`, `>`, `"` and `'` so text can be placed in HTML content or attributes.
pub fn escape(text: &str) -> Cow<'_, str> {
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
