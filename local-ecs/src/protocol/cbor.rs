//! Smithy RPC v2 CBOR, the protocol the newest AWS SDKs use for CloudWatch:
//! `POST /service/SERVICE/operation/OPERATION` with `smithy-protocol: rpc-v2-cbor`, a CBOR
//! map in and out, timestamps as tag 1 (epoch seconds), errors as `{__type, message}`.
//!
//! Requests are read into the same `serde_json::Value` tree the other protocols produce, so
//! the operations do not know which protocol carried them.

use base64::Engine;
use http::{HeaderValue, Response, StatusCode};
use serde_json::{Map, Number, Value};

use super::{Body, full};
use crate::error::{ApiError, ApiResult};

/// The content type of every request and response.
pub const CONTENT_TYPE: &str = "application/cbor";

/// The path prefix of an RPC v2 request.
pub const PATH_PREFIX: &str = "/service/";

/// Splits `/service/SERVICE/operation/OPERATION` into the service and the operation.
pub fn parse_path(path: &str) -> ApiResult<(&str, &str)> {
    let unknown = || {
        ApiError::new(
            "UnknownOperationException",
            format!("{path} is not /service/SERVICE/operation/OPERATION"),
        )
    };
    let rest = path.strip_prefix(PATH_PREFIX).ok_or_else(unknown)?;
    let (service, op) = rest.split_once("/operation/").ok_or_else(unknown)?;
    if service.is_empty() || op.is_empty() || op.contains('/') {
        return Err(unknown());
    }
    Ok((service, op))
}

/// Reads a request body: empty means `{}`; anything but a CBOR map is a
/// SerializationException.
pub fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: ciborium::Value = ciborium::from_reader(body).map_err(|err| {
        ApiError::new(
            "SerializationException",
            format!("the request body is not valid CBOR: {err}"),
        )
    })?;
    match to_json(value)? {
        v @ Value::Object(_) => Ok(v),
        _ => Err(ApiError::new(
            "SerializationException",
            "the request body must be a CBOR map",
        )),
    }
}

fn to_json(value: ciborium::Value) -> ApiResult<Value> {
    use ciborium::Value as C;
    Ok(match value {
        C::Null => Value::Null,
        C::Bool(b) => Value::Bool(b),
        C::Integer(i) => {
            let i = i128::from(i);
            i64::try_from(i)
                .map(Value::from)
                .or_else(|_| u64::try_from(i).map(Value::from))
                .map_err(|_| ApiError::new("SerializationException", "integer out of range"))?
        }
        C::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        C::Text(s) => Value::String(s),
        C::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        // Tag 1: a timestamp in epoch seconds, as the JSON protocols carry it.
        C::Tag(_, inner) => to_json(*inner)?,
        C::Array(items) => Value::Array(items.into_iter().map(to_json).collect::<ApiResult<_>>()?),
        C::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let C::Text(key) = key else {
                    return Err(ApiError::new(
                        "SerializationException",
                        "map keys must be text",
                    ));
                };
                map.insert(key, to_json(value)?);
            }
            Value::Object(map)
        }
        _ => {
            return Err(ApiError::new(
                "SerializationException",
                "unsupported CBOR item",
            ));
        }
    })
}

/// Encodes a result tree; members named in `timestamps` (epoch seconds) become tag 1.
/// Floats are always written as 64-bit floats, which every decoder reads.
pub fn encode(value: &Value, timestamps: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, value, false, timestamps);
    out
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    match n {
        0..=23 => out.push(major | n as u8),
        24..=0xff => out.extend([major | 24, n as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

fn write(out: &mut Vec<u8>, value: &Value, timestamp: bool, timestamps: &[&str]) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) if timestamp => {
            head(out, 6, 1);
            write_f64(out, n.as_f64().unwrap_or_default());
        }
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => head(out, 0, u),
            (None, Some(i)) => head(out, 1, (-1 - i) as u64),
            _ => write_f64(out, n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => {
            head(out, 3, s.len() as u64);
            out.extend(s.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for item in items {
                write(out, item, false, timestamps);
            }
        }
        Value::Object(members) => {
            head(out, 5, members.len() as u64);
            for (key, value) in members {
                head(out, 3, key.len() as u64);
                out.extend(key.as_bytes());
                write(out, value, timestamps.contains(&key.as_str()), timestamps);
            }
        }
    }
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xfb);
    out.extend(f.to_be_bytes());
}

/// A successful answer.
pub fn ok(value: &Value, timestamps: &[&str], request_id: &str) -> Response<Body> {
    respond(StatusCode::OK, encode(value, timestamps), request_id)
}

/// An error answer. `x-amzn-query-error` carries the awsQuery error code, which the SDKs of
/// services that moved from awsQuery (CloudWatch) match their typed errors on.
pub fn error(err: &ApiError, request_id: &str) -> Response<Body> {
    let body = serde_json::json!({"__type": err.code, "message": err.message});
    let mut response = respond(err.status, encode(&body, &[]), request_id);
    let kind = if err.sender_fault {
        "Sender"
    } else {
        "Receiver"
    };
    if let Ok(value) = HeaderValue::from_str(&format!("{};{kind}", err.code)) {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

fn respond(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/service/GraniteServiceVersion20100801/operation/PutMetricAlarm").unwrap(),
            ("GraniteServiceVersion20100801", "PutMetricAlarm")
        );
        assert!(parse_path("/service/X/op/Y").is_err());
        assert!(parse_path("/service//operation/Y").is_err());
    }

    #[test]
    fn round_trips_through_ciborium() {
        let value = json!({
            "Name": "a", "Period": 60, "Negative": -5, "Threshold": 80.5,
            "On": true, "List": ["x", 1], "When": 1_700_000_000.5, "Skipped": null
        });
        let bytes = encode(&value, &["When"]);
        let decoded: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        let when = match &decoded {
            ciborium::Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_text() == Some("When"))
                .map(|(_, v)| v.clone()),
            _ => None,
        };
        assert!(matches!(when, Some(ciborium::Value::Tag(1, _))), "{when:?}");
        // Absent members are omitted before any protocol writes an answer (`omit_absent`).
        assert_eq!(parse_body(&bytes).unwrap(), value);
        assert_eq!(parse_body(b"").unwrap(), json!({}));
        assert!(parse_body(&encode(&json!([1]), &[])).is_err());
    }
}
