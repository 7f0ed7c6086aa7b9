//! A hosted-API request's parameters, whatever the body's encoding: a JSON object,
//! `application/x-www-form-urlencoded`, or `multipart/form-data` with files `attachment1..N`.
//!
//! The hosted service's clients send structured parameters (`from`, `to`, `headers`) as JSON
//! even inside a form field, so a form value that is a JSON object or array is read as one;
//! every other value stays a string. The multipart reader is small on purpose: form-data parts
//! are only a name, an optional file name and type, and bytes (RFC 7578), and taking no
//! dependency for that keeps what a hostile body can reach small.

use super::errors::{self, Failure};
use axum::body::Body;
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

/// The parameters of one request.
#[derive(Debug, Default)]
pub struct Fields {
    pub values: Map<String, Value>,
    /// Multipart file parts, in the order they came.
    pub files: Vec<File>,
}

/// A file part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The form field's name (`attachment1`).
    pub field: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// The most parts a multipart body may have: 1,000 attachments would exceed any message.
const MAX_PARTS: usize = 1_000;

impl Fields {
    /// A string parameter: a string as given, a number or boolean as written; `None` when
    /// absent, `null` or empty.
    pub fn text(&self, name: &str) -> Result<Option<String>, Failure> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(Failure::new(errors::FIELD_INVALID, name).detail("must be a string")),
        }
    }

    /// A structured parameter: JSON as given, or a form field's JSON text parsed.
    pub fn structured(&self, name: &str) -> Result<Option<Value>, Failure> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => {
                let trimmed = s.trim_start();
                if trimmed.starts_with('{') || trimmed.starts_with('[') {
                    serde_json::from_str(s).map(Some).map_err(|e| {
                        Failure::new(errors::MALFORMED_BODY, name)
                            .detail(format!("not valid JSON: {e}"))
                    })
                } else {
                    Ok(Some(Value::String(s.clone())))
                }
            }
            Some(other) => Ok(Some(other.clone())),
        }
    }
}

/// Reads the whole body (at most `limit` bytes) and parses it by its content type.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Fields, Failure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        // The limit's error type is http-body-util's, which axum does not re-export: it is
        // recognised by its words anywhere in the chain.
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        let mut too_large = false;
        while let Some(error) = source {
            too_large |= error.to_string().contains("length limit exceeded");
            source = error.source();
        }
        if too_large {
            Failure::new(errors::BODY_TOO_LARGE, "").detail(format!("at most {limit} bytes"))
        } else {
            Failure::new(errors::MALFORMED_BODY, "").detail(e.to_string())
        }
    })?;
    parse(&content_type, &bytes)
}

/// Parses `bytes` as `content_type` says.
pub fn parse(content_type: &str, bytes: &[u8]) -> Result<Fields, Failure> {
    let (mime, params) = split_parameters(content_type);
    match mime.to_ascii_lowercase().as_str() {
        "application/json" | "text/json" => json(bytes),
        "application/x-www-form-urlencoded" => form(bytes),
        "multipart/form-data" => {
            let boundary = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.clone())
                .filter(|b| !b.is_empty() && b.len() <= 200)
                .ok_or_else(|| {
                    Failure::new(errors::MALFORMED_BODY, "").detail("multipart without a boundary")
                })?;
            multipart(bytes, &boundary)
        }
        // No type: what it looks like, as the hosted service's older clients send forms untyped.
        "" if bytes.trim_ascii_start().starts_with(b"{") => json(bytes),
        "" => form(bytes),
        _ => Err(Failure::new(errors::UNSUPPORTED_CONTENT_TYPE, "").detail(mime.to_string())),
    }
}

fn json(bytes: &[u8]) -> Result<Fields, Failure> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(values)) => Ok(Fields {
            values,
            files: Vec::new(),
        }),
        Ok(_) => Err(Failure::new(errors::MALFORMED_BODY, "").detail("the JSON must be an object")),
        Err(e) => {
            Err(Failure::new(errors::MALFORMED_BODY, "").detail(format!("invalid JSON: {e}")))
        }
    }
}

fn form(bytes: &[u8]) -> Result<Fields, Failure> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).map_err(|e| {
        Failure::new(errors::MALFORMED_BODY, "").detail(format!("invalid form encoding: {e}"))
    })?;
    let mut values = Map::new();
    for (name, value) in pairs {
        values.insert(name, Value::String(value));
    }
    Ok(Fields {
        values,
        files: Vec::new(),
    })
}

/// `type/subtype; a=b; c="d"` → (`type/subtype`, [(a, b), (c, d)]).
fn split_parameters(value: &str) -> (&str, Vec<(String, String)>) {
    let mut parts = value.splitn(2, ';');
    let head = parts.next().unwrap_or("").trim();
    let params = parts.next().map(parameters).unwrap_or_default();
    (head, params)
}

/// `a=b; c="d; e"` → [(a, b), (c, d; e)], quotes and backslash escapes undone.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ';' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() && chars.peek().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        out.push((name.trim().to_string(), value));
    }
}

/// RFC 5987 `UTF-8''%E6%97%A5.pdf` → `日.pdf`; `None` if it is not that.
fn extended_value(text: &str) -> Option<String> {
    let (charset, rest) = text.split_once('\'')?;
    let (_, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut raw = encoded.bytes();
    while let Some(b) = raw.next() {
        if b == b'%' {
            let hex = [raw.next()?, raw.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where the next boundary line starts: the delimiter followed by `--` or CRLF (RFC 2046
/// allows whitespace before the CRLF; no client we know sends it); the same bytes inside a
/// line are content.
fn boundary_line(body: &[u8], delimiter: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = find(&body[from..], delimiter) {
        let at = from + at;
        let after = &body[at + delimiter.len()..];
        if after.starts_with(b"--") || after.starts_with(b"\r\n") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn multipart(bytes: &[u8], boundary: &str) -> Result<Fields, Failure> {
    let bad = |why: &str| Failure::new(errors::MALFORMED_BODY, "").detail(why.to_string());
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let start = find(bytes, delimiter).ok_or_else(|| bad("no multipart boundary in the body"))?;
    let mut rest = &bytes[start + delimiter.len()..];
    let mut fields = Fields::default();
    let mut parts = 0;
    // Each part's content ends at CRLF followed by the next delimiter.
    let mut next_delimiter = b"\r\n".to_vec();
    next_delimiter.extend_from_slice(delimiter);
    loop {
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or_else(|| bad("a multipart boundary must end its line"))?;
        parts += 1;
        if parts > MAX_PARTS {
            return Err(bad("too many multipart parts"));
        }
        let head_end = find(rest, b"\r\n\r\n")
            .map(|at| (at, at + 4))
            // A part without headers starts straight after the boundary's CRLF.
            .or_else(|| rest.starts_with(b"\r\n").then_some((0, 2)))
            .ok_or_else(|| bad("a multipart part has no end to its headers"))?;
        let head = std::str::from_utf8(&rest[..head_end.0])
            .map_err(|_| bad("a multipart part's headers are not UTF-8"))?;
        let body = &rest[head_end.1..];
        let end = boundary_line(body, &next_delimiter)
            .ok_or_else(|| bad("the multipart body ends without its closing boundary"))?;
        let content = &body[..end];
        rest = &body[end + next_delimiter.len()..];

        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let Some((header_name, value)) = line.split_once(':') else {
                continue;
            };
            let header_name = header_name.trim();
            if header_name.eq_ignore_ascii_case("content-disposition") {
                let (_, params) = split_parameters(value.trim());
                for (key, value) in params {
                    match key.to_ascii_lowercase().as_str() {
                        "name" => name = Some(value),
                        "filename" if filename.is_none() => filename = Some(value),
                        "filename*" => filename = extended_value(&value).or(filename),
                        _ => {}
                    }
                }
            } else if header_name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            }
        }
        let name = name.ok_or_else(|| bad("a multipart part has no name"))?;
        match filename {
            Some(filename) => fields.files.push(File {
                field: name,
                filename,
                content_type,
                bytes: content.to_vec(),
            }),
            None => {
                let text = String::from_utf8(content.to_vec()).map_err(|_| {
                    Failure::new(errors::MALFORMED_BODY, name.clone()).detail("not UTF-8")
                })?;
                fields.values.insert(name, Value::String(text));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_strings_and_read_json_inside() {
        let fields = parse(
            "application/x-www-form-urlencoded",
            b"api_user=u%40x.jp&to=%7B%22address%22%3A%22a%40b.jp%22%7D&subject=Hi+there",
        )
        .unwrap();
        assert_eq!(fields.text("api_user").unwrap().unwrap(), "u@x.jp");
        assert_eq!(fields.text("subject").unwrap().unwrap(), "Hi there");
        assert_eq!(
            fields.structured("to").unwrap().unwrap(),
            serde_json::json!({"address": "a@b.jp"})
        );
        assert!(fields.text("missing").unwrap().is_none());
    }

    #[test]
    fn multipart_gives_fields_and_files() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\n\xe4\xbb\xb6\xe5\x90\x8d\r\n--XyZ\r\nContent-Disposition: form-data; name=\"attachment1\"; filename=\"a;b.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\n--XyZ not yet\r\n--XyZ\r\nContent-Disposition: form-data; name=\"attachment2\"; filename*=UTF-8''%E6%97%A5.bin\r\n\r\n\x00\x01\r\n--XyZ--\r\n";
        let fields = parse("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(fields.text("subject").unwrap().unwrap(), "件名");
        assert_eq!(fields.files.len(), 2);
        assert_eq!(fields.files[0].filename, "a;b.txt");
        assert_eq!(fields.files[0].bytes, b"line1\r\n--XyZ not yet");
        assert_eq!(fields.files[0].content_type.as_deref(), Some("text/plain"));
        assert_eq!(fields.files[1].filename, "日.bin");
        assert_eq!(fields.files[1].bytes, b"\x00\x01");
    }

    #[test]
    fn hostile_bodies_are_refused_with_a_code() {
        for (content_type, body) in [
            ("application/json", &b"{\"a\":"[..]),
            ("application/json", b"[1,2]"),
            (
                "multipart/form-data; boundary=q",
                b"--q\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            ),
            ("multipart/form-data", b"--q--"),
            ("multipart/form-data; boundary=q", b"nothing"),
        ] {
            let failure = parse(content_type, body).unwrap_err();
            assert_eq!(failure.code.code, "02-001", "{content_type} {body:?}");
        }
        assert_eq!(parse("text/xml", b"<a/>").unwrap_err().code.code, "02-002");
    }
}
