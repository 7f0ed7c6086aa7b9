//! The `multipart/signed` form of a message (RFC 1847, RFC 8551 §3.5): the content header
//! fields move into the first body part, which is signed exactly as it is written (canonical
//! CRLF lines); the other header fields stay where they were.

use crate::SignError;
use crate::signer::Signer;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::time::SystemTime;

/// The media type of the signature part.
pub const SIGNATURE_CONTENT_TYPE: &str = "application/pkcs7-signature";

/// Base64 lines of the signature part: the 76 characters MIME allows.
const BASE64_LINE: usize = 76;

/// `message` with every line ending made CRLF (a bare LF or a bare CR becomes CRLF): the
/// canonical form that S/MIME signs, so that what is hashed is what is sent.
fn canonical_crlf(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let bare = message.iter().enumerate().any(|(i, &b)| {
        (b == b'\n' && (i == 0 || message[i - 1] != b'\r'))
            || (b == b'\r' && message.get(i + 1) != Some(&b'\n'))
    });
    if !bare {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len() + message.len() / 32);
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if message.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// The header section's fields, each with its folded continuation lines and its final CRLF,
/// and the body after the empty line. A message without an empty line is all header.
pub fn split_header_section(message: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    let mut field_start = None;
    while at < message.len() {
        let line_end = message[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(message.len(), |p| at + p + 2);
        let line = &message[at..line_end];
        if line == b"\r\n" {
            if let Some(start) = field_start {
                fields.push(&message[start..at]);
            }
            return (fields, &message[line_end..]);
        }
        let continuation = matches!(line[0], b' ' | b'\t');
        if !continuation {
            if let Some(start) = field_start {
                fields.push(&message[start..at]);
            }
            field_start = Some(at);
        } else if field_start.is_none() {
            // A continuation before any field: keep it as a field of its own rather than lose it.
            field_start = Some(at);
        }
        at = line_end;
    }
    if let Some(start) = field_start {
        fields.push(&message[start..]);
    }
    (fields, &message[message.len()..])
}

/// The field's name, as written before the colon.
fn field_name(field: &[u8]) -> &[u8] {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    field[..colon].trim_ascii_end()
}

/// The fields that describe the content and so travel with it into the signed part.
fn is_content_field(field: &[u8]) -> bool {
    let name = field_name(field);
    name.len() > 8 && name[..8].eq_ignore_ascii_case(b"content-")
}

fn has_field(fields: &[&[u8]], name: &str) -> bool {
    fields
        .iter()
        .any(|f| field_name(f).eq_ignore_ascii_case(name.as_bytes()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl Signer {
    /// The message, signed: its header section without the content fields, a
    /// `multipart/signed` content type, the original content (its content fields and body,
    /// with CRLF line endings) as the first part, and the detached signature made at `at` as
    /// the second.
    pub fn sign_message(&self, message: &[u8], at: SystemTime) -> Result<Vec<u8>, SignError> {
        let message = canonical_crlf(message);
        let (fields, body) = split_header_section(&message);
        let mut signed_part = Vec::with_capacity(body.len() + 512);
        for field in fields.iter().filter(|f| is_content_field(f)) {
            signed_part.extend_from_slice(field);
        }
        signed_part.extend_from_slice(b"\r\n");
        signed_part.extend_from_slice(body);
        let digest = digest::digest(&digest::SHA256, &signed_part);
        let signature = crate::cms_build::detached_signature(self, digest.as_ref(), at)?;

        let boundary = boundary_for(digest.as_ref(), &signed_part);
        let mut out = Vec::with_capacity(signed_part.len() + signature.len() * 4 / 3 + 1024);
        for field in fields.iter().filter(|f| !is_content_field(f)) {
            out.extend_from_slice(field);
        }
        if !has_field(&fields, "mime-version") {
            out.extend_from_slice(b"MIME-Version: 1.0\r\n");
        }
        out.extend_from_slice(
            format!(
                "Content-Type: multipart/signed; protocol=\"{SIGNATURE_CONTENT_TYPE}\";\r\n\
                 \tmicalg=sha-256; boundary=\"{boundary}\"\r\n\
                 \r\n\
                 This is an S/MIME signed message.\r\n\
                 \r\n\
                 --{boundary}\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(&signed_part);
        out.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\n\
                 Content-Type: {SIGNATURE_CONTENT_TYPE}; name=\"smime.p7s\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\
                 \r\n"
            )
            .as_bytes(),
        );
        let encoded = BASE64.encode(&signature);
        for line in encoded.as_bytes().chunks(BASE64_LINE) {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        Ok(out)
    }
}

/// A boundary that does not occur in the signed part: taken from the part's own digest, so
/// the same message gets the same boundary, and lengthened in the (practically impossible)
/// case that the part contains it.
fn boundary_for(digest: &[u8], signed_part: &[u8]) -> String {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut boundary = format!("----=_smime_{}", &hex[..24]);
    let mut extra = 24;
    while contains(signed_part, boundary.as_bytes()) && extra < hex.len() {
        extra += 8;
        boundary = format!("----=_smime_{}", &hex[..extra]);
    }
    boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_become_crlf() {
        let table: [(&[u8], &[u8]); 6] = [
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\rb\r", b"a\r\nb\r\n"),
            (b"a\r\r\nb", b"a\r\n\r\nb"),
            (b"\n\n", b"\r\n\r\n"),
            (b"", b""),
        ];
        for (input, want) in table {
            assert_eq!(
                canonical_crlf(input).as_ref(),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn header_section_splits_into_folded_fields_and_body() {
        let message = b"From: a@x.jp\r\nSubject: long\r\n\tfolded\r\nContent-Type: text/plain\r\n\r\nbody\r\n\r\nmore\r\n";
        let (fields, body) = split_header_section(message);
        assert_eq!(
            fields,
            [
                &b"From: a@x.jp\r\n"[..],
                b"Subject: long\r\n\tfolded\r\n",
                b"Content-Type: text/plain\r\n"
            ]
        );
        assert_eq!(body, b"body\r\n\r\nmore\r\n");

        let (fields, body) = split_header_section(b"Subject: only a header\r\n");
        assert_eq!(fields, [&b"Subject: only a header\r\n"[..]]);
        assert_eq!(body, b"");
        let (fields, body) = split_header_section(b"\r\nbody only");
        assert!(fields.is_empty());
        assert_eq!(body, b"body only");
    }

    #[test]
    fn content_fields_are_the_content_dash_ones() {
        let table: [(&[u8], bool); 7] = [
            (b"Content-Type: text/plain\r\n", true),
            (b"content-transfer-encoding: 8bit\r\n", true),
            (b"CONTENT-DISPOSITION : inline\r\n", true),
            (b"Content-ID: <x@y>\r\n", true),
            (b"MIME-Version: 1.0\r\n", false),
            (b"X-Content-Type: spoof\r\n", false),
            (b"Content: not a MIME field\r\n", false),
        ];
        for (field, want) in table {
            assert_eq!(
                is_content_field(field),
                want,
                "{}",
                String::from_utf8_lossy(field)
            );
        }
    }

    #[test]
    fn the_boundary_never_occurs_in_the_part() {
        let digest = [0xabu8; 32];
        let first = boundary_for(&digest, b"");
        let part = format!("text that quotes {first} on purpose");
        let second = boundary_for(&digest, part.as_bytes());
        assert_ne!(first, second);
        assert!(!part.contains(&second));
    }
}
