//! The responder asked by a DNS client we did not write: BIND's `dig`, over UDP and TCP, while
//! nodes record heartbeats in a real store (SQLite, and PostgreSQL when `TEST_DATABASE_URL` is
//! set). A killed node leaves the SMTP host name's answer once it has missed three beats, a
//! node stopped cleanly at the next refresh; when none is healthy, every node is listed again.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{StoreSource, long_key, platform, start};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{SealingKey, Store};

/// Short, so that a node goes stale within a second; long enough that a busy machine's slow
/// write does not miss three beats in a row.
const PERIOD: Duration = Duration::from_millis(300);

#[tokio::test]
async fn dig_on_sqlite() {
    let Some(dig) = hikyaku_testkit::tool("dig") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hikyaku.db").display());
    dig_scenario(&dig, &url).await;
}

#[tokio::test]
async fn dig_on_postgres() {
    let Some(dig) = hikyaku_testkit::tool("dig") else {
        return;
    };
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    dig_scenario(&dig, database.url()).await;
}

/// What `dig` printed, in parts.
#[derive(Debug)]
struct Dig {
    status: String,
    flags: Vec<String>,
    /// Answer records as `name ttl class type data`, single spaces.
    answers: Vec<String>,
    authorities: Vec<String>,
    additionals: Vec<String>,
    text: String,
}

impl Dig {
    fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The data of the answer records of this type.
    fn data(&self, record_type: &str) -> Vec<String> {
        let mut data: Vec<String> = self
            .answers
            .iter()
            .filter_map(|line| {
                let fields: Vec<&str> = line.splitn(5, ' ').collect();
                (fields.get(3) == Some(&record_type)).then(|| fields[4].to_string())
            })
            .collect();
        data.sort();
        data
    }
}

async fn dig(dig: &Path, server: SocketAddr, args: &[&str]) -> Dig {
    let mut command = std::process::Command::new(dig);
    command
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        // One try, a short wait: a responder that does not answer fails the test at once.
        .args(["+norecurse", "+time=3", "+tries=1"])
        .args(args);
    // Off the runtime's threads, which the responder and the heartbeats run on.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "dig {args:?} failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse(text)
}

fn parse(text: String) -> Dig {
    let mut status = String::new();
    let mut flags = Vec::new();
    let mut sections: [Vec<String>; 3] = Default::default();
    let mut section = None;
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            status = rest.split(',').next().unwrap_or("").to_string();
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            let until = rest.find(';').unwrap_or(rest.len());
            flags = rest[..until]
                .split_whitespace()
                .map(str::to_string)
                .collect();
        } else if line.starts_with(";; ANSWER SECTION") {
            section = Some(0);
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = Some(1);
        } else if line.starts_with(";; ADDITIONAL SECTION") {
            section = Some(2);
        } else if line.trim().is_empty() || line.starts_with(';') {
            if !line.starts_with(";;") || line.trim().is_empty() {
                section = None;
            }
        } else if let Some(at) = section {
            sections[at].push(line.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    let [answers, authorities, additionals] = sections;
    Dig {
        status,
        flags,
        answers,
        authorities,
        additionals,
        text,
    }
}

/// Polls `dig` until `done` holds of its answer (10 s at most).
async fn dig_until(
    dig_path: &Path,
    server: SocketAddr,
    args: &[&str],
    what: &str,
    done: impl Fn(&Dig) -> bool,
) -> Dig {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = dig(dig_path, server, args).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not in time; last answer:\n{}",
            answer.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The serial of the SOA in an answer.
fn serial(answer: &Dig) -> u32 {
    let data = &answer.data("SOA")[0];
    data.split(' ').nth(2).unwrap().parse().unwrap()
}

/// A node's heartbeat loop: dropping the sender stops it cleanly (the node says it stopped),
/// aborting the task kills it (it just beats no more).
fn beat(
    store: &Store,
    node: &'static str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let store = store.clone();
    let task = tokio::spawn(async move {
        let stop = async {
            let _ = stop_rx.await;
        };
        store
            .run_node_heartbeat(node, "0.1.0", &[], PERIOD, stop)
            .await
    });
    (stop_tx, task)
}

async fn dig_scenario(dig_path: &Path, url: &str) {
    let store = Store::connect(url, SealingKey::from_bytes(rand::random()))
        .await
        .unwrap();
    // relay1 beats under its short host name, relay2 under its full name.
    let relay1 = beat(&store, "relay1");
    let relay2 = beat(&store, "RELAY2.example.net");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.nodes().await.unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no heartbeats");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let source = Arc::new(StoreSource {
        store: store.clone(),
        platform: platform(),
    });
    let responder = start(source, PERIOD).await;
    let server = responder.local_addrs()[0];
    assert!(server.ip().is_loopback());

    // Both nodes beat: both are listed, over UDP and TCP, authoritatively, with the short TTL.
    for transport in ["+notcp", "+tcp"] {
        let a = dig(dig_path, server, &[transport, "smtp.example.net", "A"]).await;
        assert_eq!(a.status, "NOERROR", "{}", a.text);
        assert!(a.has_flag("aa"), "{}", a.text);
        assert!(!a.has_flag("tc"), "{}", a.text);
        assert_eq!(a.data("A"), ["192.0.2.1", "192.0.2.2"], "{}", a.text);
        assert!(
            a.answers
                .iter()
                .all(|l| l.starts_with("smtp.example.net. 60 IN A "))
        );
        let aaaa = dig(dig_path, server, &[transport, "smtp.example.net", "AAAA"]).await;
        assert_eq!(aaaa.data("AAAA"), ["2001:db8::2"], "{}", aaaa.text);
    }

    // Static records of the zone, with the longer TTL.
    let spf = dig(dig_path, server, &["_spf.example.net", "TXT"]).await;
    assert_eq!(
        spf.answers,
        [
            "_spf.example.net. 3600 IN TXT \"v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 ip6:2001:db8::2 ~all\""
        ],
        "{}",
        spf.text
    );
    let mx = dig(dig_path, server, &["bounce.example.net", "MX"]).await;
    assert_eq!(mx.data("MX"), ["10 smtp.example.net."], "{}", mx.text);
    let ns = dig(dig_path, server, &["example.net", "NS"]).await;
    assert_eq!(
        ns.data("NS"),
        ["relay1.example.net.", "relay2.example.net."],
        "{}",
        ns.text
    );
    assert!(
        ns.additionals
            .iter()
            .any(|l| l == "relay1.example.net. 3600 IN A 192.0.2.1"),
        "glue: {}",
        ns.text
    );
    let soa = dig(dig_path, server, &["example.net", "SOA"]).await;
    assert!(
        soa.data("SOA")[0].starts_with("relay1.example.net. hostmaster.example.net. "),
        "{}",
        soa.text
    );

    // No such name, no such record, not our zone.
    let nx = dig(dig_path, server, &["nosuch.example.net", "A"]).await;
    assert_eq!(nx.status, "NXDOMAIN", "{}", nx.text);
    assert!(nx.has_flag("aa"), "{}", nx.text);
    assert!(nx.answers.is_empty());
    assert!(
        nx.authorities[0].starts_with("example.net. 60 IN SOA relay1.example.net. "),
        "{}",
        nx.text
    );
    let nodata = dig(dig_path, server, &["smtp.example.net", "MX"]).await;
    assert_eq!(nodata.status, "NOERROR", "{}", nodata.text);
    assert!(
        nodata.answers.is_empty() && nodata.authorities.len() == 1,
        "{}",
        nodata.text
    );
    for outside in ["www.example.com", "example.org", "net"] {
        let refused = dig(dig_path, server, &[outside, "A"]).await;
        assert_eq!(refused.status, "REFUSED", "{}", refused.text);
        assert!(!refused.has_flag("aa"), "{}", refused.text);
    }
    let axfr = dig(dig_path, server, &["example.net", "AXFR"]).await;
    assert!(axfr.text.contains("Transfer failed"), "{}", axfr.text);
    let any = dig(dig_path, server, &["relay2.example.net", "ANY"]).await;
    assert_eq!(any.answers.len(), 1, "{}", any.text);

    // Too long for 512 octets: without EDNS the UDP answer is cut and says so...
    let dkim = "hks1._domainkey.example.net";
    let cut = dig(dig_path, server, &["+noedns", "+ignore", dkim, "TXT"]).await;
    assert!(cut.has_flag("tc"), "{}", cut.text);
    // ...and dig, left to itself, asks again over TCP and gets all of it, as with EDNS.
    for args in [
        &["+noedns", dkim, "TXT"][..],
        &["+bufsize=1232", dkim, "TXT"][..],
    ] {
        let whole = dig(dig_path, server, args).await;
        assert!(!whole.has_flag("tc"), "{}", whole.text);
        let joined: String = whole.data("TXT")[0]
            .split("\" \"")
            .map(|s| s.trim_matches('"'))
            .collect();
        assert_eq!(joined, long_key(), "{args:?}");
    }

    // relay1 is killed: after three missed beats and a refresh it leaves the answer.
    relay1.1.abort();
    let only_two = dig_until(
        dig_path,
        server,
        &["smtp.example.net", "A"],
        "relay1 dropped from the answer",
        |a| a.data("A") == ["192.0.2.2"],
    )
    .await;
    assert!(only_two.has_flag("aa"));
    assert_eq!(responder.zone().listed_nodes(), ["relay2.example.net"]);
    // The answer changed, so the serial grew.
    let later = dig(dig_path, server, &["example.net", "SOA"]).await;
    assert!(
        serial(&later) > serial(&soa),
        "{}\n{}",
        soa.text,
        later.text
    );
    // Its own name keeps its address.
    let own = dig(dig_path, server, &["relay1.example.net", "A"]).await;
    assert_eq!(own.data("A"), ["192.0.2.1"], "{}", own.text);

    // relay2 stops cleanly (unhealthy at once, by its own word): with no node healthy, every
    // node is listed rather than none.
    drop(relay2.0);
    dig_until(
        dig_path,
        server,
        &["smtp.example.net", "A"],
        "every node listed when none beats",
        |a| responder.zone().listed_nodes().is_empty() && a.data("A") == ["192.0.2.1", "192.0.2.2"],
    )
    .await;

    responder.shutdown().await;
    store.close().await;
}
