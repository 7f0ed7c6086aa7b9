//! Suppression imports as jobs over real HTTP, on SQLite and PostgreSQL: a file with every kind
//! of bad row goes through to exact counts and a report of its refused rows; another contract
//! never sees the job; hostile files are refused whole with a clear JSON error; and a job a
//! dead worker left half done is finished by the next one without counting a row twice.

mod common;

use common::{Backend, Reply, Server};
use hikyaku_model::{Role, Timestamp};
use hikyaku_store::{ImportBatch, ImportRowError, ImportRowProblem, NewSuppression};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn upload(server: &Server, key: &str, csv: &[u8]) -> Reply {
    server
        .call(
            "POST",
            "/api/v1/suppressions/imports",
            Some(key),
            Some("text/csv; charset=utf-8"),
            csv,
        )
        .await
}

/// The job once it is done (the test fails if it takes over a minute).
async fn finished(server: &Server, key: &str, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = server
            .get(&format!("/api/v1/suppressions/imports/{id}"), key)
            .await
            .json();
        if job["state"] == "done" {
            return job;
        }
        assert!(Instant::now() < deadline, "not done in time: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn errors_of(job: &Value) -> Vec<(u64, String, String)> {
    job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn a_file_goes_through_with_its_bad_rows_reported(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let (a, sender) = server.contract_with_key("a", Role::Sender, true).await;
    let viewer = server.key_for(&a, Role::Viewer, false);
    let (_, b_admin) = server.contract_with_key("b", Role::Admin, true).await;
    // Listed before the import: counted as already listed, not as added.
    let r = server
        .post_json(
            "/api/v1/suppressions",
            &sender,
            &json!({"address": "user5@example.jp"}),
        )
        .await;
    assert_eq!(r.status, 201);

    // A byte-order mark, CRLF line ends, the columns in another order, quoted fields.
    let mut csv = String::from("\u{feff}reason,Address\r\n");
    let mut expected_errors = Vec::new();
    let mut line = 1;
    let mut good = 0;
    for i in 0..2500 {
        line += 1;
        match i % 500 {
            7 => {
                csv.push_str(&format!("typo,not-an-address-{i}\r\n"));
                expected_errors.push((line, "bad_address".to_string()));
            }
            9 => {
                csv.push_str("again,USER0@example.jp\r\n");
                expected_errors.push((line, "duplicate".to_string()));
            }
            11 => {
                csv.push_str("lonely\r\n");
                expected_errors.push((line, "no_address".to_string()));
            }
            13 => {
                csv.push_str(&format!(",{}@example.jp\r\n", "a".repeat(300)));
                expected_errors.push((line, "too_long".to_string()));
            }
            _ => {
                csv.push_str(&format!("\"moved, left\",user{i}@example.jp\r\n"));
                good += 1;
            }
        }
    }
    // A quoted note over two lines (a note is one line: refused), then a blank line, then a
    // row with one field: the lines are the file's own.
    csv.push_str("\"first\r\nsecond\",multi@example.jp\r\n\r\nlast@example.jp\r\n");
    expected_errors.push((line + 1, "bad_reason".to_string()));
    expected_errors.push((line + 4, "no_address".to_string()));

    let r = upload(&server, &sender, csv.as_bytes()).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job = r.json();
    let id = job["id"].as_i64().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/suppressions/imports/{id}").as_str())
    );
    assert_eq!(job["total_rows"], 2502);
    assert_eq!(job["file_bytes"], csv.len());
    assert_ne!(job["state"], "done", "{job}");

    let job = finished(&server, &sender, id).await;
    assert_eq!(job["done_rows"], 2502, "{job}");
    assert_eq!(job["added"], good - 1, "{job}");
    assert_eq!(job["already_listed"], 1, "{job}");
    assert_eq!(job["failed_rows"], expected_errors.len(), "{job}");
    assert_eq!(job["errors_truncated"], false);
    let errors = errors_of(&job);
    let codes: Vec<(u64, String)> = errors.iter().map(|(l, c, _)| (*l, c.clone())).collect();
    assert_eq!(codes, expected_errors);
    let duplicate = &job["errors"][1];
    assert_eq!(duplicate["value"], "USER0@example.jp");
    assert_eq!(
        duplicate["message"], "the same address as line 2: skipped",
        "{duplicate}"
    );
    assert!(
        errors[3].2.len() == 200,
        "a long value is cut: {}",
        errors[3].2
    );
    assert_eq!(
        server.store.suppression_count(&a).await.unwrap(),
        good as u64
    );
    let entry = server
        .get("/api/v1/suppressions/user1%40example.jp", &sender)
        .await
        .json();
    assert_eq!(entry["reason"], "moved, left");
    let multi = errors_of(&job)
        .into_iter()
        .find(|e| e.1 == "bad_reason")
        .unwrap();
    assert_eq!(multi.2, "first\r\nsecond");

    // A viewer reads it masked and may not start one.
    let seen = server
        .get(&format!("/api/v1/suppressions/imports/{id}"), &viewer)
        .await
        .json();
    assert_eq!(seen["errors"][1]["value"], "U***@example.jp");
    let r = upload(&server, &viewer, b"x@example.jp\n").await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));
    let list = server
        .get("/api/v1/suppressions/imports", &viewer)
        .await
        .json();
    assert_eq!(list["data"][0]["id"], id);
    assert_eq!(list["data"][0]["errors"], json!([]));

    // Another contract: no such job, and none in its list.
    let r = server
        .get(&format!("/api/v1/suppressions/imports/{id}"), &b_admin)
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    assert!(!r.text().contains("example.jp"));
    let list = server
        .get("/api/v1/suppressions/imports", &b_admin)
        .await
        .json();
    assert_eq!(list, json!({"data": []}));
    for path in [
        "/api/v1/suppressions/imports/x",
        "/api/v1/suppressions/imports/99999",
    ] {
        let r = server.get(path, &sender).await;
        assert_eq!(r.status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_file_goes_through_with_its_bad_rows_reported_sqlite() {
    a_file_goes_through_with_its_bad_rows_reported(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_file_goes_through_with_its_bad_rows_reported_postgres() {
    a_file_goes_through_with_its_bad_rows_reported(Backend::Postgres).await;
}

async fn hostile_files_are_refused_whole(backend: Backend) {
    let Some(server) = Server::start(backend, "[api]\nmax_body_bytes = \"12MiB\"\n").await else {
        return;
    };
    let (a, key) = server.contract_with_key("a", Role::Admin, true).await;
    let mut garbage: Vec<u8> = b"address\nfine@example.jp\n".to_vec();
    garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80));
    for (file, line, says) in [
        (garbage, "line 3", "UTF-8"),
        (b"address\na@x.jp\nb\0@x.jp\n".to_vec(), "line 3", "NUL"),
        (
            b"email_address,name\nalice,Alice\n".to_vec(),
            "line 1",
            "email_address,name",
        ),
        (b"".to_vec(), "file", "no rows"),
        (b"\xEF\xBB\xBF".to_vec(), "file", "no rows"),
        (b"address,reason\r\n\r\n".to_vec(), "file", "no rows"),
    ] {
        let r = upload(&server, &key, &file).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (422, "invalid_field"),
            "{says}: {}",
            r.text()
        );
        let error = &r.json()["error"];
        assert_eq!(error["field"], line, "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{error}");
    }
    for content_type in [Some("application/json"), Some("multipart/form-data"), None] {
        let r = server
            .call(
                "POST",
                "/api/v1/suppressions/imports",
                Some(&key),
                content_type,
                b"a@x.jp\n",
            )
            .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (415, "unsupported_media_type"),
            "{content_type:?}"
        );
    }
    // Over the limit: refused before anything is kept.
    let mut huge = b"address\n".to_vec();
    huge.resize(13 << 20, b'a');
    let r = upload(&server, &key, &huge).await;
    assert_eq!((r.status, r.error_code().as_str()), (413, "body_too_large"));
    // In the words of whoever picked the file: its size and what to do, not a config key.
    let error = &r.json()["error"];
    assert_eq!(
        (error["field"].as_str(), error["message"].as_str()),
        (
            Some("file"),
            Some(
                "the file is larger than 12 MB, the most one import takes: split it into \
                 smaller files and import each"
            )
        ),
        "{error}"
    );
    let list = server
        .get("/api/v1/suppressions/imports", &key)
        .await
        .json();
    assert_eq!(list, json!({"data": []}), "nothing was kept");

    // A 10 MB line within the limit is one refused row; the rows around it are listed.
    let mut long = b"address\nbefore@example.jp\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 10 << 20));
    long.extend(b"@example.jp\nafter@example.jp\n");
    let r = upload(&server, &key, &long).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job = finished(&server, &key, r.json()["id"].as_i64().unwrap()).await;
    assert_eq!(
        (job["added"].as_u64(), job["failed_rows"].as_u64()),
        (Some(2), Some(1))
    );
    let errors = errors_of(&job);
    assert_eq!((errors[0].0, errors[0].1.as_str()), (3, "too_long"));
    assert_eq!(errors[0].2, "x".repeat(200));
    assert_eq!(server.store.suppression_count(&a).await.unwrap(), 2);
}

#[test]
fn sizes_are_said_as_a_person_reads_them_and_never_above_the_limit() {
    use hikyaku_api::v1::suppression_imports::size_in_words;
    for (bytes, words) in [
        (4 << 20, "4 MB"),
        (12 << 20, "12 MB"),
        (3 << 19, "1.5 MB"),
        ((4 << 20) - 1, "3.9 MB"),
        (1 << 20, "1 MB"),
        ((1 << 20) - 1, "1023 kB"),
        (1024, "1 kB"),
        (1_000_000_000, "953.6 MB"),
    ] {
        assert_eq!(size_in_words(bytes), words, "{bytes}");
    }
}

#[tokio::test]
async fn hostile_files_are_refused_whole_sqlite() {
    hostile_files_are_refused_whole(Backend::Sqlite).await;
}

#[tokio::test]
async fn hostile_files_are_refused_whole_postgres() {
    hostile_files_are_refused_whole(Backend::Postgres).await;
}

async fn a_half_done_job_is_finished_once(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let (a, key) = server.contract_with_key("a", Role::Admin, true).await;
    let store = &server.store;
    // 3000 rows; rows 1500 and 2999 repeat addresses of the first batch.
    let mut csv = String::from("address\n");
    let addresses: Vec<String> = (0..3000)
        .map(|i| match i {
            1500 => "ROW3@example.jp".to_string(),
            2999 => "row999@example.jp".to_string(),
            i => format!("row{i}@example.jp"),
        })
        .collect();
    for address in &addresses {
        csv.push_str(address);
        csv.push('\n');
    }
    // Kept as the upload keeps it, with no worker started: the worker that would have run
    // died after its first batch, which the test commits as it would have.
    let job = store
        .create_suppression_import(&a, csv.as_bytes(), 3000, Timestamp::now())
        .await
        .unwrap();
    let work = store
        .suppression_import_work(job.import_id)
        .await
        .unwrap()
        .unwrap();
    let first: Vec<NewSuppression> = addresses[..1000]
        .iter()
        .map(|address| NewSuppression {
            address,
            source: hikyaku_store::SuppressionSource::Manual,
            reason: None,
            message_id: None,
        })
        .collect();
    let batch = ImportBatch {
        from: 0,
        to: 1000,
        entries: &first,
        errors: &[],
        last: false,
        at: Timestamp::now(),
    };
    assert!(
        store
            .record_suppression_import_batch(&work, &batch)
            .await
            .unwrap()
    );
    // The same batch again (a second worker that read the job before): nothing changes.
    assert!(
        !store
            .record_suppression_import_batch(&work, &batch)
            .await
            .unwrap()
    );
    let half = server
        .get(
            &format!("/api/v1/suppressions/imports/{}", job.import_id),
            &key,
        )
        .await
        .json();
    assert_eq!(
        (half["state"].as_str(), half["done_rows"].as_u64()),
        (Some("running"), Some(1000))
    );

    // Two workers take it up at once, a third after: each row counted once.
    let (x, y) = tokio::join!(
        hikyaku_api::v1::suppression_imports::run_import(store, job.import_id),
        hikyaku_api::v1::suppression_imports::run_import(store, job.import_id),
    );
    x.unwrap();
    y.unwrap();
    hikyaku_api::v1::suppression_imports::run_import(store, job.import_id)
        .await
        .unwrap();
    let done = finished(&server, &key, job.import_id).await;
    assert_eq!(done["added"], 2998, "{done}");
    assert_eq!(done["already_listed"], 0, "{done}");
    assert_eq!(done["failed_rows"], 2, "{done}");
    // The duplicates of rows the dead worker listed are still known as such.
    assert_eq!(
        errors_of(&done),
        vec![
            (1502, "duplicate".to_string(), "ROW3@example.jp".to_string()),
            (
                3001,
                "duplicate".to_string(),
                "row999@example.jp".to_string()
            ),
        ]
    );
    assert_eq!(
        done["errors"][0]["message"],
        "the same address as line 5: skipped"
    );
    assert_eq!(store.suppression_count(&a).await.unwrap(), 2998);
    // A finished job keeps no file.
    assert!(
        store
            .suppression_import_work(job.import_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .unfinished_suppression_imports()
            .await
            .unwrap()
            .is_empty()
    );
    // A refused row beyond the kept ones is only counted.
    let errors: Vec<ImportRowError> = (0..5)
        .map(|i| ImportRowError {
            line: i + 2,
            value: "x".into(),
            problem: ImportRowProblem::BadAddress,
        })
        .collect();
    let job = store
        .create_suppression_import(&a, b"x\nx\nx\nx\nx\n", 5, Timestamp::now())
        .await
        .unwrap();
    let mut work = store
        .suppression_import_work(job.import_id)
        .await
        .unwrap()
        .unwrap();
    work.failed_rows = hikyaku_store::MAX_STORED_IMPORT_ERRORS - 2;
    let batch = ImportBatch {
        from: 0,
        to: 5,
        entries: &[],
        errors: &errors,
        last: true,
        at: Timestamp::now(),
    };
    assert!(
        store
            .record_suppression_import_batch(&work, &batch)
            .await
            .unwrap()
    );
    let kept = store
        .suppression_import_errors(&a, job.import_id)
        .await
        .unwrap();
    assert_eq!(kept.len(), 2, "only as many as fit under the cap");
}

#[tokio::test]
async fn a_half_done_job_is_finished_once_sqlite() {
    a_half_done_job_is_finished_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_half_done_job_is_finished_once_postgres() {
    a_half_done_job_is_finished_once(Backend::Postgres).await;
}
