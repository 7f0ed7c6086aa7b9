//! Why a recipient domain has no destination, in terms the engine can turn into an outcome.

/// A recipient domain could not be turned into delivery targets.
///
/// Permanent errors bounce the recipients of that domain; temporary ones defer them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The domain is not a valid domain name (nor an address literal).
    #[error("{domain:?} is not a valid mail domain: {reason}")]
    InvalidDomain { domain: String, reason: String },
    /// The domain does not exist (NXDOMAIN).
    #[error("{domain}: no such domain (NXDOMAIN)")]
    HostUnknown { domain: String },
    /// The domain publishes a null MX (RFC 7505): it accepts no mail at all.
    #[error("{domain}: domain does not accept mail (null MX)")]
    NullMx { domain: String },
    /// The domain exists but none of its mail exchangers (or, without MX, the domain itself)
    /// has an address.
    #[error("{domain}: no address for any mail exchanger ({})", .hosts.join(", "))]
    NoAddress { domain: String, hosts: Vec<String> },
    /// In static mode, no route matches the domain.
    #[error("{domain}: no static route matches")]
    NoRoute { domain: String },
    /// A DNS server failed (SERVFAIL, REFUSED, a timeout, a network error), or a static
    /// route's host did not resolve: the answer may be different later.
    #[error("{domain}: temporary DNS failure: {detail}")]
    Temporary { domain: String, detail: String },
}

impl ResolveError {
    /// Whether retrying later is pointless: the recipients of this domain bounce.
    pub fn is_permanent(&self) -> bool {
        match self {
            ResolveError::InvalidDomain { .. }
            | ResolveError::HostUnknown { .. }
            | ResolveError::NullMx { .. }
            | ResolveError::NoAddress { .. }
            | ResolveError::NoRoute { .. } => true,
            ResolveError::Temporary { .. } => false,
        }
    }

    /// The enhanced status code (RFC 3463) for the bounce or deferral this causes.
    pub fn enhanced_status(&self) -> &'static str {
        match self {
            // X.1.2: bad destination system address.
            ResolveError::InvalidDomain { .. } | ResolveError::HostUnknown { .. } => "5.1.2",
            // RFC 7505 section 4.2 assigns X.1.10 to a null MX.
            ResolveError::NullMx { .. } => "5.1.10",
            // X.4.4: unable to route.
            ResolveError::NoAddress { .. } | ResolveError::NoRoute { .. } => "5.4.4",
            // X.4.3: directory server failure.
            ResolveError::Temporary { .. } => "4.4.3",
        }
    }

    /// The bounce reason in Sisimai's vocabulary, as the send log and webhooks name it.
    pub fn reason(&self) -> hikyaku_model::Reason {
        match self {
            ResolveError::InvalidDomain { .. }
            | ResolveError::HostUnknown { .. }
            | ResolveError::NoAddress { .. }
            | ResolveError::NoRoute { .. } => hikyaku_model::Reason::HostUnknown,
            ResolveError::NullMx { .. } => hikyaku_model::Reason::NotAccept,
            ResolveError::Temporary { .. } => hikyaku_model::Reason::NetworkError,
        }
    }

    /// The recipient domain this error is about, as given to the resolver.
    pub fn domain(&self) -> &str {
        match self {
            ResolveError::InvalidDomain { domain, .. }
            | ResolveError::HostUnknown { domain }
            | ResolveError::NullMx { domain }
            | ResolveError::NoAddress { domain, .. }
            | ResolveError::NoRoute { domain }
            | ResolveError::Temporary { domain, .. } => domain,
        }
    }
}

/// The resolver's configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolverConfigError {
    /// A route's `domain` is neither `*`, a domain, nor `.` followed by a domain.
    #[error("route domain {domain:?}: {reason}")]
    RouteDomain { domain: String, reason: String },
    /// A route's `host` is not `host`, `host:port`, `ip:port` or `[v6]:port`.
    #[error("route host {host:?}: {reason}")]
    RouteHost { host: String, reason: String },
    /// [`super::ResolverOptions::smtp_port`] is 0, which no connection can go to.
    #[error("the SMTP port must not be 0")]
    SmtpPort,
    /// Two routes for the same domain pattern: which one wins would be an accident.
    #[error("two routes for {pattern:?}")]
    DuplicateRoute { pattern: String },
    /// `resolver = "system"` but the system's DNS configuration could not be read.
    #[error("system DNS configuration: {0}")]
    System(String),
    /// DANE asked for without one given DNS server: the system's resolvers may not validate
    /// DNSSEC, and static routes have no DNS at all.
    #[error(
        "DANE needs the validating DNS server named as the resolver (\"IP:PORT\"), not the system's or static routes"
    )]
    Dane,
    /// hickory refused the resolver settings.
    #[error("DNS resolver: {0}")]
    Resolver(String),
}
