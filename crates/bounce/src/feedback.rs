//! Complaints: ARF feedback reports (RFC 5965), the older Hotmail/Outlook.com JMRP reports
//! that carry only the complained-about message, and Apple Mail's one-click unsubscribe. Each
//! becomes a record with reason `feedback` for the complaining recipient.

use crate::mime::{Field, Mail, header_block};
use crate::{Finding, Reason, address, text};

pub(crate) fn findings(mail: &Mail) -> Option<Vec<Finding>> {
    let report_end = mail.original_at.unwrap_or(mail.body.len());
    let report = &mail.body[..report_end];
    let content_type = mail
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    // "Feedback-Type:", "feedback-type:" and "message/feedback-report" all hold "eedback-":
    // one search of the report decides whether the three can be there.
    let may_be_report = text::contains(report, "eedback-");
    let fields = if may_be_report {
        report_fields(report)
    } else {
        Vec::new()
    };
    let feedback_type = field(&fields, "feedback-type").map(|v| v.trim().to_ascii_lowercase());
    let is_arf = content_type.contains("feedback-report")
        || (may_be_report && text::contains(report, "Content-Type: message/feedback-report"))
        || feedback_type.is_some();
    let from_hotmail_staff = mail
        .from()
        .to_ascii_lowercase()
        .contains("staff@hotmail.com");
    // The returned message's header is read only once the message is known to be a report
    // (reading it for every bounce was most of this function's cost).
    let mut original: Option<Vec<Field>> = None;
    let complaint_subject = mail
        .subject()
        .to_ascii_lowercase()
        .contains("complaint about message");
    // JMRP's two signs are its subject and the complainant's field in the attached message:
    // from Hotmail's staff address either is enough; together they are the layout whoever
    // sends it (copies of such reports are often anonymised, the sender with the rest).
    let is_jmrp = (from_hotmail_staff || complaint_subject)
        && ((from_hotmail_staff && complaint_subject)
            || field(
                original.get_or_insert_with(|| mail.original_headers()),
                "x-hmxmroriginalrecipient",
            )
            .is_some());
    let is_apple_unsubscribe = mail
        .header("x-apple-unsubscribe")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !(is_arf || is_jmrp || is_apple_unsubscribe) {
        return None;
    }
    let original = original.unwrap_or_else(|| mail.original_headers());
    let mut recipients: Vec<String> = Vec::new();
    if is_apple_unsubscribe {
        recipients.extend(address::find(mail.from()));
    }
    for name in ["original-rcpt-to", "removal-recipient"] {
        for (_, v) in fields.iter().filter(|(n, _)| n == name) {
            if let Some(a) = address::find(v)
                && !recipients.iter().any(|r| r.eq_ignore_ascii_case(&a))
            {
                recipients.push(a);
            }
        }
    }
    if recipients.is_empty() {
        for name in ["x-hmxmroriginalrecipient", "to"] {
            if let Some(a) = field(&original, name).and_then(address::find) {
                recipients.push(a);
                break;
            }
        }
    }
    if recipients.is_empty() {
        // A report that names nobody still counts: the caller may know the message.
        recipients.push(String::new());
    }
    let diagnostic = report_text(report);
    Some(
        recipients
            .into_iter()
            .map(|recipient| Finding {
                recipient,
                diagnostic: diagnostic.clone(),
                hint: Some(Reason::Feedback),
                feedback_type: feedback_type.clone().or_else(|| {
                    (is_jmrp || is_apple_unsubscribe).then(|| {
                        if is_apple_unsubscribe {
                            "opt-out"
                        } else {
                            "abuse"
                        }
                        .to_string()
                    })
                }),
                ..Finding::default()
            })
            .collect(),
    )
}

/// The fields of the machine-readable report, wherever it stands before the original.
fn report_fields(report: &str) -> Vec<Field> {
    let mut out = Vec::new();
    let mut rest = report;
    while let Some(at) = rest
        .find("Feedback-Type:")
        .or_else(|| rest.find("feedback-type:"))
    {
        let start = rest[..at].rfind("\n\n").map_or(0, |p| p + 2);
        let (fields, used) = header_block(&rest[start..]);
        out.extend(fields);
        if used == 0 {
            break;
        }
        rest = &rest[(start + used).min(rest.len())..];
    }
    out
}

fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The human part of the report, on one line, short.
fn report_text(report: &str) -> String {
    let text = report
        .split("\nContent-Type: message/feedback-report")
        .next()
        .unwrap_or("");
    let text = text.trim_start_matches("\nContent-Type: text/plain\n\n");
    crate::mime::cut(text.trim(), 512).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arf_and_friends() {
        let arf = b"From: abuse@example.net\nSubject: report\nMIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\n\n--B\n\
Content-Type: text/plain\n\nThis is an abuse report\n--B\nContent-Type: message/feedback-report\n\n\
Feedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\nOriginal-Rcpt-To: <rcpt@example.org>\n--B\n\
Content-Type: text/rfc822-headers\n\nTo: other@example.org\nSubject: hi\n\n--B--\n";
        let found = findings(&Mail::parse(arf)).expect("a report");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].recipient, "rcpt@example.org");
        assert_eq!(found[0].feedback_type.as_deref(), Some("abuse"));

        let apple =
            b"From: someone@icloud.com\nX-Apple-Unsubscribe: true\nSubject: unsubscribe\n\nbye\n";
        let found = findings(&Mail::parse(apple)).expect("an unsubscribe");
        assert_eq!(found[0].recipient, "someone@icloud.com");

        let plain = b"From: a@example.org\nSubject: hello\n\nFeedback is welcome\n";
        assert!(findings(&Mail::parse(plain)).is_none());
    }
}
