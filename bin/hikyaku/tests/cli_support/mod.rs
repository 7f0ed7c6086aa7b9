//! What the CLI tests share: running a `hikyaku` command against a prepared node's data and
//! reading its answer.

#![allow(dead_code)] // each test file uses its own share of these

use hikyaku_testkit::Prepared;
use serde_json::Value;

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
