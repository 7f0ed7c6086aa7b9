//! `hikyaku operator-user`: the operator's console users (the `/operator` pages), on the store
//! directly like the other account commands. They belong to no contract and reach only the
//! operator area. A generated password or TOTP secret is printed once.

use crate::admin::{Output, field, password_from_stdin};
use anyhow::bail;
use hikyaku_store::{OperatorUser, Store};
use serde_json::json;

#[derive(clap::Subcommand)]
pub enum OperatorUserCommand {
    /// Add an operator console user; without --password or --password-stdin a strong
    /// password is generated and printed once.
    Add {
        /// The address the user logs in with.
        #[arg(long)]
        email: String,
        /// The password (8 to 1024 bytes). Visible in the shell history and the process
        /// list: prefer --password-stdin.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Give the user a TOTP second factor: its secret is printed once, to be added to an
        /// authenticator app.
        #[arg(long)]
        totp: bool,
    },
    /// List the operator users, oldest first.
    List,
    /// Remove an operator user (by ID or address); their sessions end at once.
    Remove {
        /// The user's ID or e-mail address.
        user: String,
    },
}

fn shape(user: &OperatorUser) -> serde_json::Value {
    json!({
        "id": user.user_id,
        "email": user.email,
        "totp": user.totp,
        "created_at": user.created_at.as_millis(),
    })
}

pub async fn run(cmd: OperatorUserCommand, store: &Store, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        OperatorUserCommand::Add {
            email,
            password,
            password_stdin,
            totp,
        } => {
            let password = match password_stdin {
                true => Some(password_from_stdin()?),
                false => password,
            };
            let generated = password.is_none();
            let password = password.unwrap_or_else(hikyaku_store::generate_password);
            let mut user = store.create_operator_user(&email, &password).await?;
            let secret = if totp {
                let secret = hikyaku_console::operator::new_totp_secret();
                store
                    .set_operator_totp(&user.user_id, Some(&secret))
                    .await?;
                user.totp = true;
                Some(hikyaku_console::session::base32(&secret))
            } else {
                None
            };
            let mut shown = shape(&user);
            if generated {
                shown["password"] = json!(password);
            }
            if let Some(secret) = &secret {
                shown["totp_secret"] = json!(secret);
            }
            out.print(&shown, || {
                let mut text = format!("added operator user {}\n", user.email);
                text += &field("user ID", &user.user_id);
                if generated {
                    text += &field("password", &password);
                }
                if let Some(secret) = &secret {
                    text += &field("TOTP secret", secret);
                }
                if generated || secret.is_some() {
                    text += "(shown once; log in at /operator/login)\n";
                }
                text
            })
        }
        OperatorUserCommand::List => {
            let users = store.operator_users().await?;
            let shown: Vec<_> = users.iter().map(shape).collect();
            out.print(&json!({ "users": shown }), || {
                let mut text = String::new();
                for u in &users {
                    text += &format!(
                        "{}  {}  {}  {}\n",
                        u.user_id,
                        u.email,
                        if u.totp { "totp" } else { "password" },
                        u.created_at
                    );
                }
                if users.is_empty() {
                    text += "no operator users\n";
                }
                text
            })
        }
        OperatorUserCommand::Remove { user } => {
            let Some(removed) = store.remove_operator_user(&user).await? else {
                bail!("no operator user {user:?}");
            };
            out.print(&shape(&removed), || {
                format!(
                    "removed operator user {} ({})\n",
                    removed.email, removed.user_id
                )
            })
        }
    }
}
