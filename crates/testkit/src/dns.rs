//! An authoritative DNS server on 127.0.0.1 for tests: hickory-server's in-memory zone handler
//! answering over real UDP and TCP sockets, holding whatever records the test gives it.
//!
//! It is authoritative for the root zone, so every name a test did not define gets a real
//! NXDOMAIN (with the SOA whose minimum sets the negative-cache TTL) rather than a refusal.
//! Records can be added and removed while it runs, to watch a resolver's cache expire. Address
//! records are restricted to loopback: nothing a test resolves may lead off this machine.
//!
//! It can also play a validating resolver for DANE tests: names marked [`TestDns::signed`] get
//! the AD (authenticated data) bit in their answers when the query asked for DNSSEC (the DO
//! bit, or AD itself, RFC 6840 §5.7), as a validating resolver sets it only then.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, TLSA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AxfrPolicy, Catalog, MessageResponse, MessageResponseBuilder, ZoneType,
};

/// The TTL of records added without [`TestDns::ttl`].
pub const DEFAULT_TTL: u32 = 300;
/// The negative-caching TTL (the SOA minimum) until [`TestDns::set_negative_ttl`] changes it.
pub const DEFAULT_NEGATIVE_TTL: u32 = 60;

/// A running test DNS server. Dropping it stops the server.
pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    faults: Arc<Mutex<HashMap<LowerName, Fault>>>,
    signed: Arc<Mutex<Vec<LowerName>>>,
    queries: Arc<AtomicU64>,
    serial: AtomicU32,
    // Held for its Drop: the server's tasks live in its JoinSet and end with it.
    _server: Server<Handler>,
}

/// How the server misbehaves for a name (and the names below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answer SERVFAIL, as a server does whose zone failed to load.
    ServFail,
    /// Never answer, so the client times out.
    Silent,
}

impl TestDns {
    /// Starts an empty server on 127.0.0.1, UDP and TCP on the same ephemeral port.
    pub async fn start() -> anyhow::Result<TestDns> {
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr()?;

        let zone = Arc::new(InMemoryZoneHandler::empty(
            Name::root(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        ));
        let serial = 1;
        anyhow::ensure!(
            zone.upsert(soa_record(serial, DEFAULT_NEGATIVE_TTL), serial)
                .await,
            "the root SOA was refused"
        );

        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(Name::root()), vec![zone.clone()]);
        let faults = Arc::new(Mutex::new(HashMap::new()));
        let signed = Arc::new(Mutex::new(Vec::new()));
        let queries = Arc::new(AtomicU64::new(0));
        let handler = Handler {
            catalog,
            faults: faults.clone(),
            signed: signed.clone(),
            queries: queries.clone(),
        };

        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 64);

        Ok(TestDns {
            addr,
            zone,
            faults,
            signed,
            queries,
            serial: AtomicU32::new(serial),
            _server: server,
        })
    }

    /// Where the server listens (UDP and TCP share the port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many queries the server has received: a resolver whose cache answers sends none.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }

    /// Records added through the returned handle carry this TTL (in seconds).
    pub fn ttl(&self, seconds: u32) -> Records<'_> {
        Records {
            dns: self,
            ttl: seconds,
        }
    }

    /// Adds an MX record with the default TTL.
    pub async fn mx(&self, domain: &str, preference: u16, exchange: &str) -> &Self {
        self.ttl(DEFAULT_TTL).mx(domain, preference, exchange).await;
        self
    }

    /// Adds a null MX (RFC 7505: preference 0, exchange ".") with the default TTL.
    pub async fn null_mx(&self, domain: &str) -> &Self {
        self.ttl(DEFAULT_TTL).null_mx(domain).await;
        self
    }

    /// Adds an A record (a 127.0.0.0/8 address) with the default TTL.
    pub async fn a(&self, name: &str, ip: &str) -> &Self {
        self.ttl(DEFAULT_TTL).a(name, ip).await;
        self
    }

    /// Adds an AAAA record (only `::1`) with the default TTL.
    pub async fn aaaa(&self, name: &str, ip: &str) -> &Self {
        self.ttl(DEFAULT_TTL).aaaa(name, ip).await;
        self
    }

    /// Adds a CNAME record with the default TTL; a name with a CNAME holds nothing else.
    pub async fn cname(&self, name: &str, target: &str) -> &Self {
        self.ttl(DEFAULT_TTL).cname(name, target).await;
        self
    }

    /// Adds a TXT record with the default TTL (split into 255-byte strings as DNS requires).
    pub async fn txt(&self, name: &str, text: &str) -> &Self {
        self.ttl(DEFAULT_TTL).txt(name, text).await;
        self
    }

    /// Adds a TLSA record (usage, selector, matching type, association data) with the default
    /// TTL, at a name such as `_25._tcp.mx.example.jp`. Any values go, for hostile records.
    pub async fn tlsa(
        &self,
        name: &str,
        usage: u8,
        selector: u8,
        matching: u8,
        data: &[u8],
    ) -> &Self {
        self.ttl(DEFAULT_TTL)
            .tlsa(name, usage, selector, matching, data)
            .await;
        self
    }

    /// Answers for `name` and every name below it carry the AD bit when the query asked for
    /// DNSSEC (DO or AD set), as a validating resolver's answers for a signed zone do.
    pub fn signed(&self, name: &str) -> &Self {
        lock(&self.signed).push(LowerName::from(fqdn(name)));
        self
    }

    /// Adds an A or AAAA record with a documentation address (RFC 5737, RFC 3849) and the
    /// default TTL, for tests that look names up and compare them but never connect.
    pub async fn listed_address(&self, name: &str, ip: &str) -> &Self {
        self.ttl(DEFAULT_TTL).listed_address(name, ip).await;
        self
    }

    /// Adds a PTR record naming `host` at an address's reverse name (or at a reverse name
    /// given as such), with the default TTL.
    pub async fn ptr(&self, ip: &str, host: &str) -> &Self {
        self.ttl(DEFAULT_TTL).ptr(ip, host).await;
        self
    }

    /// Removes every record at `name` (of every type); the name then answers NXDOMAIN.
    pub async fn remove(&self, name: &str) -> &Self {
        let name = LowerName::from(fqdn(name));
        self.zone
            .records_mut()
            .await
            .retain(|key: &RrKey, _| key.name != name);
        self
    }

    /// Removes the records of one type at `name`.
    pub async fn remove_type(&self, name: &str, record_type: RecordType) -> &Self {
        let key = RrKey::new(LowerName::from(fqdn(name)), record_type);
        self.zone.records_mut().await.remove(&key);
        self
    }

    /// Sets how long resolvers may cache "no such name" and "no such record" (the SOA
    /// minimum and the SOA's own TTL, the lower of which RFC 2308 makes the negative TTL).
    pub async fn set_negative_ttl(&self, seconds: u32) -> &Self {
        let serial = self.serial.fetch_add(1, Ordering::SeqCst) + 1;
        let stored = self.zone.upsert(soa_record(serial, seconds), serial).await;
        assert!(stored, "the SOA update was refused");
        self
    }

    /// Makes the server answer SERVFAIL for `name` and every name below it.
    pub fn servfail(&self, name: &str) -> &Self {
        self.set_fault(name, Fault::ServFail)
    }

    /// Makes the server drop queries for `name` and every name below it, so they time out.
    pub fn silent(&self, name: &str) -> &Self {
        self.set_fault(name, Fault::Silent)
    }

    /// Undoes [`TestDns::servfail`] or [`TestDns::silent`] for `name`.
    pub fn heal(&self, name: &str) -> &Self {
        lock(&self.faults).remove(&LowerName::from(fqdn(name)));
        self
    }

    fn set_fault(&self, name: &str, fault: Fault) -> &Self {
        lock(&self.faults).insert(LowerName::from(fqdn(name)), fault);
        self
    }

    async fn insert(&self, name: &str, ttl: u32, data: RData) {
        let record = Record::from_rdata(fqdn(name), ttl, data);
        let description = format!("{record}");
        let serial = self.serial.load(Ordering::SeqCst);
        assert!(
            self.zone.upsert(record, serial).await,
            "the test DNS server refused {description} (a CNAME cannot share its name)"
        );
    }
}

/// Adds records with one TTL: `dns.ttl(1).a("mx1.example.jp", "127.0.0.2").await`.
pub struct Records<'a> {
    dns: &'a TestDns,
    ttl: u32,
}

impl Records<'_> {
    /// Adds an MX record.
    pub async fn mx(&self, domain: &str, preference: u16, exchange: &str) -> &Self {
        let data = RData::MX(MX::new(preference, fqdn(exchange)));
        self.dns.insert(domain, self.ttl, data).await;
        self
    }

    /// Adds a null MX (RFC 7505: preference 0, exchange ".").
    pub async fn null_mx(&self, domain: &str) -> &Self {
        let data = RData::MX(MX::new(0, Name::root()));
        self.dns.insert(domain, self.ttl, data).await;
        self
    }

    /// Adds an A record. Panics unless the address is in 127.0.0.0/8: tests never leave
    /// the machine.
    pub async fn a(&self, name: &str, ip: &str) -> &Self {
        let ip = Ipv4Addr::from_str(ip).unwrap_or_else(|e| panic!("A {ip}: {e}"));
        assert_loopback(IpAddr::V4(ip));
        self.dns.insert(name, self.ttl, RData::A(A(ip))).await;
        self
    }

    /// Adds an AAAA record. Panics unless the address is `::1`.
    pub async fn aaaa(&self, name: &str, ip: &str) -> &Self {
        let ip = Ipv6Addr::from_str(ip).unwrap_or_else(|e| panic!("AAAA {ip}: {e}"));
        assert_loopback(IpAddr::V6(ip));
        self.dns.insert(name, self.ttl, RData::AAAA(AAAA(ip))).await;
        self
    }

    /// Adds a CNAME record.
    pub async fn cname(&self, name: &str, target: &str) -> &Self {
        let data = RData::CNAME(CNAME(fqdn(target)));
        self.dns.insert(name, self.ttl, data).await;
        self
    }

    /// Adds a TLSA record; any field values, even ones no client can use.
    pub async fn tlsa(
        &self,
        name: &str,
        usage: u8,
        selector: u8,
        matching: u8,
        data: &[u8],
    ) -> &Self {
        let data = RData::TLSA(TLSA::new(
            usage.into(),
            selector.into(),
            matching.into(),
            data.to_vec(),
        ));
        self.dns.insert(name, self.ttl, data).await;
        self
    }

    /// Adds a TXT record, split into strings of at most 255 bytes (DKIM keys are longer).
    pub async fn txt(&self, name: &str, text: &str) -> &Self {
        let data = RData::TXT(TXT::new(split_character_strings(text)));
        self.dns.insert(name, self.ttl, data).await;
        self
    }
}

impl Records<'_> {
    /// Adds an A or AAAA record with a documentation address (192.0.2.0/24, 198.51.100.0/24,
    /// 203.0.113.0/24, 2001:db8::/32), for tests that only compare what DNS lists (`dns check`)
    /// and never connect. Loopback addresses cannot stand in there: resolvers answer their PTR
    /// with `localhost` themselves (RFC 6761) without asking any server. Panics on any other
    /// address, so nothing resolved this way can lead to a real host.
    pub async fn listed_address(&self, name: &str, ip: &str) -> &Self {
        let ip = IpAddr::from_str(ip).unwrap_or_else(|e| panic!("address {ip}: {e}"));
        assert!(
            is_documentation(ip),
            "listed_address takes only documentation addresses (192.0.2.0/24, 198.51.100.0/24, \
             203.0.113.0/24, 2001:db8::/32), not {ip}"
        );
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.dns.insert(name, self.ttl, data).await;
        self
    }

    /// Adds a PTR record naming `host`, at an address's reverse name (`ip` is an address) or
    /// at a name already under `in-addr.arpa`/`ip6.arpa`. Any address will do: a PTR only
    /// names a host, it leads nowhere by itself.
    pub async fn ptr(&self, ip: &str, host: &str) -> &Self {
        let name = match IpAddr::from_str(ip) {
            Ok(ip) => Name::from(ip).to_ascii(),
            Err(_) if ip.ends_with(".arpa") || ip.ends_with(".arpa.") => ip.to_owned(),
            Err(e) => panic!("PTR {ip}: {e}"),
        };
        let data = RData::PTR(PTR(fqdn(host)));
        self.dns.insert(&name, self.ttl, data).await;
        self
    }
}

/// Catalog lookups, except for names a test made misbehave.
struct Handler {
    catalog: Catalog,
    faults: Arc<Mutex<HashMap<LowerName, Fault>>>,
    signed: Arc<Mutex<Vec<LowerName>>>,
    queries: Arc<AtomicU64>,
}

impl Handler {
    /// Whether the answer gets the AD bit: a signed name, and a query that asked for DNSSEC.
    fn authenticates(&self, request: &Request) -> bool {
        let asked = request.metadata.authentic_data
            || request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let Ok(info) = request.request_info() else {
            return false;
        };
        asked
            && lock(&self.signed)
                .iter()
                .any(|zone| zone.zone_of(info.query.name()))
    }

    fn fault_for(&self, name: &LowerName) -> Option<Fault> {
        lock(&self.faults)
            .iter()
            .filter(|(zone, _)| zone.zone_of(name))
            .max_by_key(|(zone, _)| zone.num_labels())
            .map(|(_, fault)| *fault)
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let fault = request
            .request_info()
            .ok()
            .and_then(|info| self.fault_for(info.query.name()));
        match fault {
            None => {
                let authentic = self.authenticates(request);
                let response_handle = Authenticated {
                    inner: response_handle,
                    authentic,
                };
                self.catalog
                    .handle_request::<Authenticated<R>, T>(request, response_handle)
                    .await
            }
            Some(Fault::ServFail) => {
                let response = MessageResponseBuilder::new(&request.queries, None)
                    .error_msg(&request.metadata, ResponseCode::ServFail);
                match response_handle.send_response(response).await {
                    Ok(info) => info,
                    Err(_) => not_sent(request, ResponseCode::ServFail),
                }
            }
            Some(Fault::Silent) => not_sent(request, ResponseCode::ServFail),
        }
    }
}

/// Sets the AD bit of the catalog's answer when the name is signed (and DNSSEC was asked for).
#[derive(Clone)]
struct Authenticated<R> {
    inner: R,
    authentic: bool,
}

#[async_trait::async_trait]
impl<R: ResponseHandler> ResponseHandler for Authenticated<R> {
    async fn send_response<'a>(
        &mut self,
        mut response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        response.metadata_mut().authentic_data = self.authentic;
        self.inner.send_response(response).await
    }
}

/// What the server records about a response it did not send.
fn not_sent(request: &Request, code: ResponseCode) -> ResponseInfo {
    let mut metadata = request.metadata;
    metadata.response_code = code;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// UDP and TCP on one port: the resolver falls back to TCP on the same address when a UDP
/// answer is truncated. The UDP port is ephemeral, so its TCP twin may already be taken.
async fn bind_pair() -> anyhow::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    let mut last_error = None;
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = udp.local_addr()?.port();
        match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(anyhow::anyhow!(
        "no port free for both UDP and TCP on 127.0.0.1: {last_error:?}"
    ))
}

fn soa_record(serial: u32, negative_ttl: u32) -> Record {
    let soa = SOA::new(
        fqdn("ns.test"),
        fqdn("hostmaster.test"),
        serial,
        3600,
        600,
        86400,
        negative_ttl,
    );
    Record::from_rdata(Name::root(), negative_ttl, RData::SOA(soa))
}

/// A fully qualified name from a test's string: IDNA for U-labels, a trailing dot added.
fn fqdn(name: &str) -> Name {
    let mut parsed = Name::from_utf8(name).unwrap_or_else(|e| panic!("DNS name {name:?}: {e}"));
    parsed.set_fqdn(true);
    parsed
}

/// The ranges set aside for documentation, which are never routed.
fn is_documentation(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => matches!(
            v4.octets(),
            [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]
        ),
        IpAddr::V6(v6) => v6.segments()[..2] == [0x2001, 0x0db8],
    }
}

fn assert_loopback(ip: IpAddr) {
    assert!(
        ip.is_loopback(),
        "the test DNS server serves only loopback addresses (127.0.0.0/8, ::1), not {ip}"
    );
}

fn split_character_strings(text: &str) -> Vec<String> {
    if text.is_empty() {
        return vec![String::new()];
    }
    // TXT strings are bytes; splitting inside a UTF-8 sequence would need lossy strings,
    // so cut at the last character boundary at or before 255 bytes.
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(255);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    parts
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread poisons the lock; the map itself is still consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use hickory_server::proto::op::{Message, Query};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn query(name: &str, record_type: RecordType) -> Vec<u8> {
        let mut message = Message::query();
        message.add_query(Query::query(fqdn(name), record_type));
        message.to_vec().unwrap()
    }

    async fn over_udp(dns: &TestDns, name: &str, record_type: RecordType) -> Message {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(&query(name, record_type), dns.addr())
            .await
            .unwrap();
        let mut buffer = vec![0; 4096];
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
            .await
            .expect("no UDP answer")
            .unwrap();
        Message::from_vec(&buffer[..len]).unwrap()
    }

    async fn over_tcp(dns: &TestDns, name: &str, record_type: RecordType) -> Message {
        let mut stream = tokio::net::TcpStream::connect(dns.addr()).await.unwrap();
        let bytes = query(name, record_type);
        let len = u16::try_from(bytes.len()).unwrap();
        stream.write_all(&len.to_be_bytes()).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let answer_len = usize::from(stream.read_u16().await.unwrap());
        let mut answer = vec![0; answer_len];
        stream.read_exact(&mut answer).await.unwrap();
        Message::from_vec(&answer).unwrap()
    }

    #[tokio::test]
    async fn answers_over_udp_and_tcp() {
        let dns = TestDns::start().await.unwrap();
        dns.mx("example.jp", 10, "mx.example.jp")
            .await
            .a("mx.example.jp", "127.0.0.2")
            .await;

        for answer in [
            over_udp(&dns, "mx.example.jp", RecordType::A).await,
            over_tcp(&dns, "mx.example.jp", RecordType::A).await,
        ] {
            assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
            assert!(answer.metadata.authoritative);
            let addresses: Vec<_> = answer.answers.iter().map(|r| r.data.clone()).collect();
            assert_eq!(addresses, [RData::A(A(Ipv4Addr::new(127, 0, 0, 2)))]);
        }
        let mx = over_tcp(&dns, "example.jp", RecordType::MX).await;
        assert_eq!(
            mx.answers[0].data,
            RData::MX(MX::new(10, fqdn("mx.example.jp")))
        );
        assert_eq!(dns.queries(), 3);
    }

    #[tokio::test]
    async fn unknown_names_are_nxdomain_with_the_negative_ttl() {
        let dns = TestDns::start().await.unwrap();
        dns.set_negative_ttl(7).await;
        dns.ttl(42).a("known.example", "127.0.0.3").await;

        let missing = over_udp(&dns, "unknown.example", RecordType::A).await;
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        let soa = missing
            .authorities
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.minimum),
                _ => None,
            })
            .expect("an SOA in the authority section");
        assert_eq!(soa, 7);

        // The name exists, the type does not: NOERROR with no answer.
        let no_data = over_udp(&dns, "known.example", RecordType::AAAA).await;
        assert_eq!(no_data.metadata.response_code, ResponseCode::NoError);
        assert!(no_data.answers.is_empty());

        let known = over_udp(&dns, "known.example", RecordType::A).await;
        assert_eq!(known.answers[0].ttl, 42);

        dns.remove("known.example").await;
        let removed = over_udp(&dns, "known.example", RecordType::A).await;
        assert_eq!(removed.metadata.response_code, ResponseCode::NXDomain);
    }

    #[tokio::test]
    async fn faults_apply_to_a_name_and_below_until_healed() {
        let dns = TestDns::start().await.unwrap();
        dns.a("mx.broken.example", "127.0.0.4")
            .await
            .servfail("broken.example");

        let failed = over_udp(&dns, "mx.broken.example", RecordType::A).await;
        assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
        dns.heal("broken.example");
        let healed = over_udp(&dns, "mx.broken.example", RecordType::A).await;
        assert_eq!(healed.metadata.response_code, ResponseCode::NoError);

        dns.silent("broken.example");
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(&query("mx.broken.example", RecordType::A), dns.addr())
            .await
            .unwrap();
        let mut buffer = vec![0; 512];
        let waited =
            tokio::time::timeout(Duration::from_millis(300), socket.recv_from(&mut buffer)).await;
        assert!(waited.is_err(), "a silent name got an answer");
    }

    #[tokio::test]
    async fn signed_names_are_authenticated_when_dnssec_is_asked_for() {
        let dns = TestDns::start().await.unwrap();
        dns.tlsa("_25._tcp.mx.signed.example", 3, 1, 1, &[0xab; 32])
            .await
            .tlsa("_25._tcp.mx.plain.example", 3, 1, 1, &[0xab; 32])
            .await
            .signed("signed.example");
        let ask = |name: &str, dnssec_ok: bool, ad: bool| {
            let mut message = Message::query();
            message.add_query(Query::query(fqdn(name), RecordType::TLSA));
            message.metadata.authentic_data = ad;
            if dnssec_ok {
                let mut edns = hickory_server::proto::op::Edns::new();
                edns.set_dnssec_ok(true);
                message.edns = Some(edns);
            }
            message.to_vec().unwrap()
        };
        let table = [
            ("_25._tcp.mx.signed.example", true, false, true),
            ("_25._tcp.mx.signed.example", false, true, true),
            ("_25._tcp.mx.signed.example", false, false, false),
            ("_25._tcp.mx.plain.example", true, true, false),
        ];
        for (name, dnssec_ok, ad, authenticated) in table {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket
                .send_to(&ask(name, dnssec_ok, ad), dns.addr())
                .await
                .unwrap();
            let mut buffer = vec![0; 4096];
            let (len, _) = socket.recv_from(&mut buffer).await.unwrap();
            let answer = Message::from_vec(&buffer[..len]).unwrap();
            assert_eq!(
                answer.metadata.authentic_data, authenticated,
                "{name} DO={dnssec_ok} AD={ad}"
            );
            let RData::TLSA(tlsa) = &answer.answers[0].data else {
                panic!("not a TLSA answer: {answer:?}");
            };
            assert_eq!(tlsa.cert_data, [0xab; 32]);
        }
    }

    #[tokio::test]
    async fn long_txt_records_are_split_into_strings() {
        let dns = TestDns::start().await.unwrap();
        let key = format!("v=DKIM1; k=rsa; p={}", "A".repeat(400));
        dns.txt("sel._domainkey.example.jp", &key).await;

        let answer = over_tcp(&dns, "sel._domainkey.example.jp", RecordType::TXT).await;
        let RData::TXT(txt) = &answer.answers[0].data else {
            panic!("not a TXT answer: {answer:?}");
        };
        let strings: Vec<&[u8]> = txt.txt_data.iter().map(|s| &s[..]).collect();
        assert_eq!(strings.len(), 2);
        assert_eq!(strings[0].len(), 255);
        assert_eq!(strings.concat(), key.as_bytes());
    }

    #[tokio::test]
    async fn ptr_records_live_under_the_reverse_names() {
        let dns = TestDns::start().await.unwrap();
        dns.ptr("127.0.0.10", "relay1.mail.example.net")
            .await
            .ptr("::1", "relay1.mail.example.net")
            .await;
        let v4 = over_udp(&dns, "10.0.0.127.in-addr.arpa", RecordType::PTR).await;
        assert_eq!(
            v4.answers[0].data,
            RData::PTR(PTR(fqdn("relay1.mail.example.net")))
        );
        let v6_name = format!("1.{}ip6.arpa", "0.".repeat(31));
        let v6 = over_udp(&dns, &v6_name, RecordType::PTR).await;
        assert_eq!(v6.answers.len(), 1);
        dns.ptr("11.0.0.127.in-addr.arpa", "relay2.mail.example.net")
            .await;
        let by_name = over_udp(&dns, "11.0.0.127.in-addr.arpa", RecordType::PTR).await;
        assert_eq!(by_name.answers.len(), 1);
    }

    #[tokio::test]
    async fn documentation_addresses_are_listed_for_lookups_only() {
        let dns = TestDns::start().await.unwrap();
        dns.listed_address("relay1.example.net", "192.0.2.10")
            .await
            .listed_address("relay1.example.net", "2001:db8::10")
            .await;
        let answer = over_udp(&dns, "relay1.example.net", RecordType::AAAA).await;
        assert_eq!(
            answer.answers[0].data,
            RData::AAAA(AAAA("2001:db8::10".parse().unwrap()))
        );
        assert!(!is_documentation("198.51.101.1".parse().unwrap()));
        assert!(!is_documentation("2001:db9::1".parse().unwrap()));
        assert!(!is_documentation("127.0.0.1".parse().unwrap()));
    }

    #[tokio::test]
    #[should_panic(expected = "only documentation addresses")]
    async fn listed_addresses_must_be_documentation_addresses() {
        let dns = TestDns::start().await.unwrap();
        dns.listed_address("mx.example.jp", "8.8.8.8").await;
    }

    #[tokio::test]
    #[should_panic(expected = "only loopback")]
    async fn addresses_off_this_machine_are_refused() {
        let dns = TestDns::start().await.unwrap();
        dns.a("mx.example.jp", "192.0.2.1").await;
    }
}
