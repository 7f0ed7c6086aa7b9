//! The notice mailer on a real store (SQLite and PostgreSQL), spool and relay intake, with an
//! injected clock: a certificate is noticed as expiring 30 days before its end and as expired
//! after it, each once however often the scan runs; each notice is mailed once to the
//! contract's admins (not its other users) as the service's own contract, and the mail is in
//! the queue and the spool; a notice whose mailer stopped before finishing is mailed when its
//! lease ends.

use hikyaku_compose::Composer;
use hikyaku_model::{NoticeKind, RecipientState, Role, Timestamp};
use hikyaku_notices::{Clock, NoticeSettings, Notices};
use hikyaku_relay::{Intake, SubmitPolicy, Submitter, UnsubscribeStage};
use hikyaku_spool::Spool;
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{NewConsoleUser, NewSmimeCertificate, QueueFilter, SealingKey, Store};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DAY: i64 = 86_400_000;

struct Node {
    store: Store,
    spool: Spool,
    notices: Notices,
    now: Arc<Mutex<Timestamp>>,
    _data: tempfile::TempDir,
    _postgres: Option<PostgresTestDatabase>,
}

impl Node {
    async fn open(url: Option<String>, postgres: Option<PostgresTestDatabase>) -> Node {
        let data = tempfile::tempdir().unwrap();
        let url =
            url.unwrap_or_else(|| format!("sqlite://{}", data.path().join("hikyaku.db").display()));
        let store = Store::connect(&url, SealingKey::generate()).await.unwrap();
        let (spool, _) = Spool::open(&data.path().join("spool"), 1 << 30).unwrap();
        let intake = Intake::start(spool.clone(), store.clone(), "node-a".into(), None);
        let submitter = Submitter::new(
            store.clone(),
            intake,
            SubmitPolicy {
                hostname: "relay.hikyaku.test".into(),
                max_message_size: 1 << 20,
                max_recipients: 100,
            },
            UnsubscribeStage::new(store.clone(), None),
        );
        let now = Arc::new(Mutex::new(Timestamp::now()));
        let clock: Clock = {
            let now = now.clone();
            Arc::new(move || *now.lock().unwrap())
        };
        let mut settings = NoticeSettings::new("notices@mail.hikyaku.test");
        settings.lease = Duration::from_secs(300);
        settings.operator_email = Some("ops@operator.example".into());
        let notices = Notices::new(
            store.clone(),
            Composer::new("relay.hikyaku.test", 1 << 20),
            submitter,
            settings,
        )
        .with_clock(clock);
        Node {
            store,
            spool,
            notices,
            now,
            _data: data,
            _postgres: postgres,
        }
    }

    fn set_clock(&self, at: Timestamp) {
        *self.now.lock().unwrap() = at;
    }
}

async fn on_sqlite() -> Node {
    Node::open(None, None).await
}

async fn on_postgres() -> Option<Node> {
    let database = PostgresTestDatabase::create().await?;
    let url = database.url().to_string();
    Some(Node::open(Some(url), Some(database)).await)
}

#[tokio::test]
async fn certificate_notices_are_mailed_once_to_admins_sqlite() {
    certificate_notices_are_mailed_once_to_admins(on_sqlite().await).await;
}

#[tokio::test]
async fn certificate_notices_are_mailed_once_to_admins_postgres() {
    if let Some(node) = on_postgres().await {
        certificate_notices_are_mailed_once_to_admins(node).await;
    }
}

#[tokio::test]
async fn a_notice_left_by_a_stopped_mailer_is_mailed_after_its_lease_sqlite() {
    a_notice_left_by_a_stopped_mailer_is_mailed_after_its_lease(on_sqlite().await).await;
}

#[tokio::test]
async fn a_notice_left_by_a_stopped_mailer_is_mailed_after_its_lease_postgres() {
    if let Some(node) = on_postgres().await {
        a_notice_left_by_a_stopped_mailer_is_mailed_after_its_lease(node).await;
    }
}

#[tokio::test]
async fn maintenance_and_inquiries_are_mailed_through_the_platform_sqlite() {
    maintenance_and_inquiries_are_mailed_through_the_platform(on_sqlite().await).await;
}

#[tokio::test]
async fn maintenance_and_inquiries_are_mailed_through_the_platform_postgres() {
    if let Some(node) = on_postgres().await {
        maintenance_and_inquiries_are_mailed_through_the_platform(node).await;
    }
}

async fn add_user(store: &Store, customer: &hikyaku_model::CustomerId, email: &str, role: Role) {
    store
        .create_console_user(
            customer,
            &NewConsoleUser {
                email,
                password: "a long enough password 1",
                role,
                see_addresses: false,
            },
        )
        .await
        .unwrap();
}

/// The messages queued for the service's own contract, with their bytes.
async fn notice_mail(node: &Node) -> Vec<(Vec<String>, String)> {
    let Ok(sender) = node.store.notice_sender_contract("unused").await else {
        return Vec::new();
    };
    let queued = node
        .store
        .queue(QueueFilter {
            customer: Some(sender),
            ..QueueFilter::default()
        })
        .await
        .unwrap();
    let mut mail = Vec::new();
    for message in queued {
        assert!(
            message
                .recipients
                .iter()
                .all(|r| r.state == RecipientState::Queued),
            "{message:?}"
        );
        let mut to: Vec<String> = message
            .recipients
            .iter()
            .map(|r| r.address.clone())
            .collect();
        to.sort();
        let (_, bytes) = node.spool.read(message.id).await.unwrap();
        mail.push((to, String::from_utf8(bytes).unwrap()));
    }
    mail
}

async fn certificate_notices_are_mailed_once_to_admins(node: Node) {
    let store = &node.store;
    let shop = store
        .create_contract("Example Shop", "standard")
        .await
        .unwrap();
    let customer = &shop.customer_id;
    add_user(store, customer, "owner@shop.example", Role::Admin).await;
    add_user(store, customer, "viewer@shop.example", Role::Viewer).await;
    add_user(store, customer, "second@shop.example", Role::Admin).await;
    let other = store.create_contract("Other", "standard").await.unwrap();
    add_user(
        store,
        &other.customer_id,
        "admin@other.example",
        Role::Admin,
    )
    .await;

    let start = Timestamp::now();
    let addresses = vec!["shop@shop.example".to_string()];
    let certificate = store
        .add_smime_certificate(
            customer,
            &NewSmimeCertificate {
                subject: "CN=Example Shop",
                chain_pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
                key_pem: "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
                addresses: &addresses,
                not_before: Timestamp(start.as_millis() - DAY),
                not_after: Timestamp(start.as_millis() + 45 * DAY),
                only_domains: &[],
            },
        )
        .await
        .unwrap();

    // 45 days before the end: nothing to say.
    assert_eq!(node.notices.scan_smime_certificates().await.unwrap(), 0);
    assert_eq!(node.notices.mail_due().await.unwrap(), 0);
    assert!(notice_mail(&node).await.is_empty());

    // 20 days before: expiring, recorded once however often the scan runs.
    node.set_clock(Timestamp(start.as_millis() + 25 * DAY));
    assert_eq!(node.notices.scan_smime_certificates().await.unwrap(), 1);
    assert_eq!(node.notices.scan_smime_certificates().await.unwrap(), 0);
    assert_eq!(node.notices.mail_due().await.unwrap(), 1);
    assert_eq!(node.notices.mail_due().await.unwrap(), 0);
    node.set_clock(Timestamp(start.as_millis() + 26 * DAY));
    assert_eq!(node.notices.scan_smime_certificates().await.unwrap(), 0);
    assert_eq!(node.notices.mail_due().await.unwrap(), 0);

    let mail = notice_mail(&node).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    let (to, text) = &mail[0];
    assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{text}");
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(to, &["owner@shop.example", "second@shop.example"]);
    assert!(
        text.contains("From: \"Hikyaku\" <notices@mail.hikyaku.test>")
            || text.contains("From: Hikyaku <notices@mail.hikyaku.test>"),
        "{text}"
    );
    let id = certificate.id;
    assert!(
        text.contains(&format!("Subject: S/MIME certificate {id} expires on")),
        "{text}"
    );
    assert!(
        words.contains(&format!("Example Shop ({customer})")),
        "{text}"
    );
    assert!(!text.contains("viewer@shop.example"), "{text}");

    // After the end: expired, a second notice and a second mail, once.
    node.set_clock(Timestamp(start.as_millis() + 46 * DAY));
    assert_eq!(node.notices.scan_smime_certificates().await.unwrap(), 1);
    assert_eq!(node.notices.mail_due().await.unwrap(), 1);
    node.set_clock(Timestamp(start.as_millis() + 47 * DAY));
    assert_eq!(node.notices.scan_smime_certificates().await.unwrap(), 0);
    assert_eq!(node.notices.mail_due().await.unwrap(), 0);
    let mail = notice_mail(&node).await;
    assert_eq!(mail.len(), 2);
    assert!(
        mail[1]
            .1
            .contains(&format!("Subject: S/MIME certificate {id} has expired"))
    );

    let listed = store.list_notices(Some(customer), 10).await.unwrap();
    let kinds: Vec<NoticeKind> = listed.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        [
            NoticeKind::SmimeCertificateExpired,
            NoticeKind::SmimeCertificateExpiring
        ]
    );
    assert!(
        listed
            .iter()
            .all(|n| n.mailed_to == Some(2) && n.mailed_at.is_some())
    );
    assert_eq!(listed[0].details["certificate_id"], json!(id));
    assert!(
        store
            .list_notices(Some(&other.customer_id), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_notice_left_by_a_stopped_mailer_is_mailed_after_its_lease(node: Node) {
    let store = &node.store;
    let contract = store.create_contract("Lease", "standard").await.unwrap();
    let customer = &contract.customer_id;
    add_user(store, customer, "admin@lease.example", Role::Admin).await;
    let t0 = Timestamp::now();
    node.set_clock(t0);
    store
        .record_notice(
            customer,
            NoticeKind::TrialExpiring,
            "trial",
            json!({"ends": "soon"}),
            t0,
        )
        .await
        .unwrap()
        .unwrap();
    // Another mailer claimed it and stopped before sending anything.
    let taken = store
        .claim_notices_to_mail(t0, Duration::from_secs(300), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(node.notices.mail_due().await.unwrap(), 0);
    node.set_clock(Timestamp(t0.as_millis() + 299_000));
    assert_eq!(node.notices.mail_due().await.unwrap(), 0);
    node.set_clock(Timestamp(t0.as_millis() + 300_000));
    assert_eq!(node.notices.mail_due().await.unwrap(), 1);
    let mail = notice_mail(&node).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].0, ["admin@lease.example"]);
    assert!(
        mail[0].1.contains("Subject: Your trial ends soon"),
        "{}",
        mail[0].1
    );
    let listed = store.list_notices(Some(customer), 10).await.unwrap();
    assert_eq!(listed[0].mail_attempts, 2);
    assert_eq!(listed[0].mailed_to, Some(1));

    // A terminated contract's notice is finished without mail.
    let gone = store.create_contract("Gone", "standard").await.unwrap();
    add_user(store, &gone.customer_id, "admin@gone.example", Role::Admin).await;
    store
        .set_contract_state(&gone.customer_id, hikyaku_model::ContractState::Terminated)
        .await
        .unwrap();
    store
        .record_notice(
            &gone.customer_id,
            NoticeKind::SendingPaused,
            "x",
            json!({}),
            t0,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(node.notices.mail_due().await.unwrap(), 1);
    assert_eq!(notice_mail(&node).await.len(), 1);
    let listed = store
        .list_notices(Some(&gone.customer_id), 10)
        .await
        .unwrap();
    assert_eq!(listed[0].mailed_to, Some(0));
    assert!(listed[0].mailed_at.is_some());
}

async fn maintenance_and_inquiries_are_mailed_through_the_platform(node: Node) {
    let store = &node.store;
    let a = store.create_contract("Shop A", "standard").await.unwrap();
    add_user(store, &a.customer_id, "admin@a.example", Role::Admin).await;
    add_user(store, &a.customer_id, "viewer@a.example", Role::Viewer).await;
    let b = store.create_contract("Shop B", "standard").await.unwrap();
    add_user(store, &b.customer_id, "admin@b.example", Role::Admin).await;
    let gone = store.create_contract("Gone", "standard").await.unwrap();
    add_user(store, &gone.customer_id, "admin@gone.example", Role::Admin).await;
    store
        .set_contract_state(&gone.customer_id, hikyaku_model::ContractState::Terminated)
        .await
        .unwrap();
    let t0 = Timestamp::now();
    node.set_clock(t0);
    let new = hikyaku_store::NewMaintenance {
        title: "Network work",
        body: "The relay is down for an hour.\nMail is queued by your servers.",
        starts_at: Timestamp(t0.as_millis() + 15 * DAY),
        ends_at: Timestamp(t0.as_millis() + 15 * DAY + 3_600_000),
        emergency: false,
    };
    let (maintenance, told) = store.create_maintenance(&new, t0).await.unwrap();
    assert_eq!(told, 2, "not the terminated contract");
    let inquiry = store
        .create_inquiry(
            &a.customer_id,
            "u-viewer",
            Some("viewer@a.example"),
            "Bounce rate question",
            "Why did gmail refuse us?",
            t0,
        )
        .await
        .unwrap();
    assert_eq!(node.notices.mail_due().await.unwrap(), 3);
    // Mailed once: another round finds nothing.
    assert_eq!(node.notices.mail_due().await.unwrap(), 0);
    let mut mail = notice_mail(&node).await;
    mail.sort();
    let to: Vec<&[String]> = mail.iter().map(|(to, _)| to.as_slice()).collect();
    assert_eq!(
        to,
        [
            &["admin@a.example".to_string()][..],
            &["admin@b.example".to_string()][..],
            &["ops@operator.example".to_string()][..],
        ]
    );
    for (_, text) in &mail[..2] {
        assert!(
            text.contains("Subject: Maintenance: Network work"),
            "{text}"
        );
        assert!(text.contains("The relay is down for an hour."), "{text}");
        assert!(text.contains(&maintenance.starts_at.to_string()), "{text}");
    }
    let (_, text) = &mail[2];
    assert!(text.contains("Subject: Inquiry from Shop A"), "{text}");
    assert!(text.contains("Bounce rate question"), "{text}");
    assert!(text.contains("Why did gmail refuse us?"), "{text}");
    assert!(text.contains("Reply-To: <viewer@a.example>"), "{text}");
    let notices = store.list_notices(Some(&a.customer_id), 10).await.unwrap();
    let mailed: Vec<(NoticeKind, Option<u32>)> =
        notices.iter().map(|n| (n.kind, n.mailed_to)).collect();
    assert_eq!(
        mailed,
        [
            (NoticeKind::Inquiry, Some(1)),
            (NoticeKind::Maintenance, Some(1))
        ]
    );
    assert_eq!(notices[0].key, inquiry.id.to_string());

    // The service's own contract (made by the first mail) is not told of the next one.
    let (_, told) = store.create_maintenance(&new, t0).await.unwrap();
    assert_eq!(told, 2);
}
