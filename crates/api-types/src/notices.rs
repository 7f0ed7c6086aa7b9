//! Contract notices as `hikyaku notice list --json` and `GET /v1/notices` show them.

use crate::Time;
use hikyaku_model::{CustomerId, NoticeKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Something that happened to a contract rather than to one message (an S/MIME certificate
/// running out, a webhook endpoint disabled, a trial ending), mailed to the contract's admins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    pub id: i64,
    #[schema(value_type = String, example = "c8kd2mxq7p")]
    pub customer_id: CustomerId,
    /// `smime_certificate_expiring`, `smime_certificate_expired`, `webhook_endpoint_disabled`,
    /// `trial_expiring`, `trial_suspended`, `reputation_warning`, `sending_paused`,
    /// `maintenance`, `outage` (details `starts_at` and `ongoing: true` while it goes on, or
    /// `starts_at`, `ends_at`, `minutes`, `ongoing: false` when first told once over) or
    /// `outage_resolved` (`starts_at`, `ends_at`, `minutes`).
    #[schema(value_type = String, example = "smime_certificate_expiring")]
    pub kind: NoticeKind,
    /// What the notice is about, unique per contract and kind (a certificate's ID).
    #[schema(example = "12")]
    pub key: String,
    /// The facts of the notice; their fields depend on the kind.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: Time,
    /// When the mail to the contract's admins was handed to the relay; null until then.
    pub mailed_at: Option<Time>,
    /// To how many admins it was mailed (0: the contract had none); null until mailed.
    pub mailed_to: Option<u32>,
}

/// Notices, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NoticeList {
    pub notices: Vec<Notice>,
}

/// A page of the contract's notices, newest first, and the cursor of the next (`null` on the
/// last page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticePage {
    pub data: Vec<Notice>,
    /// Give it back as `cursor` for the next page; `null`: there is none. Opaque.
    pub next_cursor: Option<String>,
}
