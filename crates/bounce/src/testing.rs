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

/// A change to a bounce, what it should then say, and what of that must hold. Most changes keep
/// the meaning (a held-out bounce from a known source differs from the ones we have mostly in
/// such details: line ends, the addresses, the header fields the delivering MTAs put on top),
/// so a verdict that moves with them rests on something that will not generalise; some change
/// the structure (one more recipient, a part less) and say how the records should follow.
pub struct Perturbation {
    pub name: &'static str,
    /// Whether it changes only messages with a delivery report (so alters fewer of them).
    pub reports_only: bool,
    apply: fn(&[u8], &[Verdict]) -> Vec<u8>,
    /// The records the changed message should give, from the original's and its bytes.
    expect: fn(&[Verdict], &[u8]) -> Vec<Verdict>,
    /// Whether what was read (second) agrees with what was expected (first) in what must hold
    /// (the third is the message before the change).
    agree: fn(&[Verdict], &[Verdict], &[u8]) -> bool,
}

/// One record's verdict as compared: recipient (lower case), reason, status, reply code, action.
pub type Verdict = (String, String, String, String, String);

/// What a perturbation did to one message.
pub struct Outcome {
    /// Whether it changed the message's bytes at all (one that changes none tests nothing).
    pub altered: bool,
    /// The verdicts the changed message should give (sorted).
    pub expected: Vec<Verdict>,
    pub got: Vec<Verdict>,
    /// Whether `got` agrees with `expected` in what the perturbation holds must not move
    /// (everything, for most; see each perturbation).
    pub agrees: bool,
}

impl Outcome {
    /// Whether anything moved at all, also what the perturbation does not hold to.
    pub fn exact(&self) -> bool {
        self.got == self.expected
    }
}

impl Perturbation {
    /// Reads `raw` perturbed; `before` is [`verdicts`] of `raw` as it is, read once for all
    /// the perturbations.
    pub fn try_on(&self, raw: &[u8], before: &[Verdict]) -> Outcome {
        let changed = (self.apply)(raw, before);
        // A change that changed nothing expects nothing new.
        let mut expected = if changed == raw {
            before.to_vec()
        } else {
            (self.expect)(before, raw)
        };
        expected.sort();
        let got = verdicts(&changed);
        Outcome {
            altered: changed != raw,
            agrees: (self.agree)(&expected, &got, raw),
            expected,
            got,
        }
    }
}

fn unchanged(before: &[Verdict], _: &[u8]) -> Vec<Verdict> {
    before.to_vec()
}

fn equal(expected: &[Verdict], got: &[Verdict], _: &[u8]) -> bool {
    expected == got
}

/// The bytes as characters one for one (Latin-1), so that a rewrite of the ASCII structure
/// keeps every other byte as it was: `from_utf8_lossy` would turn each byte of a Shift_JIS,
/// EUC-JP or Latin-1 text that is not UTF-8 into U+FFFD, a change the perturbation did not mean.
fn chars_of(raw: &[u8]) -> String {
    raw.iter().map(|&b| char::from(b)).collect()
}

/// [`chars_of`] undone: every character is below U+0100, being a byte or ASCII put in.
fn bytes_of(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a rewrite put in only ASCII"))
        .collect()
}

/// Every line ended with CR LF, as a bounce received over SMTP is.
fn crlf(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
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
fn delivered_on_top(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
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
fn mbox_line(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
    let mut out = b"From MAILER-DAEMON Mon Dec  7 10:00:00 2026\n".to_vec();
    out.extend_from_slice(raw);
    out
}

/// The records with their recipients renamed as [`rename`] renames them.
fn renamed(before: &[Verdict], _: &[u8]) -> Vec<Verdict> {
    before
        .iter()
        .map(|(r, a, b, c, d)| (renamed_local(r), a.clone(), b.clone(), c.clone(), d.clone()))
        .collect()
}

fn renamed_local(recipient: &str) -> String {
    match recipient.split_once('@') {
        Some((local, domain)) if local.len() >= 3 => format!("zq{local}x@{domain}"),
        _ => recipient.to_string(),
    }
}

/// Each recipient's address (as the records name it, any case) given another local part.
fn rename(raw: &[u8], before: &[Verdict]) -> Vec<u8> {
    let mut text = chars_of(raw);
    for (r, ..) in before {
        let new = chars_of(renamed_local(r).as_bytes());
        let r = &chars_of(r.as_bytes());
        if new == *r {
            continue;
        }
        text = replace_any_case(&text, r, &new);
    }
    bytes_of(&text)
}

/// Each `Diagnostic-Code:` field unfolded and folded again at another width: a longer or
/// shorter reply from the same MTA folds at other words.
fn refold(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
    let text = chars_of(raw);
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
    bytes_of(&out)
}

/// The name of every header field and delivery-report field in lower case: field names are
/// case-insensitive (RFC 5322 section 1.2.2, RFC 3464 section 2.1.1), and some MTAs write them so.
fn field_case(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
    let text = chars_of(raw);
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
    bytes_of(&out)
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
fn boundaries(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
    let text = chars_of(raw);
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
    bytes_of(&out)
}

/// Every plain-text part that is not encoded yet (the whole body when the message is plain
/// text) sent as quoted-printable, as Exchange and many Japanese MTAs send their notices:
/// soft line breaks inside long lines, `=` and 8-bit octets escaped. Returned messages are
/// left as they are.
fn quoted_printable(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
    bytes_of(&encode_text_parts(&chars_of(raw)))
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
        // One character per byte (`chars_of`): escaped as the byte it stands for.
        let bytes: Vec<u8> = bytes_of(text);
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
fn report_extension(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
    let text = chars_of(raw);
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if line.len() > 7 && line.as_bytes()[..7].eq_ignore_ascii_case(b"action:") {
            let eol = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            out.push_str("X-Relay-Trace: smtp; relay.example.net queued as 4f1c2a9e");
            out.push_str(eol);
        }
    }
    bytes_of(&out)
}

/// One body part of a multipart entity, as line indices of the message.
struct Part {
    /// The boundary of the multipart it is a part of.
    boundary: String,
    /// Its delimiter line.
    delimiter: usize,
    /// The first line of its body (after its header and the blank line).
    body: usize,
    /// The next delimiter line of the same boundary (the part ends before it).
    end: usize,
    /// Its media type in lower case (`text/plain` when it says none).
    media_type: String,
    /// Whether its body is base64 or quoted-printable, which these changes do not read.
    encoded: bool,
}

/// Every body part of every multipart in `lines`, found by the boundaries the message declares.
fn parts(lines: &[&str]) -> Vec<Part> {
    let mut boundaries: Vec<&str> = Vec::new();
    for line in lines {
        if let Some(b) = boundary_value(line)
            && !boundaries.contains(&b)
        {
            boundaries.push(b);
        }
    }
    let mut out = Vec::new();
    for boundary in boundaries {
        let delimiters: Vec<(usize, bool)> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, line)| {
                let after = line.strip_prefix("--")?.strip_prefix(boundary)?;
                match after.trim_end() {
                    "" => Some((i, false)),
                    "--" => Some((i, true)),
                    _ => None,
                }
            })
            .collect();
        for pair in delimiters.windows(2) {
            let ((start, closing), (end, _)) = (pair[0], pair[1]);
            if closing {
                continue;
            }
            let body = (start + 1..end)
                .find(|&i| lines[i].trim_end().is_empty())
                .map_or(end, |i| i + 1);
            let header = lines[start + 1..body.saturating_sub(1).max(start + 1)]
                .iter()
                .map(|l| l.trim_end())
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            let field = |name: &str| {
                header
                    .split(name)
                    .nth(1)
                    .map(|v| v.trim_start().split([';', ' ']).next().unwrap_or_default())
                    .unwrap_or_default()
                    .to_string()
            };
            let media_type = field("content-type:");
            let encoding = field("content-transfer-encoding:");
            out.push(Part {
                boundary: boundary.to_string(),
                delimiter: start,
                body,
                end,
                media_type: if media_type.is_empty() {
                    "text/plain".to_string()
                } else {
                    media_type
                },
                encoded: matches!(encoding.as_str(), "base64" | "quoted-printable"),
            });
        }
    }
    out
}

fn is_delivery_status(part: &Part) -> bool {
    !part.encoded
        && matches!(
            part.media_type.as_str(),
            "message/delivery-status" | "message/global-delivery-status"
        )
}

/// The address a `Final-Recipient:` or `Original-Recipient:` line names, in lower case.
fn report_address(line: &str, field: &str) -> Option<String> {
    let lower = line.trim_end().to_ascii_lowercase();
    let value = lower.strip_prefix(field)?;
    let value = value.split_once(';').map_or(value, |(_, a)| a);
    let address = value.trim().trim_start_matches('<').trim_end_matches('>');
    address.contains('@').then(|| address.to_string())
}

/// The lines of the last recipient block of the first delivery report in `lines` (from its
/// first field to its last line) and the address its `Final-Recipient:` names.
fn last_recipient_block(lines: &[&str]) -> Option<(usize, usize, String)> {
    let report = parts(lines).into_iter().find(is_delivery_status)?;
    let (at, address) = (report.body..report.end)
        .rev()
        .find_map(|i| Some((i, report_address(lines[i], "final-recipient:")?)))?;
    let blank = |i: &usize| lines[*i].trim_end().is_empty();
    let start = (report.body..at)
        .rev()
        .find(blank)
        .map_or(report.body, |i| i + 1);
    let end = (at..report.end).find(blank).unwrap_or(report.end);
    Some((start, end, address))
}

/// The local part of [`second_recipient`]'s new address (by which its record is told apart).
const SECOND_LOCAL: &str = "second-rcpt";

/// The address [`second_recipient`] gives its new recipient: another at the same domain.
fn second_address(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    Some(format!("{SECOND_LOCAL}@{domain}"))
}

/// `text` with every `old` (any case) replaced by `new`.
fn replace_any_case(text: &str, old: &str, new: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let old = old.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(&old) {
        out.push_str(&text[at..at + found]);
        out.push_str(new);
        at += found + old.len();
    }
    out.push_str(&text[at..]);
    out
}

/// One more recipient in a delivery report: a copy of its last recipient block (where that
/// names a recipient the records give) with the address replaced by another at the same
/// domain, in `Final-Recipient:`, `Original-Recipient:` and wherever the block names it (the
/// diagnostic). One block per recipient is the report's own structure (RFC 3464 section 2),
/// so the records should be the same and one more. The human-readable part is left as it is:
/// it names the first recipients only, as many notices do for a long list.
fn second_recipient(raw: &[u8], before: &[Verdict]) -> Vec<u8> {
    let text = chars_of(raw);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some((start, end, address)) = last_recipient_block(&lines) else {
        return raw.to_vec();
    };
    let Some(new) = second_address(&address) else {
        return raw.to_vec();
    };
    if !before.iter().any(|v| v.0 == address) {
        return raw.to_vec();
    }
    let eol = if lines[start].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut block = lines[start..end].concat();
    if let Some(original) = lines[start..end]
        .iter()
        .find_map(|l| report_address(l, "original-recipient:"))
    {
        block = replace_any_case(&block, &original, &new);
    }
    block = replace_any_case(&block, &address, &new);
    let mut out = lines[..end].concat();
    if !out.ends_with('\n') {
        out.push_str(eol);
    }
    out.push_str(eol);
    out.push_str(&block);
    if !block.ends_with('\n') {
        out.push_str(eol);
    }
    out.push_str(&lines[end..].concat());
    bytes_of(&out)
}

/// [`second_recipient`], and in the human-readable part before the report the first recipient's
/// own lines (the one that begins with its address and the indented ones under it) copied for
/// the new address too, as a notice lists each recipient.
fn second_recipient_in_text(raw: &[u8], before: &[Verdict]) -> Vec<u8> {
    let changed = second_recipient(raw, before);
    if changed == raw {
        return changed;
    }
    let text = chars_of(raw);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some((_, _, address)) = last_recipient_block(&lines) else {
        return raw.to_vec();
    };
    let Some(new) = second_address(&address) else {
        return raw.to_vec();
    };
    let text = chars_of(&changed);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let parts = parts(&lines);
    let Some(report) = parts.iter().find(|p| is_delivery_status(p)) else {
        return raw.to_vec();
    };
    let Some(first) = parts
        .iter()
        .filter(|p| p.boundary == report.boundary && p.media_type == "text/plain" && !p.encoded)
        .find_map(|p| {
            (p.body..p.end).find(|&i| {
                let l = lines[i].trim().to_ascii_lowercase();
                let l = l.strip_prefix('<').unwrap_or(&l);
                l.strip_prefix(address.as_str())
                    .is_some_and(|r| r.is_empty() || r.starts_with([':', '>', ' ', '.']))
            })
        })
    else {
        return raw.to_vec();
    };
    let mut last = first + 1;
    while last < lines.len()
        && lines[last].starts_with([' ', '\t'])
        && !lines[last].trim().is_empty()
    {
        last += 1;
    }
    let copy = replace_any_case(&lines[first..last].concat(), &address, &new);
    let out = [lines[..last].concat(), copy, lines[last..].concat()].concat();
    bytes_of(&out)
}

/// The records and one more, for [`second_recipient`]'s new address, as the copied one's.
fn one_more(before: &[Verdict], raw: &[u8]) -> Vec<Verdict> {
    let text = chars_of(raw);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = before.to_vec();
    if let Some((_, _, address)) = last_recipient_block(&lines)
        && let Some(new) = second_address(&address)
        && let Some(copied) = before.iter().find(|v| v.0 == address)
    {
        let mut record = copied.clone();
        record.0 = new;
        out.push(record);
    }
    out
}

/// The action (as the analyser names it) and status the last recipient block of `raw` says.
fn block_says(raw: &[u8]) -> (String, String) {
    let text = chars_of(raw);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some((start, end, _)) = last_recipient_block(&lines) else {
        return Default::default();
    };
    let field = |name: &str| {
        lines[start..end]
            .iter()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let action = crate::Action::parse(&field("action")).map_or("", |a| a.as_str());
    (action.to_string(), field("status"))
}

/// What must hold after [`second_recipient`]: the records before are all there as they were,
/// and exactly one more, for the new address, with the action and the status class (failed 5,
/// delayed 4) of the copied record or of its block (`raw` is the message before the change:
/// the new block is a copy of its last). Either, because where the notice's own text names the
/// first recipient the analyser rightly reads it for that one (OpenSMTPD's "Envelope expired"
/// fails a recipient its report calls delayed; Courier's and Exim's text says 4.2.2 where the
/// report says 5.0.0), and the new address has no such text, only its block. Its reason,
/// detail code and reply code are not held to for the same reason (Postfix's `<a@b>: host …
/// said:` says more than its block's diagnostic).
fn one_more_agrees(expected: &[Verdict], got: &[Verdict], raw: &[u8]) -> bool {
    let Some(extra) = expected.iter().find(|e| {
        e.0.strip_prefix(SECOND_LOCAL)
            .is_some_and(|r| r.starts_with('@'))
    }) else {
        return expected == got;
    };
    let rest =
        |v: &[Verdict]| -> Vec<Verdict> { v.iter().filter(|x| x.0 != extra.0).cloned().collect() };
    let new: Vec<&Verdict> = got.iter().filter(|x| x.0 == extra.0).collect();
    let (action, status) = block_says(raw);
    let class = |s: &str| s.get(..1).map(str::to_string);
    rest(expected) == rest(got)
        && new.len() == 1
        && (new[0].4 == extra.4 || new[0].4 == action)
        && (class(&new[0].2) == class(&extra.2) || class(&new[0].2) == class(&status))
}

/// Media types of a returned message (RFC 3462 section 2: the third part of a report).
fn is_returned_message(part: &Part) -> bool {
    matches!(
        part.media_type.as_str(),
        "message/rfc822" | "text/rfc822-headers" | "message/global" | "message/global-headers"
    )
}

/// The returned message left out of a report whose delivery report names a recipient the
/// records give: the third part is optional (RFC 3462 section 2), and the records must come
/// from the report, not from the message it returns.
fn no_returned_message(raw: &[u8], before: &[Verdict]) -> Vec<u8> {
    let text = chars_of(raw);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let parts = parts(&lines);
    let Some(report) = parts.iter().find(|p| is_delivery_status(p)) else {
        return raw.to_vec();
    };
    let names_one = (report.body..report.end).any(|i| {
        report_address(lines[i], "final-recipient:")
            .is_some_and(|a| before.iter().any(|v| v.0 == a))
    });
    if !names_one {
        return raw.to_vec();
    }
    let dropped: Vec<&Part> = parts
        .iter()
        .filter(|p| p.boundary == report.boundary && is_returned_message(p))
        .collect();
    let out: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !dropped.iter().any(|p| (p.delimiter..p.end).contains(i)))
        .map(|(_, l)| *l)
        .collect();
    bytes_of(&out)
}

/// The delivery report left out where a plain-text part beside it names every recipient and
/// its status: what a notice without a report (many MTAs send none) says.
fn no_delivery_status(raw: &[u8], before: &[Verdict]) -> Vec<u8> {
    let text = chars_of(raw);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let parts = parts(&lines);
    let Some(report) = parts.iter().find(|p| is_delivery_status(p)) else {
        return raw.to_vec();
    };
    let said = |p: &Part| lines[p.body..p.end].concat().to_ascii_lowercase();
    let names_all = !before.is_empty()
        && parts
            .iter()
            .filter(|p| p.boundary == report.boundary && p.media_type == "text/plain" && !p.encoded)
            .any(|p| {
                let said = said(p);
                before
                    .iter()
                    .all(|v| said.contains(&v.0) && !v.2.is_empty() && said.contains(&v.2))
            });
    if !names_all {
        return raw.to_vec();
    }
    let out: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !(report.delimiter..report.end).contains(i))
        .map(|(_, l)| *l)
        .collect();
    bytes_of(&out)
}

/// What must hold after [`no_delivery_status`]: the same recipients. What the text says of
/// the reason may differ from the report, and the perturb example shows where it does.
fn same_recipients(expected: &[Verdict], got: &[Verdict], _: &[u8]) -> bool {
    let recipients = |v: &[Verdict]| {
        let mut r: Vec<String> = v.iter().map(|x| x.0.clone()).collect();
        r.dedup();
        r
    };
    recipients(expected) == recipients(got)
}

/// The address the top-level `From:` names (in `<…>`, else the word with an `@`), its
/// first and last line index in `lines` (folded lines included), none without a header `From:`.
fn author(lines: &[&str]) -> Option<(usize, usize, String)> {
    // An mbox separator line is no header field.
    let start = usize::from(lines.first().is_some_and(|l| l.starts_with("From ")));
    let header = lines[start..]
        .iter()
        .position(|l| l.trim_end().is_empty())
        .map_or(lines.len(), |i| start + i);
    let first = (start..header).find(|&i| {
        lines[i]
            .get(..5)
            .is_some_and(|n| n.eq_ignore_ascii_case("from:"))
    })?;
    let mut last = first + 1;
    while last < header && lines[last].starts_with([' ', '\t']) {
        last += 1;
    }
    let value = lines[first..last].concat()[5..].to_string();
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => value[open + 1..close].trim().to_string(),
        _ => value
            .split_whitespace()
            .find(|w| w.contains('@'))?
            .trim_matches(|c: char| "<>\"(),;".contains(c))
            .to_string(),
    };
    Some((first, last, address.to_ascii_lowercase()))
}

/// The local part [`plain_author`] gives the author.
const PLAIN_AUTHOR: &str = "support";

/// The author's new address, as [`plain_author`] writes it: the same domain, a plain local
/// part; none where the author has no domain (`<>`, a bare `MAILER-DAEMON`).
fn plain_address(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    (!domain.is_empty()).then(|| format!("{PLAIN_AUTHOR}@{domain}"))
}

/// [`author`] and the address [`plain_author`] gives it, where it has a domain to keep.
fn plain_author_of(lines: &[&str]) -> Option<(usize, usize, String, String)> {
    let (first, last, address) = author(lines)?;
    let new = plain_address(&address)?;
    Some((first, last, address, new))
}

/// The top-level `From:` given a person-like name and local part at the same domain
/// (`From: Support <support@domain>`). A mail system's name ("Mail Delivery Subsystem",
/// `MAILER-DAEMON@`) is the first sign the analyser takes that a message without a delivery
/// report is a report; a notice from a service account (a provider's support desk, a
/// relay's `noreply@`) says so by its subject and text only. A verdict that moves rested on
/// the author alone.
fn plain_author(raw: &[u8], _: &[Verdict]) -> Vec<u8> {
    let text = chars_of(raw);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some((first, last, _, new)) = plain_author_of(&lines) else {
        return raw.to_vec();
    };
    let eol = if lines[last - 1].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let field = format!("From: Support <{new}>{eol}");
    bytes_of(&[lines[..first].concat(), field, lines[last..].concat()].concat())
}

/// The records before, the author's own (an auto-reply's) under its new address.
fn plain_authored(before: &[Verdict], raw: &[u8]) -> Vec<Verdict> {
    let text = chars_of(raw);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some((_, _, address, new)) = plain_author_of(&lines) else {
        return before.to_vec();
    };
    before
        .iter()
        .map(|v| {
            let mut v = v.clone();
            if v.0 == address {
                v.0.clone_from(&new);
            }
            v
        })
        .collect()
}

pub const PERTURBATIONS: &[Perturbation] = &[
    Perturbation {
        name: "refold",
        reports_only: false,
        apply: refold,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "crlf",
        reports_only: false,
        apply: crlf,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "delivered-on-top",
        reports_only: false,
        apply: delivered_on_top,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "mbox-line",
        reports_only: false,
        apply: mbox_line,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "rename",
        reports_only: false,
        apply: rename,
        expect: renamed,
        agree: equal,
    },
    Perturbation {
        name: "field-case",
        reports_only: false,
        apply: field_case,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "boundaries",
        reports_only: false,
        apply: boundaries,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "quoted-printable",
        reports_only: false,
        apply: quoted_printable,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "report-extension",
        reports_only: false,
        apply: report_extension,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "second-recipient",
        reports_only: true,
        apply: second_recipient,
        expect: one_more,
        agree: one_more_agrees,
    },
    Perturbation {
        name: "second-recipient-text",
        reports_only: true,
        apply: second_recipient_in_text,
        expect: one_more,
        agree: equal,
    },
    Perturbation {
        name: "no-returned-message",
        reports_only: true,
        apply: no_returned_message,
        expect: unchanged,
        agree: equal,
    },
    Perturbation {
        name: "no-delivery-status",
        reports_only: true,
        apply: no_delivery_status,
        expect: unchanged,
        agree: same_recipients,
    },
    Perturbation {
        name: "plain-author",
        reports_only: false,
        apply: plain_author,
        expect: plain_authored,
        agree: equal,
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
                r.action.map(|a| a.as_str()).unwrap_or_default().to_string(),
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

    /// A Shift_JIS notice (not UTF-8) with a delivery report: the perturbations must change
    /// its structure only.
    const SHIFT_JIS: &[u8] = b"From: MAILER-DAEMON@mx.example.jp\nSubject: \x83G\x83\x89\x81[\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=Shift_JIS\n\n\x88\xb6\x90\xe6 <user@example.jp> \x82\xcd\x91\xb6\x8d\xdd\x82\xb5\x82\xdc\x82\xb9\x82\xf1\n--b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.jp\n\nFinal-Recipient: rfc822; user@example.jp\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 caf\xe9 unknown\n--b1--\n";

    #[test]
    fn every_rewrite_keeps_the_bytes_it_does_not_mean_to_change() {
        let before = vec![(
            "user@example.jp".to_string(),
            "userunknown".to_string(),
            "5.1.1".to_string(),
            "550".to_string(),
            "failed".to_string(),
        )];
        for change in PERTURBATIONS {
            if change.name == "quoted-printable" {
                continue;
            }
            let got = (change.apply)(SHIFT_JIS, &before);
            for run in [
                &b"\x83G\x83\x89\x81["[..],
                b"\x88\xb6\x90\xe6 <",
                b"\x82\xcd\x91\xb6\x8d\xdd\x82\xb5\x82\xdc\x82\xb9\x82\xf1",
                b"caf\xe9 unknown",
            ] {
                assert!(
                    got.windows(run.len()).any(|w| w == run),
                    "{} lost {run:?}",
                    change.name
                );
            }
        }
    }

    #[test]
    fn a_field_name_in_lower_case_is_the_only_change_to_a_shift_jis_message() {
        let got = field_case(SHIFT_JIS, &[]);
        let want = [
            b"From: MAILER-DAEMON@mx.example.jp\nSubject: \x83G\x83\x89\x81[\ncontent-type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n--b1\ncontent-type: text/plain; charset=Shift_JIS\n\n\x88\xb6\x90\xe6 <user@example.jp> \x82\xcd\x91\xb6\x8d\xdd\x82\xb5\x82\xdc\x82\xb9\x82\xf1\n--b1\ncontent-type: message/delivery-status\n\n".as_slice(),
            b"reporting-mta: dns; mx.example.jp\n\nfinal-recipient: rfc822; user@example.jp\nAction: failed\nStatus: 5.1.1\ndiagnostic-code: smtp; 550 5.1.1 caf\xe9 unknown\n--b1--\n",
        ]
        .concat();
        assert_eq!(got, want);
    }

    #[test]
    fn quoted_printable_escapes_each_byte_as_it_was() {
        let raw = b"Subject: a\n\ncaf\xe9 \x82\xa0\n";
        let got = quoted_printable(raw, &[]);
        assert_eq!(
            got,
            b"Subject: a\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 =82=A0\n".to_vec()
        );
    }

    /// A Postfix-like report: the text names the recipient, the report has one block and the
    /// returned message follows.
    const REPORT: &str = "From: MAILER-DAEMON@relay.example.net\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n<user@example.org>: host mx.example.org said: 550 5.1.1 no such user\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.example.net\n\nOriginal-Recipient: rfc822;User@example.org\nFinal-Recipient: rfc822; user@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <user@example.org>: no such user\n\n--B\nContent-Type: message/rfc822\n\nFrom: sender@example.com\nTo: user@example.org\n\nhi\n--B--\n";

    fn user(reason: &str) -> Verdict {
        (
            "user@example.org".to_string(),
            reason.to_string(),
            "5.1.1".to_string(),
            "550".to_string(),
            "failed".to_string(),
        )
    }

    #[test]
    fn a_second_recipient_is_a_copy_of_the_last_block_with_another_address() {
        let got = second_recipient(REPORT.as_bytes(), &[user("userunknown")]);
        let want = REPORT.replace(
            "no such user\n\n--B\nContent-Type: message/rfc822",
            "no such user\n\nOriginal-Recipient: rfc822;second-rcpt@example.org\nFinal-Recipient: rfc822; second-rcpt@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <second-rcpt@example.org>: no such user\n\n--B\nContent-Type: message/rfc822",
        );
        assert_eq!(String::from_utf8(got).unwrap(), want);
        // A block whose recipient the records do not give is not copied.
        assert_eq!(second_recipient(REPORT.as_bytes(), &[]), REPORT.as_bytes());
    }

    #[test]
    fn a_second_recipient_must_agree_in_action_and_status_class_only() {
        let expected = one_more(&[user("userunknown")], REPORT.as_bytes());
        let second = |reason: &str, status: &str, action: &str| {
            (
                "second-rcpt@example.org".to_string(),
                reason.to_string(),
                status.to_string(),
                String::new(),
                action.to_string(),
            )
        };
        assert_eq!(expected.len(), 2);
        let first = user("userunknown");
        let raw = REPORT.as_bytes();
        assert!(one_more_agrees(
            &expected,
            &[first.clone(), second("onhold", "5.0.0", "failed")],
            raw
        ));
        assert!(!one_more_agrees(
            &expected,
            std::slice::from_ref(&first),
            raw
        ));
        assert!(!one_more_agrees(
            &expected,
            &[first.clone(), second("onhold", "4.0.0", "failed")],
            raw
        ));
        assert!(!one_more_agrees(
            &expected,
            &[first.clone(), second("userunknown", "5.1.1", "delayed")],
            raw
        ));
        assert!(!one_more_agrees(
            &expected,
            &[user("filtered"), second("userunknown", "5.1.1", "failed")],
            raw
        ));
        // Where the block says otherwise than the record (which the text decided), the new
        // record may follow the block.
        let delayed = REPORT.replace(
            "Action: failed\nStatus: 5.1.1",
            "Action: delayed\nStatus: 4.4.7",
        );
        let expected = one_more(std::slice::from_ref(&first), delayed.as_bytes());
        for (status, action, agrees) in [
            ("4.4.7", "delayed", true),
            ("5.1.1", "failed", true),
            ("2.0.0", "failed", false),
            ("4.4.7", "delivered", false),
        ] {
            let got = [first.clone(), second("expired", status, action)];
            assert_eq!(
                one_more_agrees(&expected, &got, delayed.as_bytes()),
                agrees,
                "{status} {action}"
            );
        }
    }

    #[test]
    fn the_returned_message_is_left_out_where_the_report_names_the_recipient() {
        let got = no_returned_message(REPORT.as_bytes(), &[user("userunknown")]);
        let want = REPORT.replace(
            "--B\nContent-Type: message/rfc822\n\nFrom: sender@example.com\nTo: user@example.org\n\nhi\n",
            "",
        );
        assert_eq!(String::from_utf8(got).unwrap(), want);
        let other = [(
            "other@example.org".to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        )];
        assert_eq!(
            no_returned_message(REPORT.as_bytes(), &other),
            REPORT.as_bytes()
        );
    }

    #[test]
    fn the_report_is_left_out_where_the_text_names_recipient_and_status() {
        let got = no_delivery_status(REPORT.as_bytes(), &[user("userunknown")]);
        let want = REPORT.replace(
            "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.example.net\n\nOriginal-Recipient: rfc822;User@example.org\nFinal-Recipient: rfc822; user@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <user@example.org>: no such user\n\n",
            "",
        );
        assert_eq!(String::from_utf8(got).unwrap(), want);
        // The text does not say 4.2.2: the report stays.
        let mut full = user("mailboxfull");
        full.2 = "4.2.2".to_string();
        assert_eq!(
            no_delivery_status(REPORT.as_bytes(), &[full]),
            REPORT.as_bytes()
        );
    }

    #[test]
    fn a_second_recipient_in_the_text_too_copies_the_first_ones_lines() {
        let got = second_recipient_in_text(REPORT.as_bytes(), &[user("userunknown")]);
        let want = String::from_utf8(second_recipient(REPORT.as_bytes(), &[user("userunknown")]))
            .unwrap()
            .replace(
                "no such user\n--B\nContent-Type: message/delivery-status",
                "no such user\n<second-rcpt@example.org>: host mx.example.org said: 550 5.1.1 no such user\n--B\nContent-Type: message/delivery-status",
            );
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn a_change_that_changes_nothing_expects_the_records_before() {
        // The text does not name the recipient: nothing to copy, so no record more expected.
        let raw = REPORT.replace(
            "<user@example.org>: host mx.example.org said",
            "The remote host said",
        );
        let change = PERTURBATIONS
            .iter()
            .find(|p| p.name == "second-recipient-text")
            .unwrap();
        let before = verdicts(raw.as_bytes());
        let outcome = change.try_on(raw.as_bytes(), &before);
        assert!(!outcome.altered);
        assert_eq!(outcome.expected, before);
    }

    #[test]
    fn a_plain_author_keeps_the_domain_and_changes_nothing_else() {
        let raw = "From MAILER-DAEMON Mon Dec  7 10:00:00 2026\r\nSubject: Returned mail\r\nFrom: Mail Delivery Subsystem\r\n <MAILER-DAEMON@Relay.example.net>\r\nTo: a@b.example\r\n\r\nFrom: x@y.example\r\n";
        let got = plain_author(raw.as_bytes(), &[]);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "From MAILER-DAEMON Mon Dec  7 10:00:00 2026\r\nSubject: Returned mail\r\nFrom: Support <support@relay.example.net>\r\nTo: a@b.example\r\n\r\nFrom: x@y.example\r\n"
        );
        let bare = "From: postmaster@mx.example.jp (Mail System)\n\nhi\n";
        assert_eq!(
            String::from_utf8(plain_author(bare.as_bytes(), &[])).unwrap(),
            "From: Support <support@mx.example.jp>\n\nhi\n"
        );
        // No domain to keep: unchanged.
        for raw in [
            "From: <>\n\nhi\n",
            "From: MAILER-DAEMON\n\nhi\n",
            "Subject: a\n\nFrom: a@b.example\n",
        ] {
            assert_eq!(plain_author(raw.as_bytes(), &[]), raw.as_bytes());
        }
        // An auto-reply's record names its author: under the new address.
        let vacation = (
            "postmaster@mx.example.jp".to_string(),
            "vacation".to_string(),
            String::new(),
            String::new(),
            String::new(),
        );
        let other = user("userunknown");
        let mut renamed = vacation.clone();
        renamed.0 = "support@mx.example.jp".to_string();
        assert_eq!(
            plain_authored(&[vacation, other.clone()], bare.as_bytes()),
            vec![renamed, other]
        );
    }
}
