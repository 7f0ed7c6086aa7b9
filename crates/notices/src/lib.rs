//! Contract notices: the scans that record them and the mailer that tells the contract's
//! admins. A notice is about a contract, not a message (an S/MIME certificate running out, a
//! webhook endpoint disabled, a trial ending); anything may record one with
//! `Store::record_notice`, once per thing it is about, and this crate mails each new one.
//!
//! The mail goes through the platform itself: composed like an HTTP API send
//! (`hikyaku_compose`) and taken in by the relay's submit path (`hikyaku_relay::Submitter`) as
//! the service's own contract (`Store::notice_sender_contract`), so it is DKIM-signed, queued,
//! delivered, retried and logged like any mail. Mailing is at least once: a notice is claimed
//! with a lease, and marked mailed only after the relay has it durably; a node that stops in
//! between leaves it to be claimed again when the lease ends.
//!
//! The clock is injected ([`Clock`]) so that tests can stand 30 days later.

use hikyaku_api_types::send::{Address, Charset, NamedAddress, SendRequest};
use hikyaku_compose::{ComposeError, Composer};
use hikyaku_model::{ContractState, CustomerId, MessageId, NoticeKind, Role, Timestamp};
use hikyaku_relay::{SubmitError, Submitter};
use hikyaku_store::{IdPage, Notice, Store, StoreError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// What the mailer takes as "now".
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Certificates ending within this time are noticed as expiring.
pub const SMIME_EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);

/// The name of the contract the service sends notices as, when it makes one.
pub const SENDER_CONTRACT_NAME: &str = "Hikyaku contract notices";

/// How the mailer runs.
#[derive(Debug, Clone)]
pub struct NoticeSettings {
    /// The From address.
    pub from: String,
    /// The display name beside it.
    pub from_name: String,
    /// How often to look for notices to mail.
    pub poll_interval: Duration,
    /// How often to scan for new notices (S/MIME certificates).
    pub scan_interval: Duration,
    /// How long a claimed notice is left to its mailer before another may take it.
    pub lease: Duration,
    /// Notices claimed at once.
    pub batch: u32,
    /// Where contracts' inquiries go (`[operator] email`); without it they are only listed in
    /// the operator area.
    pub operator_email: Option<String>,
    /// The platform's public base URL (`http.public_url`), for links in the mail (an outage's
    /// notice names the console's availability page); without it the mail names paths only.
    pub public_url: Option<String>,
}

impl NoticeSettings {
    /// The defaults for mail from `from`: a poll every 10 seconds, a scan a day, a 5-minute
    /// lease, 20 at a time.
    pub fn new(from: impl Into<String>) -> NoticeSettings {
        NoticeSettings {
            from: from.into(),
            from_name: "Hikyaku".to_string(),
            poll_interval: Duration::from_secs(10),
            scan_interval: Duration::from_secs(86_400),
            lease: Duration::from_secs(300),
            batch: 20,
            operator_email: None,
            public_url: None,
        }
    }
}

/// Why a notice could not be mailed this time (it is claimed again when its lease ends).
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("the notice mail could not be composed: {0}")]
    Compose(#[from] ComposeError),
    #[error("the relay did not take the notice mail: {0}")]
    Submit(#[from] SubmitError),
}

/// The scans and the mailer. Cheap to clone.
#[derive(Clone)]
pub struct Notices {
    store: Store,
    composer: Composer,
    submitter: Submitter,
    settings: Arc<NoticeSettings>,
    clock: Clock,
}

impl Notices {
    pub fn new(
        store: Store,
        composer: Composer,
        submitter: Submitter,
        settings: NoticeSettings,
    ) -> Notices {
        Notices {
            store,
            composer,
            submitter,
            settings: Arc::new(settings),
            clock: Arc::new(Timestamp::now),
        }
    }

    /// The same with another clock.
    pub fn with_clock(mut self, clock: Clock) -> Notices {
        self.clock = clock;
        self
    }

    /// Records a notice for every S/MIME certificate that has expired
    /// (`smime_certificate_expired`) or ends within [`SMIME_EXPIRY_WARNING`]
    /// (`smime_certificate_expiring`), keyed by the certificate's ID so that each is recorded
    /// once however often the scan runs. Returns how many were new.
    pub async fn scan_smime_certificates(&self) -> Result<usize, StoreError> {
        let now = (self.clock)();
        let horizon = now.saturating_add(SMIME_EXPIRY_WARNING);
        let mut recorded = 0;
        for certificate in self.store.smime_certificates_expiring(horizon).await? {
            let kind = if certificate.not_after <= now {
                NoticeKind::SmimeCertificateExpired
            } else {
                NoticeKind::SmimeCertificateExpiring
            };
            let details = json!({
                "certificate_id": certificate.id,
                "subject": certificate.subject,
                "addresses": certificate.addresses,
                "not_after": certificate.not_after.to_string(),
            });
            let new = self
                .store
                .record_notice(
                    &certificate.customer_id,
                    kind,
                    &certificate.id.to_string(),
                    details,
                    now,
                )
                .await;
            match new {
                Ok(Some(_)) => recorded += 1,
                Ok(None) => {}
                // Removed with its contract since the listing: nothing to tell anyone.
                Err(StoreError::ContractNotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(recorded)
    }

    /// Mails every notice due now, a batch at a time. Returns how many were mailed; a notice
    /// that failed is logged and left to come back when its lease ends.
    pub async fn mail_due(&self) -> Result<usize, StoreError> {
        let mut mailed = 0;
        let mut sender = None;
        loop {
            let now = (self.clock)();
            let claimed = self
                .store
                .claim_notices_to_mail(now, self.settings.lease, self.settings.batch)
                .await?;
            if claimed.is_empty() {
                return Ok(mailed);
            }
            let sender = match &sender {
                Some(sender) => sender,
                None => sender.insert(
                    self.store
                        .notice_sender_contract(SENDER_CONTRACT_NAME)
                        .await?,
                ),
            };
            let count = claimed.len();
            for notice in claimed {
                match self.mail_one(sender, &notice).await {
                    Ok(recipients) => {
                        self.store
                            .finish_notice_mail(notice.id, (self.clock)(), recipients)
                            .await?;
                        tracing::info!(id = notice.id, customer = %notice.customer_id, kind = %notice.kind, recipients, "contract notice mailed");
                        mailed += 1;
                    }
                    Err(error) => {
                        tracing::error!(id = notice.id, customer = %notice.customer_id, kind = %notice.kind, %error, "contract notice not mailed; trying again later");
                    }
                }
            }
            if count < self.settings.batch as usize {
                return Ok(mailed);
            }
        }
    }

    /// Sends one notice to its contract's admins; returns to how many.
    async fn mail_one(&self, sender: &CustomerId, notice: &Notice) -> Result<u32, NoticeError> {
        let Some(contract) = self.store.contract(&notice.customer_id).await? else {
            return Ok(0);
        };
        // A terminated contract's people are no longer the platform's to write to.
        if contract.state == ContractState::Terminated {
            return Ok(0);
        }
        // An inquiry goes the other way: from the contract's user to the operator.
        let (admins, reply_to) = if notice.kind == NoticeKind::Inquiry {
            let Some(operator) = &self.settings.operator_email else {
                tracing::warn!(id = notice.id, customer = %notice.customer_id, "an inquiry was not mailed: [operator] email is not set (it is listed in the operator area)");
                return Ok(0);
            };
            let reply_to = notice
                .details
                .get("from")
                .and_then(Value::as_str)
                .map(|from| vec![Address::Plain(from.to_string())])
                .unwrap_or_default();
            (vec![operator.clone()], reply_to)
        } else {
            (self.admins(&notice.customer_id).await?, Vec::new())
        };
        if admins.is_empty() {
            tracing::warn!(id = notice.id, customer = %notice.customer_id, "contract notice has nobody to go to: the contract has no admin user");
            return Ok(0);
        }
        let (subject, text) = render(notice, &contract.name, self.settings.public_url.as_deref());
        let request = SendRequest {
            from: Address::Named(NamedAddress {
                name: Some(self.settings.from_name.clone()),
                address: self.settings.from.clone(),
            }),
            to: admins.iter().cloned().map(Address::Plain).collect(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to,
            subject,
            text: Some(text),
            html: None,
            attachments: Vec::new(),
            headers: BTreeMap::new(),
            tags: vec!["notice".to_string(), notice.kind.as_str().to_string()],
            metadata: BTreeMap::from([
                ("notice_id".to_string(), notice.id.to_string()),
                ("customer_id".to_string(), notice.customer_id.to_string()),
            ]),
            charset: Charset::default(),
        };
        let now = (self.clock)();
        let message = self.composer.compose(&request, MessageId::new(now), now)?;
        self.submitter
            .submit(sender, IpAddr::V4(Ipv4Addr::LOCALHOST), message)
            .await?;
        Ok(u32::try_from(admins.len()).unwrap_or(u32::MAX))
    }

    /// The e-mail addresses of the contract's admin users, each once.
    async fn admins(&self, customer: &CustomerId) -> Result<Vec<String>, StoreError> {
        let mut admins: Vec<String> = Vec::new();
        let mut page = IdPage {
            after: None,
            limit: Some(500),
        };
        loop {
            let users = self.store.console_users(customer, &page).await?;
            let Some(last) = users.last() else { break };
            page.after = Some(last.user_id.clone());
            for user in &users {
                if user.role == Role::Admin
                    && !admins.iter().any(|a| a.eq_ignore_ascii_case(&user.email))
                {
                    admins.push(user.email.clone());
                }
            }
        }
        Ok(admins)
    }

    /// Scans now and then every `scan_interval`, and mails due notices every
    /// `poll_interval`, until `stop` completes.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut next_scan = (self.clock)();
        loop {
            if (self.clock)() >= next_scan {
                match self.scan_smime_certificates().await {
                    Ok(0) => {}
                    Ok(recorded) => tracing::info!(recorded, "S/MIME certificate notices recorded"),
                    Err(error) => tracing::error!(%error, "the S/MIME certificate scan failed"),
                }
                next_scan = (self.clock)().saturating_add(self.settings.scan_interval);
            }
            if let Err(error) = self.mail_due().await {
                tracing::error!(%error, "contract notices could not be read");
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }
}

/// The subject and plain text of a notice's mail.
fn render(notice: &Notice, contract_name: &str, public_url: Option<&str>) -> (String, String) {
    let d = &notice.details;
    // Where the outage's minutes are shown: the console's page and the API, on the platform's
    // public address when it has one.
    let availability = match public_url {
        Some(base) => format!(
            "The minutes count against this month's availability, shown with its credit on the \
             console's Availability page ({base}/availability) and by the API (GET \
             {base}/api/v1/availability)."
        ),
        None => "The minutes count against this month's availability, shown with its credit \
                 on the console's Availability page and by the API (GET /api/v1/availability)."
            .to_string(),
    };
    let text_of = |key: &str| match d.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let contract = format!("{contract_name} ({})", notice.customer_id);
    let (subject, what) = match notice.kind {
        NoticeKind::SmimeCertificateExpiring => (
            format!(
                "S/MIME certificate {} expires on {}",
                notice.key,
                text_of("not_after")
            ),
            format!(
                "The S/MIME certificate {} (\"{}\") of your contract {contract} expires on {}. \
                 After that, mail from its addresses is sent without an S/MIME signature. \
                 Install a renewed certificate before then, and remove this one once it is in \
                 place.",
                notice.key,
                text_of("subject"),
                text_of("not_after")
            ),
        ),
        NoticeKind::SmimeCertificateExpired => (
            format!("S/MIME certificate {} has expired", notice.key),
            format!(
                "The S/MIME certificate {} (\"{}\") of your contract {contract} expired on {}: \
                 mail from its addresses is now sent without an S/MIME signature. Install a \
                 renewed certificate and remove this one.",
                notice.key,
                text_of("subject"),
                text_of("not_after")
            ),
        ),
        NoticeKind::WebhookEndpointDisabled => (
            "A webhook endpoint was disabled".to_string(),
            format!(
                "A webhook endpoint of your contract {contract} failed for too long and was \
                 disabled: no events are sent to it until it is enabled again."
            ),
        ),
        NoticeKind::TrialExpiring => (
            "Your trial ends soon".to_string(),
            format!("The trial of your contract {contract} ends soon."),
        ),
        NoticeKind::TrialSuspended => (
            "Your trial has ended".to_string(),
            format!("The trial of your contract {contract} has ended and it was suspended."),
        ),
        NoticeKind::ReputationWarning => (
            "Reputation warning".to_string(),
            format!(
                "The bounce or complaint rate of your contract {contract} is high enough to \
                 endanger delivery for everyone: please check your lists."
            ),
        ),
        NoticeKind::SendingPaused => (
            "Sending paused".to_string(),
            format!("Sending has been paused for your contract {contract}."),
        ),
        NoticeKind::Maintenance => {
            let emergency = d.get("emergency").and_then(Value::as_bool) == Some(true);
            (
                // The period is in the text: a subject this short stays readable unencoded.
                format!(
                    "{}Maintenance: {}",
                    if emergency { "Emergency " } else { "" },
                    text_of("title")
                ),
                format!(
                    "The platform will be under maintenance from {} to {} (UTC). This notice \
                     is sent to the admins of every contract, including yours, {contract}.",
                    text_of("starts_at"),
                    text_of("ends_at")
                ),
            )
        }
        NoticeKind::Outage if d.get("ongoing").and_then(Value::as_bool) == Some(true) => (
            format!("Outage since {}", text_of("starts_at")),
            format!(
                "The platform has not answered since {} (UTC): no node takes SMTP connections \
                 or HTTP requests. We are working on it, and a second notice will tell you \
                 when it is over. Until then, mail your clients could not hand over is not \
                 taken: clients that retry (SMTP 4xx, API errors) are served once it is back. \
                 {availability} This notice is sent to the admins of every contract, \
                 including yours, {contract}.",
                text_of("starts_at"),
            ),
        ),
        NoticeKind::Outage => (
            format!(
                "Outage: {} minutes from {}",
                text_of("minutes"),
                text_of("starts_at")
            ),
            format!(
                "The platform did not answer from {} to {} (UTC), {} minutes: no node took \
                 SMTP connections or HTTP requests in that time. Clients that retried (SMTP \
                 4xx, API errors) have been served since; mail they gave up on in that time \
                 was not taken and must be sent again. {availability} This notice is sent to \
                 the admins of every contract, including yours, {contract}.",
                text_of("starts_at"),
                text_of("ends_at"),
                text_of("minutes")
            ),
        ),
        NoticeKind::OutageResolved => (
            format!(
                "Outage resolved: {} minutes from {}",
                text_of("minutes"),
                text_of("starts_at")
            ),
            format!(
                "The outage that began at {} (UTC) is over: the platform has answered again \
                 since {}, after {} minutes. Clients that retried (SMTP 4xx, API errors) are \
                 served again; mail they gave up on in that time was not taken and must be \
                 sent again. {availability} This notice is sent to the admins of every \
                 contract, including yours, {contract}.",
                text_of("starts_at"),
                text_of("ends_at"),
                text_of("minutes")
            ),
        ),
        NoticeKind::Inquiry => (
            format!("Inquiry from {contract}: {}", text_of("subject")),
            format!(
                "The contract {contract} sent an inquiry from the console or the API. Reply to \
                 {} (the sender).",
                text_of("from")
            ),
        ),
    };
    let mut text = wrap(&what, 72);
    // What the operator or the contract's user wrote, as written (not wrapped: it is theirs).
    let written = match notice.kind {
        NoticeKind::Maintenance | NoticeKind::Inquiry => text_of("body"),
        _ => String::new(),
    };
    if !written.is_empty() {
        text.push_str("\n\n");
        text.push_str(written.trim_end());
    }
    text.push_str("\n\nDetails:\n");
    text.push_str(&format!("  notice: {} ({})\n", notice.id, notice.kind));
    if let Value::Object(map) = d {
        for (key, value) in map {
            if key == "body" {
                continue;
            }
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            text.push_str(&format!("  {key}: {value}\n"));
        }
    }
    text.push_str(&format!("  recorded: {}\n", notice.created_at));
    (subject, text)
}

/// `text` in lines of at most `width` characters where its words allow, broken at spaces:
/// mail readers show plain text as it comes, and short lines keep it out of quoted-printable.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width);
    let mut line = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: NoticeKind, details: Value) -> Notice {
        Notice {
            id: 42,
            customer_id: "cabc234567".parse().unwrap(),
            kind,
            key: "7".to_string(),
            details,
            created_at: Timestamp(1_800_000_000_000),
            mailed_at: None,
            mailed_to: None,
            mail_attempts: 1,
        }
    }

    #[test]
    fn certificate_notices_say_which_certificate_and_when() {
        let details = json!({
            "certificate_id": 7,
            "subject": "CN=Shop",
            "addresses": ["shop@example.com", "info@example.com"],
            "not_after": "2027-01-05T00:00:00Z",
        });
        let (subject, text) = render(
            &notice(NoticeKind::SmimeCertificateExpiring, details.clone()),
            "Example Shop",
            None,
        );
        assert_eq!(
            subject,
            "S/MIME certificate 7 expires on 2027-01-05T00:00:00Z"
        );
        assert!(
            text.replace('\n', " ")
                .contains("Example Shop (cabc234567)"),
            "{text}"
        );
        assert!(text.contains("\"CN=Shop\""), "{text}");
        assert!(
            text.contains("addresses: shop@example.com, info@example.com"),
            "{text}"
        );
        let (subject, text) = render(
            &notice(NoticeKind::SmimeCertificateExpired, details),
            "Example Shop",
            None,
        );
        assert_eq!(subject, "S/MIME certificate 7 has expired");
        assert!(
            text.replace('\n', " ")
                .contains("expired on 2027-01-05T00:00:00Z"),
            "{text}"
        );
    }

    #[test]
    fn outage_notices_say_whether_it_goes_on_and_where_the_minutes_are_shown() {
        let base = Some("https://mail.example.net");
        let began = json!({"starts_at": "2026-11-03T04:05:00.000Z", "ongoing": true});
        let (subject, text) = render(&notice(NoticeKind::Outage, began), "Shop", base);
        let text = text.replace('\n', " ");
        assert_eq!(subject, "Outage since 2026-11-03T04:05:00.000Z");
        assert!(
            text.contains("has not answered since 2026-11-03T04:05:00.000Z"),
            "{text}"
        );
        assert!(text.contains("a second notice will tell you"), "{text}");
        assert!(
            text.contains("(https://mail.example.net/availability)"),
            "{text}"
        );
        assert!(
            text.contains("GET https://mail.example.net/api/v1/availability"),
            "{text}"
        );

        let over = json!({"starts_at": "2026-11-03T04:05:00.000Z",
            "ends_at": "2026-11-03T04:49:00.000Z", "minutes": 44});
        let (subject, text) = render(
            &notice(NoticeKind::OutageResolved, over.clone()),
            "Shop",
            None,
        );
        let text = text.replace('\n', " ");
        assert_eq!(
            subject,
            "Outage resolved: 44 minutes from 2026-11-03T04:05:00.000Z"
        );
        assert!(
            text.contains("since 2026-11-03T04:49:00.000Z, after 44 minutes"),
            "{text}"
        );
        assert!(text.contains("(GET /api/v1/availability)"), "{text}");

        // Seen only once it was over (and every notice recorded before "ongoing" existed).
        for details in [
            over.clone(),
            json!({"ongoing": false})
                .as_object()
                .unwrap()
                .iter()
                .chain(over.as_object().unwrap())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ] {
            let (subject, text) = render(&notice(NoticeKind::Outage, details), "Shop", None);
            assert_eq!(subject, "Outage: 44 minutes from 2026-11-03T04:05:00.000Z");
            assert!(text.replace('\n', " ").contains("did not answer from 2026-11-03T04:05:00.000Z to 2026-11-03T04:49:00.000Z (UTC), 44 minutes"), "{text}");
        }
    }

    #[test]
    fn paragraphs_are_wrapped_at_spaces() {
        let text = "one two three four five six seven eight nine ten eleven twelve";
        let wrapped = wrap(text, 20);
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 20),
            "{wrapped}"
        );
        assert_eq!(wrapped.replace('\n', " "), text);
        let long = format!("short {} end", "x".repeat(30));
        assert_eq!(wrap(&long, 20), format!("short\n{}\nend", "x".repeat(30)));
        assert_eq!(wrap("", 20), "");
    }

    #[test]
    fn every_kind_renders_with_whatever_details_it_has() {
        for kind in NoticeKind::ALL {
            for details in [json!({}), json!(null), json!({"n": 1, "list": [1, "a"]})] {
                let (subject, text) = render(&notice(kind, details), "C", None);
                assert!(!subject.is_empty() && !subject.contains('\n'), "{kind}");
                assert!(text.contains(kind.as_str()), "{kind}: {text}");
            }
        }
    }
}
