//! Automatic replies (RFC 3834 and the vacation programs that predate it): not bounces. The
//! record names the auto-replying address with reason `vacation`, so that callers can tell an
//! out-of-office from silence.

use crate::mime::Mail;
use crate::{Finding, Reason, address};

/// Subjects that vacation programs and Exchange write.
const SUBJECTS: &[&str] = &[
    "auto:",
    "auto response:",
    "automatic reply:",
    "autoreply:",
    "auto-reply:",
    "out of office:",
    "out of the office:",
    "vacation:",
    "away from my mail",
    "abwesenheitsnotiz",
    "réponse automatique",
];

pub(crate) fn findings(mail: &Mail) -> Option<Vec<Finding>> {
    let lower = |name: &str| mail.header(name).unwrap_or("").to_lowercase();
    let from = lower("from");
    // Mail systems and cron report as root or the daemons; Exim's failures say "Mail failure".
    if ["root@", "postmaster@", "mailer-daemon@"]
        .iter()
        .any(|p| from.contains(p))
        || lower("to").contains("root@")
    {
        return None;
    }
    let subject = lower("subject");
    if subject.contains("security information for") || subject.contains("mail failure -") {
        return None;
    }
    // A delivery notice sent with `Auto-Submitted: auto-replied` (as RFC 3834 asks of MTAs)
    // from an author that names no mail system: the notice, not an auto-reply.
    if !SUBJECTS.iter().any(|p| subject.starts_with(p)) && crate::mta::is_notice_subject(&subject) {
        return None;
    }
    let auto_submitted = lower("auto-submitted");
    let is_auto = ["auto-generated", "auto-replied", "auto-notified"]
        .iter()
        .any(|p| auto_submitted.starts_with(p))
        || lower("precedence").starts_with("auto_reply")
        || lower("x-apple-action").starts_with("vacation")
        || mail.header("x-autoreply").is_some()
        || mail.header("x-autorespond").is_some()
        || SUBJECTS.iter().any(|p| subject.starts_with(p));
    if !is_auto {
        return None;
    }
    let recipient = ["from", "return-path"]
        .iter()
        .find_map(|name| mail.header(name).and_then(address::find))?;
    let words = crate::mime::cut(mail.body.trim(), 1024);
    Some(vec![Finding {
        recipient,
        diagnostic: words.to_string(),
        hint: Some(Reason::Vacation),
        ..Finding::default()
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vacation_messages_and_not() {
        let table: &[(&[u8], Option<&str>)] = &[
            (
                b"From: \"Neko\" <neko@example.org>\nSubject: Automatic reply: hi\n\nI'm out of the office.\n",
                Some("neko@example.org"),
            ),
            (
                b"From: a@example.org\nAuto-Submitted: auto-replied\nSubject: re\n\naway\n",
                Some("a@example.org"),
            ),
            (
                b"From: MAILER-DAEMON@example.org\nAuto-Submitted: auto-replied\nSubject: Undelivered\n\nx\n",
                None,
            ),
            (b"From: a@example.org\nSubject: hello\n\nhi\n", None),
        ];
        for (raw, want) in table {
            let found = findings(&Mail::parse(raw));
            assert_eq!(
                found.as_ref().map(|f| f[0].recipient.as_str()),
                *want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
