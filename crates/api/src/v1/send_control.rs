//! The platform's send-control rules as they apply to the contract's mail. They are the
//! operator's (`[[delivery.destination]]`): a destination's limits are shared by every
//! contract sending to it, so no one contract may change them; contracts read them to know how
//! their mail to, say, the Japanese mobile carriers is paced.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, Failures};
use axum::Json;
use axum::extract::State;
use hikyaku_api_types::{SendControlRule, SendControlRules};
use hikyaku_config::{Config, TlsPolicy};
use hikyaku_delivery::rules::{GroupKey, Limits, Rules};

fn rule(matches: &str, limits: &Limits) -> SendControlRule {
    SendControlRule {
        matches: matches.to_string(),
        max_connections: limits.max_connections as u64,
        max_messages_per_connection: limits.max_messages_per_connection as u64,
        max_rate: limits.max_rate.map(|rate| {
            let per = match rate.per.as_secs() {
                1 => "s".to_string(),
                60 => "min".to_string(),
                3600 => "h".to_string(),
                86_400 => "d".to_string(),
                other => format!("{other}s"),
            };
            format!("{}/{per}", rate.messages)
        }),
        // Without a rule's policy each host's own applies: opportunistic, unless DANE
        // (`delivery.dane`) finds authenticated TLSA records for it.
        tls: match limits.tls {
            None | Some(TlsPolicy::Opportunistic) => "opportunistic",
            Some(TlsPolicy::Required) => "required",
            Some(TlsPolicy::RequiredNoverify) => "required-noverify",
            Some(TlsPolicy::Disabled) => "disabled",
        }
        .to_string(),
        backoff_seconds: limits.backoff.as_secs(),
    }
}

/// The effective rules of `config`, computed once: each with the limits it inherits from `*`
/// and the built-in defaults, as the delivery engine applies them.
pub(crate) fn rules_of(config: &Config) -> SendControlRules {
    let rules = Rules::new(&config.delivery.destination);
    let labels: Vec<&str> = rules.labels().collect();
    // The last label is the default group's; the others are the rules, in order.
    let specific = labels.len().saturating_sub(1);
    SendControlRules {
        rules: labels[..specific]
            .iter()
            .enumerate()
            .map(|(index, label)| rule(label, rules.limits(&GroupKey::Rule(index))))
            .collect(),
        defaults: rule(
            hikyaku_delivery::rules::DEFAULT_GROUP_LABEL,
            rules.limits(&GroupKey::Site("".into())),
        ),
    }
}

/// The platform's send-control rules, first match first: per destination (a recipient domain
/// with its subdomains, or MX hosts) the connections, messages per connection and rate allowed
/// on each node, TLS, and the pause after a throttling reply. Set by the operator.
#[utoipa::path(
    get,
    path = "/settings/send-control",
    tag = "settings",
    responses((status = 200, body = SendControlRules), Failures)
)]
pub async fn rules(
    State(state): State<ApiState>,
    _caller: ContractCaller,
) -> Result<Json<SendControlRules>, ApiError> {
    Ok(Json(state.0.send_control.clone()))
}
