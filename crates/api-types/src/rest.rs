//! The REST API's requests and answers.

use crate::{ApiKey, Time, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every failure answer: `{"error":{"code":…,"message":…,"field":…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable, `snake_case`: programs branch on it (`unauthorized`, `forbidden`, `not_found`,
    /// `invalid_json`, `invalid_field`, `unknown_field`, `body_too_large`, `rate_limited`,
    /// `sender_domain_not_registered`, …).
    #[schema(example = "invalid_field")]
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// The request field at fault (`address`, `entries[3].address`, `cursor`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// One page of a list and the cursor of the next (`null` on the last page).
macro_rules! page {
    ($(#[$doc:meta])* $name:ident of $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub data: Vec<$item>,
            /// Give it back as `cursor` for the next page; `null`: there is none. Opaque.
            pub next_cursor: Option<String>,
        }
    };
}

page!(
    /// A page of the suppression list.
    SuppressionPage of Suppression
);
page!(
    /// A page of the allowed IP ranges.
    AllowedIpRangePage of AllowedIpRange
);
page!(
    /// A page of SMTP credentials.
    SmtpCredentialPage of SmtpCredential
);
page!(
    /// A page of inbound routes.
    InboundRoutePage of InboundRoute
);
page!(
    /// A page of contracts (operator).
    ContractPage of Contract
);

/// One address on the contract's suppression list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// In clear only for keys allowed to see addresses; otherwise masked (`t***@example.jp`).
    #[schema(example = "t***@example.jp")]
    pub address: String,
    /// `hard-bounce`, `complaint`, `soft-bounces`, `manual` or `unsubscribe`.
    #[schema(example = "hard-bounce")]
    pub source: String,
    /// The bounce reason (`userunknown`) or the note given when it was added.
    pub reason: Option<String>,
    /// The message whose bounce or complaint listed it.
    pub message_id: Option<String>,
    pub created_at: Time,
}

/// An address to put on the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSuppression {
    #[schema(example = "taro@example.jp", max_length = 254)]
    pub address: String,
    /// A note kept with the entry (at most 1,000 bytes).
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// Many addresses at once (also accepted as `text/csv` with an `address` column and an
/// optional `reason` column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionImport {
    pub entries: Vec<NewSuppression>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportResult {
    /// Addresses in the request.
    pub received: u64,
    /// Of those, newly listed (the others were listed already).
    pub added: u64,
}

/// A suppression-list import running as a job: a CSV file taken whole, then gone through in
/// batches, with its progress and the rows it refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionImportJob {
    pub id: i64,
    /// `queued` (no row gone through yet), `running` or `done`.
    #[schema(example = "running")]
    pub state: String,
    /// The file's size in bytes.
    pub file_bytes: u64,
    /// Data rows in the file (the header and blank lines not counted).
    pub total_rows: u64,
    /// Rows gone through so far, in file order.
    pub done_rows: u64,
    /// Of those, newly listed.
    pub added: u64,
    /// Of those, listed already.
    pub already_listed: u64,
    /// Of those, refused (see `errors`).
    pub failed_rows: u64,
    /// The refused rows kept, in file order: the first 1000 of an import (`errors_truncated`
    /// says when there were more). Always empty in the list of imports: ask the import.
    pub errors: Vec<ImportRowError>,
    /// More rows were refused than `errors` holds.
    pub errors_truncated: bool,
    pub created_at: Time,
    /// When the last row was gone through.
    pub finished_at: Option<Time>,
}

/// A row an import refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRowError {
    /// The file's line the row starts on (a header is line 1).
    pub line: u64,
    /// The field at fault, cut to 200 characters; an address is masked for keys that may not
    /// see addresses.
    pub value: String,
    /// `bad_address`, `too_long`, `bad_reason`, `no_address` or `duplicate`.
    #[schema(example = "bad_address")]
    pub reason: String,
    /// For people; may change.
    pub message: String,
}

/// The contract's newest imports, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionImportList {
    pub data: Vec<SuppressionImportJob>,
}

/// A source address range the contract's hosts may relay from without authenticating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowedIpRange {
    /// Normalised: host bits are zero.
    #[schema(example = "192.0.2.0/24")]
    pub cidr: String,
    pub created_at: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAllowedIpRange {
    #[schema(example = "192.0.2.0/24")]
    pub cidr: String,
}

/// An SMTP AUTH user name of the contract (never its password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpCredential {
    pub username: String,
    pub created_at: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSmtpCredential {
    pub username: String,
    /// 8 to 1024 bytes; leave it out to have one generated (shown once, in the answer).
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub password: Option<String>,
}

/// A new SMTP credential, with its password when it was generated: shown this once only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedSmtpCredential {
    pub username: String,
    pub created_at: Time,
    /// The generated password; `null` when the request gave one (it is never echoed).
    pub password: Option<String>,
}

/// Where the contract's inbound mail goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundRoute {
    pub id: i64,
    /// `user@example.com` (masked unless the key may see addresses), `example.com` or
    /// `*.example.com`.
    pub pattern: String,
    pub endpoint: String,
    /// POST the raw message instead of its parsed JSON (`format` is `raw`).
    pub forward_raw: bool,
    /// The POSTs' body: `json` (this platform's document), `raw` (the message as it came),
    /// `hosted-json` or `hosted-multipart` (the hosted service's inbound webhook).
    #[schema(example = "json")]
    pub format: String,
    /// Whether the hosted formats' bodies carry an `api_key` (never shown back).
    pub api_key_set: bool,
    pub created_at: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInboundRoute {
    pub pattern: String,
    /// An `http://` or `https://` URL.
    pub endpoint: String,
    #[serde(default)]
    pub forward_raw: bool,
    /// `json` (the default; `raw` when `forward_raw` is true), `raw`, `hosted-json` or
    /// `hosted-multipart`.
    #[serde(default)]
    #[schema(example = "hosted-multipart")]
    pub format: Option<String>,
    /// A key the hosted formats send as `api_key`, for the receiver to check.
    #[serde(default)]
    pub api_key: Option<String>,
}

/// An edit of an inbound route: each field present replaces the route's, the others stay;
/// its signing key stays too. The result is checked as a new route is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundRoutePatch {
    /// `user@example.com`, `example.com` or `*.example.com`, free among all contracts' routes.
    pub pattern: Option<String>,
    /// An `http://` or `https://` URL.
    pub endpoint: Option<String>,
    /// `json`, `raw`, `hosted-json` or `hosted-multipart`. A change to `json` or `raw` drops the
    /// `api_key`.
    #[schema(example = "hosted-json")]
    pub format: Option<String>,
    /// The older way to say `format`: `true` is `raw`, `false` (from `raw`) is `json`.
    pub forward_raw: Option<bool>,
    /// A new `api_key` for the hosted formats' bodies; `null` removes it.
    #[serde(default, deserialize_with = "crate::webhooks::present")]
    #[schema(value_type = Option<String>, nullable)]
    pub api_key: Option<Option<String>>,
}

/// A new inbound route with the key that signs its POSTs: shown this once only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedInboundRoute {
    #[serde(flatten)]
    pub route: InboundRoute,
    pub signing_secret: String,
}

/// A tenant of the platform, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    #[schema(example = "k3m9x2p7q")]
    pub customer_id: String,
    pub name: String,
    pub plan: String,
    /// `trial`, `active`, `suspended` or `terminated`.
    pub state: String,
    pub created_at: Time,
    pub last_used_at: Option<Time>,
}

/// A contract's one-click unsubscribe setting (RFC 8058): whether the relay adds
/// `List-Unsubscribe` and `List-Unsubscribe-Post` to its mail, and where the links lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeSetting {
    pub customer_id: String,
    pub enabled: bool,
    /// Only messages with one of these tags (HTTP API sends) get the fields; empty: every
    /// message.
    pub tags: Vec<String>,
    /// Where the links lead (`https://mail.example.net/unsubscribe/`, a token follows);
    /// `null` when the platform has no public URL configured, so no links are added.
    pub link_prefix: Option<String>,
    /// The domain of the mailto addresses (the contract's bounce domain, else the platform's);
    /// `null`: the field carries the link alone.
    pub mailto_domain: Option<String>,
}

/// Where a contract's VERP return paths (envelope senders) are: on its own bounce domain when
/// it has one, so that they align with its From domain for DMARC; else on the platform's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnPath {
    pub customer_id: String,
    /// The contract's own bounce domain; `null`: it has none.
    #[schema(example = "bounce.example.com")]
    pub bounce_domain: Option<String>,
    /// When the contract's own domain was set; `null` with no domain.
    pub set_at: Option<Time>,
    /// The domain its return paths are on now: its own, else the platform's; `null` when
    /// neither exists and the sender's own envelope address is kept.
    pub return_path_domain: Option<String>,
    /// The platform's bounce domain, which the contract's own points at: a CNAME to it (which
    /// brings its MX and SPF along), or an MX to the same host and the same SPF. `null` when the
    /// platform has none configured.
    pub cname_target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContract {
    /// 1 to 200 bytes.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// One of the configured plans; the first when left out.
    #[serde(default)]
    pub plan: Option<String>,
}

/// A plan the operator offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: String,
    /// Messages a month the plan covers; `null`: no stated volume.
    pub monthly_volume: Option<u64>,
}

/// The operator's plans, the default first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanList {
    pub data: Vec<Plan>,
}

/// The calling contract's plan and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractPlan {
    pub customer_id: String,
    pub state: String,
    pub plan: Plan,
}

page!(
    /// A page of console users.
    UserPage of User
);
page!(
    /// A page of API keys.
    ApiKeyPage of ApiKey
);

/// A console user to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(example = "taro@example.jp")]
    pub email: String,
    /// 8 to 1024 bytes; leave it out to have one generated (shown once, in the answer).
    #[serde(default)]
    pub password: Option<String>,
    /// `admin`, `sender`, `viewer` or `billing`.
    #[schema(example = "viewer")]
    pub role: String,
    /// Whether the user sees e-mail addresses in clear.
    #[serde(default)]
    pub see_addresses: bool,
}

/// An API key to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for, 1 to 100 characters.
    #[schema(example = "order system", min_length = 1, max_length = 100)]
    pub name: String,
    /// `admin`, `sender`, `viewer` or `billing`.
    #[schema(example = "sender")]
    pub role: String,
    /// Whether answers to the key show e-mail addresses in clear.
    #[serde(default)]
    pub see_addresses: bool,
}

/// One of the platform's send-control rules: how mail to matching destinations is paced. The
/// operator sets them (`[[delivery.destination]]`); they govern every contract's mail alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SendControlRule {
    /// A recipient domain (and its subdomains), `mx:HOST`, `mx:*.SUFFIX`, or `*` (the defaults).
    #[serde(rename = "match")]
    #[schema(example = "docomo.ne.jp")]
    pub matches: String,
    /// Concurrent connections to the matching destinations, on each node.
    pub max_connections: u64,
    pub max_messages_per_connection: u64,
    /// `300/min`; `null`: no rate limit.
    #[schema(example = "300/min")]
    pub max_rate: Option<String>,
    /// `opportunistic`, `required`, `required-noverify` or `disabled`.
    pub tls: String,
    /// Pause after a `421` or throttling reply, in seconds (doubling while it goes on).
    pub backoff_seconds: u64,
}

/// The platform's send-control rules, first match first, and the limits without a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SendControlRules {
    pub rules: Vec<SendControlRule>,
    /// What applies to a destination no rule matches.
    pub defaults: SendControlRule,
}
