//! What must hold for any input, however hostile (`feature = "test-util"`): the body of the
//! `bounce_analyse` fuzz target, shared by `cargo fuzz` and the stable harness; and the
//! changes that must not change a bounce's verdict ([`PERTURBATIONS`]), shared by the
//! `perturb` example (over any corpus) and the golden files' test; and the plain Postfix
//! notice the tables of reply texts wrap their rows in ([`postfix_text_notice`]).

/// Analyses `data` as a returned message: it must not panic, every record must carry
/// well-formed codes and name a recipient, except a complaint's (reason `feedback`), which
/// counts even when it names nobody: the return path it came to names message and recipient.
pub fn check_analysis(data: &[u8]) -> Result<(), String> {
    let analysis = crate::analyse(data);
    for record in &analysis.records {
        if record.recipient.is_empty() && record.reason != crate::Reason::Feedback {
            return Err(format!(
                "a {} record without a recipient",
                record.reason.as_str()
            ));
        }
        if let Some(status) = &record.status {
            let parts: Vec<&str> = status.split('.').collect();
            let digits = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            if parts.len() != 3 || !parts.iter().all(digits) {
                return Err(format!("malformed status {status:?}"));
            }
        }
        if let Some(code) = &record.reply_code
            && !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!("malformed reply code {code:?}"));
        }
    }
    Ok(())
}

/// A change that keeps the meaning of a bounce, and how it renames the records' recipients.
/// A held-out bounce from a known source differs from the ones we have mostly in such details
/// (line ends, the addresses, the header fields the delivering MTAs put on top), so a verdict
/// that moves with them rests on something that will not generalise.
pub struct Perturbation {
    pub name: &'static str,
    apply: fn(&[u8], &[String]) -> Vec<u8>,
    rename: fn(&str) -> String,
}

/// One record's verdict as compared: recipient (lower case), reason, status, reply code.
pub type Verdict = (String, String, String, String);

/// What a perturbation did to one message.
pub struct Outcome {
    /// Whether it changed the message's bytes at all (one that changes none tests nothing).
    pub altered: bool,
    /// The verdicts before, with the recipients renamed as the perturbation renames them.
    pub expected: Vec<Verdict>,
    pub got: Vec<Verdict>,
}

impl Perturbation {
    /// Reads `raw` perturbed; `before` is [`verdicts`] of `raw` as it is, read once for all
    /// the perturbations.
    pub fn try_on(&self, raw: &[u8], before: &[Verdict]) -> Outcome {
        let recipients: Vec<String> = before.iter().map(|v| v.0.clone()).collect();
        let mut expected: Vec<Verdict> = before
            .iter()
            .map(|(r, a, b, c)| ((self.rename)(r), a.clone(), b.clone(), c.clone()))
            .collect();
        expected.sort();
        let changed = (self.apply)(raw, &recipients);
        Outcome {
            altered: changed != raw,
            expected,
            got: verdicts(&changed),
        }
    }
}

fn keep(recipient: &str) -> String {
    recipient.to_string()
}

/// Every line ended with CR LF, as a bounce received over SMTP is.
fn crlf(raw: &[u8], _: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut previous = 0;
    for &b in raw {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

/// What the receiving MTA puts on top of a message it delivers to a mailbox (under an mbox
/// separator line, if the message has one).
fn delivered_on_top(raw: &[u8], _: &[String]) -> Vec<u8> {
    let separator = if raw.starts_with(b"From ") {
        raw.iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| i + 1)
    } else {
        0
    };
    let mut out = raw[..separator].to_vec();
    out.extend_from_slice(
        b"Return-Path: <>\nDelivered-To: bounces@errors.example.net\n\
Received: from mx.sender.example (mx.sender.example [192.0.2.25])\n\
\tby errors.example.net (Hikyaku) with ESMTPS id 4f1c2a9e\n\
\tfor <bounces@errors.example.net>; Mon, 7 Dec 2026 10:00:00 +0000\n",
    );
    out.extend_from_slice(&raw[separator..]);
    out
}

/// An mbox separator line before the message, as a mailbox file keeps it.
fn mbox_line(raw: &[u8], _: &[String]) -> Vec<u8> {
    let mut out = b"From MAILER-DAEMON Mon Dec  7 10:00:00 2026\n".to_vec();
    out.extend_from_slice(raw);
    out
}

fn renamed_local(recipient: &str) -> String {
    match recipient.split_once('@') {
        Some((local, domain)) if local.len() >= 3 => format!("zq{local}x@{domain}"),
        _ => recipient.to_string(),
    }
}

/// Each recipient's address (as the records name it, any case) given another local part.
fn rename(raw: &[u8], recipients: &[String]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(raw).into_owned();
    for r in recipients {
        let new = renamed_local(r);
        if new == *r {
            continue;
        }
        let lower = text.to_ascii_lowercase();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        while let Some(found) = lower[at..].find(r.as_str()) {
            out.push_str(&text[at..at + found]);
            out.push_str(&new);
            at += found + r.len();
        }
        out.push_str(&text[at..]);
        text = out;
    }
    text.into_bytes()
}

/// Each `Diagnostic-Code:` field unfolded and folded again at another width: a longer or
/// shorter reply from the same MTA folds at other words.
fn refold(raw: &[u8], _: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len() + 64);
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if !line.to_ascii_lowercase().starts_with("diagnostic-code:") {
            out.push_str(line);
            continue;
        }
        let mut field = line.trim_end().to_string();
        while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
            field.push(' ');
            field.push_str(next.trim());
            lines.next();
        }
        let mut width = 0;
        for (i, word) in field.split(' ').filter(|w| !w.is_empty()).enumerate() {
            if i > 0 && width + word.len() > 50 {
                out.push_str("\n    ");
                width = 4;
            } else if i > 0 {
                out.push(' ');
                width += 1;
            }
            out.push_str(word);
            width += word.len();
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// The name of every header field and delivery-report field in lower case: field names are
/// case-insensitive (RFC 5322 section 1.2.2, RFC 3464 section 2.1.1), and some MTAs write them so.
fn field_case(raw: &[u8], _: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match line.split_once(':') {
            Some((name, rest))
                if name.len() >= 2
                    && name.len() <= 40
                    && name.contains('-')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && rest.starts_with([' ', '\t']) =>
            {
                out.push_str(&name.to_ascii_lowercase());
                out.push(':');
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
    }
    out.into_bytes()
}

/// The value of the `boundary=` parameter in `line`, quoted or not.
fn boundary_value(line: &str) -> Option<&str> {
    let at = line.to_ascii_lowercase().find("boundary=")? + "boundary=".len();
    let rest = &line[at..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest
            .split([';', ' ', '\t', '\r', '\n'])
            .next()
            .unwrap_or_default(),
    };
    (!value.is_empty()).then_some(value)
}

/// Each MIME boundary replaced by another (in its parameter and its delimiter lines), and the
/// delimiter lines given transport padding, the white space RFC 2046 section 5.1.1 lets a
/// gateway add after them: a boundary is an arbitrary string, and its lines are found by it.
fn boundaries(raw: &[u8], _: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut renamed: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(value) = boundary_value(line)
            && !renamed.iter().any(|(old, _)| old == value)
        {
            let new = format!("=_perturbed_{}_{}", renamed.len(), value.len());
            renamed.push((value.to_string(), new));
        }
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix("\r\n") {
            Some(body) => (body, "\r\n"),
            None => line
                .strip_suffix('\n')
                .map_or((line, ""), |body| (body, "\n")),
        };
        let delimiter = renamed.iter().find_map(|(old, new)| {
            let after = body.strip_prefix("--")?.strip_prefix(old.as_str())?;
            matches!(after.trim_end(), "" | "--").then(|| format!("--{new}{}  ", after.trim_end()))
        });
        if let Some(delimiter) = delimiter {
            out.push_str(&delimiter);
        } else if let Some(value) = boundary_value(body)
            && let Some((_, new)) = renamed.iter().find(|(old, _)| old == value)
        {
            // The value where the parameter has it: a one-letter boundary is met earlier.
            let at = body
                .to_ascii_lowercase()
                .find("boundary=")
                .unwrap_or_default()
                + 9;
            out.push_str(&body[..at]);
            out.push_str(&body[at..].replacen(value, new, 1));
        } else {
            out.push_str(body);
        }
        out.push_str(end);
    }
    out.into_bytes()
}

/// Every plain-text part that is not encoded yet (the whole body when the message is plain
/// text) sent as quoted-printable, as Exchange and many Japanese MTAs send their notices:
/// soft line breaks inside long lines, `=` and 8-bit octets escaped. Returned messages are
/// left as they are.
fn quoted_printable(raw: &[u8], _: &[String]) -> Vec<u8> {
    encode_text_parts(&String::from_utf8_lossy(raw)).into_bytes()
}

/// One MIME entity (header and body) with its plain-text parts quoted-printable.
fn encode_text_parts(entity: &str) -> String {
    let eol = if entity.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    // A part may have no header at all: its first line is the blank one.
    let (header, body) = if let Some(body) = entity.strip_prefix(eol) {
        ("", body)
    } else if let Some(split) = entity.find(&format!("{eol}{eol}")) {
        (
            &entity[..split + eol.len()],
            &entity[split + 2 * eol.len()..],
        )
    } else {
        return entity.to_string();
    };
    let unfolded = header
        .replace(&format!("{eol} "), " ")
        .replace(&format!("{eol}\t"), " ");
    let content_type = unfolded
        .lines()
        .find_map(|l| {
            let lower = l.to_ascii_lowercase();
            lower
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let encoded = unfolded
        .to_ascii_lowercase()
        .contains("content-transfer-encoding:");
    if content_type.starts_with("multipart/") {
        let Some(boundary) = unfolded.lines().find_map(boundary_value) else {
            return entity.to_string();
        };
        let delimiter = format!("--{boundary}");
        let mut out = header.to_string() + eol;
        let mut part = String::new();
        let mut inside = false;
        for line in body.split_inclusive('\n') {
            if line.trim_end().starts_with(&delimiter) {
                if inside {
                    let (content, end) = match part.strip_suffix(eol) {
                        Some(content) => (content, eol),
                        None => (part.as_str(), ""),
                    };
                    out.push_str(&encode_text_parts(content));
                    out.push_str(end);
                }
                part.clear();
                inside = !line.trim_end().ends_with(&format!("{delimiter}--"));
                out.push_str(line);
            } else if inside {
                part.push_str(line);
            } else {
                out.push_str(line);
            }
        }
        out.push_str(&part);
        return out;
    }
    let plain_text = content_type.is_empty() || content_type.starts_with("text/plain");
    if !plain_text || encoded {
        return entity.to_string();
    }
    let mut out = format!("{header}Content-Transfer-Encoding: quoted-printable{eol}{eol}");
    for line in body.split_inclusive('\n') {
        let (text, end) = match line.strip_suffix(eol) {
            Some(text) => (text, eol),
            None => (
                line.strip_suffix('\n').unwrap_or(line),
                if line.ends_with('\n') { eol } else { "" },
            ),
        };
        let mut width = 0;
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let piece = if b == b'='
                || b >= 0x80
                || b < 0x20 && b != b'\t'
                || (last && (b == b' ' || b == b'\t'))
            {
                format!("={b:02X}")
            } else {
                (b as char).to_string()
            };
            if width + piece.len() > 72 {
                out.push('=');
                out.push_str(eol);
                width = 0;
            }
            out.push_str(&piece);
            width += piece.len();
        }
        out.push_str(end);
    }
    out
}

/// An extension field after each `Action:` of a delivery report: a reader must ignore the
/// fields it does not know (RFC 3464 section 2.1.1), and MTAs add their own (`X-Actual-Recipient`,
/// `X-Postfix-Sender`, `X-Supplementary-Info`).
fn report_extension(raw: &[u8], _: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if line.len() > 7 && line.as_bytes()[..7].eq_ignore_ascii_case(b"action:") {
            let eol = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            out.push_str("X-Relay-Trace: smtp; relay.example.net queued as 4f1c2a9e");
            out.push_str(eol);
        }
    }
    out.into_bytes()
}

pub const PERTURBATIONS: &[Perturbation] = &[
    Perturbation {
        name: "refold",
        apply: refold,
        rename: keep,
    },
    Perturbation {
        name: "crlf",
        apply: crlf,
        rename: keep,
    },
    Perturbation {
        name: "delivered-on-top",
        apply: delivered_on_top,
        rename: keep,
    },
    Perturbation {
        name: "mbox-line",
        apply: mbox_line,
        rename: keep,
    },
    Perturbation {
        name: "rename",
        apply: rename,
        rename: renamed_local,
    },
    Perturbation {
        name: "field-case",
        apply: field_case,
        rename: keep,
    },
    Perturbation {
        name: "boundaries",
        apply: boundaries,
        rename: keep,
    },
    Perturbation {
        name: "quoted-printable",
        apply: quoted_printable,
        rename: keep,
    },
    Perturbation {
        name: "report-extension",
        apply: report_extension,
        rename: keep,
    },
];

/// Every change of [`PERTURBATIONS`] tried on `raw`, in their order, against its verdicts as
/// read once.
pub fn try_every_change(raw: &[u8]) -> impl Iterator<Item = (&'static Perturbation, Outcome)> {
    let before = verdicts(raw);
    PERTURBATIONS
        .iter()
        .map(move |change| (change, change.try_on(raw, &before)))
}

/// Every record of `raw`, sorted.
pub fn verdicts(raw: &[u8]) -> Vec<Verdict> {
    let mut out: Vec<_> = crate::analyse(raw)
        .records
        .into_iter()
        .map(|r| {
            (
                r.recipient.to_ascii_lowercase(),
                r.reason.to_string(),
                r.status.unwrap_or_default(),
                r.reply_code.unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A Postfix notice without a delivery report, its recipients' lines given whole as `said`
/// (`<a@b>: host mx.example.org[192.0.2.25] said: 550 … (in reply to RCPT TO command)`): the
/// layout the tables of published reply texts put each of their rows in.
pub fn postfix_text_notice(said: &str) -> String {
    format!(
        "From: MAILER-DAEMON@relay.example.net (Mail Delivery System)\n\
         To: sender@example.com\n\
         Subject: Undelivered Mail Returned to Sender\n\
         \n\
         This is the mail system at host relay.example.net.\n\
         \n\
         I'm sorry to have to inform you that your message could not\n\
         be delivered to one or more recipients.\n\
         \n\
         {said}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_renamed_in_their_parameter_and_delimiter_lines_only() {
        let raw = b"Content-Type: multipart/report; boundary=b\n\n--b\nContent-Type: text/plain\n\nby b\n--b--\n";
        let got = String::from_utf8(boundaries(raw, &[])).unwrap();
        assert_eq!(
            got,
            "Content-Type: multipart/report; boundary==_perturbed_0_1\n\n--=_perturbed_0_1  \nContent-Type: text/plain\n\nby b\n--=_perturbed_0_1--  \n"
        );
    }

    #[test]
    fn plain_text_parts_are_sent_quoted_printable_and_other_parts_are_not() {
        let long = "x".repeat(80);
        let raw = format!(
            "Subject: a\n\n--b\n\n1=1 \u{3042}\n{long}\n--b\nContent-Type: message/delivery-status\n\nStatus: 5.0.0\n--b--\n"
        )
        .replace("Subject: a\n\n", "Content-Type: multipart/report; boundary=b\n\n");
        let got = String::from_utf8(quoted_printable(raw.as_bytes(), &[])).unwrap();
        assert_eq!(
            got,
            format!(
                "Content-Type: multipart/report; boundary=b\n\n--b\nContent-Transfer-Encoding: quoted-printable\n\n\
                 1=3D1 =E3=81=82\n{}=\n{}\n--b\nContent-Type: message/delivery-status\n\nStatus: 5.0.0\n--b--\n",
                "x".repeat(72),
                "x".repeat(8)
            )
        );
    }
}
