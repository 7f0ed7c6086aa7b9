//! The hosted service's inbound webhook: the same parsed mail ([`ParsedMail`]) in the body a
//! receiver written for that service reads. Its fields are `api_key` (when the route has one),
//! `server_composition` (the contract), `filter` (the route's pattern), `headers` (`[{name,
//! value}]`), `subject`, `envelope-from`, `envelope-to`, `text` and `html` (when the mail has
//! them), `attachments` (how many) and, in the multipart form only, `attachment1..N` as files.
//! The JSON form carries no attachment files, as the hosted service's does not: a route whose
//! mail has attachments to keep uses the multipart form (or this platform's own document).

use crate::parse::{HeaderField, ParsedMail};
use base64::Engine;
use serde::Serialize;

/// What the body says besides the mail itself.
#[derive(Debug, Clone, Copy)]
pub struct HostedInbound<'a> {
    pub api_key: Option<&'a str>,
    pub server_composition: &'a str,
    pub filter: &'a str,
    pub envelope_from: &'a str,
    pub envelope_to: &'a str,
    pub mail: &'a ParsedMail,
}

#[derive(Serialize)]
struct JsonBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    server_composition: &'a str,
    filter: &'a str,
    headers: &'a [HeaderField],
    subject: &'a str,
    #[serde(rename = "envelope-from")]
    envelope_from: &'a str,
    #[serde(rename = "envelope-to")]
    envelope_to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<&'a str>,
    attachments: usize,
}

impl HostedInbound<'_> {
    fn json_fields(&self) -> JsonBody<'_> {
        JsonBody {
            api_key: self.api_key,
            server_composition: self.server_composition,
            filter: self.filter,
            headers: &self.mail.headers,
            subject: self.mail.subject.as_deref().unwrap_or_default(),
            envelope_from: self.envelope_from,
            envelope_to: self.envelope_to,
            text: self.mail.text.as_deref(),
            html: self.mail.html.as_deref(),
            attachments: self.mail.attachments.len(),
        }
    }

    /// The `application/json` body.
    pub fn json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json_fields()).expect("the body is plain data")
    }

    /// The `multipart/form-data` body and its content type (which names the boundary).
    pub fn multipart(&self) -> (String, Vec<u8>) {
        let boundary = format!("hikyaku-{:032x}", rand::random::<u128>());
        let mut form = Multipart::new(&boundary);
        let fields = self.json_fields();
        if let Some(key) = fields.api_key {
            form.text("api_key", key);
        }
        form.text("server_composition", fields.server_composition);
        form.text("filter", fields.filter);
        form.text(
            "headers",
            &serde_json::to_string(fields.headers).expect("headers are plain data"),
        );
        form.text("subject", fields.subject);
        form.text("envelope-from", fields.envelope_from);
        form.text("envelope-to", fields.envelope_to);
        if let Some(text) = fields.text {
            form.text("text", text);
        }
        if let Some(html) = fields.html {
            form.text("html", html);
        }
        form.text("attachments", &fields.attachments.to_string());
        for (i, attachment) in self.mail.attachments.iter().enumerate() {
            let name = format!("attachment{}", i + 1);
            // Content left out for the size limit (never for mail the queue accepts: its
            // limit is below the parser's budget) goes as an empty file, so that
            // `attachment1..N` are all there as `attachments` promises.
            let content = attachment
                .content
                .as_deref()
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .unwrap_or_default();
            let filename = attachment.filename.clone().unwrap_or_else(|| name.clone());
            form.file(&name, &filename, &attachment.content_type, &content);
        }
        form.finish()
    }
}

/// A `multipart/form-data` body (RFC 7578) being written.
struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Multipart {
    fn new(boundary: &str) -> Multipart {
        Multipart {
            boundary: boundary.to_string(),
            body: Vec::new(),
        }
    }

    fn start_part(&mut self, disposition: &str, content_type: Option<&str>) {
        self.body.extend_from_slice(b"--");
        self.body.extend_from_slice(self.boundary.as_bytes());
        self.body
            .extend_from_slice(b"\r\nContent-Disposition: form-data; ");
        self.body.extend_from_slice(disposition.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        if let Some(content_type) = content_type {
            self.body.extend_from_slice(b"Content-Type: ");
            self.body.extend_from_slice(content_type.as_bytes());
            self.body.extend_from_slice(b"\r\n");
        }
        self.body.extend_from_slice(b"\r\n");
    }

    fn text(&mut self, name: &str, value: &str) {
        self.start_part(&format!("name=\"{}\"", quoted(name)), None);
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
    }

    fn file(&mut self, name: &str, filename: &str, content_type: &str, content: &[u8]) {
        // The type comes from the mail: anything not a plain `type/subtype` token is not
        // repeated into the part's header.
        let content_type = if !content_type.is_empty()
            && content_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/.+-_".contains(&b))
        {
            content_type
        } else {
            "application/octet-stream"
        };
        self.start_part(
            &format!(
                "name=\"{}\"; filename=\"{}\"",
                quoted(name),
                quoted(filename)
            ),
            Some(content_type),
        );
        self.body.extend_from_slice(content);
        self.body.extend_from_slice(b"\r\n");
    }

    fn finish(mut self) -> (String, Vec<u8>) {
        self.body.extend_from_slice(b"--");
        self.body.extend_from_slice(self.boundary.as_bytes());
        self.body.extend_from_slice(b"--\r\n");
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

/// A name for a quoted parameter, escaped as browsers do it (the HTML standard's form
/// encoding): `"` and line breaks percent-encoded, other control characters dropped, UTF-8
/// kept as it is.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("%22"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_cannot_break_out_of_their_parameter() {
        assert_eq!(quoted("a\"b\r\nc\0d.txt"), "a%22b%0D%0Acd.txt");
        assert_eq!(quoted("見積書.pdf"), "見積書.pdf");
    }
}
