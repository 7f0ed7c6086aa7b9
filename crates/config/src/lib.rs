//! Typed configuration of Hikyaku.
//!
//! Owns the TOML schema (unknown keys are errors), the defaults that make `hikyaku serve` work
//! with no file at all, the human units (`"2MiB"`, `"5m"`), and validation. It is loaded and
//! checked completely before any port is bound. It does not open files other than the config
//! itself, and it knows nothing of how the values are used.

mod dns_responder;
mod keys;
mod lifecycle;
mod units;

pub use dns_responder::DnsResponderConfig;
pub use keys::KeysConfig;
pub use lifecycle::{RetentionConfig, UsageTimeZone};
pub use units::{ByteSize, Duration};

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration. Every key is documented in the README's reference table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded database, the spool, keys and certificates live.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; defaults to SQLite inside `data_dir`.
    pub database_url: Option<String>,
    /// This node's name in the shared database; defaults to the machine's host name.
    pub node_name: Option<String>,
    /// The 32-byte key that seals e-mail addresses at rest; generated in `data_dir` when absent.
    pub secret_key_file: Option<PathBuf>,
    /// The platform's own domain (`mail.example.net`): the domain mail is signed with when its
    /// From domain is not one of the contract's, the host of one-click unsubscribe links, and
    /// the domain whose DNS records `hikyaku dns records` prints. Unset on a fresh install.
    pub service_domain: Option<String>,
    pub relay: RelayConfig,
    pub delivery: DeliveryConfig,
    pub bounce: BounceConfig,
    pub suppression: SuppressionConfig,
    pub reputation: ReputationConfig,
    pub inbound: InboundConfig,
    pub notices: NoticesConfig,
    /// The availability monitor: what each node probes every minute.
    pub monitor: MonitorConfig,
    /// The operator: where contracts' inquiries are mailed.
    pub operator: OperatorConfig,
    pub webhooks: WebhooksConfig,
    pub http: HttpConfig,
    pub api: ApiConfig,
    pub log: LogConfig,
    pub contracts: ContractsConfig,
    /// How long report data is kept, and the pace of the job that deletes it.
    pub retention: RetentionConfig,
    /// Address-sealing key rotation: how nodes learn of a new key, how re-sealing is paced.
    pub keys: KeysConfig,
    /// The DNS records the platform publishes (`hikyaku dns records`) and checks (`dns check`).
    pub dns: DnsConfig,
    /// What each plan of `contracts.plans` includes, by plan name (`[plans.standard]`). A plan
    /// without a table here has no stated volume.
    pub plans: BTreeMap<String, PlanConfig>,
}

/// The platform's hosts as DNS should show them. Nothing here changes what the relay does: it
/// is what `hikyaku dns records` prints, `hikyaku dns check` compares DNS with, and the
/// built-in responder (`[dns.responder]`) serves.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// The relay nodes (`[[dns.relay_node]]`): each one's host name and public addresses.
    pub relay_node: Vec<RelayNode>,
    /// The one name clients connect to, whose A/AAAA records list every relay node's
    /// addresses (round-robin); `smtp.<service_domain>` when unset.
    pub smtp_host: Option<String>,
    /// Where the platform's SPF record lives, which customers `include:`;
    /// `_spf.<service_domain>` when unset.
    pub spf_name: Option<String>,
    /// The host the bounce domain's MX points at (where the error servers listen on port 25);
    /// the SMTP host name when unset.
    pub bounce_mx: Option<String>,
    /// The DNS server `dns check` asks (`"IP:PORT"`); the check never uses the system resolver,
    /// so without this it refuses to run.
    pub resolver: Option<SocketAddr>,
    /// The built-in authoritative server of the service zone (`[dns.responder]`).
    pub responder: DnsResponderConfig,
}

/// One relay node as DNS names it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RelayNode {
    /// Its host name (forward A/AAAA, and what each address's PTR must name).
    pub name: String,
    /// Its public IPv4 and IPv6 addresses, the ones remote servers see mail come from.
    pub addresses: Vec<std::net::IpAddr>,
}

impl DnsConfig {
    /// The round-robin SMTP host name, if the service domain or the key gives one.
    pub fn smtp_host(&self, service_domain: Option<&str>) -> Option<String> {
        self.smtp_host
            .clone()
            .or_else(|| service_domain.map(|d| format!("smtp.{d}")))
    }

    /// The name of the SPF record customers include.
    pub fn spf_name(&self, service_domain: Option<&str>) -> Option<String> {
        self.spf_name
            .clone()
            .or_else(|| service_domain.map(|d| format!("_spf.{d}")))
    }

    /// The bounce domain's MX target.
    pub fn bounce_mx(&self, service_domain: Option<&str>) -> Option<String> {
        self.bounce_mx
            .clone()
            .or_else(|| self.smtp_host(service_domain))
    }

    fn problems(&self, service_domain: Option<&str>, problems: &mut Vec<String>) {
        for (key, name) in [
            ("dns.smtp_host", &self.smtp_host),
            ("dns.spf_name", &self.spf_name),
            ("dns.bounce_mx", &self.bounce_mx),
        ] {
            if let Some(name) = name
                && !is_domain_name(name.strip_prefix('_').unwrap_or(name))
            {
                problems.push(format!("{key} {name:?} is not a domain name"));
            }
        }
        let mut seen_addresses = Vec::new();
        for (i, node) in self.relay_node.iter().enumerate() {
            let what = format!("dns.relay_node {:?}", node.name);
            if !is_domain_name(&node.name) {
                problems.push(format!("{what}: the name is not a host name"));
            } else if self.relay_node[..i]
                .iter()
                .any(|other| other.name.eq_ignore_ascii_case(&node.name))
            {
                problems.push(format!("{what} is listed twice"));
            }
            if node.addresses.is_empty() {
                problems.push(format!("{what} needs at least one address"));
            }
            for ip in &node.addresses {
                if let Some(why) = unpublishable(*ip) {
                    problems.push(format!("{what}: {ip} {why}"));
                } else if seen_addresses.contains(ip) {
                    problems.push(format!("{what}: {ip} belongs to another node too"));
                }
                seen_addresses.push(*ip);
            }
            if self
                .smtp_host(service_domain)
                .is_some_and(|host| host.eq_ignore_ascii_case(&node.name))
            {
                problems.push(format!(
                    "{what}: a node's name cannot be the SMTP host name, which lists every node"
                ));
            }
        }
        if !self.relay_node.is_empty() && service_domain.is_none() {
            for (key, value) in [("smtp_host", &self.smtp_host), ("spf_name", &self.spf_name)] {
                if value.is_none() {
                    problems.push(format!(
                        "dns.relay_node is set but neither service_domain nor dns.{key} is"
                    ));
                }
            }
        }
        if let Some(resolver) = self.resolver
            && (resolver.port() == 0 || resolver.ip().is_unspecified())
        {
            problems.push(format!(
                "dns.resolver {resolver} is not a DNS server's address (IP:PORT)"
            ));
        }
        self.responder.problems(self, service_domain, problems);
    }
}

/// Why an address cannot be a relay node's public address, if it cannot.
fn unpublishable(ip: std::net::IpAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    if ip.is_unspecified() {
        return Some("is the unspecified address");
    }
    if ip.is_loopback() {
        return Some("is a loopback address (list the address other servers see mail come from)");
    }
    if ip.is_multicast() {
        return Some("is a multicast address");
    }
    match ip {
        IpAddr::V4(v4) if v4.is_broadcast() => Some("is the broadcast address"),
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            Some("is an IPv4-mapped IPv6 address (list the IPv4 address)")
        }
        _ => None,
    }
}

/// What one plan includes.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PlanConfig {
    /// Messages a month the plan's fee covers (suppressed ones are not counted); beyond it the
    /// excess is counted in units of 1,000. `None`: no stated volume.
    pub monthly_volume: Option<u64>,
}

/// The REST API under `/api/v1` on the `[http]` listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Requests per second one API key may make, on average.
    pub requests_per_second: f64,
    /// Requests one API key may make at once above the average (the token bucket's size).
    pub burst: u32,
    /// The largest request body taken (a suppression import is the largest); larger gets `413`.
    pub max_body_bytes: ByteSize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            requests_per_second: 10.0,
            burst: 50,
            max_body_bytes: ByteSize(4 * 1024 * 1024),
        }
    }
}

/// What contracts may be given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContractsConfig {
    /// The plans the operator offers; `contract create --plan` takes one of them and defaults
    /// to the first.
    pub plans: Vec<String>,
    /// How long after `contract terminate` the contract's data is deleted (by the lifecycle
    /// job's next run after that); `0`: at its next run.
    pub termination_grace: Duration,
    /// A trial contract that accepted no message and made no API call for this many days is
    /// suspended (with a notice 7 days before); `0` turns the rule off.
    pub trial_idle_days: u32,
    /// The time zone whose calendar months usage is counted in: `Asia/Tokyo`, `UTC` or a
    /// whole-hour offset such as `"+09:00"`.
    pub usage_time_zone: UsageTimeZone,
}

impl Default for ContractsConfig {
    fn default() -> Self {
        ContractsConfig {
            plans: vec!["standard".to_string()],
            termination_grace: Duration::from_secs(0),
            trial_idle_days: 90,
            usage_time_zone: UsageTimeZone::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    pub listen: SocketAddr,
    /// The name in the greeting, EHLO reply and `Received` fields; defaults to the host name.
    pub hostname: Option<String>,
    pub max_connections: usize,
    pub max_message_size: ByteSize,
    pub max_recipients: usize,
    pub spool_limit: ByteSize,
    /// Free space kept on the data directory's file system: below it new mail gets
    /// `452 4.3.1` (relay and error server) and `/readyz` answers `503`; `0` turns it off.
    pub min_free_disk: ByteSize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// PEM certificate chain and key for STARTTLS; a self-signed pair is generated when absent.
    pub tls_certificate: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Allow AUTH without TLS on loopback connections (for local development).
    pub allow_plaintext_auth_on_loopback: bool,
    pub auth_failure_limit: u32,
    pub auth_failure_window: Duration,
    /// Bad commands in one session before it is closed.
    pub max_errors: u32,
    /// The shortest IPv4 prefix `allowed-ip add` takes without `--force`: a broader range lets
    /// that many more hosts relay in the contract's name.
    pub min_allowed_prefix_v4: u8,
    /// The same for IPv6 (a /48 is one site's usual allocation).
    pub min_allowed_prefix_v6: u8,
}

/// How delivery finds and treats the recipients' servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Run the delivery engine on this node.
    pub enabled: bool,
    /// `"system"` (the host's resolver), `"static"` (routes only), or a DNS server `"IP:PORT"`.
    pub resolver: ResolverSetting,
    /// After this long undelivered, a recipient expires as a bounce with reason `expired`.
    pub lifetime: Duration,
    /// Waits before the 1st, 2nd, ... retry of a temporary failure; the last repeats.
    pub retry_intervals: Vec<Duration>,
    /// The name in our EHLO; defaults to `relay.hostname`, then the host name.
    pub helo_name: Option<String>,
    /// Try IPv6 addresses of MX hosts too.
    pub ipv6: bool,
    pub connect_timeout: Duration,
    /// The port MX hosts (and routes without a port) are connected to; 25 except in tests,
    /// where servers on 127.0.0.1 cannot share port 25.
    pub smtp_port: u16,
    /// Apply recipient domains' MTA-STS policies (RFC 8461): a domain that publishes one in
    /// `enforce` mode gets its mail only over verified TLS to the MX hosts it names. Needs DNS
    /// (no effect with `resolver = "static"`); a destination rule that sets `tls` wins.
    pub mta_sts: bool,
    /// The port policy hosts (`https://mta-sts.<domain>/`) are fetched from; 443 except in
    /// tests, where servers on 127.0.0.1 cannot share port 443.
    pub mta_sts_port: u16,
    /// Static routes, checked before DNS; `domain = "*"` matches every domain.
    pub route: Vec<StaticRoute>,
    /// Per-destination send control; the first rule that matches wins, `match = "*"` is the
    /// default rule (built-in defaults apply when there is none).
    pub destination: Vec<DestinationRule>,
    /// Attempt outcomes that may wait for the database at once; beyond, no new attempt starts.
    /// Each one is a delivery that a crash would repeat, so this bounds the crash window (and
    /// memory) while the database is slow or away.
    pub max_unrecorded_outcomes: usize,
    /// The mailbox simulator's domain: mail to it never leaves the node, the delivery engine
    /// answers it by the local part (`bounce@`, `complaint@`, …). `""` turns the simulator off.
    pub simulator_domain: String,
    /// DANE for SMTP (RFC 7672): trust the AD bit of `resolver`'s answers and enforce
    /// DNSSEC-authenticated TLSA records. Only with a DNS server `"IP:PORT"` that validates
    /// DNSSEC (normally on this host); off by default, since nothing here can check that it does.
    pub dane: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverSetting {
    System,
    Static,
    Server(SocketAddr),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    /// A domain, or `"*"` for every domain.
    pub domain: String,
    /// `host:port`, `ip:port` or `[v6]:port`; port 25 when omitted.
    pub host: String,
}

/// Send control for destinations matching `match`: a domain (which also matches its
/// subdomains), an MX host name pattern prefixed with `mx:` (e.g. `mx:*.docomo.ne.jp`), or `*`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DestinationRule {
    #[serde(rename = "match")]
    pub matches: String,
    pub max_connections: Option<usize>,
    pub max_messages_per_connection: Option<usize>,
    /// `"300/min"`, `"10/s"`, `"20000/h"`.
    pub max_rate: Option<Rate>,
    /// `"opportunistic"` (default), `"required"` (verify the certificate), `"required-noverify"`, `"disabled"`.
    pub tls: Option<TlsPolicy>,
    /// How long to stop opening connections after a 421 or a throttling 4.7.x reply.
    pub backoff: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsPolicy {
    Opportunistic,
    Required,
    RequiredNoverify,
    Disabled,
}

/// Messages per period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub messages: u32,
    pub per: std::time::Duration,
}

/// The error server and the bounce domain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BounceConfig {
    /// The domain VERP return paths live on; its MX must point at the error server. Without it
    /// the envelope sender is passed through unchanged.
    pub domain: Option<String>,
    /// Run the error server (the SMTP listener for bounces and inbound mail) on this node.
    pub enabled: bool,
    /// Address of the error server's SMTP listener.
    pub listen: SocketAddr,
    pub max_connections: usize,
    pub max_message_size: ByteSize,
    /// Recipients per message the error server takes.
    pub max_recipients: usize,
    /// Extra addresses (besides VERP return paths) whose mail is read as feedback reports
    /// (ARF), e.g. the address registered with a mailbox provider's feedback loop.
    pub feedback_addresses: Vec<String>,
}

impl Default for BounceConfig {
    fn default() -> Self {
        BounceConfig {
            domain: None,
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 2526)),
            max_connections: 20,
            max_message_size: ByteSize(2 * 1024 * 1024),
            max_recipients: 100,
            feedback_addresses: Vec::new(),
        }
    }
}

/// When addresses go on a contract's suppression list besides hard bounces and complaints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuppressionConfig {
    /// This many soft bounces of one address within `soft_bounce_window` suppress it too;
    /// 0 turns the rule off.
    pub soft_bounce_limit: u32,
    pub soft_bounce_window: Duration,
}

impl Default for SuppressionConfig {
    fn default() -> Self {
        SuppressionConfig {
            soft_bounce_limit: 5,
            soft_bounce_window: Duration::from_secs(7 * 86_400),
        }
    }
}

/// The reputation guard: per contract, the share of hard bounces and of complaints among its
/// recent messages. Above the warning rates the contract's admins are told; above the pause
/// rates its sending stops until the operator resumes it. Rates are percentages (`2.0` = 2 %).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReputationConfig {
    pub enabled: bool,
    /// The window is the contract's last `window_messages` messages, none older than `window`.
    pub window_messages: u64,
    pub window: Duration,
    /// Below this many messages in the window nothing triggers: two bounces in ten messages
    /// say nothing about a list.
    pub min_messages: u64,
    pub warn_hard_bounce_rate: f64,
    pub warn_complaint_rate: f64,
    pub pause_hard_bounce_rate: f64,
    pub pause_complaint_rate: f64,
    /// How often each node looks at the contracts that sent recently.
    pub check_interval: Duration,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        ReputationConfig {
            enabled: true,
            window_messages: 10_000,
            window: Duration::from_secs(7 * 86_400),
            min_messages: 500,
            warn_hard_bounce_rate: 2.0,
            warn_complaint_rate: 0.08,
            pause_hard_bounce_rate: 5.0,
            pause_complaint_rate: 0.1,
            check_interval: Duration::from_secs(60),
        }
    }
}

/// Inbound parse: POSTing mail received for inbound routes to their endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Run the poster on this node.
    pub enabled: bool,
    /// A post not answered 2xx within this time after the mail came in is given up.
    pub lifetime: Duration,
    /// The wait after the first failed POST; it doubles after each further failure.
    pub retry_initial: Duration,
    /// The longest wait between two POSTs of one mail.
    pub retry_max: Duration,
    /// POSTs in flight at once on this node.
    pub max_in_flight: usize,
    /// Limit on one POST: connecting, sending and the answer's head.
    pub request_timeout: Duration,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            enabled: true,
            lifetime: Duration::from_secs(3 * 86_400),
            retry_initial: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_in_flight: 8,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Contract notices: the mail that tells a contract's admins about its certificates, endpoints
/// and trial, sent by the platform through its own relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoticesConfig {
    /// Scan for notices and mail them from this node (any number of nodes may: they share
    /// the notices and lease each one's mail).
    pub enabled: bool,
    /// The From address of the mail; defaults to `notices@` the service domain (or, without
    /// one, the relay's host name).
    pub from: Option<String>,
    /// How often the node looks for notices to mail.
    pub poll_interval: Duration,
    /// How often the node scans for new notices (S/MIME certificates expired or ending within
    /// 30 days); also once at start.
    pub scan_interval: Duration,
    /// How long a notice a node has claimed to mail stays with it: a node that dies after
    /// taking a notice leaves it to the others (or to itself, restarted) for this long.
    pub lease: Duration,
}

impl Default for NoticesConfig {
    fn default() -> Self {
        NoticesConfig {
            enabled: true,
            from: None,
            poll_interval: Duration::from_secs(10),
            scan_interval: Duration::from_secs(86_400),
            lease: Duration::from_secs(300),
        }
    }
}

/// The availability monitor: every minute, probe HTTP and SMTP and record whether they
/// answered; the month's availability and credit are counted from that record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Probe from this node (`serve`): its own listeners, or the `target`s when there are any.
    pub enabled: bool,
    /// Time between probes; at most a minute, or minutes would go unprobed.
    pub interval: Duration,
    /// Limit on each probe's HTTP and SMTP exchange.
    pub timeout: Duration,
    /// The shortest outage that is announced to every contract, and how long one goes on before
    /// it is announced while still going on. Every outage minute counts in
    /// the month's availability; a shorter one (a restart across a minute's probe) is not
    /// mailed to every contract's admins.
    pub announce_after: Duration,
    /// Nodes to probe instead of this node's own listeners (`[[monitor.target]]`), and what
    /// `hikyaku monitor` probes.
    pub target: Vec<MonitorTarget>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            enabled: true,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            announce_after: Duration::from_secs(300),
            target: Vec::new(),
        }
    }
}

/// A node the monitor probes, by its addresses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MonitorTarget {
    /// The name its minutes are recorded under (the node's name).
    pub name: String,
    /// Its HTTP listener, `http://HOST[:PORT][/BASE]`.
    pub http: String,
    /// Its relay SMTP listener, `HOST:PORT`.
    pub smtp: String,
}

/// The operator of the platform.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// Where contracts' inquiries (the console's inquiry form, `POST /api/v1/inquiries`) are
    /// mailed, through the platform itself. Unset: they are only listed in the operator area.
    pub email: Option<String>,
}

/// Webhooks: POSTing the contracts' events to their endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Run the sender on this node.
    pub enabled: bool,
    /// Let endpoints be plain `http://` and on loopback or private addresses (tests, a closed
    /// network); otherwise only `https://` to public addresses.
    pub allow_private_endpoints: bool,
    /// A batch request carries at most this many events...
    pub batch_max_events: u32,
    /// ...and goes out at the latest this long after its oldest event.
    pub batch_window: Duration,
    /// Events not delivered within this time after they happened are given up.
    pub retry_for: Duration,
    /// The wait after an endpoint's first failed request; it doubles after each further one.
    pub retry_initial: Duration,
    /// The longest wait between two requests to a failing endpoint.
    pub retry_max: Duration,
    /// An endpoint whose requests have all failed for this long is disabled.
    pub disable_after: Duration,
    /// Limit on one request: connecting, sending, and reading the answer's head and first bytes.
    pub request_timeout: Duration,
    /// Limit on resolving the endpoint's host and connecting to it.
    pub connect_timeout: Duration,
    /// How much of an answer's body is read and kept in the attempt log.
    pub answer_limit: ByteSize,
    /// Endpoints served at once on this node (each endpoint gets one request at a time).
    pub max_in_flight: usize,
    /// Where endpoint host names are looked up: `"system"` (`/etc/resolv.conf`), a DNS server
    /// `"IP:PORT"`, or `"static"` (no DNS: endpoints must be IP addresses).
    pub resolver: ResolverSetting,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            enabled: true,
            allow_private_endpoints: false,
            batch_max_events: 100,
            batch_window: Duration::from_secs(1),
            retry_for: Duration::from_secs(86_400),
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            disable_after: Duration::from_secs(5 * 86_400),
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            answer_limit: ByteSize(1024),
            max_in_flight: 16,
            resolver: ResolverSetting::System,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// The platform's public base URL (`https://mail.example.net`), where links in mail lead
    /// (one-click unsubscribe). Defaults to `https://` + `service_domain`.
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `debug`, `hikyaku_relay=debug,info`, ...
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./hikyaku-data"),
            database_url: None,
            node_name: None,
            secret_key_file: None,
            service_domain: None,
            relay: RelayConfig::default(),
            delivery: DeliveryConfig::default(),
            bounce: BounceConfig::default(),
            suppression: SuppressionConfig::default(),
            reputation: ReputationConfig::default(),
            inbound: InboundConfig::default(),
            notices: NoticesConfig::default(),
            monitor: MonitorConfig::default(),
            operator: OperatorConfig::default(),
            webhooks: WebhooksConfig::default(),
            http: HttpConfig::default(),
            api: ApiConfig::default(),
            log: LogConfig::default(),
            contracts: ContractsConfig::default(),
            retention: RetentionConfig::default(),
            keys: KeysConfig::default(),
            dns: DnsConfig::default(),
            plans: BTreeMap::new(),
        }
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 2525)),
            hostname: None,
            max_connections: 30,
            max_message_size: ByteSize(2 * 1024 * 1024),
            max_recipients: 1000,
            spool_limit: ByteSize(30 * 1024 * 1024 * 1024),
            min_free_disk: ByteSize(256 * 1024 * 1024),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            tls_certificate: None,
            tls_key: None,
            allow_plaintext_auth_on_loopback: false,
            auth_failure_limit: 5,
            auth_failure_window: Duration::from_secs(300),
            max_errors: 20,
            min_allowed_prefix_v4: 16,
            min_allowed_prefix_v6: 48,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            enabled: true,
            resolver: ResolverSetting::System,
            lifetime: Duration::from_secs(3 * 86_400),
            retry_intervals: [60, 300, 900, 1800, 3600, 7200, 14_400]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            helo_name: None,
            ipv6: true,
            connect_timeout: Duration::from_secs(30),
            smtp_port: 25,
            mta_sts: true,
            mta_sts_port: 443,
            route: Vec::new(),
            destination: Vec::new(),
            max_unrecorded_outcomes: 10_000,
            simulator_domain: "simulator.hikyaku.invalid".to_string(),
            dane: false,
        }
    }
}

impl<'de> Deserialize<'de> for ResolverSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "system" => Ok(ResolverSetting::System),
            "static" => Ok(ResolverSetting::Static),
            other => other.parse().map(ResolverSetting::Server).map_err(|_| {
                serde::de::Error::custom(format!(
                    "resolver must be \"system\", \"static\" or a DNS server \"IP:PORT\", not {other:?}"
                ))
            }),
        }
    }
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("not a rate: {text:?} (try \"300/min\", \"10/s\", \"20000/h\")");
        let (count, period) = text.split_once('/').ok_or_else(bad)?;
        let messages: u32 = count.trim().parse().map_err(|_| bad())?;
        let seconds = match period.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return Err(bad()),
        };
        if messages == 0 {
            return Err(format!(
                "{text:?}: a rate of zero would never send; remove the rule instead"
            ));
        }
        Ok(Rate {
            messages,
            per: std::time::Duration::from_secs(seconds),
        })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// `line 3, column 7: unknown field ...`: where and what on one line (the TOML crate's own text
/// draws the line with a caret under it, over several lines).
fn parse_error_text(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line_start = before.rfind('\n').map_or(0, |at| at + 1);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - line_start + 1;
            let source = text[line_start..].lines().next().unwrap_or("").trim();
            format!("line {line}, column {column} ({source}): {message}")
        }
        None => message.to_string(),
    }
}

/// The levels a log filter directive may name, most verbose first.
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Checks a log filter (`log.level`, `HIKYAKU_LOG`): comma-separated directives, each a level
/// or `TARGET=LEVEL` (a target may carry a span filter, `TARGET[SPAN{FIELD}]=LEVEL`).
///
/// `tracing`'s own parser reads a bare word that is not a level as a *target* enabled at every
/// level, so a typo such as `verbose` or `information` silently turns every other log line off.
/// Here a directive without `=` must be a level; a target alone is written `TARGET=trace`.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    let is_level = |word: &str| LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word));
    let levels = LOG_LEVELS.join(", ");
    if filter.trim().is_empty() {
        return Err(format!("empty filter (use a level: {levels})"));
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        // A span filter's field values may contain `=`: the level's `=` comes after it.
        let filters_end = directive.rfind([']', '}']).map_or(0, |at| at + 1);
        let level_at = directive[filters_end..]
            .rfind('=')
            .map(|at| filters_end + at);
        let (target, level) = match level_at {
            Some(at) => (&directive[..at], &directive[at + 1..]),
            None => ("", directive),
        };
        if level_at.is_some() && target.trim().is_empty() {
            return Err(format!("{directive:?} names no target before \"=\""));
        }
        if !is_level(level.trim()) {
            return Err(if level_at.is_some() {
                format!("{directive:?}: {level:?} is not a level ({levels})")
            } else {
                format!("{directive:?} is not a level ({levels}) nor TARGET=LEVEL")
            });
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The cause is the `source`: printed after this text by whoever shows the chain.
    #[error("cannot read the configuration file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: parse_error_text(text, &e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every rule and reports all violations at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let Some(domain) = &self.service_domain
            && !is_domain_name(domain)
        {
            problems.push(format!("service_domain {domain:?} is not a domain name"));
        }
        self.dns
            .problems(self.service_domain.as_deref(), &mut problems);
        let r = &self.relay;
        if r.max_connections == 0 {
            problems.push("relay.max_connections must be at least 1".to_string());
        }
        if r.max_message_size.0 < 1024 {
            problems.push("relay.max_message_size must be at least 1KiB".to_string());
        }
        if r.max_recipients == 0 {
            problems.push("relay.max_recipients must be at least 1".to_string());
        }
        if r.spool_limit.0 < r.max_message_size.0 {
            problems.push("relay.spool_limit must be at least relay.max_message_size".to_string());
        }
        if r.tls_certificate.is_some() != r.tls_key.is_some() {
            problems.push("relay.tls_certificate and relay.tls_key go together".to_string());
        }
        if r.min_allowed_prefix_v4 > 32 {
            problems.push(format!(
                "relay.min_allowed_prefix_v4 must be 0 to 32, not {}",
                r.min_allowed_prefix_v4
            ));
        }
        if r.min_allowed_prefix_v6 > 128 {
            problems.push(format!(
                "relay.min_allowed_prefix_v6 must be 0 to 128, not {}",
                r.min_allowed_prefix_v6
            ));
        }
        let plans = &self.contracts.plans;
        if plans.is_empty() {
            problems.push("contracts.plans needs at least one plan".to_string());
        }
        for (i, plan) in plans.iter().enumerate() {
            if plan.trim().is_empty() || plan.trim() != plan {
                problems.push(format!("contracts.plans: not a plan name: {plan:?}"));
            } else if plans[..i].contains(plan) {
                problems.push(format!("contracts.plans: {plan:?} is named twice"));
            }
        }
        for name in self.plans.keys() {
            if !plans.contains(name) {
                problems.push(format!(
                    "plans.{name}: not one of contracts.plans ({})",
                    plans.join(", ")
                ));
            }
        }
        self.retention.problems(&mut problems);
        self.keys.problems(&mut problems);
        let a = &self.api;
        if !(a.requests_per_second.is_finite() && a.requests_per_second > 0.0) {
            problems.push(format!(
                "api.requests_per_second must be above zero, not {}",
                a.requests_per_second
            ));
        }
        if a.burst == 0 {
            problems.push("api.burst must be at least 1".to_string());
        }
        if a.max_body_bytes.0 < 1024 {
            problems.push("api.max_body_bytes must be at least 1KiB".to_string());
        }
        if let Err(problem) = check_log_filter(&self.log.level) {
            problems.push(format!("log.level: {problem}"));
        }
        for (key, d) in [
            ("relay.command_timeout", r.command_timeout),
            ("relay.data_timeout", r.data_timeout),
            ("relay.auth_failure_window", r.auth_failure_window),
        ] {
            if d.as_std().is_zero() {
                problems.push(format!("{key} must be longer than zero"));
            }
        }
        let b = &self.bounce;
        if b.max_connections == 0 {
            problems.push("bounce.max_connections must be at least 1".to_string());
        }
        if b.max_message_size.0 < 1024 {
            problems.push("bounce.max_message_size must be at least 1KiB".to_string());
        }
        if b.max_recipients == 0 {
            problems.push("bounce.max_recipients must be at least 1".to_string());
        }
        if b.enabled && b.listen == r.listen && b.listen.port() != 0 {
            problems.push("bounce.listen and relay.listen must differ".to_string());
        }
        if let Some(domain) = &b.domain
            && (domain.is_empty() || domain.contains('@') || domain.contains(char::is_whitespace))
        {
            problems.push(format!("bounce.domain is not a domain: {domain:?}"));
        }
        for address in &b.feedback_addresses {
            if !address.contains('@') {
                problems.push(format!(
                    "bounce.feedback_addresses: not an address: {address:?}"
                ));
            }
        }
        if self.suppression.soft_bounce_limit > 0
            && self.suppression.soft_bounce_window.as_std().is_zero()
        {
            problems.push("suppression.soft_bounce_window must be longer than zero".to_string());
        }
        self.reputation.problems(&mut problems);
        let d = &self.delivery;
        if !d.simulator_domain.is_empty() && !is_domain_name(&d.simulator_domain) {
            problems.push(format!(
                "delivery.simulator_domain {:?} is not a domain name (\"\" turns the simulator off)",
                d.simulator_domain
            ));
        }
        if d.retry_intervals.is_empty() || d.retry_intervals.iter().any(|i| i.as_std().is_zero()) {
            problems.push(
                "delivery.retry_intervals needs at least one interval, none zero".to_string(),
            );
        }
        if d.lifetime.as_std().is_zero() {
            problems.push("delivery.lifetime must be longer than zero".to_string());
        }
        if d.smtp_port == 0 {
            problems.push("delivery.smtp_port must not be 0".to_string());
        }
        if d.mta_sts_port == 0 {
            problems.push("delivery.mta_sts_port must not be 0".to_string());
        }
        for route in &d.route {
            if route.domain.is_empty() || route.host.is_empty() {
                problems.push(format!(
                    "delivery.route needs a domain and a host: {route:?}"
                ));
            }
        }
        for rule in &d.destination {
            if rule.max_connections == Some(0) || rule.max_messages_per_connection == Some(0) {
                problems.push(format!(
                    "delivery.destination {:?}: limits must be at least 1",
                    rule.matches
                ));
            }
        }
        if d.dane && !matches!(d.resolver, ResolverSetting::Server(_)) {
            problems.push(
                "delivery.dane = true needs delivery.resolver = \"IP:PORT\": the validating DNS server whose AD bit is trusted"
                    .to_string(),
            );
        }
        if matches!(d.resolver, ResolverSetting::Static) && d.route.is_empty() {
            problems.push(
                "delivery.resolver = \"static\" needs at least one [[delivery.route]]".to_string(),
            );
        }
        let i = &self.inbound;
        for (key, d) in [
            ("inbound.lifetime", i.lifetime),
            ("inbound.retry_initial", i.retry_initial),
            ("inbound.retry_max", i.retry_max),
            ("inbound.request_timeout", i.request_timeout),
        ] {
            if d.as_std().is_zero() {
                problems.push(format!("{key} must be longer than zero"));
            }
        }
        if i.retry_initial.as_std() > i.retry_max.as_std() {
            problems.push("inbound.retry_initial must not be longer than inbound.retry_max".into());
        }
        if i.max_in_flight == 0 {
            problems.push("inbound.max_in_flight must be at least 1".to_string());
        }
        for (key, d) in [
            ("notices.poll_interval", self.notices.poll_interval),
            ("notices.scan_interval", self.notices.scan_interval),
            ("notices.lease", self.notices.lease),
        ] {
            if d.as_std().is_zero() {
                problems.push(format!("{key} must be longer than zero"));
            }
        }
        let m = &self.monitor;
        if m.interval.as_std().is_zero() || m.interval.as_std() > std::time::Duration::from_secs(60)
        {
            problems.push("monitor.interval must be longer than zero and at most 60s".into());
        }
        if m.timeout.as_std().is_zero() {
            problems.push("monitor.timeout must be longer than zero".into());
        }
        for (i, t) in m.target.iter().enumerate() {
            if t.name.trim().is_empty() || m.target[..i].iter().any(|o| o.name == t.name) {
                problems.push(format!(
                    "[[monitor.target]] names must be given and unique: {:?}",
                    t.name
                ));
            }
            if !t.http.starts_with("http://") || t.http.len() == "http://".len() {
                problems.push(format!(
                    "[[monitor.target]] http {:?} is not an http:// URL",
                    t.http
                ));
            }
            if !t
                .smtp
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            {
                problems.push(format!(
                    "[[monitor.target]] smtp {:?} is not HOST:PORT",
                    t.smtp
                ));
            }
        }
        let w = &self.webhooks;
        for (key, d) in [
            ("webhooks.batch_window", w.batch_window),
            ("webhooks.retry_for", w.retry_for),
            ("webhooks.retry_initial", w.retry_initial),
            ("webhooks.retry_max", w.retry_max),
            ("webhooks.disable_after", w.disable_after),
            ("webhooks.request_timeout", w.request_timeout),
            ("webhooks.connect_timeout", w.connect_timeout),
        ] {
            if d.as_std().is_zero() {
                problems.push(format!("{key} must be longer than zero"));
            }
        }
        if let Some(from) = &self.notices.from
            && !from
                .rsplit_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && is_domain_name(domain))
        {
            problems.push(format!("notices.from {from:?} is not an e-mail address"));
        }
        if let Some(email) = &self.operator.email
            && !email
                .rsplit_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && is_domain_name(domain))
        {
            problems.push(format!("operator.email {email:?} is not an e-mail address"));
        }
        if w.retry_initial.as_std() > w.retry_max.as_std() {
            problems
                .push("webhooks.retry_initial must not be longer than webhooks.retry_max".into());
        }
        if w.batch_max_events == 0 {
            problems.push("webhooks.batch_max_events must be at least 1".to_string());
        }
        if w.max_in_flight == 0 {
            problems.push("webhooks.max_in_flight must be at least 1".to_string());
        }
        if let Some(url) = &self.http.public_url
            && let Err(problem) = check_public_url(url)
        {
            problems.push(format!("http.public_url: {problem}"));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database_url must be sqlite:... or postgres://..., not {url:?}"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The From address of contract notices: `notices.from`, else `notices@` the service
    /// domain, else `notices@` this node's relay host name `hostname`.
    pub fn notices_from(&self, hostname: &str) -> String {
        match (&self.notices.from, &self.service_domain) {
            (Some(from), _) => from.clone(),
            (None, Some(domain)) => format!("notices@{}", domain.trim_end_matches('.')),
            (None, None) => format!("notices@{}", hostname.trim_end_matches('.')),
        }
    }

    /// The platform's public base URL without a trailing slash: `http.public_url`, else
    /// `https://` + `service_domain`; `None` when neither is set (no links can be made).
    pub fn public_base_url(&self) -> Option<String> {
        match (&self.http.public_url, &self.service_domain) {
            (Some(url), _) => Some(url.trim_end_matches('/').to_string()),
            (None, Some(domain)) => Some(format!("https://{}", domain.trim_end_matches('.'))),
            (None, None) => None,
        }
    }

    /// Where the data directory of this node is, with `HIKYAKU_DATA` given by the caller applied.
    pub fn with_data_dir_override(mut self, data_dir: Option<PathBuf>) -> Self {
        if let Some(dir) = data_dir {
            self.data_dir = dir;
        }
        self
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("hikyaku.db").display()),
        }
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }
}

/// A base URL for links in mail: `https://host[:port][/path]` (or `http://`, for tests and
/// local set-ups: mailbox providers ignore links that are not HTTPS), without query or fragment.
fn check_public_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("must start with https:// (or http://), not {url:?}"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || url.contains(['?', '#', '@'])
        || url.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "not a base URL (scheme, host, optional port and path; no query, fragment or user): {url:?}"
        ));
    }
    Ok(())
}

/// A DNS host name of at least two labels: letters, digits and hyphens, no label longer than 63
/// octets, none starting or ending with a hyphen.
impl ReputationConfig {
    fn problems(&self, problems: &mut Vec<String>) {
        let rates = [
            ("warn_hard_bounce_rate", self.warn_hard_bounce_rate),
            ("warn_complaint_rate", self.warn_complaint_rate),
            ("pause_hard_bounce_rate", self.pause_hard_bounce_rate),
            ("pause_complaint_rate", self.pause_complaint_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=100.0).contains(&rate) {
                problems.push(format!(
                    "reputation.{name} is a percentage from 0 to 100, not {rate}"
                ));
            }
        }
        if self.warn_hard_bounce_rate > self.pause_hard_bounce_rate
            || self.warn_complaint_rate > self.pause_complaint_rate
        {
            problems
                .push("reputation: a warning rate must not be above its pause rate".to_string());
        }
        if self.window_messages == 0 || self.min_messages == 0 {
            problems.push(
                "reputation.window_messages and reputation.min_messages must be at least 1"
                    .to_string(),
            );
        }
        if self.window.as_std().is_zero() || self.check_interval.as_std().is_zero() {
            problems.push(
                "reputation.window and reputation.check_interval must be longer than zero"
                    .to_string(),
            );
        }
    }
}

/// A host or domain name as DNS and certificates write it: two LDH labels at least, each 1 to 63
/// characters, not starting or ending with a hyphen, 253 characters in all.
pub fn is_domain_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_lead_to_the_public_url_or_the_service_domain() {
        let table = [
            ("", None),
            (
                "service_domain = \"mail.example.net\"",
                Some("https://mail.example.net"),
            ),
            (
                "service_domain = \"mail.example.net\"\n[http]\npublic_url = \"https://hikyaku.example.net:8443/mail/\"",
                Some("https://hikyaku.example.net:8443/mail"),
            ),
            (
                "[http]\npublic_url = \"http://127.0.0.1:8080\"",
                Some("http://127.0.0.1:8080"),
            ),
        ];
        for (toml, want) in table {
            let c = Config::from_toml(toml).unwrap();
            assert_eq!(c.public_base_url().as_deref(), want, "{toml}");
        }
        for bad in [
            "ftp://example.net",
            "example.net",
            "https://",
            "https:///path",
            "https://example.net/?q=1",
            "https://example.net/#top",
            "https://user@example.net",
            "https://exa mple.net",
        ] {
            let error = Config::from_toml(&format!("[http]\npublic_url = {bad:?}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("http.public_url"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_service_domain_must_be_a_host_name() {
        let c = Config::from_toml("service_domain = \"mail.example.net\"").unwrap();
        assert_eq!(c.service_domain.as_deref(), Some("mail.example.net"));
        for bad in [
            "localhost",
            "mail..example.net",
            "-mail.example.net",
            "mail.exa mple.net",
            "",
        ] {
            let error = Config::from_toml(&format!("service_domain = {bad:?}"))
                .expect_err(bad)
                .to_string();
            assert!(error.contains("service_domain"), "{bad}: {error}");
        }
    }

    #[test]
    fn dns_section_names_the_relay_nodes_and_derives_the_rest() {
        let c = Config::from_toml(
            r#"
service_domain = "mail.example.net"
[dns]
resolver = "127.0.0.1:5353"
[[dns.relay_node]]
name = "relay1.mail.example.net"
addresses = ["192.0.2.10", "2001:db8::10"]
[[dns.relay_node]]
name = "relay2.mail.example.net"
addresses = ["192.0.2.11"]
"#,
        )
        .unwrap();
        let service = c.service_domain.as_deref();
        assert_eq!(c.dns.relay_node.len(), 2);
        assert_eq!(c.dns.relay_node[0].addresses.len(), 2);
        assert_eq!(
            c.dns.smtp_host(service).as_deref(),
            Some("smtp.mail.example.net")
        );
        assert_eq!(
            c.dns.spf_name(service).as_deref(),
            Some("_spf.mail.example.net")
        );
        assert_eq!(
            c.dns.bounce_mx(service).as_deref(),
            Some("smtp.mail.example.net")
        );
        assert_eq!(c.dns.resolver, Some("127.0.0.1:5353".parse().unwrap()));
        let defaults = Config::from_toml("").unwrap();
        assert_eq!(defaults.dns, DnsConfig::default());
        assert_eq!(defaults.dns.smtp_host(None), None);

        let c = Config::from_toml(
            "[dns]\nsmtp_host = \"smtp.example.org\"\nspf_name = \"spf.example.org\"\n\
             bounce_mx = \"mx.example.org\"\n",
        )
        .unwrap();
        assert_eq!(c.dns.smtp_host(None).as_deref(), Some("smtp.example.org"));
        assert_eq!(c.dns.bounce_mx(None).as_deref(), Some("mx.example.org"));
    }

    #[test]
    fn odd_dns_sections_are_refused_with_the_reason() {
        let node = |name: &str, addresses: &str| {
            format!("[[dns.relay_node]]\nname = {name:?}\naddresses = {addresses}\n")
        };
        let with_service = |rest: &str| format!("service_domain = \"mail.example.net\"\n{rest}");
        for (bad, needle) in [
            (
                with_service(&node("relay1", "[\"192.0.2.1\"]")),
                "not a host name",
            ),
            (
                with_service(&node("relay1.mail.example.net", "[]")),
                "at least one address",
            ),
            (
                with_service(&node("r1.mail.example.net", "[\"0.0.0.0\"]")),
                "unspecified",
            ),
            (
                with_service(&node("r1.mail.example.net", "[\"224.0.0.1\"]")),
                "multicast",
            ),
            (
                with_service(&node("r1.mail.example.net", "[\"127.0.0.1\"]")),
                "loopback",
            ),
            (
                with_service(&node("r1.mail.example.net", "[\"::1\"]")),
                "loopback",
            ),
            (
                with_service(&node("r1.mail.example.net", "[\"255.255.255.255\"]")),
                "broadcast",
            ),
            (
                with_service(&node("r1.mail.example.net", "[\"::ffff:192.0.2.1\"]")),
                "IPv4-mapped",
            ),
            (
                with_service(&node("r1.mail.example.net", "[\"192.0.2.300\"]")),
                "invalid",
            ),
            (
                with_service(&format!(
                    "{}{}",
                    node("r1.mail.example.net", "[\"192.0.2.1\"]"),
                    node("R1.mail.example.net", "[\"192.0.2.2\"]")
                )),
                "listed twice",
            ),
            (
                with_service(&format!(
                    "{}{}",
                    node("r1.mail.example.net", "[\"192.0.2.1\"]"),
                    node("r2.mail.example.net", "[\"192.0.2.1\"]")
                )),
                "belongs to another node",
            ),
            (
                with_service(&node("smtp.mail.example.net", "[\"192.0.2.1\"]")),
                "cannot be the SMTP host name",
            ),
            (
                node("r1.mail.example.net", "[\"192.0.2.1\"]"),
                "neither service_domain nor dns.smtp_host",
            ),
            (
                "[dns]\nsmtp_host = \"smtp example\"".to_string(),
                "dns.smtp_host",
            ),
            ("[dns]\nspf_name = \"_spf\"".to_string(), "dns.spf_name"),
            (
                "[dns]\nresolver = \"127.0.0.1:0\"".to_string(),
                "dns.resolver",
            ),
            ("[dns]\nresolver = \"dns.example\"".to_string(), "resolver"),
            ("[dns]\nrelay_nodes = []".to_string(), "unknown field"),
        ] {
            let err = Config::from_toml(&bad).expect_err(&bad).to_string();
            assert!(err.contains(needle), "{bad:?} gave {err:?}");
        }
    }

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.relay.listen.to_string(), "127.0.0.1:2525");
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.relay.max_connections, 30);
        assert_eq!(c.relay.max_message_size.0, 2_097_152);
        assert_eq!(c.relay.spool_limit.0, 32_212_254_720);
        assert_eq!(c.relay.min_free_disk.0, 268_435_456);
        assert_eq!(c.relay.max_recipients, 1000);
        assert_eq!(c.database_url(), "sqlite://./hikyaku-data/hikyaku.db");
    }

    #[test]
    fn the_acceptance_keys_parse_as_written() {
        let c = Config::from_toml(
            r#"
data_dir = "/some/dir"
database_url = "sqlite:///some/dir/hikyaku.db"   # or postgres://user@host/db
[relay]
listen = "127.0.0.1:2525"
max_connections = 30
max_message_size = 2097152
spool_limit = 32212254720
[http]
listen = "127.0.0.1:8080"
"#,
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/some/dir"));
        assert_eq!(c.database_url(), "sqlite:///some/dir/hikyaku.db");
        assert_eq!(c.spool_dir(), PathBuf::from("/some/dir/spool"));
    }

    #[test]
    fn error_server_keys_parse_as_the_issue_writes_them() {
        let c = Config::from_toml(
            r#"
[bounce]
domain = "bounce.example.jp"
listen = "127.0.0.1:2526"
max_connections = 20
max_message_size = "2MB"
feedback_addresses = ["fbl@bounce.example.jp"]
[suppression]
soft_bounce_limit = 5
soft_bounce_window = "7d"
"#,
        )
        .unwrap();
        assert_eq!(c.bounce.listen.to_string(), "127.0.0.1:2526");
        assert_eq!(c.bounce.max_connections, 20);
        assert_eq!(c.bounce.max_message_size.0, 2_097_152);
        assert_eq!(c.suppression.soft_bounce_limit, 5);
        assert_eq!(c.suppression.soft_bounce_window.as_std().as_secs(), 604_800);
        let defaults = Config::from_toml("").unwrap();
        assert!(defaults.bounce.enabled);
        assert_eq!(defaults.bounce.listen.to_string(), "127.0.0.1:2526");
        for bad in [
            "[bounce]\nmax_connections = 0",
            "[bounce]\nlisten = \"127.0.0.1:2525\"",
            "[bounce]\ndomain = \"a@b\"",
            "[bounce]\nfeedback_addresses = [\"nobody\"]",
            "[suppression]\nsoft_bounce_window = 0",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn delivery_keys_parse_as_the_issue_writes_them() {
        let c = Config::from_toml(
            r#"
[delivery]
resolver = "127.0.0.1:5353"
lifetime = "3d"
smtp_port = 2526
dane = true
mta_sts = false
mta_sts_port = 8443
[[delivery.route]]
domain = "*"
host = "127.0.0.1:2600"
[[delivery.destination]]
match = "docomo.ne.jp"
max_connections = 2
max_messages_per_connection = 50
max_rate = "300/min"
[bounce]
domain = "bounce.hikyaku.test"
"#,
        )
        .unwrap();
        let d = &c.delivery;
        assert_eq!(
            d.resolver,
            ResolverSetting::Server("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(d.lifetime.as_std().as_secs(), 259_200);
        assert_eq!(d.smtp_port, 2526);
        assert!(d.dane);
        assert!(!DeliveryConfig::default().dane);
        assert_eq!((d.mta_sts, d.mta_sts_port), (false, 8443));
        assert_eq!(
            d.route,
            vec![StaticRoute {
                domain: "*".into(),
                host: "127.0.0.1:2600".into()
            }]
        );
        let rule = &d.destination[0];
        assert_eq!(
            (
                rule.matches.as_str(),
                rule.max_connections,
                rule.max_messages_per_connection
            ),
            ("docomo.ne.jp", Some(2), Some(50))
        );
        assert_eq!(
            rule.max_rate,
            Some(Rate {
                messages: 300,
                per: std::time::Duration::from_secs(60)
            })
        );
        assert_eq!(c.bounce.domain.as_deref(), Some("bounce.hikyaku.test"));
        let defaults = Config::from_toml("").unwrap().delivery;
        assert_eq!(defaults.resolver, ResolverSetting::System);
        assert_eq!(defaults.smtp_port, 25);
        assert_eq!((defaults.mta_sts, defaults.mta_sts_port), (true, 443));
    }

    #[test]
    fn reputation_and_simulator_keys_are_checked() {
        let c = Config::from_toml(
            "[reputation]\nmin_messages = 20\ncheck_interval = \"200ms\"\npause_complaint_rate = 0.2\n\
             [delivery]\nsimulator_domain = \"sim.example.test\"",
        )
        .unwrap();
        assert_eq!(c.reputation.min_messages, 20);
        assert_eq!(c.reputation.check_interval.as_std().as_millis(), 200);
        assert_eq!(c.reputation.pause_complaint_rate, 0.2);
        assert_eq!(c.reputation.warn_hard_bounce_rate, 2.0);
        assert_eq!(c.delivery.simulator_domain, "sim.example.test");
        assert!(c.validate().is_ok());
        let defaults = Config::from_toml("").unwrap();
        assert_eq!(
            defaults.delivery.simulator_domain,
            "simulator.hikyaku.invalid"
        );
        assert!(
            Config::from_toml("[delivery]\nsimulator_domain = \"\"")
                .unwrap()
                .validate()
                .is_ok()
        );
        for (bad, says) in [
            ("[reputation]\npause_hard_bounce_rate = 101", "percentage"),
            ("[reputation]\nwarn_complaint_rate = -1", "percentage"),
            ("[reputation]\nwarn_hard_bounce_rate = 6", "warning rate"),
            ("[reputation]\nmin_messages = 0", "at least 1"),
            ("[reputation]\ncheck_interval = \"0s\"", "longer than zero"),
            (
                "[delivery]\nsimulator_domain = \"not a domain\"",
                "simulator_domain",
            ),
        ] {
            let error = Config::from_toml(bad)
                .and_then(|c| c.validate().map(|()| c))
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn units_and_errors() {
        let c = Config::from_toml(
            "[relay]\nmax_message_size = \"10MiB\"\ncommand_timeout = \"30s\"\nspool_limit = \"1GB\"",
        )
        .unwrap();
        assert_eq!(c.relay.max_message_size.0, 10 * 1024 * 1024);
        assert_eq!(c.relay.command_timeout.as_std().as_secs(), 30);
        assert_eq!(c.relay.spool_limit.0, 1 << 30);

        for (bad, needle) in [
            ("[relay]\nlisten = \"nowhere\"", "listen"),
            (
                "[relay]\nmax_conections = 3",
                "line 2, column 1 (max_conections = 3): unknown field",
            ),
            ("[relay]\nmax_connections = 0", "max_connections"),
            ("[relay]\nmax_message_size = \"2 parsecs\"", "size"),
            ("[relay]\ntls_key = \"/k.pem\"", "go together"),
            ("database_url = \"mysql://x\"", "database_url"),
            ("[delivery]\nresolver = \"8.8.8.8\"", "resolver"),
            ("[delivery]\nresolver = \"static\"", "needs at least one"),
            ("[delivery]\ndane = true", "validating DNS server"),
            (
                "[delivery]\ndane = true\nresolver = \"static\"\n[[delivery.route]]\ndomain = \"*\"\nhost = \"127.0.0.1:25\"",
                "validating DNS server",
            ),
            ("[delivery]\nsmtp_port = 0", "smtp_port must not be 0"),
            ("[delivery]\nsmtp_port = 70000", "smtp_port"),
            ("[delivery]\nmta_sts_port = 0", "mta_sts_port must not be 0"),
            (
                "[[delivery.destination]]\nmatch = \"x.jp\"\nmax_rate = \"0/min\"",
                "zero",
            ),
            (
                "[[delivery.destination]]\nmatch = \"x.jp\"\nmax_rate = \"5 per minute\"",
                "rate",
            ),
            (
                "[[delivery.destination]]\nmatch = \"x.jp\"\nmax_connections = 0",
                "at least 1",
            ),
        ] {
            let err = Config::from_toml(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?} gave {err:?}");
        }
    }

    #[test]
    fn monitor_keys_parse_and_are_checked() {
        let c = Config::from_toml("").unwrap();
        assert!(c.monitor.enabled);
        assert_eq!(c.monitor.interval.as_std().as_secs(), 60);
        assert_eq!(c.monitor.timeout.as_std().as_secs(), 10);
        assert!(c.monitor.target.is_empty());
        let c = Config::from_toml(
            "[monitor]\nenabled = false\ninterval = \"30s\"\ntimeout = \"5s\"\n\
             [[monitor.target]]\nname = \"n1\"\nhttp = \"http://10.0.0.1:8080\"\n\
             smtp = \"10.0.0.1:2525\"\n",
        )
        .unwrap();
        assert!(!c.monitor.enabled);
        assert_eq!(c.monitor.interval.as_std().as_secs(), 30);
        assert_eq!(c.monitor.target[0].name, "n1");
        for (toml, problem) in [
            ("[monitor]\ninterval = \"2m\"\n", "monitor.interval"),
            ("[monitor]\ntimeout = 0\n", "monitor.timeout"),
            (
                "[[monitor.target]]\nname = \"a\"\nhttp = \"https://a\"\nsmtp = \"a:25\"\n",
                "http:// URL",
            ),
            (
                "[[monitor.target]]\nname = \"a\"\nhttp = \"http://a\"\nsmtp = \"a\"\n",
                "HOST:PORT",
            ),
            (
                "[[monitor.target]]\nname = \"a\"\nhttp = \"http://a\"\nsmtp = \"a:1\"\n\
                 [[monitor.target]]\nname = \"a\"\nhttp = \"http://b\"\nsmtp = \"b:1\"\n",
                "unique",
            ),
        ] {
            let err = Config::from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(problem), "{toml:?} gave {err:?}");
        }
    }

    #[test]
    fn notices_keys_parse_and_are_checked() {
        let c = Config::from_toml("").unwrap();
        assert!(c.notices.enabled);
        assert_eq!(c.notices.poll_interval.as_std().as_secs(), 10);
        assert_eq!(c.notices.scan_interval.as_std().as_secs(), 86_400);
        assert_eq!(c.notices.lease.as_std().as_secs(), 300);
        assert_eq!(
            c.notices_from("relay1.example.net"),
            "notices@relay1.example.net"
        );
        let c = Config::from_toml("service_domain = \"mail.example.net\"\n").unwrap();
        assert_eq!(
            c.notices_from("relay1.example.net"),
            "notices@mail.example.net"
        );
        let c = Config::from_toml(
            "service_domain = \"mail.example.net\"\n[notices]\nenabled = false\n\
             from = \"ops@example.com\"\npoll_interval = \"1m\"\nscan_interval = \"6h\"\n\
             lease = \"30s\"\n",
        )
        .unwrap();
        assert!(!c.notices.enabled);
        assert_eq!(c.notices.poll_interval.as_std().as_secs(), 60);
        assert_eq!(c.notices.scan_interval.as_std().as_secs(), 6 * 3600);
        assert_eq!(c.notices.lease.as_std().as_secs(), 30);
        assert_eq!(c.notices_from("relay1.example.net"), "ops@example.com");
        for (toml, problem) in [
            (
                "[notices]\nfrom = \"nobody\"\n",
                "notices.from \"nobody\" is not an e-mail address",
            ),
            (
                "[notices]\nfrom = \"@example.com\"\n",
                "is not an e-mail address",
            ),
            ("[notices]\nfrom = \"a@b c\"\n", "is not an e-mail address"),
            (
                "[notices]\npoll_interval = 0\n",
                "notices.poll_interval must be longer than zero",
            ),
            (
                "[notices]\nscan_interval = 0\n",
                "notices.scan_interval must be longer than zero",
            ),
            (
                "[notices]\nlease = 0\n",
                "notices.lease must be longer than zero",
            ),
        ] {
            let err = Config::from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(problem), "{toml}: {err}");
        }
    }

    #[test]
    fn the_operator_email_parses_and_is_checked() {
        assert_eq!(Config::from_toml("").unwrap().operator.email, None);
        let c = Config::from_toml("[operator]\nemail = \"ops@example.net\"\n").unwrap();
        assert_eq!(c.operator.email.as_deref(), Some("ops@example.net"));
        let err = Config::from_toml("[operator]\nemail = \"ops\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("operator.email \"ops\" is not an e-mail address"),
            "{err}"
        );
        assert!(Config::from_toml("[operator]\nname = \"x\"\n").is_err());
    }

    #[test]
    fn inbound_keys_parse_and_are_checked() {
        let c = Config::from_toml("").unwrap();
        assert!(c.inbound.enabled);
        assert_eq!(c.inbound.lifetime.as_std().as_secs(), 3 * 86_400);
        assert_eq!(c.inbound.retry_initial.as_std().as_secs(), 30);
        assert_eq!(c.inbound.retry_max.as_std().as_secs(), 3600);
        assert_eq!(c.inbound.max_in_flight, 8);
        assert_eq!(c.inbound.request_timeout.as_std().as_secs(), 30);

        let c = Config::from_toml(
            "[inbound]\nenabled = false\nlifetime = \"1d\"\nretry_initial = \"500ms\"\n\
             retry_max = \"10m\"\nmax_in_flight = 2\nrequest_timeout = \"5s\"\n",
        )
        .unwrap();
        assert!(!c.inbound.enabled);
        assert_eq!(c.inbound.lifetime.as_std().as_secs(), 86_400);
        assert_eq!(c.inbound.retry_initial.as_std().as_millis(), 500);
        assert_eq!(c.inbound.retry_max.as_std().as_secs(), 600);
        assert_eq!(c.inbound.max_in_flight, 2);
        assert_eq!(c.inbound.request_timeout.as_std().as_secs(), 5);

        let err = Config::from_toml(
            "[inbound]\nretry_initial = \"2h\"\nmax_in_flight = 0\nlifetime = 0\n",
        )
        .unwrap_err()
        .to_string();
        for problem in [
            "inbound.retry_initial must not be longer than inbound.retry_max",
            "inbound.max_in_flight must be at least 1",
            "inbound.lifetime must be longer than zero",
        ] {
            assert!(err.contains(problem), "{err}");
        }
        assert!(Config::from_toml("[inbound]\nendpoint = \"x\"\n").is_err());
    }

    #[test]
    fn webhook_keys_parse_and_are_checked() {
        let c = Config::from_toml("").unwrap();
        let w = &c.webhooks;
        assert!(w.enabled && !w.allow_private_endpoints);
        assert_eq!(
            (w.batch_max_events, w.batch_window.as_std().as_millis()),
            (100, 1000)
        );
        assert_eq!(w.retry_for.as_std().as_secs(), 86_400);
        assert_eq!(w.answer_limit, ByteSize(1024));
        assert_eq!(w.resolver, ResolverSetting::System);

        let c = Config::from_toml(
            "[webhooks]\nallow_private_endpoints = true\nbatch_max_events = 10\n\
             batch_window = \"200ms\"\nretry_for = \"1h\"\ndisable_after = \"2h\"\n\
             answer_limit = \"4KiB\"\nresolver = \"127.0.0.1:5353\"\n",
        )
        .unwrap();
        let w = &c.webhooks;
        assert!(w.allow_private_endpoints);
        assert_eq!(
            (w.batch_max_events, w.batch_window.as_std().as_millis()),
            (10, 200)
        );
        assert_eq!(w.disable_after.as_std().as_secs(), 7200);
        assert_eq!(w.answer_limit, ByteSize(4096));
        assert_eq!(
            w.resolver,
            ResolverSetting::Server("127.0.0.1:5353".parse().unwrap())
        );

        let err = Config::from_toml(
            "[webhooks]\nbatch_max_events = 0\nretry_initial = \"2h\"\nretry_for = 0\n",
        )
        .unwrap_err()
        .to_string();
        for problem in [
            "webhooks.batch_max_events must be at least 1",
            "webhooks.retry_initial must not be longer than webhooks.retry_max",
            "webhooks.retry_for must be longer than zero",
        ] {
            assert!(err.contains(problem), "{err}");
        }
        assert!(Config::from_toml("[webhooks]\nsecret = \"x\"\n").is_err());
    }

    #[test]
    fn log_filters_are_levels_or_target_levels() {
        for good in [
            "info",
            "DEBUG",
            "off",
            "hikyaku_relay=debug,info",
            " warn , hikyaku_delivery=trace ",
            "hikyaku_relay[session{peer=127.0.0.1}]=debug",
        ] {
            assert_eq!(check_log_filter(good), Ok(()), "{good:?}");
            let toml = format!("[log]\nlevel = {good:?}");
            assert!(Config::from_toml(&toml).is_ok(), "{good:?}");
        }
        for (bad, needle) in [
            ("verbose", "\"verbose\" is not a level"),
            ("information", "not a level"),
            ("hikyaku_relay", "not a level"),
            ("hikyaku_relay=loud", "\"loud\" is not a level"),
            ("=debug", "no target"),
            ("info,chatty", "\"chatty\""),
            ("", "empty"),
        ] {
            let err = check_log_filter(bad).unwrap_err();
            assert!(err.contains(needle), "{bad:?} gave {err:?}");
        }
        let err = Config::from_toml("[log]\nlevel = \"verbose\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("log.level") && err.contains("verbose"),
            "{err}"
        );
    }

    #[test]
    fn allowed_range_prefixes_have_defaults_and_bounds() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(
            (c.relay.min_allowed_prefix_v4, c.relay.min_allowed_prefix_v6),
            (16, 48)
        );
        let c = Config::from_toml("[relay]\nmin_allowed_prefix_v4 = 8\nmin_allowed_prefix_v6 = 32")
            .unwrap();
        assert_eq!(
            (c.relay.min_allowed_prefix_v4, c.relay.min_allowed_prefix_v6),
            (8, 32)
        );
        for bad in [
            "[relay]\nmin_allowed_prefix_v4 = 33",
            "[relay]\nmin_allowed_prefix_v6 = 129",
        ] {
            let err = Config::from_toml(bad).unwrap_err().to_string();
            assert!(err.contains("min_allowed_prefix"), "{bad}: {err}");
        }
    }

    #[test]
    fn api_and_plan_sections_are_read_and_checked() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.api.burst, 50);
        assert_eq!(c.api.max_body_bytes.0, 4 * 1024 * 1024);
        assert!(c.plans.is_empty());
        let c = Config::from_toml(
            "[api]\nrequests_per_second = 2.5\nburst = 3\nmax_body_bytes = \"64KiB\"\n\
             [contracts]\nplans = [\"small\", \"large\"]\n\
             [plans.small]\nmonthly_volume = 10000\n",
        )
        .unwrap();
        assert_eq!(c.api.requests_per_second, 2.5);
        assert_eq!(c.api.max_body_bytes.0, 64 * 1024);
        assert_eq!(c.plans["small"].monthly_volume, Some(10_000));
        let problems = match Config::from_toml(
            "[api]\nrequests_per_second = 0\nburst = 0\nmax_body_bytes = 10\n\
             [plans.gold]\nmonthly_volume = 1\n",
        ) {
            Err(ConfigError::Invalid(problems)) => problems.join("\n"),
            other => panic!("accepted: {other:?}"),
        };
        for key in [
            "api.requests_per_second",
            "api.burst",
            "api.max_body_bytes",
            "plans.gold",
        ] {
            assert!(problems.contains(key), "{key} not reported in {problems}");
        }
        assert!(Config::from_toml("[plans.standard]\nvolume = 1\n").is_err());
    }

    #[test]
    fn plans_are_named_once_each() {
        assert_eq!(Config::from_toml("").unwrap().contracts.plans, ["standard"]);
        let c = Config::from_toml("[contracts]\nplans = [\"standard\", \"large\"]").unwrap();
        assert_eq!(c.contracts.plans, ["standard", "large"]);
        for (bad, needle) in [
            ("[contracts]\nplans = []", "at least one plan"),
            ("[contracts]\nplans = [\"a\", \"a\"]", "named twice"),
            ("[contracts]\nplans = [\" a\"]", "not a plan name"),
        ] {
            let err = Config::from_toml(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
