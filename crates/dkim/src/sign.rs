//! The DKIM-Signature fields of a message (RFC 6376 section 5): relaxed/relaxed, SHA-256, one
//! body hash for every signature, no `l=`.

use crate::SignError;
use crate::canon::{relaxed_body_hash, relaxed_header};
use crate::header::{Parsed, SIGNED_FIELDS};
use crate::key::PrivateKey;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// One key of a domain, under its selector.
#[derive(Debug)]
pub struct SigningKey {
    /// `d=`: the signing domain, lower case.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    pub key: PrivateKey,
}

/// Signs messages with one or more keys (two for a `dual` domain).
#[derive(Debug)]
pub struct Signer {
    keys: Vec<SigningKey>,
}

/// Signature fields are folded to stay under this many characters a line (RFC 5322's
/// recommended 78).
const LINE: usize = 76;

impl Signer {
    pub fn new(keys: Vec<SigningKey>) -> Signer {
        Signer { keys }
    }

    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The `DKIM-Signature` fields for `message` (CRLF line ends, as spooled), each ending in
    /// CRLF, to be put above its first field; `t=` is `unix_time`. The body is hashed once
    /// for all the keys, and the signed fields canonicalised once.
    pub fn signature_fields(&self, message: &[u8], unix_time: u64) -> Result<Vec<u8>, SignError> {
        let parsed = Parsed::new(message);
        let body_hash = STANDARD.encode(relaxed_body_hash(parsed.body));
        let mut names: Vec<&str> = Vec::new();
        let mut headers = digest::Context::new(&digest::SHA256);
        let mut canonical = Vec::with_capacity(1024);
        for name in SIGNED_FIELDS {
            let mut count = 0;
            for field in parsed.named(name) {
                relaxed_header(field, &mut canonical);
                count += 1;
            }
            // From is named once more than it occurs: a From field added on the way would
            // break the signature instead of being shown under it.
            if *name == "from" {
                count += 1;
            }
            names.extend(std::iter::repeat_n(*name, count));
        }
        headers.update(&canonical);
        let mut out = Vec::with_capacity(self.keys.len() * 700);
        for key in &self.keys {
            let mut field = unsigned_field(key, &names, &body_hash, unix_time);
            let mut hashed = Vec::with_capacity(field.len());
            relaxed_header(field.as_bytes(), &mut hashed);
            // The signature's own field is hashed without its final CRLF.
            hashed.truncate(hashed.len() - 2);
            let mut context = headers.clone();
            context.update(&hashed);
            let signature = STANDARD.encode(key.key.sign_digest(&context.finish())?);
            fold_base64(&mut field, &signature);
            out.extend_from_slice(field.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Ok(out)
    }

    /// `message` with its signatures above it.
    pub fn sign(&self, message: &[u8], unix_time: u64) -> Result<Vec<u8>, SignError> {
        let fields = self.signature_fields(message, unix_time)?;
        let mut signed = Vec::with_capacity(fields.len() + message.len());
        signed.extend_from_slice(&fields);
        signed.extend_from_slice(message);
        Ok(signed)
    }
}

/// The field up to and including `b=`, folded.
fn unsigned_field(key: &SigningKey, names: &[&str], body_hash: &str, unix_time: u64) -> String {
    let mut field = String::from("DKIM-Signature:");
    let mut line = field.len();
    let put = |field: &mut String, piece: &str, line: &mut usize| {
        if *line + 1 + piece.len() > LINE {
            field.push_str("\r\n\t");
            *line = 1;
        } else {
            field.push(' ');
            *line += 1;
        }
        field.push_str(piece);
        *line += piece.len();
    };
    for tag in [
        "v=1;".to_string(),
        format!("a={};", key.key.algorithm().signature_algorithm()),
        "c=relaxed/relaxed;".to_string(),
        format!("d={};", key.domain),
        format!("s={};", key.selector),
        format!("t={unix_time};"),
    ] {
        put(&mut field, &tag, &mut line);
    }
    // h= may be long: it folds before a colon, where RFC 6376 allows white space.
    for (i, name) in names.iter().enumerate() {
        let piece = match (i, i + 1 == names.len()) {
            (0, true) => format!("h={name};"),
            (0, false) => format!("h={name}"),
            (_, true) => format!(":{name};"),
            (_, false) => format!(":{name}"),
        };
        if i == 0 || line + piece.len() > LINE {
            put(&mut field, &piece, &mut line);
        } else {
            field.push_str(&piece);
            line += piece.len();
        }
    }
    put(&mut field, &format!("bh={body_hash};"), &mut line);
    put(&mut field, "b=", &mut line);
    field
}

/// Appends the signature after `b=`, folded; white space inside `b=` is ignored by verifiers.
fn fold_base64(field: &mut String, signature: &str) {
    let line = field.len() - field.rfind('\n').map_or(0, |i| i + 1);
    let first = LINE.saturating_sub(line).min(signature.len());
    field.push_str(&signature[..first]);
    for chunk in signature.as_bytes()[first..].chunks(LINE - 1) {
        field.push_str("\r\n\t");
        field.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KeyAlgorithm, PrivateKey};

    fn signer(algorithms: &[KeyAlgorithm]) -> Signer {
        Signer::new(
            algorithms
                .iter()
                .enumerate()
                .map(|(i, &a)| SigningKey {
                    domain: "example.jp".into(),
                    selector: format!("sel{i}"),
                    key: PrivateKey::generate(a).unwrap(),
                })
                .collect(),
        )
    }

    fn tag<'a>(field: &'a str, name: &str) -> &'a str {
        let unfolded = field;
        unfolded
            .split(';')
            .find_map(|t| {
                let (n, v) = t.split_once('=')?;
                (n.trim() == name).then_some(v.trim())
            })
            .unwrap_or_else(|| panic!("no {name}= in {field}"))
    }

    #[test]
    fn only_present_fields_are_signed_from_once_more() {
        let message = b"Received: from x\r\nFrom: a@example.jp\r\nTo: b@example.net\r\n\
            To: c@example.net\r\nSubject: hi\r\nX-Mailer: y\r\nMessage-ID: <1@example.jp>\r\n\
            List-Unsubscribe: <https://u.example/1>\r\n\r\nbody\r\n";
        let fields = signer(&[KeyAlgorithm::Ed25519])
            .signature_fields(message, 1_700_000_000)
            .unwrap();
        let text = String::from_utf8(fields).unwrap();
        let unfolded = text.replace("\r\n\t", "");
        assert_eq!(
            tag(&unfolded, "h"),
            "from:from:to:to:subject:message-id:list-unsubscribe"
        );
        assert_eq!(tag(&unfolded, "t"), "1700000000");
        assert_eq!(tag(&unfolded, "c"), "relaxed/relaxed");
        assert_eq!(tag(&unfolded, "a"), "ed25519-sha256");
        assert!(!unfolded.contains(" l="), "{text}");
        assert!(text.lines().all(|l| l.len() <= 78), "{text}");
        assert!(text.starts_with("DKIM-Signature: v=1;") && text.ends_with("\r\n"));
    }

    #[test]
    fn dual_signatures_share_one_body_hash() {
        let message = b"From: a@example.jp\r\nSubject: dual\r\n\r\nbody  text \r\n\r\n";
        let fields = signer(&[KeyAlgorithm::Rsa2048, KeyAlgorithm::Ed25519])
            .signature_fields(message, 1)
            .unwrap();
        let text = String::from_utf8(fields).unwrap().replace("\r\n\t", "");
        let signatures: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(signatures.len(), 2, "{text}");
        assert_eq!(tag(signatures[0], "a"), "rsa-sha256");
        assert_eq!(tag(signatures[1], "a"), "ed25519-sha256");
        let want = STANDARD.encode(digest::digest(&digest::SHA256, b"body text\r\n"));
        assert_eq!(tag(signatures[0], "bh"), want);
        assert_eq!(tag(signatures[1], "bh"), want);
    }

    /// The signature verifies under the public key over exactly the hash input RFC 6376
    /// prescribes, built here independently of the signer's own code path.
    #[test]
    fn ed25519_signatures_verify_over_the_prescribed_input() {
        let signer = signer(&[KeyAlgorithm::Ed25519]);
        let message = b"From: A <a@example.jp>\r\nSubject:  two\r\n  lines\r\n\r\nHi\r\n";
        let field = String::from_utf8(signer.signature_fields(message, 5).unwrap()).unwrap();
        let unfolded = field.trim_end().replace("\r\n\t", " ");
        let b = tag(&unfolded, "b").replace(' ', "");
        let without_b = &unfolded[..unfolded.find("b=").unwrap() + 2];
        let mut input = b"from:A <a@example.jp>\r\nsubject:two lines\r\n".to_vec();
        let mut own = Vec::new();
        relaxed_header(without_b.as_bytes(), &mut own);
        input.extend_from_slice(&own[..own.len() - 2]);
        let hash = digest::digest(&digest::SHA256, &input);
        let public = STANDARD
            .decode(signer.keys()[0].key.public_key_base64())
            .unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, public)
            .verify(hash.as_ref(), &STANDARD.decode(b).unwrap())
            .unwrap();
    }
}
