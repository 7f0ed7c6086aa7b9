//! kill -9 in the middle of a suppression import job: the file answered `202` for is still
//! there after the restart, the restarted node takes the job up by itself, and the job ends with
//! exactly the counts and refused rows it would have had without the kill (no row listed or
//! reported twice, none lost).

use hikyaku_testkit::{Prepared, ProcessBuilder, http_call};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");
const ROWS: usize = 200_000;

/// A contract with an admin key; returns the contract's ID and the key.
fn a_contract_and_key(prepared: &Prepared) -> (String, String) {
    let out = prepared
        .cli_ok(&["contract", "create", "--name", "Import", "--json"])
        .unwrap();
    let customer = serde_json::from_str::<Value>(out.trim()).unwrap()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = prepared
        .cli_ok(&[
            "api-key", "create", &customer, "--name", "import", "--role", "admin", "--json",
        ])
        .unwrap();
    let key = serde_json::from_str::<Value>(out.trim()).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    (customer, key)
}

/// The CSV upload, on its own connection (the test kit's client sends JSON only).
fn upload(addr: SocketAddr, key: &str, csv: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /api/v1/suppressions/imports HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {key}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        csv.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(csv).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn job(addr: SocketAddr, key: &str, id: i64) -> Value {
    let answer = http_call(
        addr,
        "GET",
        &format!("/api/v1/suppressions/imports/{id}"),
        Some(key),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    serde_json::from_str(&answer.body).unwrap()
}

#[test]
fn kill9_mid_import_job_finishes_it_exactly_once_after_restart() {
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("api", "max_body_bytes", "\"16MiB\"");
    // The test polls the job as fast as it can.
    builder.set("api", "requests_per_second", "1000000");
    builder.set("api", "burst", "1000000");
    let prepared = builder.prepare().unwrap();
    let (customer, key) = a_contract_and_key(&prepared);

    // Every 1000th row is no address and every 1000th (offset 500) repeats the first one.
    let mut csv = String::from("address,reason\n");
    let (mut refused, mut good) = (Vec::new(), 0u64);
    for i in 0..ROWS {
        let line = i as u64 + 2;
        if i % 1000 == 999 {
            csv.push_str(&format!("nobody-{i},x\n"));
            refused.push((line, "bad_address"));
        } else if i % 1000 == 500 {
            csv.push_str("User0@Example.jp,again\n");
            refused.push((line, "duplicate"));
        } else {
            csv.push_str(&format!("user{i}@example.jp,bounced\n"));
            good += 1;
        }
    }

    let node = prepared.start().unwrap();
    let addr = node.http_addr();
    let (status, answer) = upload(addr, &key, csv.as_bytes());
    assert_eq!(status, 202, "{answer}\n{}", node.log());
    let id = answer["id"].as_i64().unwrap();
    // Killed as soon as some rows but not all are through.
    let deadline = Instant::now() + Duration::from_secs(120);
    let at_kill = loop {
        let now = job(addr, &key, id);
        let done = now["done_rows"].as_u64().unwrap();
        if done > 0 {
            assert!(
                done < ROWS as u64,
                "the job finished before the kill; make it longer: {now}"
            );
            break done;
        }
        assert!(
            Instant::now() < deadline,
            "no progress: {now}\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let prepared = node.kill9();

    // Restarted: nobody asks, the node goes on with the job by itself.
    let node = prepared.start().unwrap();
    let addr = node.http_addr();
    let deadline = Instant::now() + Duration::from_secs(180);
    let finished = loop {
        let now = job(addr, &key, id);
        if now["state"] == "done" {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "not finished: {now}\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("killed at row {at_kill} of {ROWS}; finished: {}", {
        let mut summary = finished.clone();
        summary["errors"] = Value::Null;
        summary
    });
    assert_eq!(finished["total_rows"], ROWS as u64);
    assert_eq!(finished["done_rows"], ROWS as u64);
    assert_eq!(finished["added"], good, "{finished}");
    assert_eq!(finished["already_listed"], 0, "{finished}");
    assert_eq!(finished["failed_rows"], refused.len() as u64, "{finished}");
    let errors: Vec<(u64, &str)> = finished["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, refused, "every refused row once, in file order");
    let out = node
        .cli_ok(&["suppression", "list", &customer, "--limit", "1", "--json"])
        .unwrap();
    let total = serde_json::from_str::<Value>(out.trim()).unwrap()["total"].clone();
    assert_eq!(total, good, "the list holds each good address once");
}
