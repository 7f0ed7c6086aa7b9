//! What a reply means for a recipient — a pure function of the reply, the attempt, the time and
//! the message's expiry — and recording it: the send log, the mail log, the metrics and the
//! retry.

use super::{Shared, domain_of, metrics};
use crate::classify::{Refusal, reason, recipient_state};
use crate::client::Reply;
use crate::schedule::{Due, next_attempt};
use hikyaku_model::{
    EventDetails, EventSource, Exchange, MessageId, Reason, RecipientState, Remote, Timestamp,
};
use hikyaku_store::{
    AddressSignal, Outcome as StoreOutcome, RecipientOutcome, SUPPRESSION_LIST_SOURCE,
    SuppressionEffect, SuppressionEntry,
};
use std::time::Duration;

/// What happens to a recipient after one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub outcome: StoreOutcome,
    /// Sisimai's name for why it was not delivered; `None` when it was.
    pub reason: Option<Reason>,
    /// For bounces: whether the address is not worth sending to again (it goes on the
    /// contract's suppression list, exactly as its bounce mail would put it).
    pub hard: Option<bool>,
}

/// The verdict on one recipient after the reply `result` to its `attempts`-th attempt (1 for
/// the first), made at `now` for a message that expires at `expires_at`. `known_reason` is a
/// reason the caller knows better than the reply can tell (the resolver's, for a DNS failure).
pub(crate) fn judge(
    result: &Result<Reply, Refusal>,
    attempts: u32,
    now: Timestamp,
    expires_at: Timestamp,
    retry_intervals: &[Duration],
    known_reason: Option<Reason>,
) -> Verdict {
    let refusal = match result {
        Ok(_) => {
            return Verdict {
                outcome: StoreOutcome::Delivered,
                reason: None,
                hard: None,
            };
        }
        Err(refusal) => refusal,
    };
    let why = || known_reason.or_else(|| reason(refusal));
    match recipient_state(refusal.reply.code) {
        RecipientState::Bounced => {
            let reason = why();
            let hard = reason.is_some_and(|r| r.is_hard(true));
            Verdict {
                outcome: StoreOutcome::Bounced,
                reason,
                hard: Some(hard),
            }
        }
        // A refusal with a positive code is a protocol oddity: as temporary as a 4xx.
        _ if now >= expires_at => Verdict {
            outcome: StoreOutcome::Expired,
            reason: Some(Reason::Expired),
            hard: None,
        },
        _ => Verdict {
            outcome: StoreOutcome::Deferred {
                next_attempt_at: next_attempt(attempts, retry_intervals, now, expires_at),
            },
            reason: why(),
            hard: None,
        },
    }
}

pub(crate) fn received_expiry(received_at: Timestamp, lifetime: Duration) -> Timestamp {
    received_at.saturating_add(lifetime)
}

/// `host:port` of the destination a send-log entry names, `-` when there was none (a DNS
/// failure, an unreadable message).
fn destination(remote: Option<&Remote>) -> String {
    match remote.map(|r| (&r.host, r.port)) {
        Some((host, Some(port))) if host.contains(':') => format!("[{host}]:{port}"),
        Some((host, Some(port))) => format!("{host}:{port}"),
        Some((host, None)) => host.clone(),
        None => "-".to_string(),
    }
}

/// The mail log: one line per recipient per attempt, the line an operator greps (target
/// `hikyaku::mail`). Domains only: addresses are kept sealed, not in log files.
fn log_attempt(message: MessageId, domain: &str, details: &EventDetails) {
    let exchange = details.exchange();
    tracing::info!(
        target: "hikyaku::mail",
        message = %message,
        domain,
        destination = %destination(exchange.and_then(|e| e.remote.as_ref())),
        outcome = details.kind().as_str(),
        code = exchange.and_then(|e| e.code),
        status = exchange.and_then(|e| e.status).map(|s| s.to_string()),
        said = exchange.map(|e| e.source.as_str()),
        attempt = exchange.and_then(|e| e.attempt),
        delay_ms = exchange.and_then(|e| e.delay_ms),
        reason = details.reason().map(Reason::as_str),
        text = exchange.and_then(|e| e.text.as_deref()),
        "delivery attempt"
    );
}

/// The send-log details of a verdict on one reply.
fn details_of(verdict: &Verdict, exchange: Exchange) -> EventDetails {
    match verdict.outcome {
        StoreOutcome::Delivered => EventDetails::Delivered { exchange },
        StoreOutcome::Deferred { .. } => EventDetails::Deferred {
            exchange,
            reason: verdict.reason,
        },
        StoreOutcome::Bounced => EventDetails::Bounced {
            exchange,
            reason: verdict.reason.unwrap_or(Reason::Undefined),
            hard: verdict.hard.unwrap_or(false),
        },
        StoreOutcome::Expired => EventDetails::Expired { exchange },
        StoreOutcome::Suppressed => EventDetails::Suppressed {
            source: SUPPRESSION_LIST_SOURCE,
            note: None,
        },
    }
}

/// Which recipients' outcomes may change the contract's suppression list.
#[derive(Debug, Clone, Copy)]
pub(super) enum Listing<'a> {
    /// Every one, as its reply says (a real delivery).
    AsTheReplySays,
    /// Only these (the mailbox simulator's, see its module).
    Only(&'a [u32]),
}

impl Shared {
    /// Records results for recipients of one message and reschedules the deferred ones.
    pub(super) fn conclude(
        &self,
        message: MessageId,
        results: Vec<(u32, Result<Reply, Refusal>)>,
        remote: Option<&Remote>,
        known_reason: Option<Reason>,
    ) {
        self.conclude_listing(
            message,
            results,
            remote,
            known_reason,
            Listing::AsTheReplySays,
        );
    }

    /// [`Shared::conclude`], with `listing` saying whose outcomes may list an address.
    pub(super) fn conclude_listing(
        &self,
        message: MessageId,
        results: Vec<(u32, Result<Reply, Refusal>)>,
        remote: Option<&Remote>,
        known_reason: Option<Reason>,
        listing: Listing<'_>,
    ) {
        let now = self.clock.now();
        let mut core = self.core.lock().unwrap();
        let Some(entry) = core.messages.get_mut(&message) else {
            return;
        };
        let expires_at = received_expiry(entry.received_at, self.settings.lifetime);
        let delay_ms = now.0 - entry.received_at.0;
        let mut retry: Vec<u32> = Vec::new();
        let mut retry_at = expires_at;
        for (index, result) in results {
            let Some(recipient) = entry.recipients.get_mut(index as usize) else {
                continue;
            };
            if recipient.done {
                continue;
            }
            recipient.attempts += 1;
            let verdict = judge(
                &result,
                recipient.attempts,
                now,
                expires_at,
                &self.settings.retry_intervals,
                known_reason,
            );
            let (reply, local) = match &result {
                Ok(reply) => (reply, false),
                Err(refusal) => (&refusal.reply, refusal.local),
            };
            if let StoreOutcome::Deferred { next_attempt_at } = verdict.outcome {
                retry.push(index);
                retry_at = retry_at.min(next_attempt_at);
            }
            recipient.done = verdict.outcome.state().is_final();
            recipient.last_reply = Some(reply.to_string());
            let exchange = Exchange {
                remote: remote.cloned(),
                delay_ms: Some(delay_ms),
                attempt: Some(recipient.attempts),
                ..Exchange::by(if local {
                    EventSource::Local
                } else {
                    EventSource::Smtp
                })
            }
            .with_reply(reply);
            let details = details_of(&verdict, exchange);
            let kind = verdict.outcome.event_kind();
            let reason = verdict.reason;
            self.report(
                &recipient.address,
                reason.map(Reason::as_str),
                RecipientOutcome {
                    message_id: message,
                    recipient_index: index,
                    at: now,
                    outcome: verdict.outcome,
                    suppression: match listing {
                        Listing::Only(these) if !these.contains(&index) => {
                            SuppressionEffect::Nothing
                        }
                        _ => AddressSignal::of_event(kind, verdict.hard).effect(),
                    },
                    details,
                },
            );
        }
        if !retry.is_empty() {
            let domain = domain_of(&entry.recipients[retry[0] as usize].address);
            // The retry is minutes away: memory is better spent on new messages.
            core.drop_body(&message);
            core.schedule.push(Due {
                at: retry_at,
                message,
                domain,
                recipients: retry,
            });
            drop(core);
            self.wake.notify_one();
        }
    }

    /// Ends recipients whose message outlived its lifetime before their next attempt.
    pub(super) fn expire(&self, message: MessageId, recipients: &[u32]) {
        let mut core = self.core.lock().unwrap();
        let Some(entry) = core.messages.get_mut(&message) else {
            return;
        };
        let now = self.clock.now();
        for &index in recipients {
            let Some(recipient) = entry.recipients.get_mut(index as usize) else {
                continue;
            };
            recipient.done = true;
            let details = EventDetails::Expired {
                exchange: Exchange {
                    text: Some(format!(
                        "not delivered within the message lifetime; last reply: {}",
                        recipient.last_reply.as_deref().unwrap_or("none")
                    )),
                    delay_ms: Some(now.0 - entry.received_at.0),
                    attempt: Some(recipient.attempts),
                    ..Exchange::by(EventSource::Local)
                },
            };
            self.report(
                &recipient.address,
                Some("expired"),
                RecipientOutcome {
                    message_id: message,
                    recipient_index: index,
                    at: now,
                    outcome: StoreOutcome::Expired,
                    details,
                    suppression: SuppressionEffect::Nothing,
                },
            );
        }
    }

    /// Ends recipients whose addresses went on the contract's suppression list while the
    /// message waited: `listed` pairs each recipient's index with its list entry. No attempt
    /// is made or counted.
    pub(super) fn suppress(&self, message: MessageId, listed: &[(u32, SuppressionEntry)]) {
        let mut core = self.core.lock().unwrap();
        let Some(entry) = core.messages.get_mut(&message) else {
            return;
        };
        let now = self.clock.now();
        for (index, listing) in listed {
            let Some(recipient) = entry.recipients.get_mut(*index as usize) else {
                continue;
            };
            if recipient.done {
                continue;
            }
            recipient.done = true;
            // As at acceptance: the entry's reason says why the address is not sent to.
            let details = EventDetails::Suppressed {
                source: SUPPRESSION_LIST_SOURCE,
                note: listing.reason.clone(),
            };
            // The entry's reason may be an operator's free text: the metric counts by source.
            self.report(
                &recipient.address,
                Some(listing.source.as_str()),
                RecipientOutcome {
                    message_id: message,
                    recipient_index: *index,
                    at: now,
                    outcome: StoreOutcome::Suppressed,
                    details,
                    suppression: SuppressionEffect::Nothing,
                },
            );
        }
    }

    /// Writes one recipient's outcome to the mail log, counts it with `counted_as` as its
    /// `reason` label, and hands it to the recorder.
    fn report(&self, address: &str, counted_as: Option<&str>, outcome: RecipientOutcome) {
        let kind = outcome.outcome.event_kind();
        log_attempt(outcome.message_id, &domain_of(address), &outcome.details);
        metrics::outcome(kind, counted_as);
        self.record(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{EnhancedStatus, Stage};

    const MINUTE: i64 = 60_000;

    fn reply(code: u16, status: &str, text: &str) -> Reply {
        Reply {
            code,
            enhanced: EnhancedStatus::parse(status),
            text: text.to_string(),
        }
    }

    fn remote(code: u16, status: &str, text: &str, stage: Stage) -> Result<Reply, Refusal> {
        Err(Refusal {
            reply: reply(code, status, text),
            stage: Some(stage),
            local: false,
        })
    }

    #[test]
    fn a_reply_decides_delivery_bounce_retry_or_expiry() {
        let intervals = [Duration::from_secs(60), Duration::from_secs(600)];
        let now = Timestamp(1_000 * MINUTE);
        let later = Timestamp(now.0 + 3 * 24 * 60 * MINUTE);
        let deferred = |from: i64, to: i64| {
            move |v: &Verdict| {
                matches!(v.outcome, StoreOutcome::Deferred { next_attempt_at }
                    if (now.0 + from..=now.0 + to).contains(&next_attempt_at.0))
            }
        };
        /// The reply, the attempt it answered, the expiry, a reason known beforehand, and what
        /// the verdict must be.
        type Row<'a> = (
            Result<Reply, Refusal>,
            u32,
            Timestamp,
            Option<Reason>,
            Box<dyn Fn(&Verdict) -> bool + 'a>,
        );
        let table: Vec<Row<'_>> = vec![
            (
                Ok(reply(250, "2.0.0", "queued")),
                1,
                later,
                None,
                Box::new(move |v| v.outcome == StoreOutcome::Delivered && v.reason.is_none()),
            ),
            // A user unknown at RCPT is a hard bounce: the address goes on the list.
            (
                remote(550, "5.1.1", "user unknown", Stage::RcptTo),
                1,
                later,
                None,
                Box::new(move |v| {
                    v.outcome == StoreOutcome::Bounced
                        && v.reason == Some(Reason::UserUnknown)
                        && v.hard == Some(true)
                }),
            ),
            // A full mailbox bounces softly: sending later may succeed.
            (
                remote(552, "5.2.2", "mailbox full", Stage::RcptTo),
                1,
                later,
                None,
                Box::new(move |v| v.outcome == StoreOutcome::Bounced && v.hard == Some(false)),
            ),
            // A 4xx waits the first interval (±10 %) after the first attempt…
            (
                remote(451, "4.3.0", "try later", Stage::EndOfData),
                1,
                later,
                None,
                Box::new(deferred(54_000, 66_000)),
            ),
            // …and the last interval, repeated, after later ones.
            (
                remote(451, "4.3.0", "try later", Stage::EndOfData),
                4,
                later,
                None,
                Box::new(deferred(540_000, 660_000)),
            ),
            // Never past the expiry: the last attempt is made at it.
            (
                remote(451, "4.3.0", "try later", Stage::EndOfData),
                1,
                Timestamp(now.0 + 1_000),
                None,
                Box::new(move |v| {
                    v.outcome
                        == StoreOutcome::Deferred {
                            next_attempt_at: Timestamp(now.0 + 1_000),
                        }
                }),
            ),
            // A 4xx at or after the expiry ends it.
            (
                remote(421, "4.7.0", "closing", Stage::Greeting),
                9,
                now,
                None,
                Box::new(move |v| {
                    v.outcome == StoreOutcome::Expired && v.reason == Some(Reason::Expired)
                }),
            ),
            // A 5xx bounces even after the expiry: the answer is final either way.
            (
                remote(550, "5.1.1", "user unknown", Stage::RcptTo),
                9,
                now,
                None,
                Box::new(move |v| v.outcome == StoreOutcome::Bounced),
            ),
            // A refusal with a positive code is retried, not taken for a delivery.
            (
                remote(250, "2.0.0", "odd", Stage::RcptTo),
                1,
                later,
                None,
                Box::new(deferred(54_000, 66_000)),
            ),
            // The resolver's reason wins over one guessed from the reply.
            (
                Err(Refusal::local(reply(550, "5.1.2", "no such domain"))),
                1,
                later,
                Some(Reason::HostUnknown),
                Box::new(move |v| {
                    v.outcome == StoreOutcome::Bounced
                        && v.reason == Some(Reason::HostUnknown)
                        && v.hard == Some(true)
                }),
            ),
        ];
        for (i, (result, attempts, expires_at, known, check)) in table.into_iter().enumerate() {
            let verdict = judge(&result, attempts, now, expires_at, &intervals, known);
            assert!(check(&verdict), "row {i}: {result:?} gave {verdict:?}");
        }
    }

    #[test]
    fn the_mail_log_names_the_destination_with_its_port() {
        let fields = |host: Option<&str>, port: Option<u16>| {
            host.map(|host| Remote {
                host: host.to_string(),
                ip: None,
                port,
                tls: None,
            })
        };
        assert_eq!(
            destination(fields(Some("127.0.0.1"), Some(3542)).as_ref()),
            "127.0.0.1:3542"
        );
        assert_eq!(
            destination(fields(Some("::1"), Some(25)).as_ref()),
            "[::1]:25"
        );
        assert_eq!(
            destination(fields(Some("mx.example.jp"), None).as_ref()),
            "mx.example.jp"
        );
        assert_eq!(destination(fields(None, None).as_ref()), "-");
    }
}
