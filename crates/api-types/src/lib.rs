//! The public JSON shapes of Hikyaku and their OpenAPI schemas.
//!
//! Every shape a program can see — in the REST API's requests and answers, in the CLI's
//! `--json`, in webhook payloads, later behind the console — is defined here once, so the
//! answer of `hikyaku log --json` and of `GET /api/v1/events` cannot drift apart. The shapes are
//! plain data: building them from the store's records is the caller's work, and nothing here
//! does I/O. Renaming a field or an enum value here breaks customers' programs: add, never
//! rename.

mod access;
mod events;
pub mod hosted;
mod notices;
mod operator;
mod rest;
pub mod send;
mod sender;
mod smime;
mod time;
mod webhooks;

pub use access::{
    ApiKey, ApiKeyList, CreatedApiKey, CreatedOperatorKey, NewUser, OperatorKey, OperatorKeyList,
    User, UserList,
};
pub use events::{
    Bounce, BounceList, Counts, Details, DomainStats, DomainStatsList, Event, EventList, EventPage,
    MessageHistory, PlanUsage, ReasonStats, ReasonStatsList, Remote, StatsPoint, StatsSeries,
    Usage, UsageList,
};
pub use notices::{Notice, NoticeList, NoticePage};
pub use operator::{
    CreatedMaintenanceNotice, Inquiry, InquiryHandled, InquiryList, MaintenanceList,
    MaintenanceNotice, MonthAvailability, NewInquiry, NewMaintenanceNotice, Node, NodeList,
    OutagePeriod, PlanChange,
};
pub use rest::*;
pub use send::{
    Address, Attachment, BatchItemResult, BatchRecipient, BatchSendRequest, BatchSendResponse,
    Charset, FieldError, MAX_BATCH_RECIPIENTS, MessageTemplate, NamedAddress, SendRequest,
    SendResponse, SentCopy,
};
pub use sender::{
    DkimKey, DnsFinding, DomainDnsCheck, DomainVerification, KeyRecordCheck, KeyRecordStatus,
    NewSenderDomain, SenderDomain, SenderDomainList,
};
pub use smime::{
    CertificateExpiry, EXPIRY_WARNING_MS, NewSmimeCertificate, SmimeCertificate,
    SmimeCertificateList,
};
pub use time::Time;
pub use webhooks::{
    NewWebhookEndpoint, RotateWebhookSecret, WebhookAttempt, WebhookAttemptList, WebhookEndpoint,
    WebhookEndpointList, WebhookEndpointPatch, WebhookPayload, WebhookSecret,
};
