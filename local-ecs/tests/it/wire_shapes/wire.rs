//! One view of an answer's values across the three wire formats, so that one shape-driven
//! checker reads them all: awsJson (serde_json), Smithy RPC v2 CBOR (ciborium) and awsQuery
//! XML (untyped text, read by the type the shape asks for).

use std::borrow::Cow;

use ciborium::Value as Cbor;
use serde_json::Value as Json;

use super::xml::Element;

/// What the checker asks of a value; `None` / `Err` means "not that type".
pub trait Wire: Sized {
    /// What the value is, for messages.
    fn kind(&self) -> String;
    /// An explicit null (awsJson / CBOR); AWS omits absent members instead.
    fn is_null(&self) -> bool;
    /// Members of a structure, in order (names may repeat in XML: a failure).
    fn members(&self) -> Option<Vec<(Cow<'_, str>, &Self)>>;
    /// Items of a list (XML: the `<member>` children; anything else there is an error).
    fn items(&self) -> Result<Vec<&Self>, String>;
    /// Entries of a map (XML: `<entry><key/><value/></entry>`).
    fn entries(&self) -> Result<Vec<(String, &Self)>, String>;
    fn string(&self) -> Option<Cow<'_, str>>;
    fn boolean(&self) -> Option<bool>;
    fn integer(&self) -> Option<i128>;
    fn double(&self) -> Option<f64>;
    /// A timestamp in the protocol's format: Ok(epoch seconds) or what is wrong.
    fn timestamp(&self) -> Result<f64, String>;
    /// A blob in the protocol's format (base64 text in JSON and XML, bytes in CBOR).
    fn blob(&self) -> bool;
}

fn base64_ok(s: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

impl Wire for Json {
    fn kind(&self) -> String {
        let kind = match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        };
        format!("{kind} ({})", short(&self.to_string()))
    }
    fn is_null(&self) -> bool {
        self.is_null()
    }
    fn members(&self) -> Option<Vec<(Cow<'_, str>, &Self)>> {
        let object = self.as_object()?;
        Some(
            object
                .iter()
                .map(|(k, v)| (Cow::from(k.as_str()), v))
                .collect(),
        )
    }
    fn items(&self) -> Result<Vec<&Self>, String> {
        self.as_array()
            .map(|a| a.iter().collect())
            .ok_or_else(|| format!("expected a list, got {}", Wire::kind(self)))
    }
    fn entries(&self) -> Result<Vec<(String, &Self)>, String> {
        self.as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v)).collect())
            .ok_or_else(|| format!("expected a map, got {}", Wire::kind(self)))
    }
    fn string(&self) -> Option<Cow<'_, str>> {
        self.as_str().map(Cow::from)
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn integer(&self) -> Option<i128> {
        match self {
            Json::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from)),
            _ => None,
        }
    }
    fn double(&self) -> Option<f64> {
        self.as_f64()
    }
    fn timestamp(&self) -> Result<f64, String> {
        // awsJson sends epoch seconds as a number.
        self.as_f64().ok_or_else(|| {
            format!(
                "expected epoch seconds (a number), got {}",
                Wire::kind(self)
            )
        })
    }
    fn blob(&self) -> bool {
        self.as_str().is_some_and(base64_ok)
    }
}

impl Wire for Cbor {
    fn kind(&self) -> String {
        format!("{self:?}").chars().take(60).collect()
    }
    fn is_null(&self) -> bool {
        self.is_null()
    }
    fn members(&self) -> Option<Vec<(Cow<'_, str>, &Self)>> {
        let map = self.as_map()?;
        map.iter()
            .map(|(k, v)| k.as_text().map(|k| (Cow::from(k), v)))
            .collect()
    }
    fn items(&self) -> Result<Vec<&Self>, String> {
        self.as_array()
            .map(|a| a.iter().collect())
            .ok_or_else(|| format!("expected a list, got {}", self.kind()))
    }
    fn entries(&self) -> Result<Vec<(String, &Self)>, String> {
        let map = self
            .as_map()
            .ok_or_else(|| format!("expected a map, got {}", self.kind()))?;
        map.iter()
            .map(|(k, v)| {
                k.as_text()
                    .map(|k| (k.to_owned(), v))
                    .ok_or_else(|| format!("a map key that is not text: {}", k.kind()))
            })
            .collect()
    }
    fn string(&self) -> Option<Cow<'_, str>> {
        self.as_text().map(Cow::from)
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn integer(&self) -> Option<i128> {
        self.as_integer().map(i128::from)
    }
    fn double(&self) -> Option<f64> {
        self.as_float()
            .or_else(|| self.as_integer().map(|i| i128::from(i) as f64))
    }
    fn timestamp(&self) -> Result<f64, String> {
        // RPC v2 CBOR: tag 1 (epoch seconds) around an integer or a float.
        match self {
            Cbor::Tag(1, inner) => inner
                .double()
                .ok_or_else(|| format!("tag 1 around {}", inner.kind())),
            other => Err(format!(
                "expected a tag-1 epoch timestamp, got {}",
                other.kind()
            )),
        }
    }
    fn blob(&self) -> bool {
        self.is_bytes()
    }
}

impl Wire for Element {
    fn kind(&self) -> String {
        if self.children.is_empty() {
            format!("text {:?}", short(&self.text))
        } else {
            format!("<{}> with elements", self.name)
        }
    }
    fn is_null(&self) -> bool {
        false
    }
    fn members(&self) -> Option<Vec<(Cow<'_, str>, &Self)>> {
        if self.children.is_empty() && !self.text.trim().is_empty() {
            return None;
        }
        Some(
            self.children
                .iter()
                .map(|c| (Cow::from(c.name.as_str()), c))
                .collect(),
        )
    }
    fn items(&self) -> Result<Vec<&Self>, String> {
        match self.children.iter().find(|c| c.name != "member") {
            Some(other) => Err(format!(
                "a list holds <{}> where AWS sends <member>",
                other.name
            )),
            None if self.children.is_empty() && !self.text.trim().is_empty() => {
                Err(format!("expected a list, got {}", self.kind()))
            }
            None => Ok(self.children.iter().collect()),
        }
    }
    fn entries(&self) -> Result<Vec<(String, &Self)>, String> {
        self.children
            .iter()
            .map(|entry| {
                let key = entry.all("key").next();
                let value = entry.all("value").next();
                match (entry.name.as_str(), key, value, entry.children.len()) {
                    ("entry", Some(key), Some(value), 2) => Ok((key.text.clone(), value)),
                    _ => Err(format!(
                        "a map entry that is not <entry><key/><value/></entry>: <{}>",
                        entry.name
                    )),
                }
            })
            .collect()
    }
    fn string(&self) -> Option<Cow<'_, str>> {
        self.children
            .is_empty()
            .then(|| Cow::from(self.text.as_str()))
    }
    fn boolean(&self) -> Option<bool> {
        match self.string()?.as_ref() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    fn integer(&self) -> Option<i128> {
        self.string()?.parse().ok()
    }
    fn double(&self) -> Option<f64> {
        self.string()?.parse().ok()
    }
    fn timestamp(&self) -> Result<f64, String> {
        // awsQuery sends ISO 8601 date-times.
        let text = self.string().unwrap_or_default();
        time::OffsetDateTime::parse(
            &text,
            &time::format_description::well_known::Iso8601::DEFAULT,
        )
        .map(|t| t.unix_timestamp() as f64)
        .map_err(|e| format!("expected an ISO 8601 date-time, got {}: {e}", self.kind()))
    }
    fn blob(&self) -> bool {
        self.string().is_some_and(|s| base64_ok(&s))
    }
}

/// The first 60 characters of `s`.
pub fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
