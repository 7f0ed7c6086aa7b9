//! The operator area's inquiries, maintenance notices, plan changes and nodes, and the
//! contract's side of the first two (sending an inquiry, seeing upcoming maintenance).

use crate::Time;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A contract's new plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    /// One of the configured plans.
    pub plan: String,
}

/// An inquiry to the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInquiry {
    /// 1 to 200 characters, one line.
    #[schema(min_length = 1, max_length = 200)]
    pub subject: String,
    /// 1 to 10,000 characters.
    #[schema(min_length = 1, max_length = 10000)]
    pub body: String,
}

/// A contract's inquiry, as its sender and the operator see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Inquiry {
    pub id: i64,
    #[schema(example = "k3m9x2p7q")]
    pub customer_id: String,
    /// The console user or API key that sent it.
    pub sent_by: String,
    /// The sender's address, when a console user sent it; the operator's reply goes there.
    pub from: Option<String>,
    pub subject: String,
    pub body: String,
    pub created_at: Time,
    /// When the operator marked it handled; null while it is open.
    pub handled_at: Option<Time>,
}

/// Inquiries, newest first (at most the 1,000 newest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InquiryList {
    pub data: Vec<Inquiry>,
}

/// Whether an inquiry is handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InquiryHandled {
    pub handled: bool,
}

/// A maintenance of the platform, announced to every contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceNotice {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub starts_at: Time,
    pub ends_at: Time,
    /// Announced less than 14 days ahead, as an emergency.
    pub emergency: bool,
    pub created_at: Time,
}

/// A maintenance to announce. It must start at least 14 days after it is saved unless it is
/// an emergency, and end after it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenanceNotice {
    /// 1 to 200 characters, one line.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Up to 10,000 characters.
    #[serde(default)]
    pub body: String,
    pub starts_at: Time,
    pub ends_at: Time,
    #[serde(default)]
    pub emergency: bool,
}

/// A maintenance notice just saved, and how many contracts' admins are to be mailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedMaintenanceNotice {
    pub maintenance: MaintenanceNotice,
    /// Contracts (not terminated) whose admins are mailed, each at least once.
    pub contracts_notified: u64,
}

/// Maintenance notices, latest start first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceList {
    pub data: Vec<MaintenanceNotice>,
}

/// A node serving the platform's store, as its last heartbeat told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub node: String,
    pub version: String,
    /// What it listens on (`smtp 0.0.0.0:25`, `http 0.0.0.0:8025`, …).
    pub listeners: Vec<String>,
    /// Its messages still to deliver, at the last heartbeat.
    pub queue_size: u64,
    pub started_at: Time,
    pub last_seen: Time,
    /// Whether it is serving: its last heartbeat is recent (within three heartbeat intervals)
    /// and it has not said it stopped (a clean shutdown).
    pub healthy: bool,
}

/// The nodes, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeList {
    pub data: Vec<Node>,
    /// How often a node sends its heartbeat.
    pub heartbeat_seconds: u64,
}

/// The platform's availability in a calendar month, as the monitors recorded it, and the
/// credit it earns under the terms. The same for every contract: it names no address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthAvailability {
    /// The month as `YYYY-MM`, in the operator's usage time zone (Asia/Tokyo unless changed).
    #[schema(example = "2026-11")]
    pub month: String,
    /// That time zone as an offset from UTC.
    #[schema(example = "+09:00")]
    pub time_zone: String,
    /// Minutes in the month (44,640 in a month of 31 days).
    pub minutes: i64,
    /// Minutes that count so far: monitored, and ended at least a minute ago.
    pub measured_minutes: i64,
    /// Measured minutes in which no node answered, outside maintenance announced in time.
    pub outage_minutes: i64,
    /// Measured minutes inside maintenance announced at least 14 days ahead, not counted.
    pub maintenance_minutes: i64,
    /// `(1 − outage_minutes ÷ 43,200) × 100`, at least 0, rounded down to 3 decimals.
    #[schema(example = 99.898)]
    pub availability_percent: f64,
    /// The credit in % of the month's fee: 0, 10, 25, 50 or 100.
    pub credit_percent: u8,
    /// The outage minutes as periods, in time order.
    pub outages: Vec<OutagePeriod>,
}

/// Consecutive outage minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutagePeriod {
    /// The first outage minute's start.
    pub starts_at: Time,
    /// The end of its last minute.
    pub ends_at: Time,
    pub minutes: i64,
    /// It reaches the last measured minute, so it may still be going on.
    pub ongoing: bool,
}
