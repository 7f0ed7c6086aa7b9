//! The one-click unsubscribe endpoint, `/unsubscribe/{token}`: where the `List-Unsubscribe`
//! links the relay adds lead.
//!
//! A POST unsubscribes at once, whatever its body: that is what a mailbox provider sends when
//! its reader presses "unsubscribe" (`List-Unsubscribe=One-Click`, RFC 8058), and the token
//! alone proves the request came from the link. A GET changes nothing (link scanners and
//! prefetchers follow every link in a mail): it shows a plain page with a button that POSTs.
//! A token that is not ours, or whose contract is gone, gets a `404` page; none of this ever
//! needs a session, a cookie or a script.

use crate::HttpState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hikyaku_model::{Timestamp, UnsubscribeMethod};
use hikyaku_store::{StoreError, UnsubscribeToken, Unsubscription};

/// The route, under the HTTP listener's root.
pub const PATH: &str = "/unsubscribe/{token}";

/// `GET`: the confirmation page. Changes nothing.
pub async fn confirmation_page(
    State(state): State<HttpState>,
    Path(token): Path<String>,
) -> Response {
    match state.store.unsubscribe_key().open(&token) {
        Ok(opened) => page(
            StatusCode::OK,
            "Unsubscribe",
            &format!(
                "<p>Stop mail from this sender to <strong>{}</strong>?</p>\n\
                 <form method=\"post\">\
                 <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                 <button type=\"submit\">Unsubscribe</button></form>",
                escape(&masked(&opened.address))
            ),
        ),
        Err(_) => not_a_link(),
    }
}

/// `POST`: unsubscribes the link's recipient, once however often it is sent.
pub async fn unsubscribe(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    let Ok(UnsubscribeToken {
        customer_id,
        message_id,
        address,
    }) = state.store.unsubscribe_key().open(&token)
    else {
        metrics::counter!("hikyaku_unsubscribe_refused_total").increment(1);
        return not_a_link();
    };
    let recorded = state
        .store
        .record_unsubscribe(&Unsubscription {
            customer_id: &customer_id,
            message_id,
            address: &address,
            method: UnsubscribeMethod::OneClick,
            at: Timestamp::now(),
        })
        .await;
    match recorded {
        Ok(record) => {
            if record.event_recorded {
                metrics::counter!("hikyaku_unsubscribed_total").increment(1);
                tracing::info!(customer = %customer_id, message = %message_id, "unsubscribed through the link");
            }
            page(
                StatusCode::OK,
                "Unsubscribed",
                &format!(
                    "<p><strong>{}</strong> will get no more mail from this sender.</p>",
                    escape(&masked(&address))
                ),
            )
        }
        Err(StoreError::ContractNotFound(_)) | Err(StoreError::Invalid { .. }) => not_a_link(),
        Err(error) => {
            tracing::error!(%error, "an unsubscription could not be recorded");
            let mut response = page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<p>Your request could not be recorded just now. Please try again in a minute.</p>",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            response
        }
    }
}

fn not_a_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "<p>This unsubscribe link is not valid. Please use the link of the mail you received, \
         whole and unchanged.</p>",
    )
}

/// A plain page: no script, no outside resource, not cached, not indexed, not referred.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\n\
         <body style=\"font-family: sans-serif; max-width: 32em; margin: 3em auto; padding: 0 1em\">\
         <h1>{title}</h1>\n{body}\n</body></html>\n"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

/// The address as the page shows it: enough for its owner to recognise, not all of it for
/// whoever else sees the page (`b***@example.jp`), as the API shows addresses.
fn masked(address: &str) -> String {
    crate::v1::mask::shown_address(address, false)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_and_escaped_for_the_page() {
        let table = [
            ("bob@example.jp", "b***@example.jp"),
            ("太郎@例え.jp", "太***@例え.jp"),
            ("\"<x>\"@example.jp", "\"***@example.jp"),
            ("no-at", "no-at"),
        ];
        for (address, want) in table {
            assert_eq!(masked(address), want);
        }
        assert_eq!(escape("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
    }
}
