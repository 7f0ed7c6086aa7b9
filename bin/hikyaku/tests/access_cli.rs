//! `hikyaku user`, `api-key` and `operator-key` as the real binary, on SQLite and on a fresh
//! PostgreSQL database: create, list and revoke round trips, secrets printed once and
//! accepted by the store afterwards (a generated password logs in, a printed key
//! authenticates), contracts kept apart, the `--json` shapes read back as the API's types.

mod cli_support;

use cli_support::{fails, json, on_both_backends};
use hikyaku_api_types::{
    ApiKeyList, CreatedApiKey, CreatedOperatorKey, NewUser, OperatorKeyList, UserList,
};
use hikyaku_model::{ApiCaller, CustomerId, Role};
use hikyaku_store::{SealingKey, Store};
use hikyaku_testkit::Prepared;

fn contract(node: &Prepared, name: &str) -> String {
    node.cli_ok(&["contract", "create", "--name", name])
        .unwrap()
        .trim()
        .to_string()
}

fn parsed<T: serde::de::DeserializeOwned>(node: &Prepared, args: &[&str]) -> T {
    serde_json::from_value(json(node, args)).unwrap()
}

/// Runs `check` against the node's own database, as the server would open it.
fn with_store(node: &Prepared, check: impl AsyncFnOnce(&Store)) {
    let config = hikyaku_config::Config::from_file(&node.config_path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let key = SealingKey::load_or_create(&config.secret_key_path()).unwrap();
        let store = Store::connect(&config.database_url(), key).await.unwrap();
        check(&store).await;
        store.close().await;
    });
}

on_both_backends!(
    users_round_trip,
    api_keys_round_trip,
    operator_keys_round_trip,
    the_511th_is_refused,
);

fn users_round_trip(node: &Prepared) {
    let a = contract(node, "A");
    let b = contract(node, "B");
    let added: NewUser = parsed(node, &["user", "add", &a, "--email", "Taro@Example.jp"]);
    assert_eq!(added.user.email, "Taro@Example.jp");
    assert_eq!(added.user.customer_id.as_str(), a);
    assert_eq!(added.user.role, Role::Admin, "users default to admin");
    assert!(!added.user.see_addresses);
    let password = added
        .password
        .clone()
        .expect("a generated password is printed");
    assert!(password.len() >= 16, "{password}");

    // A chosen password is never echoed; the text form prints a generated one once.
    let chosen: NewUser = parsed(
        node,
        &[
            "user",
            "add",
            &a,
            "--email",
            "hanako@example.jp",
            "--password",
            "my own secret",
            "--role",
            "viewer",
            "--see-addresses",
        ],
    );
    assert_eq!(chosen.password, None);
    assert_eq!(chosen.user.role, Role::Viewer);
    assert!(chosen.user.see_addresses);
    let text = node
        .cli_ok(&["user", "add", &b, "--email", "taro@example.jp"])
        .unwrap();
    assert!(
        text.contains("added console user taro@example.jp"),
        "{text}"
    );
    assert!(
        text.contains("password:") && text.contains("shown once"),
        "{text}"
    );

    let err = fails(node, &["user", "add", &a, "--email", "TARO@example.jp"]);
    assert!(err.contains("already has a console user"), "{err}");
    let err = fails(
        node,
        &[
            "user",
            "add",
            &a,
            "--email",
            "x@example.jp",
            "--role",
            "root",
        ],
    );
    assert!(err.contains("root"), "{err}");
    let err = fails(node, &["user", "add", &a, "--email", "not-an-address"]);
    assert!(err.contains("e-mail address"), "{err}");

    let listed: UserList = parsed(node, &["user", "list", &a]);
    assert_eq!(listed.users, vec![added.user.clone(), chosen.user.clone()]);
    let page: UserList = parsed(
        node,
        &[
            "user",
            "list",
            &a,
            "--after",
            &added.user.id,
            "--limit",
            "5",
        ],
    );
    assert_eq!(page.users, vec![chosen.user.clone()]);
    let table = node.cli_ok(&["user", "list", &a]).unwrap();
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("hanako@example.jp") && table.contains("viewer"),
        "{table}"
    );

    // What was printed is what the store accepts, for that contract only.
    let customer_a: CustomerId = a.parse().unwrap();
    let customer_b: CustomerId = b.parse().unwrap();
    let user_id = added.user.id.clone();
    with_store(node, async |store| {
        let found = store
            .verify_console_login(&customer_a, "taro@example.jp", &password)
            .await
            .unwrap()
            .expect("the generated password logs in");
        assert_eq!(found.user_id, user_id);
        let other = store
            .verify_console_login(&customer_b, "taro@example.jp", &password)
            .await
            .unwrap();
        assert!(other.is_none());
        assert!(
            store
                .verify_console_login(&customer_a, "hanako@example.jp", "my own secret")
                .await
                .unwrap()
                .is_some()
        );
    });

    let removed = json(node, &["user", "remove", &a, "TARO@example.jp"]);
    assert_eq!(removed["removed"]["id"], added.user.id.as_str());
    let err = fails(node, &["user", "remove", &a, &added.user.id]);
    assert!(err.contains("has no console user"), "{err}");
    let text = node
        .cli_ok(&["user", "remove", &a, &chosen.user.id])
        .unwrap();
    assert!(
        text.starts_with("removed console user hanako@example.jp"),
        "{text}"
    );
    let empty = node.cli_ok(&["user", "list", &a]).unwrap();
    assert_eq!(empty, "(no console users)\n");
    let err = fails(node, &["user", "list", "cnobody"]);
    assert!(err.contains("no contract"), "{err}");
}

fn api_keys_round_trip(node: &Prepared) {
    let a = contract(node, "A");
    let b = contract(node, "B");
    let created: CreatedApiKey = parsed(node, &["api-key", "create", &a, "--name", "orders"]);
    assert!(created.key.starts_with("hk_"), "{}", created.key);
    assert!(created.key.starts_with(&created.api_key.prefix));
    assert_eq!(created.api_key.role, Role::Sender, "keys default to sender");
    assert_eq!(created.api_key.name, "orders");
    let raw = json(
        node,
        &[
            "api-key",
            "create",
            &a,
            "--name",
            "reports",
            "--role",
            "viewer",
            "--see-addresses",
        ],
    );
    assert!(raw["key"].as_str().unwrap().starts_with("hk_"));
    let reports: CreatedApiKey = serde_json::from_value(raw).unwrap();
    assert!(reports.api_key.see_addresses);
    let text = node
        .cli_ok(&["api-key", "create", &b, "--name", "b's key"])
        .unwrap();
    let b_key = text
        .lines()
        .find_map(|l| l.strip_prefix("key:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    assert!(
        b_key.starts_with("hk_") && text.contains("shown once"),
        "{text}"
    );

    let listed: ApiKeyList = parsed(node, &["api-key", "list", &a]);
    assert_eq!(
        listed.api_keys,
        vec![created.api_key.clone(), reports.api_key.clone()]
    );
    let listing = node.cli_ok(&["api-key", "list", &a, "--json"]).unwrap();
    assert!(
        !listing.contains(&created.key),
        "a listing never shows a key"
    );
    let table = node.cli_ok(&["api-key", "list", &a]).unwrap();
    assert!(table.contains(&created.api_key.prefix) && !table.contains(&created.key));

    let key = created.key.clone();
    let key_id = created.api_key.id.clone();
    let customer_a: CustomerId = a.parse().unwrap();
    with_store(node, async |store| {
        assert_eq!(
            store.authenticate_api_key(&key).await.unwrap(),
            Some(ApiCaller::Contract {
                customer_id: customer_a,
                key_id,
                role: Role::Sender,
                see_addresses: false,
            })
        );
    });

    // One contract cannot revoke another's key.
    let err = fails(node, &["api-key", "revoke", &b, &created.api_key.id]);
    assert!(err.contains("has no API key"), "{err}");
    let revoked = json(node, &["api-key", "revoke", &a, &created.api_key.id]);
    assert_eq!(revoked["revoked"]["id"], created.api_key.id.as_str());
    assert!(revoked["revoked"].get("key").is_none());
    let key = created.key.clone();
    with_store(node, async |store| {
        assert_eq!(store.authenticate_api_key(&key).await.unwrap(), None);
        assert!(store.authenticate_api_key(&b_key).await.unwrap().is_some());
    });
    let listed: ApiKeyList = parsed(node, &["api-key", "list", &a]);
    assert_eq!(listed.api_keys, vec![reports.api_key]);
    let err = fails(
        node,
        &["api-key", "create", &a, "--name", "x", "--role", "operator"],
    );
    assert!(err.contains("operator"), "{err}");
}

fn operator_keys_round_trip(node: &Prepared) {
    let created: CreatedOperatorKey = parsed(node, &["operator-key", "create", "--name", "ops"]);
    assert!(created.key.starts_with("hko_"), "{}", created.key);
    let listed: OperatorKeyList = parsed(node, &["operator-key", "list"]);
    assert_eq!(listed.operator_keys, vec![created.operator_key.clone()]);
    let key = created.key.clone();
    let key_id = created.operator_key.id.clone();
    with_store(node, async |store| {
        assert_eq!(
            store.authenticate_api_key(&key).await.unwrap(),
            Some(ApiCaller::Operator { key_id })
        );
    });
    let text = node
        .cli_ok(&["operator-key", "revoke", &created.operator_key.id])
        .unwrap();
    assert!(text.starts_with("revoked operator key"), "{text}");
    let key = created.key.clone();
    with_store(node, async |store| {
        assert_eq!(store.authenticate_api_key(&key).await.unwrap(), None);
    });
    let err = fails(node, &["operator-key", "revoke", &created.operator_key.id]);
    assert!(err.contains("no operator key"), "{err}");
    assert_eq!(
        node.cli_ok(&["operator-key", "list"]).unwrap(),
        "(no operator keys)\n"
    );
}

fn the_511th_is_refused(node: &Prepared) {
    let c = contract(node, "Full");
    let customer: CustomerId = c.parse().unwrap();
    // The first 509 straight through the store (510 processes would take long); the last
    // place and the refusal through the commands.
    with_store(node, async |store| {
        for i in 0..hikyaku_store::MAX_CREDENTIALS_PER_CONTRACT - 1 {
            let name = format!("key {i}");
            let new = hikyaku_store::NewApiKey {
                name: &name,
                role: Role::Sender,
                see_addresses: false,
            };
            store.create_api_key(&customer, &new).await.unwrap();
        }
    });
    json(node, &["user", "add", &c, "--email", "last@example.jp"]);
    let err = fails(node, &["api-key", "create", &c, "--name", "one too many"]);
    assert!(
        err.contains("already has 510 console users and API keys"),
        "{err}"
    );
    let err = fails(node, &["user", "add", &c, "--email", "late@example.jp"]);
    assert!(err.contains("already has 510"), "{err}");
    json(node, &["user", "remove", &c, "last@example.jp"]);
    let created: CreatedApiKey = parsed(node, &["api-key", "create", &c, "--name", "fits"]);
    assert!(created.key.starts_with("hk_"));
}
