//! `hikyaku notice`: contract notices (an S/MIME certificate running out, a webhook endpoint
//! disabled, …) and whether their mail to the contract's admins has gone out, on the store
//! directly like the other operator commands.

use crate::admin::{Output, Table, require_contract};
use hikyaku_api_types as api;
use hikyaku_model::CustomerId;
use hikyaku_store::{Notice, Store};

#[derive(clap::Subcommand)]
pub enum NoticeCommand {
    /// List notices, newest first: every contract's, or one contract's.
    List {
        /// Only this contract's notices.
        #[arg(long = "contract", value_name = "CUSTOMER_ID")]
        customer_id: Option<CustomerId>,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
}

/// The shape `--json` (and the API) shows, from the store's record.
pub(crate) fn shown(n: &Notice) -> api::Notice {
    api::Notice {
        id: n.id,
        customer_id: n.customer_id.clone(),
        kind: n.kind,
        key: n.key.clone(),
        details: n.details.clone(),
        created_at: n.created_at.into(),
        mailed_at: n.mailed_at.map(Into::into),
        mailed_to: n.mailed_to,
    }
}

pub async fn run(cmd: NoticeCommand, store: &Store, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        NoticeCommand::List { customer_id, limit } => {
            if let Some(customer_id) = &customer_id {
                require_contract(store, customer_id).await?;
            }
            let notices: Vec<api::Notice> = store
                .list_notices(customer_id.as_ref(), limit)
                .await?
                .iter()
                .map(shown)
                .collect();
            out.print(
                &api::NoticeList {
                    notices: notices.clone(),
                },
                || {
                    let mut table =
                        Table::new(["ID", "CONTRACT", "KIND", "KEY", "RECORDED", "MAILED"]);
                    for n in &notices {
                        let mailed = match (n.mailed_at, n.mailed_to) {
                            (Some(at), Some(to)) => format!("{at} to {to} admin(s)"),
                            (Some(at), None) => at.to_string(),
                            (None, _) => "not yet".to_string(),
                        };
                        table.row([
                            n.id.to_string(),
                            n.customer_id.to_string(),
                            n.kind.to_string(),
                            n.key.clone(),
                            n.created_at.to_string(),
                            mailed,
                        ]);
                    }
                    table.render("no notices")
                },
            )
        }
    }
}
