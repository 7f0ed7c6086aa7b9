//! The built-in DNS responder in the real `hikyaku serve`, asked by BIND's `dig`: it starts with
//! the node, says where it listens in the banner and the node's heartbeat, answers the SMTP host
//! name with the nodes that beat (this node; the other configured node never has), and stops
//! with the node.

mod cli_support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use cli_support::BIN;
use hikyaku_store::{SealingKey, Store};
use hikyaku_testkit::ProcessBuilder;

const RELAY_NODES: &str = r#"[
  { name = "relay1.mail.hikyaku.test", addresses = ["192.0.2.10", "2001:db8::10"] },
  { name = "relay2.mail.hikyaku.test", addresses = ["192.0.2.11"] },
]"#;

fn dig(dig: &std::path::Path, server: SocketAddr, args: &[&str]) -> String {
    let output = Command::new(dig)
        .arg(format!("@{}", server.ip()))
        .args([
            "-p",
            &server.port().to_string(),
            "+norecurse",
            "+time=3",
            "+tries=1",
        ])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "dig {args:?}: {text}");
    text
}

/// The addresses in dig's `+short` answer, sorted.
fn short(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn serve_answers_the_service_zone_with_the_nodes_that_beat() {
    let Some(dig_path) = hikyaku_testkit::tool("dig") else {
        return;
    };
    let node = ProcessBuilder::new(BIN)
        .set("", "service_domain", "\"mail.hikyaku.test\"")
        // The machine's host name is neither relay's: this node is relay1 by its short name.
        .set("", "node_name", "\"relay1\"")
        .set("dns", "relay_node", RELAY_NODES)
        .set("dns.responder", "listen", "[\"127.0.0.1:0\"]")
        .set(
            "dns.responder",
            "nameservers",
            "[\"relay1.mail.hikyaku.test\"]",
        )
        .start()
        .unwrap();
    let server = node.dns_addr();
    assert!(server.ip().is_loopback());
    assert!(
        node.stdout
            .iter()
            .any(|l| l.contains(&format!("dns://{server}")) && l.contains("mail.hikyaku.test")),
        "{:?}",
        node.stdout
    );

    // relay2 never beats: only this node is listed, from the first answer on.
    let a = dig(
        &dig_path,
        server,
        &["+short", "smtp.mail.hikyaku.test", "A"],
    );
    assert_eq!(short(&a), ["192.0.2.10"], "{a}\n{}", node.log());
    let aaaa = dig(
        &dig_path,
        server,
        &["+short", "smtp.mail.hikyaku.test", "AAAA"],
    );
    assert_eq!(short(&aaaa), ["2001:db8::10"]);
    let full = dig(&dig_path, server, &["+tcp", "smtp.mail.hikyaku.test", "A"]);
    assert!(full.contains("flags: qr aa"), "{full}");
    let other = dig(
        &dig_path,
        server,
        &["+short", "relay2.mail.hikyaku.test", "A"],
    );
    assert_eq!(short(&other), ["192.0.2.11"]);
    let refused = dig(&dig_path, server, &["www.example.com", "A"]);
    assert!(refused.contains("status: REFUSED"), "{refused}");

    // The heartbeat names the responder among the node's listeners.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listeners = runtime.block_on(async {
        let key = SealingKey::load_or_create(&node.data_dir().join("secret.key")).unwrap();
        let url = format!("sqlite://{}", node.data_dir().join("hikyaku.db").display());
        let store = Store::connect(&url, key).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let nodes = store.nodes().await.unwrap();
            if let Some(me) = nodes.into_iter().find(|n| n.node == "relay1")
                && !me.listeners.is_empty()
            {
                store.close().await;
                return me.listeners;
            }
            assert!(tokio::time::Instant::now() < deadline, "no heartbeat");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(
        listeners.contains(&format!("dns {server}")),
        "{listeners:?}"
    );

    // It stops with the node.
    let (status, _) = node.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        std::net::TcpStream::connect_timeout(&server, Duration::from_secs(2)).is_err(),
        "the DNS responder still listens after the node stopped"
    );
}
