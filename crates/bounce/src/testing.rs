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
