//! A contract's own bounce domain (custom return path) through the real `hikyaku serve`: set
//! with the CLI, carried by the VERP envelope sender its messages reach the remote MX with, and
//! taken by the error server, which attributes a bounce to that address to its message and
//! recipient; return paths on a domain nobody registered are refused.

mod delivery_support;

use delivery_support::{event, route_everything, send, start};
use hikyaku_testkit::reports::delivery_status_notification;
use hikyaku_testkit::{HikyakuProcess, PostfixMx, Sink, SmtpClient};
use serde_json::Value;
use std::time::Duration;

/// The platform's bounce domain, as `delivery_support::start` configures it.
const PLATFORM: &str = "bounce.hikyaku.test";
const THEIRS: &str = "bounce.customer.example";

fn json(node: &HikyakuProcess, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = node.cli_ok(&args).unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Runs a command that must fail; returns its standard error.
fn refused(node: &HikyakuProcess, args: &[&str]) -> String {
    let output = node.cli(args).unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One RCPT at the error server from the null sender; the reply's head (`550 5.1.1`).
async fn rcpt_at_error_server(node: &HikyakuProcess, to: &str) -> String {
    let (mut c, _) = SmtpClient::connect(node.errors_addr()).await.unwrap();
    c.command("EHLO mx.remote.example").await.unwrap();
    assert_eq!(c.command("MAIL FROM:<>").await.unwrap().code, 250);
    let head = c.command(&format!("RCPT TO:<{to}>")).await.unwrap().head();
    c.command("QUIT").await.unwrap();
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contracts_bounce_domain_carries_its_return_paths_and_its_bounces_come_back() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(|b| route_everything(b, &sink.addr().to_string()));
    let set = json(
        &node,
        &[
            "contract",
            "bounce-domain",
            "set",
            &customer,
            "Bounce.Customer.Example.",
        ],
    );
    assert_eq!(set["bounce_domain"], THEIRS);
    assert_eq!(set["return_path_domain"], THEIRS);

    let id = send(&node, &["gone@example.jp"]).await;
    let received = sink.wait_for(1, Duration::from_secs(30)).await.unwrap();
    let verp = received[0].mail_from.clone();
    assert!(verp.starts_with(&format!("b-{id}-0-")), "{verp}");
    assert!(verp.ends_with(&format!("@{THEIRS}")), "{verp}");
    event(&node, &id, "delivered");

    // A domain nobody registered is refused, even with a genuine tag; the same address on the
    // platform's own domain is still taken.
    let (local, _) = verp.split_once('@').unwrap();
    assert_eq!(
        rcpt_at_error_server(&node, &format!("{local}@bounce.unregistered.example")).await,
        "550 5.1.1"
    );
    assert_eq!(
        rcpt_at_error_server(&node, &format!("{local}@{PLATFORM}")).await,
        "250 2.1.5"
    );

    // The remote MX's bounce, to the return path it saw.
    let (mut c, _) = SmtpClient::connect(node.errors_addr()).await.unwrap();
    c.command("EHLO mx.remote.example").await.unwrap();
    let dsn =
        delivery_status_notification("gone@example.jp", "5.1.1", "550 5.1.1 User unknown", None);
    let reply = c.send_mail("", &[&verp], &dsn).await.unwrap();
    assert_eq!(reply.head(), "250 2.0.0", "{reply:?}");
    c.command("QUIT").await.unwrap();
    let bounced = event(&node, &id, "bounced");
    assert_eq!(bounced["recipient"], "gone@example.jp");
    assert_eq!(bounced["customer_id"], customer.as_str());
    assert_eq!(bounced["details"]["reason"], "userunknown", "{bounced}");
    assert_eq!(bounced["details"]["source"], "report", "{bounced}");
    let list = json(&node, &["suppression", "list", &customer]);
    assert!(
        list.to_string().contains("gone@example.jp"),
        "suppressed: {list}"
    );

    // Cleared, the domain takes nothing more.
    let cleared = json(&node, &["contract", "bounce-domain", "clear", &customer]);
    assert_eq!(cleared["bounce_domain"], Value::Null);
    assert_eq!(cleared["return_path_domain"], PLATFORM);
    assert_eq!(rcpt_at_error_server(&node, &verp).await, "550 5.1.1");
}

/// A real peer: Postfix takes the message, finds no such mailbox, and mails its own DSN to the
/// envelope sender it saw, on the contract's domain (routed, as the customer's CNAME would, to
/// the error server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_bounces_to_the_contracts_domain_and_the_bounce_is_attributed() {
    let errors = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let Some(mx) = PostfixMx::start_bouncing(THEIRS, errors) else {
        return;
    };
    let (node, customer) = start(|b| {
        route_everything(b, &mx.addr().to_string());
        b.set("bounce", "listen", &format!("\"{errors}\""));
    });
    node.cli_ok(&["contract", "bounce-domain", "set", &customer, THEIRS])
        .unwrap();
    let unknown = format!("nobody@{}", PostfixMx::DOMAIN);
    let id = send(&node, &[&unknown]).await;
    let bounced = event(&node, &id, "bounced");
    assert_eq!(bounced["recipient"], unknown.as_str());
    assert_eq!(bounced["customer_id"], customer.as_str());
    assert_eq!(bounced["details"]["reason"], "userunknown", "{bounced}");
    assert_eq!(bounced["details"]["source"], "report", "{bounced}");
    // Postfix saw the return path on the contract's domain.
    let log = mx.maillog();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("from=<b-{id}-0-")) && l.contains(&format!("@{THEIRS}>"))),
        "{log}"
    );
}

#[test]
fn the_cli_sets_shows_and_clears_a_bounce_domain_one_contract_each() {
    let (node, customer) = start(|_| {});
    let shown = json(&node, &["contract", "bounce-domain", "show", &customer]);
    assert_eq!(
        shown,
        serde_json::json!({
            "customer_id": customer,
            "bounce_domain": null,
            "set_at": null,
            "return_path_domain": PLATFORM,
            "cname_target": PLATFORM,
        })
    );

    let text = node
        .cli_ok(&["contract", "bounce-domain", "set", &customer, THEIRS])
        .unwrap();
    assert!(text.contains(&format!("own domain:  {THEIRS}\n")), "{text}");
    assert!(
        text.contains(&format!(
            "return path: b-<message>-<recipient>-<tag>@{THEIRS}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("publish:     {THEIRS}. CNAME {PLATFORM}.\n")),
        "{text}"
    );
    let shown = json(&node, &["contract", "bounce-domain", "show", &customer]);
    assert_eq!(shown["bounce_domain"], THEIRS);
    assert!(
        shown["set_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{shown}"
    );
    let details = json(&node, &["contract", "show", &customer]);
    assert_eq!(details["bounce_domain"], THEIRS, "{details}");
    let text = node.cli_ok(&["contract", "show", &customer]).unwrap();
    assert!(text.contains(&format!("bounces to:  {THEIRS}\n")), "{text}");

    // Another contract cannot have it, nor the platform's own, nor a non-domain.
    let out = node
        .cli_ok(&["contract", "create", "--name", "Other", "--json"])
        .unwrap();
    let other: Value = serde_json::from_str(out.trim()).unwrap();
    let other = other["customer_id"].as_str().unwrap();
    let error = refused(&node, &["contract", "bounce-domain", "set", other, THEIRS]);
    assert!(error.contains("already another contract's"), "{error}");
    assert!(!error.contains(&customer), "says nobody's ID: {error}");
    let error = refused(
        &node,
        &["contract", "bounce-domain", "set", other, PLATFORM],
    );
    assert!(error.contains("platform's own bounce domain"), "{error}");
    let error = refused(
        &node,
        &["contract", "bounce-domain", "set", other, "not a domain"],
    );
    assert!(error.contains("invalid bounce domain"), "{error}");
    let error = refused(&node, &["contract", "bounce-domain", "show", "zzzzzzzzzz"]);
    assert!(
        error.contains("no contract") || error.contains("invalid"),
        "{error}"
    );
    let shown = json(&node, &["contract", "bounce-domain", "show", other]);
    assert_eq!(shown["bounce_domain"], Value::Null);

    let text = node
        .cli_ok(&["contract", "bounce-domain", "clear", &customer])
        .unwrap();
    assert!(text.contains("own domain:  none\n"), "{text}");
    assert!(
        text.contains(&format!(
            "return path: b-<message>-<recipient>-<tag>@{PLATFORM}\n"
        )),
        "{text}"
    );
    let text = node.cli_ok(&["contract", "show", &customer]).unwrap();
    assert!(
        text.contains(&format!("bounces to:  none (the platform's: {PLATFORM})\n")),
        "{text}"
    );
    // Free again: the other contract may take it now.
    let set = json(&node, &["contract", "bounce-domain", "set", other, THEIRS]);
    assert_eq!(set["customer_id"], other);
}
