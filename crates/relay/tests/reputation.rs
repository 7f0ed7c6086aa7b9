//! The reputation guard's checks against a real store (SQLite and PostgreSQL): a warning once
//! per episode, a new episode after the rates came back down, a pause that stays until the
//! operator resumes, and two guards (two nodes) acting once between them.

#[allow(dead_code)] // the shared fixture; this test needs only its store
mod support;

use hikyaku_config::ReputationConfig;
use hikyaku_model::{
    CustomerId, EnhancedStatus, Envelope, EventDetails, EventSource, Exchange, MessageId, Reason,
    Timestamp,
};
use hikyaku_relay::reputation::{Guard, GuardSettings, Standing};
use hikyaku_store::{
    AcceptedMessage, Outcome, RecipientOutcome, SoftBouncePolicy, Store, SuppressionEffect,
};
use support::Relay;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Relay::sqlite().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(relay) = super::Relay::postgres().await {
                    super::$name(relay).await;
                }
            }
        }
    )*};
}

on_both_backends!(warnings_come_once_per_episode_and_pauses_stay_until_resumed);

fn settings() -> GuardSettings {
    GuardSettings::from_config(&ReputationConfig {
        min_messages: 100,
        ..ReputationConfig::default()
    })
}

/// Records `count` messages of `customer` at `at`, the first `hard` of them bouncing hard.
async fn send(store: &Store, customer: &CustomerId, at: Timestamp, count: usize, hard: usize) {
    let messages: Vec<AcceptedMessage> = (0..count)
        .map(|_| AcceptedMessage {
            id: MessageId::new(at),
            customer_id: customer.clone(),
            envelope: Envelope {
                mail_from: "app@s.example".into(),
                recipients: vec!["r@x.example".into()],
            },
            size: 100,
            received_at: at,
            source_ip: "192.0.2.1".into(),
            node: "node-a".into(),
            tags: Vec::new(),
            metadata: Default::default(),
            subject: None,
        })
        .collect();
    store.record_accepted(&messages).await.unwrap();
    let outcomes: Vec<RecipientOutcome> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (outcome, details) = if i < hard {
                (
                    Outcome::Bounced,
                    EventDetails::Bounced {
                        exchange: Exchange {
                            code: Some(550),
                            status: Some(EnhancedStatus::new(5, 1, 1)),
                            ..Exchange::by(EventSource::Smtp)
                        },
                        reason: Reason::UserUnknown,
                        hard: true,
                    },
                )
            } else {
                (
                    Outcome::Delivered,
                    EventDetails::Delivered {
                        exchange: Exchange::by(EventSource::Smtp),
                    },
                )
            };
            RecipientOutcome {
                message_id: m.id,
                recipient_index: 0,
                at,
                outcome,
                details,
                suppression: SuppressionEffect::Nothing,
            }
        })
        .collect();
    store
        .record_outcomes(&outcomes, &SoftBouncePolicy::OFF)
        .await
        .unwrap();
}

async fn warnings_come_once_per_episode_and_pauses_stay_until_resumed(relay: Relay) {
    let store = &relay.store;
    let customer = store
        .create_contract("Lists", "standard")
        .await
        .unwrap()
        .customer_id;
    let guard = Guard::new(store.clone(), settings());
    let other_node = Guard::new(store.clone(), settings());
    let t = Timestamp(Timestamp::now().as_millis() - 3_600_000);
    let later = |ms: i64| Timestamp(t.as_millis() + ms);

    // 100 messages, 3 hard bounces: 3 %, a warning; told once, by one of the two nodes.
    send(store, &customer, t, 100, 3).await;
    let first = guard.check(&customer, later(1)).await.unwrap();
    assert!(matches!(first.standing, Standing::Warn(_)), "{first:?}");
    assert!(first.warned && !first.paused);
    let again = other_node.check(&customer, later(2)).await.unwrap();
    assert!(matches!(again.standing, Standing::Warn(_)));
    assert!(!again.warned, "one warning per episode");

    // Back under 2 %: the episode ends, and the next crossing warns again.
    send(store, &customer, later(3), 100, 0).await;
    let good = guard.check(&customer, later(4)).await.unwrap();
    assert_eq!(good.standing, Standing::Good);
    assert_eq!(
        store.reputation_status(&customer).await.unwrap().warned_at,
        None
    );
    send(store, &customer, later(5), 100, 10).await;
    let second = guard.check(&customer, later(6)).await.unwrap();
    assert!(second.warned, "{second:?}");

    // Above 5 %: paused once, and it stays paused when the rates come down.
    send(store, &customer, later(7), 100, 30).await;
    let paused = guard.check(&customer, later(8)).await.unwrap();
    assert!(matches!(paused.standing, Standing::Pause(_)), "{paused:?}");
    assert!(paused.paused && !paused.warned, "the episode was running");
    assert!(!other_node.check(&customer, later(9)).await.unwrap().paused);
    let pause = store.sending_pause(&customer).await.unwrap().unwrap();
    assert!(
        pause.reason.starts_with("hard-bounce rate"),
        "{}",
        pause.reason
    );
    send(store, &customer, later(10), 5_000, 0).await;
    assert_eq!(
        guard.check(&customer, later(11)).await.unwrap().standing,
        Standing::Good
    );
    assert!(store.sending_pause(&customer).await.unwrap().is_some());

    // The contract's admins are told of each warning episode and of the pause, once each,
    // however many checks saw them.
    let mut kinds: Vec<&str> = store
        .list_notices(Some(&customer), 50)
        .await
        .unwrap()
        .iter()
        .map(|n| n.kind.as_str())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["reputation_warning", "reputation_warning", "sending_paused"]
    );

    // Resumed: sending again, figures afresh.
    assert!(store.resume_sending(&customer, later(12)).await.unwrap());
    let fresh = guard.check(&customer, later(13)).await.unwrap();
    assert_eq!(fresh.figures.messages, 0);
    assert_eq!(store.sending_pause(&customer).await.unwrap(), None);
}
