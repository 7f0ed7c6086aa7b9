//! Endpoint host names looked up with hickory, through the resolver the configuration names:
//! the system's (`/etc/resolv.conf`), one DNS server (tests use their own on 127.0.0.1), or
//! none at all (endpoints must then be IP addresses).

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};
use hikyaku_http_post::Resolve;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

/// Where names are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsSource {
    System,
    Server(SocketAddr),
    /// No DNS: only IP-address endpoints work.
    None,
}

/// A [`Resolve`] over hickory.
pub struct HickoryResolve {
    dns: Option<TokioResolver>,
}

impl HickoryResolve {
    pub fn new(source: DnsSource) -> Result<HickoryResolve, String> {
        let builder = match source {
            DnsSource::None => return Ok(HickoryResolve { dns: None }),
            DnsSource::System => TokioResolver::builder_tokio().map_err(|e| e.to_string())?,
            DnsSource::Server(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
        };
        let mut builder = builder;
        // /etc/hosts names this machine's own services: no endpoint may reach them by name.
        builder.options_mut().use_hosts_file = ResolveHosts::Never;
        Ok(HickoryResolve {
            dns: Some(builder.build().map_err(|e| e.to_string())?),
        })
    }
}

impl Resolve for HickoryResolve {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        Box::pin(async move {
            let Some(dns) = &self.dns else {
                return Err(io::Error::other(
                    "no DNS (resolver = \"static\"): the endpoint must be an IP address",
                ));
            };
            // A trailing dot: the name is absolute, never completed with a search domain.
            let fqdn = format!("{}.", host.trim_end_matches('.'));
            let found = dns.lookup_ip(fqdn).await.map_err(io::Error::other)?;
            Ok(found.iter().collect())
        })
    }
}
