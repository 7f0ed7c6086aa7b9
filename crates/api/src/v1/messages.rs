//! The contract's messages: one message's whole history. (Sending over HTTP, `POST
//! /messages`, belongs here too.)

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiPath, Failures, id_in_path};
use super::send_log::shown_event;
use axum::Json;
use axum::extract::State;
use hikyaku_api_types::MessageHistory;
use hikyaku_model::MessageId;

/// Every event of one of the contract's messages, in the order they happened, with its tags
/// and metadata. Another contract's message is `404`, as an unknown one.
#[utoipa::path(
    get,
    path = "/messages/{message_id}",
    tag = "send log",
    params(("message_id" = String, Path, description = "The message ID Hikyaku gave it")),
    responses((status = 200, body = MessageHistory), Failures)
)]
pub async fn history(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(message_id): ApiPath<String>,
) -> Result<Json<MessageHistory>, ApiError> {
    let not_found = || ApiError::not_found("message");
    let id: MessageId = id_in_path(&message_id, "message")?;
    let history = state
        .store()
        .message_history(&caller.customer_id, id)
        .await?
        .ok_or_else(not_found)?;
    let (mut metadata, mut tags) = (history.metadata, history.tags);
    if !caller.see_addresses {
        let mut addresses: Vec<&str> = history
            .events
            .iter()
            .map(|e| e.recipient.as_str())
            .collect();
        addresses.push(&history.mail_from);
        for value in metadata.values_mut().chain(tags.iter_mut()) {
            *value = super::mask::scrubbed_free_text(value, &addresses);
        }
    }
    Ok(Json(MessageHistory {
        message_id: history.message_id.to_string(),
        customer_id: history.customer_id.to_string(),
        sender: caller.show(&history.mail_from),
        tags,
        metadata,
        events: history
            .events
            .iter()
            .map(|e| shown_event(&caller, e))
            .collect(),
    }))
}
