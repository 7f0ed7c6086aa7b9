//! Amazon SES notifications sent by e-mail (through SNS): a JSON document instead of a bounce,
//! with `notificationType` `Bounce` (the bounced recipients with their status and the remote
//! server's words), `Complaint` (a feedback report) or `Delivery`.
//! <https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html>

use crate::mime::Mail;
use crate::{Action, Finding, Reason};
use serde_json::Value;

/// What an SES notification reports.
pub(crate) enum Notification {
    Bounce(Vec<Finding>),
    Complaint(Vec<Finding>),
}

/// The notification in `mail`, if its body is one.
pub(crate) fn findings(mail: &Mail) -> Option<Notification> {
    if !crate::text::contains(&mail.body, "notificationType") {
        return None;
    }
    // SNS ends the text with an unsubscribe note after "--" and folds long lines with "!".
    let body = mail.body.split("\n\n--\n").next().unwrap_or("");
    let body = body.replace("!\n ", "");
    let start = body.find('{')?;
    let end = body.rfind('}')?;
    let mut doc: Value = serde_json::from_str(body.get(start..=end)?).ok()?;
    // An SNS envelope carries the notification as a JSON string in "Message".
    if let Some(inner) = doc.get("Message").and_then(Value::as_str) {
        doc = serde_json::from_str(inner).ok()?;
    }
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let list = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let found = match doc.get("notificationType").and_then(Value::as_str)? {
        "Bounce" => {
            let bounce = doc.get("bounce")?;
            let remote_mta = text(bounce, "remoteMtaIp");
            Notification::Bounce(
                list(bounce, "bouncedRecipients")
                    .iter()
                    .filter_map(|r| {
                        let diagnostic = text(r, "diagnosticCode").unwrap_or_default();
                        let (diagnostic_type, diagnostic) = match diagnostic.split_once(';') {
                            Some((kind, rest)) if kind.len() < 16 && !kind.contains(' ') => (
                                Some(kind.trim().to_ascii_uppercase()),
                                rest.trim().to_string(),
                            ),
                            _ => (None, diagnostic),
                        };
                        Some(Finding {
                            recipient: crate::address::find(&text(r, "emailAddress")?)?,
                            status: text(r, "status").filter(|s| crate::status::is_status(s)),
                            command: crate::SmtpCommand::find(&diagnostic),
                            diagnostic,
                            diagnostic_type,
                            action: text(r, "action").as_deref().and_then(Action::parse),
                            remote_mta: remote_mta.clone(),
                            ..Finding::default()
                        })
                    })
                    .collect(),
            )
        }
        "Complaint" => {
            let complaint = doc.get("complaint")?;
            let feedback_type = text(complaint, "complaintFeedbackType");
            let diagnostic = text(complaint, "userAgent").unwrap_or_default();
            Notification::Complaint(
                list(complaint, "complainedRecipients")
                    .iter()
                    .filter_map(|r| {
                        Some(Finding {
                            recipient: crate::address::find(&text(r, "emailAddress")?)?,
                            diagnostic: diagnostic.clone(),
                            hint: Some(Reason::Feedback),
                            feedback_type: feedback_type.clone(),
                            ..Finding::default()
                        })
                    })
                    .collect(),
            )
        }
        "Delivery" => {
            let delivery = doc.get("delivery")?;
            let response = text(delivery, "smtpResponse").unwrap_or_default();
            Notification::Bounce(
                list(delivery, "recipients")
                    .iter()
                    .filter_map(|r| {
                        Some(Finding {
                            recipient: crate::address::find(r.as_str()?)?,
                            status: crate::status::find_status(&response, b"2"),
                            diagnostic: response.clone(),
                            action: Some(Action::Delivered),
                            hint: Some(Reason::Delivered),
                            ..Finding::default()
                        })
                    })
                    .collect(),
            )
        }
        _ => return None,
    };
    match &found {
        Notification::Bounce(f) | Notification::Complaint(f) if f.is_empty() => None,
        _ => Some(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Option<Notification> {
        findings(&Mail::parse(
            format!(
                "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n\n{body}"
            )
            .as_bytes(),
        ))
    }

    #[test]
    fn bounce_complaint_and_delivery() {
        let Some(Notification::Bounce(found)) = read(
            r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"a@example.jp","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"remoteMtaIp":"192.0.2.1"},"mail":{}}"#,
        ) else {
            panic!("bounce not read");
        };
        assert_eq!(found[0].recipient, "a@example.jp");
        assert_eq!(found[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(found[0].diagnostic, "550 5.1.1 user unknown");
        assert_eq!(found[0].diagnostic_type.as_deref(), Some("SMTP"));

        // Folded by SNS, followed by the unsubscribe note.
        let Some(Notification::Complaint(found)) = read(
            "{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":[{\"emailAddress\":\"c@sim!\n ulator.example.com\"}],\"complaintFeedbackType\":\"abuse\"}}\n\n--\nIf you wish to stop receiving notifications {x}\n",
        ) else {
            panic!("complaint not read");
        };
        assert_eq!(found[0].recipient, "c@simulator.example.com");
        assert_eq!(found[0].feedback_type.as_deref(), Some("abuse"));

        // Inside an SNS envelope.
        let Some(Notification::Bounce(found)) = read(
            r#"{"Type":"Notification","Message":"{\"notificationType\":\"Delivery\",\"delivery\":{\"recipients\":[\"d@example.jp\"],\"smtpResponse\":\"250 2.6.0 Message received\"}}"}"#,
        ) else {
            panic!("delivery not read");
        };
        assert_eq!(found[0].hint, Some(Reason::Delivered));
        assert_eq!(found[0].status.as_deref(), Some("2.6.0"));

        assert!(read("{\"notificationType\": broken").is_none());
        assert!(read("no json here").is_none());
    }
}
