//! Webhooks: what a request to an endpoint carries, and the endpoints and their attempt log as
//! the API's `/webhooks` calls and the CLI's `webhook` commands show them. A secret appears in
//! exactly two answers: the one that created the endpoint and the one that rotated it.

use crate::{Event, Time};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every webhook request: one or more events (up to the batch size; exactly one
/// for an endpoint that asked for one event per request), oldest first. Each event has the
/// send log's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookPayload {
    /// Always `events`.
    #[serde(rename = "type")]
    #[schema(example = "events")]
    pub kind: String,
    /// When this request was made (every retry has its own).
    pub timestamp: Time,
    pub data: Vec<Event>,
}

/// A contract's webhook endpoint. Never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: i64,
    #[schema(example = "https://hooks.example.jp/hikyaku")]
    pub url: String,
    /// The event kinds it receives.
    #[schema(example = json!(["delivered", "bounced"]))]
    pub events: Vec<String>,
    /// One event per request instead of batches.
    pub one_per_request: bool,
    /// The requests' body: `standard` (Standard Webhooks), `hosted-json` or `hosted-form` (the
    /// hosted service's event webhook).
    #[schema(example = "standard")]
    pub format: String,
    /// Whether the hosted formats' bodies carry an `api_key` (never shown back).
    pub api_key_set: bool,
    pub created_at: Time,
    /// Until when requests also carry the signature of the secret before the last rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<Time>,
    /// Since when its requests have been failing (absent while it answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Time>,
    /// When the platform stopped sending to it, after it kept failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub endpoints: Vec<WebhookEndpoint>,
}

/// A new endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    /// `https://` (plain `http://` and private addresses only where the operator allows them).
    #[schema(example = "https://hooks.example.jp/hikyaku")]
    pub url: String,
    /// The event kinds to receive: `accepted`, `delivered`, `deferred`, `bounced`, `expired`,
    /// `suppressed`, `complaint`, `unsubscribed`, `inbound`. All of them when absent.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// One event per request instead of batches.
    #[serde(default)]
    pub one_per_request: bool,
    /// `standard` (the default), `hosted-json` or `hosted-form`: the hosted service's event
    /// webhook (`event_type`, `server_composition`, `event`), as JSON or form-encoded. A hosted
    /// endpoint takes every kind but `inbound`, and all of those when `events` is absent.
    #[serde(default)]
    #[schema(example = "hosted-json")]
    pub format: Option<String>,
    /// Sent as `api_key` in a hosted format's body, for the receiver to check.
    #[serde(default)]
    pub api_key: Option<String>,
}

/// An edit of an endpoint: each field present replaces the endpoint's, the others stay. The
/// result is checked as a new endpoint is (a hosted format's `api_key`, its kinds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointPatch {
    #[schema(example = "https://hooks.example.jp/hikyaku-v2")]
    pub url: Option<String>,
    /// The event kinds to receive, as for a new endpoint.
    pub events: Option<Vec<String>>,
    pub one_per_request: Option<bool>,
    /// `standard`, `hosted-json` or `hosted-form`. A change to `standard` drops the `api_key`.
    pub format: Option<String>,
    /// A new `api_key` for the hosted formats' bodies; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub api_key: Option<Option<String>>,
    /// `false` turns the endpoint off (no requests; new events no longer queue for it), `true`
    /// turns it on again, also after the platform disabled it.
    pub enabled: Option<bool>,
}

/// A field that may be given as `null`: absent is `None`, `null` is `Some(None)`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The answer to creating an endpoint (or rotating its secret): the signing secret, in this
/// answer only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookSecret {
    pub id: i64,
    /// `whsec_` and the base64 of the key, as the Standard Webhooks libraries take it.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
    /// After a rotation: until when the previous secret still signs too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<Time>,
}

/// A secret rotation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecret {
    /// How long requests carry the old secret's signature beside the new one: `"24h"`,
    /// `"30m"`, `"0s"`. 24 hours when absent.
    #[serde(default)]
    #[schema(example = "24h")]
    pub overlap: Option<String>,
}

/// One attempt to deliver a request to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookAttempt {
    /// The request's `webhook-id` (the same for every attempt of one request).
    #[schema(example = "msg_2f1c0e9d8a7b6c5d4e3f2a1b0c9d8e7f")]
    pub webhook_id: String,
    pub time: Time,
    /// Events in the request.
    pub events: u32,
    /// The answer's HTTP status; absent when there was no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there was no answer, or what was wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From the start of the request to the end of reading the answer.
    pub latency_ms: i64,
    /// The answer body's first bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// `delivered`, `retry` (tried again later) or `gave-up` (its events' time was over).
    #[schema(example = "delivered")]
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookAttemptList {
    pub attempts: Vec<WebhookAttempt>,
}
