//! RFC 3464 delivery status notifications, read leniently: the fields are taken wherever they
//! stand before the returned message (the `message/delivery-status` part is often mislabelled,
//! inline in a text part, without its blank lines, or with the per-recipient fields in an odd
//! order), and a new recipient block starts whenever a field repeats.

use crate::mime::Mail;
use crate::{Action, Finding, address};

/// The per-message fields that help the per-recipient ones.
#[derive(Debug, Default)]
pub(crate) struct Envelope {
    pub reporting_mta: Option<String>,
    /// Recipient blocks whose recipient is not an address (a file or a pipe, `rfc822;/a/b`):
    /// their fields belong to the recipients the text names, in order.
    pub orphans: Vec<Finding>,
}

/// The recipient blocks of the DSN in `mail`, if it has one.
pub(crate) fn findings(mail: &Mail) -> (Vec<Finding>, Envelope) {
    let end = mail.original_at.unwrap_or(mail.body.len());
    let text = &mail.body[..end];
    let mut out: Vec<Finding> = Vec::new();
    let mut envelope = Envelope::default();
    let mut current = Block::default();
    for (name, value) in fields(text) {
        match name.as_str() {
            "reporting-mta" => {
                envelope.reporting_mta = Some(strip_type(&value).to_string());
            }
            "final-recipient" | "original-recipient" | "x-actual-recipient" => {
                let slot = match name.as_str() {
                    "final-recipient" => &mut current.final_recipient,
                    "original-recipient" => &mut current.original_recipient,
                    _ => &mut current.actual_recipient,
                };
                if slot.is_some() {
                    current.flush(&mut out, &mut envelope.orphans);
                    let slot = match name.as_str() {
                        "final-recipient" => &mut current.final_recipient,
                        "original-recipient" => &mut current.original_recipient,
                        _ => &mut current.actual_recipient,
                    };
                    *slot = Some(value);
                } else {
                    *slot = Some(value);
                }
            }
            "action" | "status" | "remote-mta" | "diagnostic-code" => {
                let repeated = match name.as_str() {
                    "action" => current.action.is_some(),
                    "status" => current.status.is_some(),
                    "remote-mta" => current.remote_mta.is_some(),
                    _ => current.diagnostic.is_some(),
                };
                if repeated && current.has_recipient() {
                    current.flush(&mut out, &mut envelope.orphans);
                }
                match name.as_str() {
                    "action" => current.action = Some(value),
                    "status" => current.status = Some(value),
                    "remote-mta" => current.remote_mta = Some(value),
                    _ => current.diagnostic = Some(value),
                }
            }
            "x-powermta-bouncecategory" => current.category = Some(value),
            "disposition" => current.disposition = Some(value),
            _ => {}
        }
    }
    current.flush(&mut out, &mut envelope.orphans);
    (out, envelope)
}

/// The fields [`fields`] keeps.
const NAMES: &[&str] = &[
    "reporting-mta",
    "final-recipient",
    "original-recipient",
    "x-actual-recipient",
    "action",
    "status",
    "remote-mta",
    "diagnostic-code",
    "x-powermta-bouncecategory",
    "disposition",
];

/// The fields of `text` that matter to a DSN, unfolded, with lower-case names. Continuation
/// lines are joined only to a diagnostic (the one field that spans lines in practice).
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut open = false;
    for line in crate::text::lines(text) {
        if line.starts_with([' ', '\t']) {
            if open && let Some((_, value)) = out.last_mut() {
                if value.len() < 4096 {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            open = false;
            continue;
        }
        open = false;
        let Some(colon) = memchr::memchr(b':', line.as_bytes()) else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        // The name is compared before anything is copied: most lines are no DSN field.
        let trimmed = name.trim();
        let Some(&name) = NAMES.iter().find(|n| trimmed.eq_ignore_ascii_case(n)) else {
            continue;
        };
        open = name == "diagnostic-code";
        out.push((name.to_string(), value.trim().to_string()));
    }
    out
}

/// `dns; mx.example.jp` → `mx.example.jp`.
fn strip_type(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest)) if kind.len() < 16 && !kind.contains(' ') => rest.trim(),
        _ => value.trim(),
    }
}

#[derive(Default)]
struct Block {
    final_recipient: Option<String>,
    original_recipient: Option<String>,
    actual_recipient: Option<String>,
    action: Option<String>,
    status: Option<String>,
    remote_mta: Option<String>,
    diagnostic: Option<String>,
    /// PowerMTA's own verdict (`X-PowerMTA-BounceCategory: bad-mailbox`).
    category: Option<String>,
    /// A message disposition notification's (RFC 8098) `Disposition:` field.
    disposition: Option<String>,
}

impl Block {
    fn has_recipient(&self) -> bool {
        self.final_recipient.is_some()
            || self.original_recipient.is_some()
            || self.actual_recipient.is_some()
    }

    fn flush(&mut self, out: &mut Vec<Finding>, orphans: &mut Vec<Finding>) {
        let block = std::mem::take(self);
        // A read receipt (an MDN: `Final-Recipient` and `Disposition: …; displayed`, or
        // `deleted`) says what the recipient's user agent did with a message that arrived; it
        // has no `Action:` or `Status:` and reports no delivery failure.
        if block.disposition.is_some() && block.action.is_none() && block.status.is_none() {
            return;
        }
        let recipient = [
            &block.final_recipient,
            &block.actual_recipient,
            &block.original_recipient,
        ]
        .into_iter()
        .flatten()
        .find_map(|v| address::find(v));
        // Sendmail writes `Final-Recipient: RFC822; @mx.example.org` when it lost the local
        // part; the address is then read from the text (see `mta::complete`).
        let domain_only = block
            .final_recipient
            .as_deref()
            .map(|v| strip_type(v).trim_matches(['<', '>']))
            .is_some_and(|v| v.starts_with('@') && address::is_address(&format!("x{v}")));
        let (recipient, orphan) = match recipient.or_else(|| domain_only.then(String::new)) {
            Some(r) => (r, false),
            None if block.status.is_some() || block.diagnostic.is_some() => (String::new(), true),
            None => return,
        };
        let (diagnostic_type, diagnostic) = match &block.diagnostic {
            Some(d) => match d.split_once(';') {
                Some((kind, rest))
                    if kind.len() < 16 && !kind.trim().is_empty() && !kind.contains(' ') =>
                {
                    (
                        Some(kind.trim().to_ascii_uppercase()),
                        rest.trim().to_string(),
                    )
                }
                _ => (None, d.trim().to_string()),
            },
            None => (None, String::new()),
        };
        let status = block.status.as_deref().and_then(|s| {
            let s = s.split_whitespace().next().unwrap_or("");
            crate::status::is_status(s).then(|| s.to_string())
        });
        let hint = block.category.as_deref().and_then(powermta_category);
        // One failed recipient is one record: a block repeated for the same address (once per
        // attempt, or the same report pasted twice) adds nothing but a record too many.
        if !orphan
            && !recipient.is_empty()
            && out
                .iter()
                .any(|f| f.recipient.eq_ignore_ascii_case(&recipient))
        {
            return;
        }
        let target = if orphan { orphans } else { out };
        target.push(Finding {
            recipient,
            status,
            diagnostic,
            diagnostic_type,
            action: block.action.as_deref().and_then(Action::parse),
            remote_mta: block
                .remote_mta
                .as_deref()
                .map(|v| strip_type(v).to_string())
                .filter(|v| !v.is_empty()),
            hint,
            ..Finding::default()
        });
    }
}

/// What PowerMTA's bounce categories mean (its `X-PowerMTA-BounceCategory` field).
fn powermta_category(value: &str) -> Option<crate::Reason> {
    use crate::Reason::*;
    Some(match value.trim().to_ascii_lowercase().as_str() {
        "bad-domain" => HostUnknown,
        "bad-mailbox" => UserUnknown,
        "inactive-mailbox" => Suspend,
        "message-expired" => Expired,
        "no-answer-from-host" => NetworkError,
        "policy-related" => PolicyViolation,
        "quota-issues" => MailboxFull,
        "routing-errors" => SystemError,
        "spam-related" => SpamDetected,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsn(body: &str) -> Vec<Finding> {
        findings(&Mail::parse(format!("Subject: x\n\n{body}").as_bytes())).0
    }

    #[test]
    fn powermta_categories() {
        let found = dsn(
            "Reporting-MTA: dns; mta.example\n\nFinal-Recipient: rfc822; a@example.jp\nAction: failed\n\
Status: 5.0.0\nX-PowerMTA-BounceCategory: quota-issues\n\nFinal-Recipient: rfc822; b@example.jp\n\
Action: failed\nStatus: 5.0.0\nX-PowerMTA-BounceCategory: other\n",
        );
        assert_eq!(found[0].hint, Some(crate::Reason::MailboxFull));
        assert_eq!(found[1].hint, None);
    }

    #[test]
    fn standard_and_odd_blocks() {
        let found = dsn(
            "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; a@example.jp\n\
Action: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.jp\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.jp>...\n  User Unknown\n\n\
Final-Recipient: rfc822; b@example.jp\nAction: failed\nStatus: 5.2.2\n",
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].recipient, "a@example.jp");
        assert_eq!(found[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(
            found[0].diagnostic,
            "550 5.1.1 <a@example.jp>... User Unknown"
        );
        assert_eq!(found[0].diagnostic_type.as_deref(), Some("SMTP"));
        assert_eq!(found[0].remote_mta.as_deref(), Some("mx.example.jp"));
        assert_eq!(found[0].action, Some(Action::Failed));
        assert_eq!(found[1].recipient, "b@example.jp");

        // No blank lines, action first, the same fields again for the next recipient.
        let found = dsn(
            "Action: failed\nFinal-Recipient: rfc822;c@example.org\nStatus: 5.0.0\n\
Action: failed\nFinal-Recipient: rfc822;d@example.org\nStatus: 4.4.7\n",
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].recipient, "d@example.org");
        assert_eq!(found[1].status.as_deref(), Some("4.4.7"));

        // Only an Original-Recipient that is an address.
        let found = dsn(
            "Final-Recipient: LOCAL;<kijitora>\nOriginal-Recipient: rfc822;e@example.net\nStatus: 5.1.1\n",
        );
        assert_eq!(found[0].recipient, "e@example.net");
        assert!(dsn("Nothing: here\n").is_empty());
    }
}
