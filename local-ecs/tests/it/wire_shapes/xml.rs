//! A small XML reader for awsQuery answers: elements, text and the five predefined entities
//! (plus numeric character references); attributes are skipped, a `<?xml ...?>` declaration
//! is allowed. Enough for what AWS and local-ecs send; anything else is an error.

/// One element: its name, child elements in order, and its text (when it has no children).
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a whole document into its root element.
pub fn parse(doc: &str) -> Result<Element, String> {
    let mut rest = doc.trim_start();
    if let Some(after) = rest.strip_prefix("<?") {
        let end = after.find("?>").ok_or("an unterminated XML declaration")?;
        rest = after[end + 2..].trim_start();
    }
    let (root, rest) = element(rest)?;
    if !rest.trim().is_empty() {
        return Err(format!("text after the root element: {:?}", truncate(rest)));
    }
    Ok(root)
}

/// Parses one element at the start of `s`; returns it and what follows.
fn element(s: &str) -> Result<(Element, &str), String> {
    let s = s
        .strip_prefix('<')
        .ok_or_else(|| format!("expected an element at {:?}", truncate(s)))?;
    let end = s.find('>').ok_or("an unterminated start tag")?;
    let tag = &s[..end];
    let name: String = tag
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '/')
        .collect();
    if name.is_empty() {
        return Err(format!("an element without a name at {:?}", truncate(s)));
    }
    let mut el = Element {
        name,
        children: Vec::new(),
        text: String::new(),
    };
    let mut rest = &s[end + 1..];
    if tag.ends_with('/') {
        return Ok((el, rest));
    }
    let close = format!("</{}>", el.name);
    loop {
        if let Some(after) = rest.strip_prefix(close.as_str()) {
            if !el.children.is_empty() && !el.text.trim().is_empty() {
                return Err(format!("<{}> mixes text and elements", el.name));
            }
            if !el.children.is_empty() {
                el.text.clear();
            }
            return Ok((el, after));
        }
        if rest.starts_with("</") {
            return Err(format!("<{}> closed by {:?}", el.name, truncate(rest)));
        }
        if rest.starts_with('<') {
            let (child, after) = element(rest)?;
            el.children.push(child);
            rest = after;
            continue;
        }
        let text_end = rest
            .find('<')
            .ok_or_else(|| format!("<{}> is never closed", el.name))?;
        el.text.push_str(&unescape(&rest[..text_end])?);
        rest = &rest[text_end..];
    }
}

/// Replaces entity and character references.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .ok_or_else(|| format!("an unterminated reference in {text:?}"))?;
        let entity = &rest[at + 1..at + end];
        let ch = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => entity.strip_prefix('#').and_then(|d| d.parse().ok()),
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("an unknown reference &{entity};"))?
            }
        };
        out.push(ch);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}
