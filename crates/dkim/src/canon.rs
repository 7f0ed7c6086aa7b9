//! The "relaxed" canonicalisations of RFC 6376 section 3.4: of one header field (3.4.2) and of
//! the body (3.4.4), the latter fed straight into a hash in one pass.

use aws_lc_rs::digest;

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Appends the relaxed form of one header field (`name:value`, folded or not, with or without
/// its final CRLF) to `out`, ending with CRLF: the name in lower case, line breaks removed,
/// runs of white space turned into one space, none at the ends of the value or around the
/// colon.
pub fn relaxed_header(field: &[u8], out: &mut Vec<u8>) {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    let name = field[..colon].trim_ascii();
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let value = field.get(colon + 1..).unwrap_or_default();
    let mut pending_space = false;
    let mut wrote = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => pending_space = true,
            _ => {
                if pending_space && wrote {
                    out.push(b' ');
                }
                pending_space = false;
                wrote = true;
                out.push(b);
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// How much canonical body is gathered before it goes to the hash: hashing in blocks of a few
/// KiB costs no more than one call, and the buffer never holds more than this of the message.
const CHUNK: usize = 8192;

/// The hash of the relaxed body: lines end at LF (an optional CR before it belongs to the line
/// ending), white space at line ends is dropped and runs of it become one space, and empty
/// lines at the end are dropped. A body that is then empty hashes as empty (RFC 6376 errata
/// 3133); any other ends with one CRLF.
pub fn relaxed_body_hash(body: &[u8]) -> digest::Digest {
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut out = Vec::with_capacity(CHUNK + 4);
    // Empty lines seen but not yet written: written only once a non-empty line follows.
    let mut empty_lines = 0usize;
    for line in body.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let mut pending_space = false;
        let mut started = false;
        for &b in content {
            if is_wsp(b) {
                pending_space = true;
                continue;
            }
            if !started {
                for _ in 0..empty_lines {
                    out.extend_from_slice(b"\r\n");
                    if out.len() >= CHUNK {
                        hasher.update(&out);
                        out.clear();
                    }
                }
                empty_lines = 0;
                started = true;
            }
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
        }
        if started {
            out.extend_from_slice(b"\r\n");
        } else {
            empty_lines += 1;
        }
        if out.len() >= CHUNK {
            hasher.update(&out);
            out.clear();
        }
    }
    hasher.update(&out);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn header_fields_are_relaxed() {
        let table: [(&str, &str); 8] = [
            ("Subject: Hello\r\n", "subject:Hello\r\n"),
            ("SUBJECT :  Hello   World  \r\n", "subject:Hello World\r\n"),
            (
                "Subject: a long\r\n\tfolded\r\n   subject\r\n",
                "subject:a long folded subject\r\n",
            ),
            ("To:\tx@example.jp", "to:x@example.jp\r\n"),
            ("X-Empty:\r\n", "x-empty:\r\n"),
            ("X-Empty:   \r\n", "x-empty:\r\n"),
            ("From: \"A  B\" <a@b.jp>\r\n", "from:\"A B\" <a@b.jp>\r\n"),
            (
                "Subject: =?UTF-8?B?5pel5pys?=\r\n =?UTF-8?B?6Kqe?=\r\n",
                "subject:=?UTF-8?B?5pel5pys?= =?UTF-8?B?6Kqe?=\r\n",
            ),
        ];
        for (field, want) in table {
            let mut out = Vec::new();
            relaxed_header(field.as_bytes(), &mut out);
            assert_eq!(String::from_utf8_lossy(&out), want, "{field:?}");
        }
    }

    /// Each body against the hash of its relaxed form written out by hand, and the empty body
    /// against RFC 6376's own value (section 3.4.4 with errata 3133: the empty string).
    #[test]
    fn bodies_are_relaxed_in_one_pass() {
        let table: [(&[u8], &[u8]); 12] = [
            (b"", b""),
            (b"\r\n", b""),
            (b"\r\n\r\n\r\n", b""),
            (b"Hi\r\n", b"Hi\r\n"),
            (b"Hi", b"Hi\r\n"),
            (b"Hi  there \t\r\n", b"Hi there\r\n"),
            (b" C \r\nD \t E\r\n\r\n\r\n", b" C\r\nD E\r\n"),
            (b"a\r\n\r\n\r\nb\r\n\r\n", b"a\r\n\r\n\r\nb\r\n"),
            (b"a\r\n \t \r\nb\r\n", b"a\r\n\r\nb\r\n"),
            (b"LF only\nlines\n\n", b"LF only\r\nlines\r\n"),
            (
                "日本語  の\t本文\r\n".as_bytes(),
                "日本語 の 本文\r\n".as_bytes(),
            ),
            (b"\xe9t\xe9 \t\r\n\r\n", b"\xe9t\xe9\r\n"),
        ];
        for (body, canonical) in table {
            let want = digest::digest(&digest::SHA256, canonical);
            assert_eq!(
                relaxed_body_hash(body).as_ref(),
                want.as_ref(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let empty = base64::engine::general_purpose::STANDARD.encode(relaxed_body_hash(b""));
        assert_eq!(empty, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    /// A body far larger than the hashing buffer, with runs of empty lines across its
    /// boundaries, hashes as its canonical form written out whole.
    #[test]
    fn long_bodies_hash_across_chunks() {
        let mut body = Vec::new();
        let mut canonical = Vec::new();
        for i in 0..5000 {
            body.extend_from_slice(format!("line {i}   with\t\tspace  \r\n").as_bytes());
            canonical.extend_from_slice(format!("line {i} with space\r\n").as_bytes());
            if i % 7 == 0 {
                body.extend_from_slice(b"\r\n \r\n");
                canonical.extend_from_slice(b"\r\n\r\n");
            }
        }
        body.extend_from_slice(b"\r\n\r\n");
        let want = digest::digest(&digest::SHA256, &canonical);
        assert_eq!(relaxed_body_hash(&body).as_ref(), want.as_ref());
    }
}
