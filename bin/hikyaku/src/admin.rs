//! The operator's commands: contracts, allowed IP ranges, SMTP credentials, the queue, the send
//! log. They work on the store directly (no running service needed): a retry or delete is
//! recorded there and the delivery engine of the message's node picks it up within a second. Every command prints either a
//! readable table or, with `--json`, one line of JSON whose snake_case keys are stable.

use anyhow::{Context, bail};
use hikyaku_api_types::{self as api, Event as ApiEvent};
use hikyaku_config::{Config, RelayConfig};
use hikyaku_model::{
    Contract, ContractState, CustomerId, Event, EventKind, MessageId, QueuedMessage, Reason,
    RecipientState, Timestamp, UnregisteredFrom,
};
use hikyaku_store::{
    AllowedIpRange, BounceDomain, EventCursor, EventQuery, QueueChange, QueueFilter,
    SmtpCredential, Store,
};
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Contracts (tenants): create, list, show, suspend, resume, terminate.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Source address ranges from which a contract's hosts may relay without authenticating.
    #[command(subcommand)]
    AllowedIp(AllowedIpCommand),
    /// SMTP AUTH user names of a contract.
    #[command(subcommand)]
    SmtpCredential(SmtpCredentialCommand),
    /// The queue of accepted messages and their recipients' states.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// The send log: every acceptance, delivery attempt and final outcome, per recipient.
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(clap::Subcommand)]
pub enum ContractCommand {
    /// Open a contract (it starts as `trial`) and print its new customer ID.
    Create {
        /// The organisation's name, as people will see it.
        #[arg(long)]
        name: String,
        /// One of the plans in the configuration's contracts.plans (by default only
        /// `standard`); the first of them when not given.
        #[arg(long)]
        plan: Option<String>,
    },
    /// List every contract, oldest first.
    List,
    /// Show a contract with its allowed IP ranges and SMTP user names.
    Show {
        /// The contract's customer ID (as `contract create` printed it).
        customer_id: CustomerId,
    },
    /// Stop a contract from sending (its mail is refused with 554 5.7.1).
    Suspend {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// Let a trial or suspended contract send again, as `active`.
    Resume {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// End a contract for good: its mail is refused and its allowed IP ranges stop counting;
    /// contracts.termination_grace later (by default at once) the lifecycle job withdraws its
    /// queued mail and deletes all its data, keys included (`contract show` then says when).
    Terminate {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// Change a contract's settings.
    Set {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// What the relay does with mail whose From domain is none of the contract's sender
        /// domains: `sign-as-service` (sign it with the platform's service domain, when that
        /// has a key) or `refuse` (550 5.7.1 over SMTP, 422 over the API).
        #[arg(long, value_name = "POLICY")]
        unregistered_from: Option<UnregisteredFrom>,
    },
    /// The contract's own bounce domain (custom return path): its messages' VERP envelope
    /// senders are on it instead of the platform's bounce domain, so that they align with its
    /// From domain for DMARC.
    #[command(subcommand)]
    BounceDomain(BounceDomainCommand),
    /// One-click unsubscribe (RFC 8058): the relay adds List-Unsubscribe to the contract's
    /// mail, one copy per recipient, and a POST to the link suppresses the address.
    #[command(subcommand)]
    Unsubscribe(UnsubscribeCommand),
}

#[derive(clap::Subcommand)]
pub enum UnsubscribeCommand {
    /// Add the links to the contract's mail: to every message, or with --tag only to messages
    /// sent through the HTTP API with one of those tags. Replaces the previous setting.
    Enable {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// A message tag the links are limited to; repeat for several.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Stop adding the links (links already sent keep working).
    Disable {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// Show the setting and where the links lead.
    Show {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
}

#[derive(clap::Subcommand)]
pub enum BounceDomainCommand {
    /// Set (or replace) the contract's bounce domain, e.g. bounce.example.com, and print the
    /// DNS record the customer publishes: a CNAME to the platform's bounce domain. Refused: a
    /// terminated contract, a domain another contract has, the platform's own bounce domain.
    Set {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// A domain of the customer's, in ASCII (an internationalised name in its xn-- form).
        domain: String,
    },
    /// Take the contract's bounce domain away: its return paths go back to the platform's
    /// domain, and bounces still on their way to the old one are refused.
    Clear {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// Show where the contract's return paths are, and the record its domain needs.
    Show {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
}

#[derive(clap::Subcommand)]
pub enum AllowedIpCommand {
    /// Allow a range (`192.0.2.0/24`; a bare address means that address alone). Refused: a
    /// terminated contract, a range that overlaps another contract's, and a range broader than
    /// relay.min_allowed_prefix_v4 / _v6 (by default /16, /48) unless --force.
    Add {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// A CIDR range or a bare address (192.0.2.0/24, 192.0.2.7, 2001:db8::/48).
        #[arg(value_parser = parse_cidr)]
        cidr: IpNet,
        /// Allow a range broader than the configured minimum prefix: every host in it may
        /// then relay in the contract's name.
        #[arg(long)]
        force: bool,
    },
    /// List a contract's ranges, in address order.
    List {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// Remove a range from a contract.
    Remove {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The range as it was added (any address inside it with the same prefix will do).
        #[arg(value_parser = parse_cidr)]
        cidr: IpNet,
    },
}

#[derive(clap::Subcommand)]
pub enum SmtpCredentialCommand {
    /// Add a user name; without --password or --password-stdin a strong password is
    /// generated and printed once.
    Add {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The SMTP AUTH user name (unique across all contracts).
        #[arg(long)]
        username: String,
        /// The password, on the command line (where other local users may see it in the
        /// process list: prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List a contract's user names.
    List {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// Remove a user name from a contract.
    Remove {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The SMTP AUTH user name to remove.
        #[arg(long)]
        username: String,
    },
}

#[derive(clap::Subcommand)]
pub enum QueueCommand {
    /// List the messages still waiting for delivery (a recipient queued or deferred), oldest
    /// first; finished messages are in `log search` (or here with --all).
    List {
        /// Only this contract's messages (a customer ID).
        #[arg(long, value_name = "CUSTOMER_ID")]
        customer: Option<CustomerId>,
        /// Only messages with a recipient in this state (default: either).
        #[arg(long, value_parser = one_of(&WAITING, RecipientState::as_str))]
        state: Option<RecipientState>,
        /// Every message the database still holds, finished ones too.
        #[arg(long, conflicts_with = "state")]
        all: bool,
        /// At most this many messages (the oldest).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show one message, finished or not: its envelope, its recipients' states and its events.
    Show {
        /// The platform's message ID (as the relay's 250 reply and the send log give it).
        message_id: MessageId,
    },
    /// Make a message's queued and deferred recipients due now.
    Retry {
        /// The platform's message ID.
        message_id: MessageId,
    },
    /// Take a message out of the queue: its queued and deferred recipients end as `deleted`
    /// and are never sent.
    Delete {
        /// The platform's message ID.
        message_id: MessageId,
    },
}

/// The states in which a recipient still waits for delivery: what `queue list` shows.
const WAITING: [RecipientState; 2] = [RecipientState::Queued, RecipientState::Deferred];

/// A value parser for one of `values`, by name: clap lists the names in the help and in the
/// error for anything else.
pub(crate) fn one_of<T: Copy + Send + Sync + 'static>(
    values: &'static [T],
    name: fn(T) -> &'static str,
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(values.iter().map(|v| name(*v))).map(move |text| {
        *values
            .iter()
            .find(|v| name(**v) == text)
            .expect("clap takes only the names listed")
    })
}

#[derive(clap::Subcommand)]
pub enum LogCommand {
    /// Find send-log entries, newest first.
    Search {
        /// Only this contract's entries (a customer ID).
        #[arg(long, value_name = "CUSTOMER_ID")]
        customer: Option<CustomerId>,
        /// Only entries for this recipient address (case does not matter).
        #[arg(long, value_name = "ADDRESS")]
        to: Option<String>,
        /// Only this message's entries (the platform's message ID).
        #[arg(long)]
        message_id: Option<MessageId>,
        /// Only entries of this kind.
        #[arg(long, alias = "kind", value_parser = one_of(&EventKind::ALL, EventKind::as_str))]
        outcome: Option<EventKind>,
        /// Entries at or after this time: RFC 3339 (2026-11-25T03:32:00Z, 2026-11-25) or a
        /// duration ago (30m, 1h, 2d).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: Option<Timestamp>,
        /// Entries before this time, in the same forms as --since.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: Option<Timestamp>,
        /// Only entries for recipients at this domain (case does not matter).
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// Only entries of messages from this envelope sender (case does not matter).
        #[arg(long, value_name = "ADDRESS")]
        from: Option<String>,
        /// Only entries of messages carrying this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only entries with this reason (userunknown, mailboxfull, ...).
        #[arg(long, value_parser = one_of(&Reason::ALL, Reason::as_str))]
        reason: Option<Reason>,
        /// Continue after the page that printed this `next` (from --json).
        #[arg(long, value_name = "CURSOR")]
        after: Option<EventCursor>,
        /// At most this many entries (the newest).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// A CIDR range, or a bare address meaning a /32 (IPv4) or /128 (IPv6).
fn parse_cidr(text: &str) -> Result<IpNet, String> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!("not an IP range or address: {text:?} (e.g. 192.0.2.0/24, 2001:db8::/32)")
    })
}

/// The first line of standard input, without its line break; a password may have any other
/// character, spaces at either end included.
pub(crate) fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if password.is_empty() {
        bail!("no password on standard input (--password-stdin reads its first line)");
    }
    Ok(password.to_string())
}

/// An RFC 3339 time, or a duration (with its unit: `90s`, `30m`, `1h`, `2d`) before now.
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    parse_time_at(text, Timestamp::now())
}

fn parse_time_at(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let bad = || {
        format!(
            "not a time: {text:?} (an RFC 3339 time such as 2026-11-25T03:32:00Z or \
             2026-11-25, or a duration ago such as 30m, 1h, 2d)"
        )
    };
    // A bare number would read as seconds to some and as an epoch time to others.
    if !text.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let ago: hikyaku_config::Duration = text.parse().map_err(|_| bad())?;
    let ago = i64::try_from(ago.as_std().as_millis()).map_err(|_| bad())?;
    Ok(Timestamp(now.as_millis().saturating_sub(ago)))
}

pub async fn run(
    cmd: AdminCommand,
    store: &Store,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        AdminCommand::Contract(ContractCommand::BounceDomain(cmd)) => {
            bounce_domain(cmd, store, config.bounce.domain.as_deref(), out).await
        }
        AdminCommand::Contract(ContractCommand::Unsubscribe(cmd)) => {
            unsubscribe(cmd, store, config, out).await
        }
        AdminCommand::Contract(cmd) => contract(cmd, store, config, out).await,
        AdminCommand::AllowedIp(cmd) => allowed_ip(cmd, store, &config.relay, out).await,
        AdminCommand::SmtpCredential(cmd) => smtp_credential(cmd, store, out).await,
        AdminCommand::Queue(cmd) => queue(cmd, store, out).await,
        AdminCommand::Log(cmd) => log(cmd, store, out).await,
    }
}

/// What `contract show` prints of a contract that is gone: its tombstone, or that there is none.
async fn show_tombstone(store: &Store, id: &CustomerId, out: Output) -> anyhow::Result<()> {
    match store.deleted_contract(id).await? {
        Some(gone) => crate::lifecycle_cmd::show_deleted(&gone, out),
        None => bail!("no contract with customer ID {id}"),
    }
}

/// Everything `contract show` prints beside the contract row itself.
struct ContractParts {
    end: crate::lifecycle_cmd::ContractEnd,
    ranges: Vec<AllowedIpRange>,
    credentials: Vec<SmtpCredential>,
    own: Option<BounceDomain>,
    unregistered_from: UnregisteredFrom,
    sender_domains: Vec<String>,
}

impl ContractParts {
    async fn read(
        store: &Store,
        config: &Config,
        contract: &Contract,
    ) -> anyhow::Result<ContractParts> {
        let id = &contract.customer_id;
        Ok(ContractParts {
            end: crate::lifecycle_cmd::ContractEnd::of(store, config, contract).await?,
            ranges: store.allowed_ips(id).await?,
            credentials: store.smtp_credentials(id).await?,
            own: store.bounce_domain(id).await?,
            unregistered_from: store.unregistered_from(id).await?,
            sender_domains: store
                .sender_domains(Some(id))
                .await?
                .into_iter()
                .map(|d| d.domain)
                .collect(),
        })
    }
}

pub(crate) async fn require_contract(store: &Store, id: &CustomerId) -> anyhow::Result<Contract> {
    match store.contract(id).await? {
        Some(contract) => Ok(contract),
        None => bail!("no contract with customer ID {id}"),
    }
}

/// A contract with its ranges and credentials, each in the same shape as its own commands
/// print it.
#[derive(Serialize)]
struct ContractDetails<'a> {
    #[serde(flatten)]
    contract: &'a Contract,
    allowed_ips: &'a [AllowedIpRange],
    smtp_credentials: &'a [SmtpCredential],
    /// The contract's own bounce domain (`contract bounce-domain`); `null`: the platform's.
    bounce_domain: Option<&'a str>,
    /// `sign-as-service` or `refuse` (`contract set --unregistered-from`).
    unregistered_from: UnregisteredFrom,
    /// Its sender domains (`domain list` for their keys).
    sender_domains: &'a [String],
    /// When it was terminated and its data is deleted.
    #[serde(flatten)]
    end: &'a crate::lifecycle_cmd::ContractEnd,
}

async fn contract(
    cmd: ContractCommand,
    store: &Store,
    config: &Config,
    out: Output,
) -> anyhow::Result<()> {
    let plans = &config.contracts.plans;
    let changed = match cmd {
        ContractCommand::Create { name, plan } => {
            let plan = match plan {
                Some(plan) if plans.contains(&plan) => plan,
                Some(plan) => bail!(
                    "unknown plan {plan:?}: the plans are {} (contracts.plans in the configuration)",
                    plans.join(", ")
                ),
                None => plans.first().cloned().unwrap_or_else(|| "standard".into()),
            };
            let contract = store.create_contract(&name, &plan).await?;
            return out.print(&contract, || format!("{}\n", contract.customer_id));
        }
        ContractCommand::List => {
            let contracts = store.contracts().await?;
            return out.print(&serde_json::json!({ "contracts": contracts }), || {
                let mut table = Table::new([
                    "CUSTOMER ID",
                    "NAME",
                    "PLAN",
                    "STATE",
                    "CREATED",
                    "LAST USED",
                ]);
                for c in &contracts {
                    table.row([
                        c.customer_id.to_string(),
                        c.name.clone(),
                        c.plan.clone(),
                        c.state.to_string(),
                        c.created_at.to_string(),
                        c.last_used_at.map_or_else(|| "-".into(), |t| t.to_string()),
                    ]);
                }
                table.render("no contracts")
            });
        }
        ContractCommand::Show { customer_id } => {
            // The contract first, its tombstone only when it is gone: the deletion removes the
            // one and writes the other in one transaction, so a deletion committed between
            // the two reads is still shown as such (the other order could find neither).
            let Some(contract) = store.contract(&customer_id).await? else {
                return show_tombstone(store, &customer_id, out).await;
            };
            // The details are read after the contract, so a deletion can commit in between
            // (one of them then finds no contract row): show what the contract has become.
            let ContractParts {
                end,
                ranges,
                credentials,
                own,
                unregistered_from,
                sender_domains,
            } = match ContractParts::read(store, config, &contract).await {
                Ok(parts) => parts,
                Err(error) if store.contract(&customer_id).await?.is_none() => {
                    tracing::debug!(%error, "the contract was deleted while it was read");
                    return show_tombstone(store, &customer_id, out).await;
                }
                Err(error) => return Err(error),
            };
            let details = ContractDetails {
                contract: &contract,
                allowed_ips: &ranges,
                smtp_credentials: &credentials,
                bounce_domain: own.as_ref().map(|d| d.domain.as_str()),
                unregistered_from,
                sender_domains: &sender_domains,
                end: &end,
            };
            return out.print(&details, || {
                let mut text = contract_text(&contract);
                text += &end.text();
                let cidrs: Vec<String> = ranges.iter().map(|r| r.cidr.to_string()).collect();
                let names: Vec<&str> = credentials.iter().map(|c| c.username.as_str()).collect();
                text += &field("allowed IPs", &list_or_none(&cidrs));
                text += &field("SMTP users", &list_or_none(&names));
                text += &field(
                    "bounces to",
                    &bounce_domain_text(own.as_ref(), config.bounce.domain.as_deref()),
                );
                text += &field("sender domains", &list_or_none(&sender_domains));
                text += &field("unregistered From", unregistered_from.as_str());
                text
            });
        }
        ContractCommand::Set {
            customer_id,
            unregistered_from,
        } => {
            require_contract(store, &customer_id).await?;
            let Some(policy) = unregistered_from else {
                bail!("nothing to set: give --unregistered-from sign-as-service|refuse");
            };
            store.set_unregistered_from(&customer_id, policy).await?;
            return out.print(
                &serde_json::json!({
                    "customer_id": customer_id,
                    "unregistered_from": policy,
                }),
                || format!("{customer_id}: mail from unregistered From domains: {policy}\n"),
            );
        }
        ContractCommand::Suspend { customer_id } => {
            store
                .set_contract_state(&customer_id, ContractState::Suspended)
                .await?
        }
        ContractCommand::Resume { customer_id } => {
            store
                .set_contract_state(&customer_id, ContractState::Active)
                .await?
        }
        ContractCommand::Terminate { customer_id } => {
            store
                .set_contract_state(&customer_id, ContractState::Terminated)
                .await?
        }
        ContractCommand::BounceDomain(_) => unreachable!("dispatched to bounce_domain"),
        ContractCommand::Unsubscribe(_) => unreachable!("dispatched to unsubscribe"),
    };
    out.print(&changed, || {
        format!("{} is now {}\n", changed.customer_id, changed.state)
    })
}

/// The contract's own bounce domain, or which one applies instead.
fn bounce_domain_text(own: Option<&BounceDomain>, platform: Option<&str>) -> String {
    match (own, platform) {
        (Some(own), _) => own.domain.clone(),
        (None, Some(platform)) => format!("none (the platform's: {platform})"),
        (None, None) => "none".into(),
    }
}

/// Where the contract's return paths are, in the shape `--json` prints.
fn return_path(
    customer_id: &CustomerId,
    own: Option<&BounceDomain>,
    platform: Option<&str>,
) -> api::ReturnPath {
    api::ReturnPath {
        customer_id: customer_id.to_string(),
        bounce_domain: own.map(|d| d.domain.clone()),
        set_at: own.map(|d| d.created_at.into()),
        return_path_domain: own
            .map(|d| d.domain.clone())
            .or(platform.map(str::to_string)),
        cname_target: platform.map(str::to_string),
    }
}

fn return_path_text(shown: &api::ReturnPath) -> String {
    let mut text = field("customer ID", &shown.customer_id);
    let own = shown.bounce_domain.as_deref().unwrap_or("none");
    text += &field("own domain", own);
    if let Some(at) = &shown.set_at {
        text += &field("set", &at.to_string());
    }
    text += &field(
        "return path",
        &match &shown.return_path_domain {
            Some(domain) => format!("b-<message>-<recipient>-<tag>@{domain}"),
            None => "the sender's own envelope address (no bounce domain anywhere)".into(),
        },
    );
    if let Some(own) = &shown.bounce_domain {
        // The record the customer publishes in its own zone.
        let record = match &shown.cname_target {
            Some(target) => format!("{own}. CNAME {target}."),
            None => format!(
                "{own}. MX 10 <the error server's host> (no bounce.domain is configured to point a CNAME at)"
            ),
        };
        text += &field("publish", &record);
    }
    text
}

async fn bounce_domain(
    cmd: BounceDomainCommand,
    store: &Store,
    platform: Option<&str>,
    out: Output,
) -> anyhow::Result<()> {
    let (customer_id, own) = match cmd {
        BounceDomainCommand::Set {
            customer_id,
            domain,
        } => {
            require_contract(store, &customer_id).await?;
            let normalized = hikyaku_store::normalize_bounce_domain(&domain)?;
            if platform.is_some_and(|p| p.trim_end_matches('.').eq_ignore_ascii_case(&normalized)) {
                bail!(
                    "{normalized} is the platform's own bounce domain (bounce.domain): a contract's \
                     bounce domain is one of the customer's, pointed at it"
                );
            }
            let set = store.set_bounce_domain(&customer_id, &normalized).await?;
            (customer_id, Some(set))
        }
        BounceDomainCommand::Clear { customer_id } => {
            require_contract(store, &customer_id).await?;
            store.clear_bounce_domain(&customer_id).await?;
            (customer_id, None)
        }
        BounceDomainCommand::Show { customer_id } => {
            require_contract(store, &customer_id).await?;
            let own = store.bounce_domain(&customer_id).await?;
            (customer_id, own)
        }
    };
    let shown = return_path(&customer_id, own.as_ref(), platform);
    out.print(&shown, || return_path_text(&shown))
}

async fn unsubscribe(
    cmd: UnsubscribeCommand,
    store: &Store,
    config: &Config,
    out: Output,
) -> anyhow::Result<()> {
    let customer_id = match cmd {
        UnsubscribeCommand::Enable { customer_id, tags } => {
            require_contract(store, &customer_id).await?;
            if let Err((at, problem)) = hikyaku_compose::check::check_tags(&tags) {
                match at {
                    Some(i) => bail!("--tag {:?}: {problem}", tags[i]),
                    None => bail!("--tag: {problem}"),
                }
            }
            let settings = hikyaku_store::UnsubscribeSettings {
                enabled: true,
                tags,
            };
            store
                .set_unsubscribe_settings(&customer_id, &settings)
                .await?;
            customer_id
        }
        UnsubscribeCommand::Disable { customer_id } => {
            require_contract(store, &customer_id).await?;
            let mut settings = store.unsubscribe_settings(&customer_id).await?;
            settings.enabled = false;
            store
                .set_unsubscribe_settings(&customer_id, &settings)
                .await?;
            customer_id
        }
        UnsubscribeCommand::Show { customer_id } => {
            require_contract(store, &customer_id).await?;
            customer_id
        }
    };
    let settings = store.unsubscribe_settings(&customer_id).await?;
    let mailto_domain = match store.bounce_domain(&customer_id).await? {
        Some(own) => Some(own.domain),
        None => config.bounce.domain.clone(),
    };
    let shown = api::UnsubscribeSetting {
        customer_id: customer_id.to_string(),
        enabled: settings.enabled,
        tags: settings.tags,
        link_prefix: config.public_base_url().map(|base| {
            format!(
                "{base}{}",
                hikyaku_relay::unsubscribe_stage::UNSUBSCRIBE_PATH
            )
        }),
        mailto_domain,
    };
    out.print(&shown, || unsubscribe_text(&shown))
}

fn unsubscribe_text(shown: &api::UnsubscribeSetting) -> String {
    let mut text = field("customer ID", &shown.customer_id);
    let state = match (shown.enabled, shown.tags.is_empty()) {
        (false, _) => "off".to_string(),
        (true, true) => "on, for every message".to_string(),
        (true, false) => format!(
            "on, for messages tagged {} (HTTP API sends)",
            shown.tags.join(", ")
        ),
    };
    text += &field("unsubscribe", &state);
    text += &field(
        "links",
        &match &shown.link_prefix {
            Some(prefix) => format!("{prefix}<token>"),
            None => "none: set http.public_url or service_domain, or no links are added".into(),
        },
    );
    text += &field(
        "mailto",
        &match &shown.mailto_domain {
            Some(domain) => format!("u-<message>-<tag>@{domain}"),
            None => "none (no bounce domain): the link alone".into(),
        },
    );
    text
}

fn contract_text(c: &Contract) -> String {
    [
        field("customer ID", c.customer_id.as_str()),
        field("name", &c.name),
        field("plan", &c.plan),
        field("state", c.state.as_str()),
        field("created", &c.created_at.to_string()),
        field(
            "last used",
            &c.last_used_at
                .map_or_else(|| "never".into(), |t| t.to_string()),
        ),
    ]
    .concat()
}

/// Why a range is too broad to allow without `--force`, if it is: every host in it could relay
/// in the contract's name. Loopback ranges are this host alone, however short their prefix.
fn too_broad(cidr: IpNet, relay: &RelayConfig) -> Option<String> {
    let (minimum, key) = match cidr {
        IpNet::V4(_) => (relay.min_allowed_prefix_v4, "relay.min_allowed_prefix_v4"),
        IpNet::V6(_) => (relay.min_allowed_prefix_v6, "relay.min_allowed_prefix_v6"),
    };
    let loopback = cidr.network().is_loopback() && cidr.broadcast().is_loopback();
    (cidr.prefix_len() < minimum && !loopback).then(|| {
        format!(
            "{} is broader than /{minimum} ({key}): every host in it could relay in the \
             contract's name; give --force if that is meant",
            cidr.trunc()
        )
    })
}

async fn allowed_ip(
    cmd: AllowedIpCommand,
    store: &Store,
    relay: &RelayConfig,
    out: Output,
) -> anyhow::Result<()> {
    match cmd {
        AllowedIpCommand::Add {
            customer_id,
            cidr,
            force,
        } => {
            // Whose the contract is comes first: a refusal about the range must not be the
            // answer for a contract that does not exist.
            let contract = require_contract(store, &customer_id).await?;
            if contract.state == ContractState::Terminated {
                bail!("contract {customer_id} is terminated: it gets no new IP ranges");
            }
            if let Some(problem) = too_broad(cidr, relay).filter(|_| !force) {
                bail!(problem);
            }
            let range = store.add_allowed_ip(&customer_id, cidr).await?;
            out.print(&range, || {
                format!("{} may relay from {}\n", range.customer_id, range.cidr)
            })
        }
        AllowedIpCommand::List { customer_id } => {
            require_contract(store, &customer_id).await?;
            let ranges = store.allowed_ips(&customer_id).await?;
            out.print(&serde_json::json!({ "allowed_ips": ranges }), || {
                let mut table = Table::new(["CIDR", "ADDED"]);
                for r in &ranges {
                    table.row([r.cidr.to_string(), r.created_at.to_string()]);
                }
                table.render("no allowed IP ranges")
            })
        }
        AllowedIpCommand::Remove { customer_id, cidr } => {
            require_contract(store, &customer_id).await?;
            if !store.remove_allowed_ip(&customer_id, cidr).await? {
                bail!(
                    "contract {customer_id} has no allowed range {}",
                    cidr.trunc()
                );
            }
            out.print(&serde_json::json!({ "removed": cidr.trunc() }), || {
                format!("removed {} from {customer_id}\n", cidr.trunc())
            })
        }
    }
}

async fn smtp_credential(
    cmd: SmtpCredentialCommand,
    store: &Store,
    out: Output,
) -> anyhow::Result<()> {
    match cmd {
        SmtpCredentialCommand::Add {
            customer_id,
            username,
            password,
            password_stdin,
        } => {
            let contract = require_contract(store, &customer_id).await?;
            if contract.state == ContractState::Terminated {
                bail!("contract {customer_id} is terminated: it gets no new SMTP credentials");
            }
            let password = match password_stdin {
                true => Some(password_from_stdin()?),
                false => password,
            };
            let generated = password.is_none();
            let password = password.unwrap_or_else(hikyaku_store::generate_password);
            let credential = store
                .add_smtp_credential(&customer_id, &username, &password)
                .await?;
            #[derive(Serialize)]
            struct Added<'a> {
                #[serde(flatten)]
                credential: &'a SmtpCredential,
                /// Only when generated (else null): it is shown this once and never stored in
                /// clear; a password the operator chose is never echoed.
                password: Option<&'a str>,
            }
            let added = Added {
                credential: &credential,
                password: generated.then_some(password.as_str()),
            };
            out.print(&added, || {
                let mut text = format!(
                    "added SMTP user {} for {}\n",
                    credential.username, credential.customer_id
                );
                if generated {
                    text += &format!(
                        "password: {password}\n(shown once; it is stored only as a hash)\n"
                    );
                }
                text
            })
        }
        SmtpCredentialCommand::List { customer_id } => {
            require_contract(store, &customer_id).await?;
            let credentials = store.smtp_credentials(&customer_id).await?;
            out.print(
                &serde_json::json!({ "smtp_credentials": credentials }),
                || {
                    let mut table = Table::new(["USERNAME", "ADDED"]);
                    for c in &credentials {
                        table.row([c.username.clone(), c.created_at.to_string()]);
                    }
                    table.render("no SMTP users")
                },
            )
        }
        SmtpCredentialCommand::Remove {
            customer_id,
            username,
        } => {
            require_contract(store, &customer_id).await?;
            if !store
                .remove_smtp_credential(&customer_id, &username)
                .await?
            {
                bail!("contract {customer_id} has no SMTP user {username:?}");
            }
            out.print(&serde_json::json!({ "removed": username }), || {
                format!("removed SMTP user {username} from {customer_id}\n")
            })
        }
    }
}

async fn queue(cmd: QueueCommand, store: &Store, out: Output) -> anyhow::Result<()> {
    match cmd {
        QueueCommand::List {
            customer,
            state,
            all,
            limit,
        } => {
            if let Some(id) = &customer {
                require_contract(store, id).await?;
            }
            let messages = store
                .queue(QueueFilter {
                    customer,
                    states: match (state, all) {
                        (_, true) => Vec::new(),
                        (Some(state), false) => vec![state],
                        (None, false) => WAITING.to_vec(),
                    },
                    limit: Some(limit),
                })
                .await?;
            out.print(&serde_json::json!({ "messages": messages }), || {
                let mut table = Table::new([
                    "MESSAGE ID",
                    "CUSTOMER ID",
                    "RECEIVED",
                    "SIZE",
                    "FROM",
                    "RECIPIENTS",
                ]);
                for m in &messages {
                    table.row([
                        m.id.to_string(),
                        m.customer_id.to_string(),
                        m.received_at.to_string(),
                        m.size.to_string(),
                        sender_text(&m.mail_from),
                        recipient_summary(m),
                    ]);
                }
                table.render("no message waiting")
            })
        }
        QueueCommand::Show { message_id } => {
            let message = store
                .queued_message(message_id)
                .await?
                .with_context(|| format!("no message {message_id} in the queue"))?;
            let events = store.events_for_message(message_id).await?;
            #[derive(Serialize)]
            struct Shown<'a> {
                message: &'a QueuedMessage,
                events: Vec<ApiEvent>,
            }
            out.print(
                &Shown {
                    message: &message,
                    events: events.iter().map(ApiEvent::from).collect(),
                },
                || message_text(&message, &events),
            )
        }
        QueueCommand::Retry { message_id } => {
            let change = store.retry_message(message_id, Timestamp::now()).await?;
            out.print(&change_json(&change), || {
                format!(
                    "{} recipient(s) of {message_id} are due now on {}: {}\n",
                    change.recipients.len(),
                    change.node,
                    change.recipients.join(", ")
                )
            })
        }
        QueueCommand::Delete { message_id } => {
            let change = store.delete_message(message_id, Timestamp::now()).await?;
            out.print(&change_json(&change), || {
                format!(
                    "deleted {message_id}: {} recipient(s) will not be sent: {}\n",
                    change.recipients.len(),
                    change.recipients.join(", ")
                )
            })
        }
    }
}

fn change_json(change: &QueueChange) -> serde_json::Value {
    serde_json::json!({
        "message_id": change.message_id,
        "action": change.action.as_str(),
        "node": change.node,
        "recipients": change.recipients,
    })
}

async fn log(cmd: LogCommand, store: &Store, out: Output) -> anyhow::Result<()> {
    let LogCommand::Search {
        customer,
        to,
        message_id,
        outcome,
        since,
        until,
        domain,
        from,
        tag,
        reason,
        after,
        limit,
    } = cmd;
    if let Some(id) = &customer {
        require_contract(store, id).await?;
    }
    let page = store
        .search_events(&EventQuery {
            customer,
            recipient: to,
            message_id,
            kinds: outcome.into_iter().collect(),
            since,
            until,
            recipient_domain: domain,
            sender: from,
            tag,
            reason,
            after,
            limit: Some(limit),
        })
        .await?;
    let entries = hikyaku_api_types::EventPage {
        events: page.events.iter().map(ApiEvent::from).collect(),
        next: page.next.map(|cursor| cursor.to_string()),
    };
    out.print(&entries, || {
        let mut table = Table::new([
            "AT",
            "OUTCOME",
            "MESSAGE ID",
            "CUSTOMER",
            "FROM",
            "TO",
            "HOST",
            "IP",
            "PORT",
            "TLS",
            "CODE",
            "STATUS",
            "DELAY",
            "ATTEMPT",
            "REASON",
            "REPLY",
        ]);
        let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".into());
        for e in &entries.events {
            let d = &e.details;
            let remote = d.remote.as_ref();
            table.row([
                e.time.to_string(),
                e.kind.clone(),
                e.message_id.clone(),
                e.customer_id.clone(),
                sender_text(&e.sender),
                e.recipient.clone(),
                or_dash(remote.map(|r| r.host.clone())),
                or_dash(remote.and_then(|r| r.ip.clone())),
                or_dash(remote.and_then(|r| r.port).map(|port| port.to_string())),
                or_dash(
                    remote
                        .and_then(|r| r.tls)
                        .map(|tls| if tls { "yes" } else { "no" }.to_string()),
                ),
                or_dash(d.code.map(|code| code.to_string())),
                or_dash(d.status.clone()),
                or_dash(d.delay_ms.map(delay_text)),
                or_dash(d.attempt.map(|n| n.to_string())),
                or_dash(d.reason.clone().or_else(|| d.note.clone())),
                or_dash(d.text.clone()),
            ]);
        }
        table.render("no matching events")
    })
}

/// `850ms`, `42s`, `3m12s`, `2h05m`, `1d04h`: a delay at a glance, to the unit that matters.
fn delay_text(ms: i64) -> String {
    let s = ms / 1000;
    match ms {
        ..0 => format!("{ms}ms"),
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{s}s"),
        60_000..3_600_000 => format!("{}m{:02}s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

fn sender_text(mail_from: &str) -> String {
    if mail_from.is_empty() {
        "<>".into()
    } else {
        mail_from.to_string()
    }
}

/// `2 (queued 1, delivered 1)`: how many recipients and where they stand.
fn recipient_summary(m: &QueuedMessage) -> String {
    let counts: Vec<String> = RecipientState::ALL
        .into_iter()
        .filter_map(|state| {
            let n = m.recipients.iter().filter(|r| r.state == state).count();
            (n > 0).then(|| format!("{state} {n}"))
        })
        .collect();
    format!("{} ({})", m.recipients.len(), counts.join(", "))
}

fn message_text(m: &QueuedMessage, events: &[Event]) -> String {
    let mut text = [
        field("message ID", &m.id.to_string()),
        field("customer ID", m.customer_id.as_str()),
        field("from", &sender_text(&m.mail_from)),
        field("size", &format!("{} bytes", m.size)),
        field("received", &m.received_at.to_string()),
        field("source IP", &m.source_ip),
        field("node", &m.node),
    ]
    .concat();
    text.push('\n');
    let mut recipients = Table::new([
        "#",
        "RECIPIENT",
        "STATE",
        "ATTEMPTS",
        "NEXT ATTEMPT",
        "LAST REPLY",
    ]);
    for (i, r) in m.recipients.iter().enumerate() {
        recipients.row([
            i.to_string(),
            r.address.clone(),
            r.state.to_string(),
            r.attempts.to_string(),
            r.next_attempt_at
                .map_or_else(|| "-".into(), |t| t.to_string()),
            r.last_reply.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    text += &recipients.render("no recipients");
    text.push('\n');
    let mut log = Table::new(["AT", "EVENT", "RECIPIENT", "DETAILS"]);
    for e in events {
        let details = serde_json::to_string(&hikyaku_api_types::Details::from(&e.details))
            .unwrap_or_default();
        log.row([
            e.at.to_string(),
            e.kind().to_string(),
            e.recipient.clone(),
            if details == "{}" { "-".into() } else { details },
        ]);
    }
    text += &log.render("no events");
    text
}

pub(crate) fn field(name: &str, value: &str) -> String {
    format!("{:<13}{value}\n", format!("{name}:"))
}

fn list_or_none<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// Prints `value` as one line of JSON, or the text `human` renders.
    pub(crate) fn print<T: Serialize>(
        self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            let mut json = serde_json::to_value(value)?;
            times_as_rfc3339(&mut json);
            println!("{json}");
        } else {
            print!("{}", human());
        }
        Ok(())
    }
}

/// Rewrites every time in `json` as RFC 3339 text (`2026-11-25T03:32:00.000Z`), as the tables
/// show it. The records keep times as epoch milliseconds (the database and the spool store them
/// so), and every field that holds one is named `at` or `…_at`: that name is the rule here, so
/// a new time field is rendered without a change to this code.
pub(crate) fn times_as_rfc3339(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                let is_time = key == "at" || key.ends_with("_at");
                match value.as_i64() {
                    Some(millis) if is_time => {
                        *value = serde_json::Value::String(Timestamp(millis).to_string());
                    }
                    _ => times_as_rfc3339(value),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(times_as_rfc3339),
        _ => {}
    }
}

/// A plain-text table: left-aligned columns two spaces apart, a header row in capitals.
pub(crate) struct Table<const N: usize> {
    header: [&'static str; N],
    rows: Vec<[String; N]>,
}

impl<const N: usize> Table<N> {
    pub(crate) fn new(header: [&'static str; N]) -> Self {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: [String; N]) {
        // A cell never breaks the table: control characters (from remote replies) are shown as spaces.
        self.rows.push(cells.map(|c| {
            c.chars()
                .map(|ch| if ch.is_control() { ' ' } else { ch })
                .collect()
        }));
    }

    pub(crate) fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("({empty})\n");
        }
        let mut widths = self.header.map(|h| h.chars().count());
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let padded: Vec<String> = cells
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut text = line(&mut self.header.iter().copied());
        for row in &self.rows {
            text += &line(&mut row.iter().map(String::as_str));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_bare_addresses() {
        for (text, expected) in [
            ("192.0.2.0/24", "192.0.2.0/24"),
            ("192.0.2.7", "192.0.2.7/32"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("2001:db8::1", "2001:db8::1/128"),
        ] {
            assert_eq!(parse_cidr(text).unwrap().to_string(), expected, "{text}");
        }
        for bad in ["", "192.0.2.0/33", "example.com", "192.0.2", "1.2.3.4/"] {
            assert!(parse_cidr(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        let now = Timestamp(1_795_577_520_000);
        for (text, expected) in [
            ("2026-11-25T03:32:00Z", Some(1_795_577_520_000)),
            ("2026-11-25T12:32:00+09:00", Some(1_795_577_520_000)),
            ("2026-11-25", Some(1_795_564_800_000)),
            ("90s", Some(1_795_577_430_000)),
            ("30m", Some(1_795_575_720_000)),
            ("1h", Some(1_795_573_920_000)),
            ("2d", Some(1_795_404_720_000)),
            ("3600", None),
            ("1y", None),
            ("h", None),
            ("yesterday", None),
            ("", None),
        ] {
            assert_eq!(
                parse_time_at(text, now).ok(),
                expected.map(Timestamp),
                "{text:?}"
            );
        }
    }

    #[test]
    fn delays_read_at_a_glance() {
        for (ms, text) in [
            (0, "0ms"),
            (850, "850ms"),
            (42_000, "42s"),
            (192_000, "3m12s"),
            (7_500_000, "2h05m"),
            (100_800_000, "1d04h"),
        ] {
            assert_eq!(delay_text(ms), text, "{ms}");
        }
    }

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(["A", "LONGER"]);
        table.row(["wide cell".into(), "x".into()]);
        table.row(["y".into(), "line\nbreak".into()]);
        assert_eq!(
            table.render("nothing"),
            "A          LONGER\nwide cell  x\ny          line break\n"
        );
        assert_eq!(Table::new(["A"]).render("nothing"), "(nothing)\n");
    }
}
