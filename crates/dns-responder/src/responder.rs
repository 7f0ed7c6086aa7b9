//! The running responder: UDP and TCP listeners answering from the current zone, within the
//! abuse limits ([`crate::rate_limit`] over UDP, [`crate::tcp`]'s caps over TCP), and the task
//! that rebuilds the zone from the store every heartbeat period.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hikyaku_dns_records::Platform;
use hikyaku_model::Timestamp;
use hikyaku_store::NodeStatus;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::health::healthy_relays;
use crate::metrics::Metrics;
use crate::rate_limit::{RateLimitSettings, RateLimiter, Verdict};
use crate::tcp::TcpLimits;
use crate::zone::{Reply, Zone, ZoneError, ZoneSettings, reply_edns};

/// Why the store could not tell the responder something; it is logged and the last zone stays.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Where the zone's changing parts come from: the platform (its DKIM keys change while nodes
/// serve) and the nodes' heartbeats. Implemented over the store by the binary and the tests.
#[async_trait::async_trait]
pub trait ZoneSource: Send + Sync + 'static {
    /// The platform's hosts and names, with the service domain's DKIM keys as stored now.
    async fn platform(&self) -> Result<Platform, SourceError>;
    /// Every node's last heartbeat.
    async fn heartbeats(&self) -> Result<Vec<NodeStatus>, SourceError>;
}

/// How the responder runs.
#[derive(Debug, Clone)]
pub struct ResponderSettings {
    pub zone: ZoneSettings,
    /// Each address gets a UDP socket and a TCP listener on the same port (port 0: a free port,
    /// the same for both).
    pub listen: Vec<SocketAddr>,
    /// The nodes' heartbeat period: the zone is rebuilt this often, and a node that missed
    /// three beats is unhealthy. [`hikyaku_store::NODE_HEARTBEAT`] in service.
    pub heartbeat_period: Duration,
    /// How UDP responses are limited per client network.
    pub rate_limit: RateLimitSettings,
    /// How many TCP connections, for how long, and how many questions on each.
    pub tcp: TcpLimits,
}

impl ResponderSettings {
    pub fn new(zone: ZoneSettings, listen: Vec<SocketAddr>) -> Self {
        ResponderSettings {
            zone,
            listen,
            heartbeat_period: hikyaku_store::NODE_HEARTBEAT,
            rate_limit: RateLimitSettings::default(),
            tcp: TcpLimits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error("the DNS responder cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the DNS responder's zone: {0}")]
    Zone(#[from] ZoneError),
    #[error("the DNS responder cannot read the platform: {0}")]
    Source(SourceError),
}

/// A running responder. [`Responder::shutdown`] stops it; dropping it stops the listeners too.
pub struct Responder {
    addrs: Vec<SocketAddr>,
    current: Arc<RwLock<Arc<Zone>>>,
    server: Server<Handler>,
    stop: watch::Sender<bool>,
    refresher: tokio::task::JoinHandle<()>,
    /// The TCP accept loops (dropping them closes their connections).
    tcp: JoinSet<()>,
}

impl Responder {
    /// Reads the platform and the heartbeats once (so the first answer is already right), binds
    /// every address and starts answering and refreshing. The platform must be readable now:
    /// without it there is no zone; heartbeats that cannot be read count as none.
    pub async fn start(
        settings: ResponderSettings,
        source: Arc<dyn ZoneSource>,
    ) -> Result<Responder, ResponderError> {
        let platform = source.platform().await.map_err(ResponderError::Source)?;
        let mut refresh = Refresh {
            settings: settings.clone(),
            source,
            platform,
            healthy: Vec::new(),
        };
        refresh.read_heartbeats().await;
        let zone = Zone::build(
            &settings.zone,
            &refresh.platform,
            &refresh.healthy,
            serial_now(),
        )?;
        report_listed(None, &zone);
        let current = Arc::new(RwLock::new(Arc::new(zone)));

        let metrics = Metrics::new();
        let handler = Handler {
            current: current.clone(),
            rate_limit: RateLimiter::new(settings.rate_limit.clone(), Instant::now()).map(Arc::new),
            metrics: metrics.clone(),
        };
        let mut server = Server::new(handler.clone());
        let (stop, stopped) = watch::channel(false);
        // One count over every listener: the cap is about the node's sockets and memory.
        let open_tcp = Arc::new(Semaphore::new(settings.tcp.max_connections));
        let mut tcp = JoinSet::new();
        let mut addrs = Vec::new();
        for addr in &settings.listen {
            let (udp, listener) = bind_pair(*addr).await?;
            addrs.push(udp.local_addr().map_err(|source| ResponderError::Bind {
                addr: *addr,
                source,
            })?);
            server.register_socket(udp);
            tcp.spawn(crate::tcp::serve(
                listener,
                settings.tcp.clone(),
                open_tcp.clone(),
                handler.clone(),
                metrics.clone(),
                stopped.clone(),
            ));
        }

        let refresher = tokio::spawn(refresh.run(current.clone(), stopped));
        Ok(Responder {
            addrs,
            current,
            server,
            stop,
            refresher,
            tcp,
        })
    }

    /// Where it listens (UDP and TCP share each address).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The zone it answers from now.
    pub fn zone(&self) -> Arc<Zone> {
        current_zone(&self.current)
    }

    /// Stops refreshing and listening; questions being answered are finished first.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.refresher).await;
        while self.tcp.join_next().await.is_some() {}
        if let Err(error) = self.server.shutdown_gracefully().await {
            tracing::warn!(%error, "the DNS responder did not stop cleanly");
        }
    }
}

/// The zone's changing inputs between two rebuilds.
struct Refresh {
    settings: ResponderSettings,
    source: Arc<dyn ZoneSource>,
    platform: Platform,
    healthy: Vec<String>,
}

impl Refresh {
    /// Rebuilds the zone every heartbeat period until `stopped`. What the store cannot tell
    /// keeps its last value: a database that is away for a while does not change the answers,
    /// and answering never waits for it.
    async fn run(mut self, current: Arc<RwLock<Arc<Zone>>>, mut stopped: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.settings.heartbeat_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                _ = tick.tick() => {}
            }
            match self.source.platform().await {
                Ok(platform) => self.platform = platform,
                Err(error) => {
                    tracing::warn!(%error, "the DNS responder could not read the platform's records; it answers with the last ones")
                }
            }
            self.read_heartbeats().await;
            let old = current_zone(&current);
            let zone = match Zone::build(
                &self.settings.zone,
                &self.platform,
                &self.healthy,
                old.serial(),
            ) {
                Ok(zone) => zone,
                Err(error) => {
                    tracing::error!(%error, "the DNS responder's zone cannot be rebuilt; it answers from the last one");
                    continue;
                }
            };
            if zone.same_answers(&old) {
                continue;
            }
            // Serial arithmetic (RFC 1982) wraps; the time keeps it meaningful across restarts,
            // and +1 keeps two changes within one second apart.
            let zone = zone.with_serial(serial_now().max(old.serial().wrapping_add(1)));
            report_listed(Some(&old), &zone);
            *current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(zone);
        }
    }

    async fn read_heartbeats(&mut self) {
        match self.source.heartbeats().await {
            Ok(beats) => {
                self.healthy = healthy_relays(
                    &self.platform.relay_nodes,
                    &beats,
                    Timestamp::now(),
                    self.settings.heartbeat_period,
                );
            }
            Err(error) => {
                tracing::warn!(%error, "the DNS responder could not read the nodes' heartbeats; the SMTP host name keeps its last answer")
            }
        }
    }
}

/// Logs what the SMTP host name lists when that changes (and at start).
fn report_listed(old: Option<&Zone>, new: &Zone) {
    if old.is_some_and(|old| old.listed_nodes() == new.listed_nodes()) {
        return;
    }
    if new.listed_nodes().is_empty() {
        tracing::warn!(
            "no relay node has a recent heartbeat: the DNS responder answers the SMTP host name with every configured node"
        );
    } else {
        tracing::info!(nodes = ?new.listed_nodes(), serial = new.serial(), "the DNS responder answers the SMTP host name with the healthy nodes");
    }
}

fn current_zone(current: &RwLock<Arc<Zone>>) -> Arc<Zone> {
    // A writer that panicked left a whole zone behind (the swap is one assignment).
    current.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Seconds since 1970 as a serial (it wraps in 2106, which serial arithmetic allows).
fn serial_now() -> u32 {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    seconds as u32
}

/// A UDP socket and a TCP listener on one address. With port 0 the UDP port is picked first
/// and its TCP twin may be taken already, so a few ports are tried.
async fn bind_pair(
    addr: SocketAddr,
) -> Result<(tokio::net::UdpSocket, tokio::net::TcpListener), ResponderError> {
    let bind_error = |source| ResponderError::Bind { addr, source };
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(bind_error)?;
        let port = udp.local_addr().map_err(bind_error)?.port();
        match tokio::net::TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(bind_error(last.unwrap_or_else(|| {
        std::io::Error::other("no port free for both UDP and TCP")
    })))
}

/// Answers every request from the zone of the moment: one read of a shared pointer, never the
/// database; over UDP within the client network's rate limit.
#[derive(Clone)]
pub(crate) struct Handler {
    current: Arc<RwLock<Arc<Zone>>>,
    /// `None`: UDP responses are not limited.
    rate_limit: Option<Arc<RateLimiter>>,
    metrics: Metrics,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let (edns, refusal) = reply_edns(request.edns.as_ref());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        // Over TCP the source address is real, so only UDP is limited; every response counts,
        // errors too (see the rate_limit module).
        let verdict = match &self.rate_limit {
            Some(limiter) if request.protocol() == Protocol::Udp => {
                limiter.check(request.src().ip(), Instant::now())
            }
            _ => Verdict::Answer,
        };
        let sent = match verdict {
            Verdict::Answer => {
                let zone = current_zone(&self.current);
                let reply = match refusal {
                    Some(code) => Reply::error(code),
                    None => zone.reply(request.metadata.op_code, request.queries.queries()),
                };
                metadata.authoritative = reply.authoritative;
                metadata.response_code = reply.code;
                // The server encodes the reply within the client's size over UDP (512 octets
                // without EDNS, else what the EDNS record below allows) and sets TC when
                // records are left out.
                let response = MessageResponseBuilder::new(&request.queries, edns.as_ref()).build(
                    metadata,
                    reply.answers.iter(),
                    reply.authorities.iter(),
                    std::iter::empty(),
                    reply.additionals.iter(),
                );
                response_handle.send_response(response).await
            }
            Verdict::Slip => {
                // No records and TC: no larger than the question, and a real resolver asks
                // again over TCP.
                self.metrics.slipped.increment(1);
                metadata.truncation = true;
                let response = MessageResponseBuilder::new(&request.queries, edns.as_ref())
                    .build_no_records(metadata);
                response_handle.send_response(response).await
            }
            Verdict::Drop => {
                self.metrics.dropped.increment(1);
                return ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
            }
        };
        match sent {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, "a DNS answer could not be sent");
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}
