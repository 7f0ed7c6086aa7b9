//! From an analysed report to the events it means for one sent message: which of the message's
//! recipients each record is about, what kind of event it is, and what it does to the
//! contract's suppression list. Pure: no I/O, so the rules are tested with plain values.

use hikyaku_bounce::{Action, Analysis, MessageKind, Record};
use hikyaku_model::{
    EventDetails, EventKind, EventSource, Exchange, MessageId, QueuedMessage, Remote, Timestamp,
    VerpRecipient,
};
use hikyaku_store::{AddressSignal, BounceEvent};

/// What the error server learnt, for one message, from one report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MessageReport {
    pub events: Vec<BounceEvent>,
    /// Records that named an address the message was not sent to (logged, not recorded).
    pub unmatched: usize,
}

/// The events `analysis` means for `message`. `about` is what the return path (or the
/// feedback report's own reference) says about the recipient: a VERP index names one
/// recipient of the message, `Message` leaves it to the records.
pub fn events_for(
    message: &QueuedMessage,
    about: VerpRecipient,
    analysis: &Analysis,
    at: Timestamp,
) -> MessageReport {
    let mut report = MessageReport::default();
    let kind = match analysis.kind {
        MessageKind::Bounce => EventKind::Bounced,
        MessageKind::Feedback => EventKind::Complaint,
        // An out-of-office reply or a stray message to a return path says nothing about
        // deliverability.
        MessageKind::AutoReply | MessageKind::NotBounce => return report,
    };
    let relevant: Vec<&Record> = analysis
        .records
        .iter()
        .filter(|r| match kind {
            EventKind::Complaint => objects_to_the_mail(r),
            _ => is_failure_or_delay(r),
        })
        .collect();
    let mut recorded: Vec<(usize, EventKind)> = Vec::new();
    for record in &relevant {
        let index = match about {
            VerpRecipient::Index(i) => {
                let i = i as usize;
                if i >= message.recipients.len() {
                    report.unmatched += 1;
                    continue;
                }
                // The transaction carried this recipient alone, so whatever address the report
                // names (a forwarding target, an alias) it is about this one. Several records
                // (the alias expanded) make one event.
                i
            }
            VerpRecipient::Message => match recipient_index(message, &record.recipient) {
                Some(i) => i,
                None => {
                    report.unmatched += 1;
                    continue;
                }
            },
        };
        let event_kind = if kind == EventKind::Complaint {
            EventKind::Complaint
        } else if is_delay(record) {
            EventKind::Deferred
        } else {
            EventKind::Bounced
        };
        if recorded.contains(&(index, event_kind)) {
            continue;
        }
        recorded.push((index, event_kind));
        report
            .events
            .push(event(message, index, event_kind, record, at));
    }
    // A failure of a recipient makes a delay notice about it in the same report redundant.
    let bounced: Vec<usize> = recorded
        .iter()
        .filter(|(_, k)| *k == EventKind::Bounced)
        .map(|(i, _)| *i)
        .collect();
    report.events.retain(|e| {
        e.kind() != EventKind::Deferred
            || !bounced
                .iter()
                .any(|i| message.recipients[*i].address == e.recipient)
    });
    report
}

fn event(
    message: &QueuedMessage,
    index: usize,
    kind: EventKind,
    record: &Record,
    at: Timestamp,
) -> BounceEvent {
    let hard = (kind == EventKind::Bounced).then_some(record.hard);
    let effect = AddressSignal::of_event(kind, hard).effect();
    let exchange = Exchange {
        remote: record.remote_mta.clone().map(|host| Remote {
            host,
            ip: None,
            port: None,
            tls: None,
        }),
        // A code outside 200..=599 is a report's garbage, not a reply code.
        code: record
            .reply_code
            .as_deref()
            .and_then(|c| c.parse().ok())
            .filter(|c| (200..=599).contains(c)),
        status: record
            .status
            .as_deref()
            .and_then(hikyaku_model::EnhancedStatus::parse),
        text: Some(record.diagnostic.clone()).filter(|d| !d.is_empty()),
        delay_ms: Some(at.as_millis() - message.received_at.as_millis()),
        ..Exchange::by(EventSource::Report)
    };
    let details = match kind {
        EventKind::Complaint => EventDetails::Complaint {
            exchange,
            feedback_type: record.feedback_type.clone(),
        },
        EventKind::Deferred => EventDetails::Deferred {
            exchange,
            reason: Some(record.reason),
        },
        _ => EventDetails::Bounced {
            exchange,
            reason: record.reason,
            hard: record.hard,
        },
    };
    BounceEvent {
        customer_id: message.customer_id.clone(),
        message_id: message.id,
        recipient: message.recipients[index].address.clone(),
        mail_from: message.mail_from.clone(),
        at,
        details,
        effect,
    }
}

fn is_delay(record: &Record) -> bool {
    record.action == Some(Action::Delayed)
        && record.status.as_deref().is_none_or(|s| s.starts_with('4'))
}

/// Whether a feedback report says the recipient objected to the mail (RFC 5965 `abuse`,
/// `fraud`, `other`, or no type given, as feedback loops send): that is a complaint, which
/// suppresses the address. The other types report on the message, not on the recipient's
/// wishes: `auth-failure` (RFC 6591, a DMARC/SPF/DKIM failure report the receiver made on its
/// own), `not-spam` (RFC 6650, the user took the mail *out* of the spam folder), `virus` (the
/// receiver's scanner); suppressing the address for them would stop mail the recipient wants.
fn objects_to_the_mail(record: &Record) -> bool {
    !matches!(
        record.feedback_type.as_deref(),
        Some("auth-failure" | "not-spam" | "virus")
    )
}

fn is_failure_or_delay(record: &Record) -> bool {
    match record.action {
        Some(Action::Delivered | Action::Relayed | Action::Expanded) => false,
        _ => record.reason.is_failure(),
    }
}

/// The message's recipient a report names, compared without regard to case (the domain is
/// case-insensitive, and MTAs fold local parts too).
fn recipient_index(message: &QueuedMessage, named: &str) -> Option<usize> {
    let named = named.trim().trim_start_matches('<').trim_end_matches('>');
    message
        .recipients
        .iter()
        .position(|r| r.address.eq_ignore_ascii_case(named))
}

/// The platform message and the VERP address a feedback report (or a bounce that came to a
/// non-VERP address) refers to, read from the copy of the original it encloses: a `Return-Path`
/// that is a genuine VERP address of ours on a bounce domain (`is_bounce_domain`: the platform's
/// or a contract's) wins, since its tag proves the message was ours; else the
/// `X-Hikyaku-Message-Id` field, whose recipient the records must then name.
pub fn referenced_message(
    raw: &[u8],
    key: &hikyaku_model::VerpKey,
    is_bounce_domain: impl Fn(&str) -> bool,
) -> Option<(MessageId, VerpRecipient)> {
    let text = String::from_utf8_lossy(raw);
    let mut by_header = None;
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        if name.eq_ignore_ascii_case("Return-Path")
            || name.eq_ignore_ascii_case("X-Original-Return-Path")
        {
            let address = value.trim_start_matches('<').trim_end_matches('>').trim();
            let on_our_domain = address
                .rsplit_once('@')
                .is_some_and(|(_, domain)| is_bounce_domain(domain));
            if on_our_domain && let Some(verp) = key.decode(address) {
                return Some((verp.message, verp.recipient));
            }
        } else if by_header.is_none() && name.eq_ignore_ascii_case("X-Hikyaku-Message-Id") {
            by_header = value
                .parse::<MessageId>()
                .ok()
                .map(|id| (id, VerpRecipient::Message));
        }
    }
    by_header
}

#[cfg(test)]
mod tests {
    use super::*;
    use hikyaku_bounce::Reason;
    use hikyaku_model::{CustomerId, QueuedRecipient, RecipientState, VerpAddress, VerpKey};
    use hikyaku_store::{SuppressionEffect, SuppressionSource};

    fn message(recipients: &[&str]) -> QueuedMessage {
        QueuedMessage {
            id: MessageId::new(Timestamp(1_795_577_520_000)),
            customer_id: CustomerId::generate(),
            mail_from: "app@example.com".into(),
            size: 100,
            received_at: Timestamp(1_795_577_520_000),
            source_ip: "127.0.0.1".into(),
            node: "n1".into(),
            recipients: recipients
                .iter()
                .map(|a| QueuedRecipient {
                    address: a.to_string(),
                    state: RecipientState::Delivered,
                    attempts: 1,
                    next_attempt_at: None,
                    last_reply: None,
                })
                .collect(),
        }
    }

    fn record(recipient: &str, reason: Reason, action: Option<Action>, status: &str) -> Record {
        Record {
            recipient: recipient.into(),
            status: Some(status.into()),
            reply_code: Some(
                if status.starts_with('5') {
                    "550"
                } else {
                    "450"
                }
                .into(),
            ),
            reason,
            action,
            diagnostic: format!("{status} words"),
            remote_mta: Some("mx.example.jp".into()),
            command: None,
            hard: reason.is_hard(status.starts_with('5')),
            feedback_type: None,
        }
    }

    fn analysis(kind: MessageKind, records: Vec<Record>) -> Analysis {
        Analysis { kind, records }
    }

    const AT: Timestamp = Timestamp(1_795_577_580_000);

    #[test]
    fn a_hard_bounce_to_an_indexed_return_path_suppresses_that_recipient() {
        let m = message(&["a@example.jp", "b@example.jp"]);
        let a = analysis(
            MessageKind::Bounce,
            vec![record(
                "forwarded@elsewhere.jp",
                Reason::UserUnknown,
                Some(Action::Failed),
                "5.1.1",
            )],
        );
        let report = events_for(&m, VerpRecipient::Index(1), &a, AT);
        assert_eq!(report.unmatched, 0);
        let [event] = report.events.as_slice() else {
            panic!("{report:?}")
        };
        assert_eq!(event.recipient, "b@example.jp");
        assert_eq!(event.kind(), EventKind::Bounced);
        assert_eq!(
            event.effect,
            SuppressionEffect::Suppress(SuppressionSource::HardBounce)
        );
        assert_eq!(event.mail_from, "app@example.com");
        let d = &event.details;
        assert_eq!(d.reason(), Some(Reason::UserUnknown));
        assert_eq!(d.hard(), Some(true));
        assert_eq!(d.source(), Some(EventSource::Report));
        let x = d.exchange().unwrap();
        assert_eq!(x.status, Some(hikyaku_model::EnhancedStatus::new(5, 1, 1)));
        assert_eq!(x.code, Some(550));
        assert_eq!(
            x.remote.as_ref().map(|r| r.host.as_str()),
            Some("mx.example.jp")
        );
        assert_eq!(x.text.as_deref(), Some("5.1.1 words"));
        assert_eq!(x.delay_ms, Some(60_000));
    }

    #[test]
    fn a_whole_message_return_path_matches_records_by_address() {
        let m = message(&["a@example.jp", "B@Example.JP", "c@example.jp"]);
        let a = analysis(
            MessageKind::Bounce,
            vec![
                record(
                    "b@example.jp",
                    Reason::MailboxFull,
                    Some(Action::Failed),
                    "5.2.2",
                ),
                record("<c@EXAMPLE.jp>", Reason::UserUnknown, None, "5.1.1"),
                record("stranger@example.jp", Reason::UserUnknown, None, "5.1.1"),
                record(
                    "a@example.jp",
                    Reason::Delivered,
                    Some(Action::Delivered),
                    "2.0.0",
                ),
            ],
        );
        let report = events_for(&m, VerpRecipient::Message, &a, AT);
        assert_eq!(report.unmatched, 1, "the stranger");
        let got: Vec<(&str, EventKind, &SuppressionEffect)> = report
            .events
            .iter()
            .map(|e| (e.recipient.as_str(), e.kind(), &e.effect))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "B@Example.JP",
                    EventKind::Bounced,
                    &SuppressionEffect::CountSoft
                ),
                (
                    "c@example.jp",
                    EventKind::Bounced,
                    &SuppressionEffect::Suppress(SuppressionSource::HardBounce)
                ),
            ]
        );
    }

    #[test]
    fn delays_are_deferrals_unless_the_same_report_fails_the_recipient() {
        let m = message(&["a@example.jp", "b@example.jp"]);
        let a = analysis(
            MessageKind::Bounce,
            vec![
                record(
                    "a@example.jp",
                    Reason::Expired,
                    Some(Action::Delayed),
                    "4.4.7",
                ),
                record(
                    "b@example.jp",
                    Reason::Expired,
                    Some(Action::Delayed),
                    "4.4.7",
                ),
                record(
                    "b@example.jp",
                    Reason::UserUnknown,
                    Some(Action::Failed),
                    "5.1.1",
                ),
            ],
        );
        let report = events_for(&m, VerpRecipient::Message, &a, AT);
        let got: Vec<(&str, EventKind)> = report
            .events
            .iter()
            .map(|e| (e.recipient.as_str(), e.kind()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a@example.jp", EventKind::Deferred),
                ("b@example.jp", EventKind::Bounced)
            ]
        );
        assert_eq!(report.events[0].effect, SuppressionEffect::Nothing);
    }

    #[test]
    fn only_feedback_that_objects_to_the_mail_is_a_complaint() {
        let m = message(&["a@example.jp"]);
        // (Feedback-Type, whether the recipient objected to the mail)
        let table = [
            (Some("abuse"), true),
            (Some("fraud"), true),
            (Some("other"), true),
            (None, true),
            // RFC 6591: the sender's SPF/DKIM/DMARC failed at the receiver; nobody objected.
            (Some("auth-failure"), false),
            // RFC 6650: the user took the mail *out* of the spam folder.
            (Some("not-spam"), false),
            // The receiver's scanner found a virus: a fault of the message, not the address.
            (Some("virus"), false),
        ];
        for (feedback_type, objects) in table {
            let mut feedback = record("a@example.jp", Reason::Feedback, None, "");
            feedback.feedback_type = feedback_type.map(String::from);
            let report = events_for(
                &m,
                VerpRecipient::Message,
                &analysis(MessageKind::Feedback, vec![feedback]),
                AT,
            );
            let complaints = report
                .events
                .iter()
                .filter(|e| e.kind() == EventKind::Complaint)
                .count();
            assert_eq!(
                complaints,
                usize::from(objects),
                "{feedback_type:?}: {report:?}"
            );
            assert_eq!(report.events.len(), complaints, "{feedback_type:?}");
        }
    }

    #[test]
    fn complaints_suppress_and_auto_replies_do_nothing() {
        let m = message(&["a@example.jp"]);
        let mut complaint = record("a@example.jp", Reason::Feedback, None, "");
        complaint.status = None;
        complaint.reply_code = None;
        complaint.feedback_type = Some("abuse".into());
        let report = events_for(
            &m,
            VerpRecipient::Message,
            &analysis(MessageKind::Feedback, vec![complaint]),
            AT,
        );
        let [event] = report.events.as_slice() else {
            panic!("{report:?}")
        };
        assert_eq!(event.kind(), EventKind::Complaint);
        assert_eq!(
            event.effect,
            SuppressionEffect::Suppress(SuppressionSource::Complaint)
        );
        assert!(
            matches!(&event.details, EventDetails::Complaint { feedback_type: Some(t), .. } if t == "abuse")
        );
        assert_eq!(event.details.hard(), None);

        let vacation = analysis(
            MessageKind::AutoReply,
            vec![record("a@example.jp", Reason::Vacation, None, "")],
        );
        assert!(
            events_for(&m, VerpRecipient::Index(0), &vacation, AT)
                .events
                .is_empty()
        );
        assert!(
            events_for(
                &m,
                VerpRecipient::Index(5),
                &analysis(
                    MessageKind::Bounce,
                    vec![record("a@example.jp", Reason::UserUnknown, None, "5.1.1")]
                ),
                AT
            )
            .events
            .is_empty(),
            "an index beyond the message's recipients"
        );
    }

    #[test]
    fn the_enclosed_original_names_its_message() {
        let key = VerpKey::new([3; 32]);
        let id = MessageId::new(Timestamp(1_795_577_520_000));
        let verp = key.encode(
            VerpAddress {
                message: id,
                recipient: VerpRecipient::Index(2),
            },
            "bounce.example.com",
        );
        let arf = format!(
            "From: fbl@isp.example\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
             Return-Path: <{verp}>\r\nX-Hikyaku-Message-Id: {id}\r\nSubject: hi\r\n"
        );
        assert_eq!(
            referenced_message(arf.as_bytes(), &key, |d| d == "bounce.example.com"),
            Some((id, VerpRecipient::Index(2)))
        );
        // On another domain, the Return-Path proves nothing; the platform header still names
        // the message, leaving the recipient to the records.
        assert_eq!(
            referenced_message(arf.as_bytes(), &key, |d| d == "other.example"),
            Some((id, VerpRecipient::Message))
        );
        let forged = arf.replace(&verp[2..6], "zzzz");
        assert_eq!(
            referenced_message(
                forged.replace("X-Hikyaku-Message-Id", "X-Other").as_bytes(),
                &key,
                |d| d == "bounce.example.com"
            ),
            None
        );
        assert_eq!(referenced_message(b"", &key, |_| true), None);
    }
}
