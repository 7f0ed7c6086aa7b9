//! `hikyaku user`, `hikyaku api-key` and `hikyaku operator-key`: who may use the console and the
//! API, on the store directly like the commands in `admin`. A secret (a generated password, a
//! key) is printed once, by the command that made it; the store keeps only its hash. A removed
//! user or revoked key is refused from its next request on: nothing needs restarting.

use crate::admin::{Output, Table, field, one_of, password_from_stdin, require_contract};
use anyhow::bail;
use hikyaku_api_types as api;
use hikyaku_model::{ContractState, CustomerId, Role};
use hikyaku_store::{
    ApiKey, ConsoleUser, IdPage, KeepAnAdmin, NewApiKey, NewConsoleUser, OperatorKey, Store,
};

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a console user to a contract; without --password or --password-stdin a strong
    /// password is generated and printed once.
    Add {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The user's e-mail address: their login name, with the customer ID.
        #[arg(long, value_name = "ADDRESS")]
        email: String,
        /// The password, on the command line (where other local users may see it in the
        /// process list: prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// What the user may do: admin (everything, users and keys too), sender, viewer
        /// (read only) or billing (usage and plan only).
        #[arg(long, default_value = "admin", value_parser = one_of(&Role::ALL, Role::as_str))]
        role: Role,
        /// Show the user e-mail addresses in clear (they are masked otherwise).
        #[arg(long)]
        see_addresses: bool,
    },
    /// List a contract's console users, oldest first.
    List {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// Start after this user ID (the last of the previous page).
        #[arg(long, value_name = "USER_ID")]
        after: Option<String>,
        /// At most this many users.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Remove a console user from a contract.
    Remove {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The user's e-mail address (any case) or ID, as `user list` shows it.
        email_or_id: String,
    },
}

#[derive(clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a contract and print it once (`hk_…`).
    Create {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// What the key is for (shown in listings).
        #[arg(long)]
        name: String,
        /// What the key may do: admin, sender, viewer or billing.
        #[arg(long, default_value = "sender", value_parser = one_of(&Role::ALL, Role::as_str))]
        role: Role,
        /// Show e-mail addresses in clear in the API's answers to this key (masked otherwise).
        #[arg(long)]
        see_addresses: bool,
    },
    /// List a contract's API keys, oldest first (never the keys themselves).
    List {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// Start after this key ID (the last of the previous page).
        #[arg(long, value_name = "KEY_ID")]
        after: Option<String>,
        /// At most this many keys.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Revoke a contract's API key: its next request is refused.
    Revoke {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The key's ID, as `api-key list` shows it.
        key_id: String,
    },
}

#[derive(clap::Subcommand)]
pub enum OperatorKeyCommand {
    /// Create an operator key (for the operator's API endpoints) and print it once (`hko_…`).
    Create {
        /// What the key is for (shown in listings).
        #[arg(long)]
        name: String,
    },
    /// List the operator keys, oldest first (never the keys themselves).
    List {
        /// Start after this key ID (the last of the previous page).
        #[arg(long, value_name = "KEY_ID")]
        after: Option<String>,
        /// At most this many keys.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Revoke an operator key: its next request is refused.
    Revoke {
        /// The key's ID, as `operator-key list` shows it.
        key_id: String,
    },
}

/// The public shape of a console user.
pub(crate) fn user_shape(user: ConsoleUser) -> api::User {
    api::User {
        id: user.user_id,
        customer_id: user.customer_id,
        email: user.email,
        role: user.role,
        see_addresses: user.see_addresses,
        created_at: user.created_at.into(),
    }
}

/// The public shape of a contract's API key.
pub(crate) fn api_key_shape(key: ApiKey) -> api::ApiKey {
    api::ApiKey {
        id: key.key_id,
        customer_id: key.customer_id,
        name: key.name,
        prefix: key.prefix,
        role: key.role,
        see_addresses: key.see_addresses,
        created_at: key.created_at.into(),
    }
}

/// The public shape of an operator key.
pub(crate) fn operator_key_shape(key: OperatorKey) -> api::OperatorKey {
    api::OperatorKey {
        id: key.key_id,
        name: key.name,
        prefix: key.prefix,
        created_at: key.created_at.into(),
    }
}

fn yes_no(flag: bool) -> String {
    if flag { "shown" } else { "masked" }.to_string()
}

/// Refuses a terminated contract before a password is hashed or a secret printed.
async fn require_open_contract(store: &Store, id: &CustomerId, what: &str) -> anyhow::Result<()> {
    if require_contract(store, id).await?.state == ContractState::Terminated {
        bail!("contract {id} is terminated: it gets no new {what}");
    }
    Ok(())
}

pub async fn run_user(cmd: UserCommand, store: &Store, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        UserCommand::Add {
            customer_id,
            email,
            password,
            password_stdin,
            role,
            see_addresses,
        } => {
            require_open_contract(store, &customer_id, "users").await?;
            let password = match password_stdin {
                true => Some(password_from_stdin()?),
                false => password,
            };
            let generated = password.is_none();
            let password = password.unwrap_or_else(hikyaku_store::generate_password);
            let user = store
                .create_console_user(
                    &customer_id,
                    &NewConsoleUser {
                        email: &email,
                        password: &password,
                        role,
                        see_addresses,
                    },
                )
                .await?;
            let added = api::NewUser {
                user: user_shape(user),
                // A password the operator chose is never echoed.
                password: generated.then_some(password),
            };
            out.print(&added, || {
                let user = &added.user;
                let mut text = format!(
                    "added console user {} to {} as {}\n",
                    user.email, user.customer_id, user.role
                );
                text += &field("user ID", &user.id);
                text += &field("addresses", &yes_no(user.see_addresses));
                if let Some(password) = &added.password {
                    text += &field("password", password);
                    text += "(shown once; it is stored only as a hash)\n";
                }
                text
            })
        }
        UserCommand::List {
            customer_id,
            after,
            limit,
        } => {
            require_contract(store, &customer_id).await?;
            let users: Vec<api::User> = store
                .console_users(&customer_id, &IdPage { after, limit })
                .await?
                .into_iter()
                .map(user_shape)
                .collect();
            let list = api::UserList { users };
            out.print(&list, || {
                let mut table = Table::new(["ID", "EMAIL", "ROLE", "ADDRESSES", "ADDED"]);
                for u in &list.users {
                    table.row([
                        u.id.clone(),
                        u.email.clone(),
                        u.role.to_string(),
                        yes_no(u.see_addresses),
                        u.created_at.to_string(),
                    ]);
                }
                table.render("no console users")
            })
        }
        UserCommand::Remove {
            customer_id,
            email_or_id,
        } => {
            require_contract(store, &customer_id).await?;
            let Some(user) = store
                .remove_console_user(&customer_id, &email_or_id, KeepAnAdmin::No)
                .await?
            else {
                bail!("contract {customer_id} has no console user {email_or_id:?}");
            };
            let user = user_shape(user);
            out.print(&serde_json::json!({ "removed": user }), || {
                format!(
                    "removed console user {} ({}) from {}\n",
                    user.email, user.id, user.customer_id
                )
            })
        }
    }
}

pub async fn run_api_key(cmd: ApiKeyCommand, store: &Store, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        ApiKeyCommand::Create {
            customer_id,
            name,
            role,
            see_addresses,
        } => {
            require_open_contract(store, &customer_id, "API keys").await?;
            let (key, secret) = store
                .create_api_key(
                    &customer_id,
                    &NewApiKey {
                        name: &name,
                        role,
                        see_addresses,
                    },
                )
                .await?;
            let created = api::CreatedApiKey {
                key: secret,
                api_key: api_key_shape(key),
            };
            out.print(&created, || {
                let key = &created.api_key;
                [
                    format!(
                        "created API key {:?} for {} as {}\n",
                        key.name, key.customer_id, key.role
                    ),
                    field("key ID", &key.id),
                    field("addresses", &yes_no(key.see_addresses)),
                    field("key", &created.key),
                    "(shown once; only its hash is stored)\n".to_string(),
                ]
                .concat()
            })
        }
        ApiKeyCommand::List {
            customer_id,
            after,
            limit,
        } => {
            require_contract(store, &customer_id).await?;
            let api_keys: Vec<api::ApiKey> = store
                .api_keys(&customer_id, &IdPage { after, limit })
                .await?
                .into_iter()
                .map(api_key_shape)
                .collect();
            let list = api::ApiKeyList { api_keys };
            out.print(&list, || {
                let mut table =
                    Table::new(["ID", "NAME", "PREFIX", "ROLE", "ADDRESSES", "CREATED"]);
                for k in &list.api_keys {
                    table.row([
                        k.id.clone(),
                        k.name.clone(),
                        k.prefix.clone(),
                        k.role.to_string(),
                        yes_no(k.see_addresses),
                        k.created_at.to_string(),
                    ]);
                }
                table.render("no API keys")
            })
        }
        ApiKeyCommand::Revoke {
            customer_id,
            key_id,
        } => {
            require_contract(store, &customer_id).await?;
            let Some(key) = store.revoke_api_key(&customer_id, &key_id).await? else {
                bail!("contract {customer_id} has no API key {key_id:?}");
            };
            let key = api_key_shape(key);
            out.print(&serde_json::json!({ "revoked": key }), || {
                format!(
                    "revoked API key {} ({:?}, {}…) of {}\n",
                    key.id, key.name, key.prefix, key.customer_id
                )
            })
        }
    }
}

pub async fn run_operator_key(
    cmd: OperatorKeyCommand,
    store: &Store,
    json: bool,
) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        OperatorKeyCommand::Create { name } => {
            let (key, secret) = store.create_operator_key(&name).await?;
            let created = api::CreatedOperatorKey {
                key: secret,
                operator_key: operator_key_shape(key),
            };
            out.print(&created, || {
                let key = &created.operator_key;
                [
                    format!("created operator key {:?}\n", key.name),
                    field("key ID", &key.id),
                    field("key", &created.key),
                    "(shown once; only its hash is stored)\n".to_string(),
                ]
                .concat()
            })
        }
        OperatorKeyCommand::List { after, limit } => {
            let operator_keys: Vec<api::OperatorKey> = store
                .operator_keys(&IdPage { after, limit })
                .await?
                .into_iter()
                .map(operator_key_shape)
                .collect();
            let list = api::OperatorKeyList { operator_keys };
            out.print(&list, || {
                let mut table = Table::new(["ID", "NAME", "PREFIX", "CREATED"]);
                for k in &list.operator_keys {
                    table.row([
                        k.id.clone(),
                        k.name.clone(),
                        k.prefix.clone(),
                        k.created_at.to_string(),
                    ]);
                }
                table.render("no operator keys")
            })
        }
        OperatorKeyCommand::Revoke { key_id } => {
            let Some(key) = store.revoke_operator_key(&key_id).await? else {
                bail!("no operator key {key_id:?}");
            };
            let key = operator_key_shape(key);
            out.print(&serde_json::json!({ "revoked": key }), || {
                format!(
                    "revoked operator key {} ({:?}, {}…)\n",
                    key.id, key.name, key.prefix
                )
            })
        }
    }
}
