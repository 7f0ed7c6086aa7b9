//! What the CLI tests share: running a `hikyaku` command against a prepared node's data and
//! reading its answer.

#![allow(dead_code, unused_macros, unused_imports)] // each test file uses its own share of these

use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_testkit::{Prepared, ProcessBuilder};
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");

/// A node on a fresh PostgreSQL database of `TEST_DATABASE_URL`'s server, or `None` when
/// there is no server to test against; the database lives as long as the first value.
pub fn on_postgres() -> Option<(PostgresTestDatabase, Prepared)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let database = runtime.block_on(PostgresTestDatabase::create())?;
    let node = ProcessBuilder::new(BIN)
        .set("", "database_url", &format!("{:?}", database.url()))
        .prepare()
        .unwrap();
    Some((database, node))
}

/// Runs each `fn name(node: &Prepared)` twice: on a node with the default SQLite database
/// (`name::sqlite`) and on one with a fresh PostgreSQL database (`name::postgres`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                let node = ::hikyaku_testkit::ProcessBuilder::new(crate::cli_support::BIN)
                    .prepare()
                    .unwrap();
                super::$name(&node);
            }

            #[test]
            fn postgres() {
                if let Some((_database, node)) = crate::cli_support::on_postgres() {
                    super::$name(&node);
                }
            }
        }
    )*};
}

pub(crate) use on_both_backends;

/// Runs a command with `--json`; its output must be one line of JSON.
pub fn json(node: &Prepared, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = node.cli_ok(&with_json).unwrap();
    assert_eq!(out.lines().count(), 1, "one line of JSON: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Runs a command that must fail; returns its standard error.
pub fn fails(node: &Prepared, args: &[&str]) -> String {
    let out = node.cli(args).unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "{args:?} printed on failure");
    String::from_utf8(out.stderr).unwrap()
}
