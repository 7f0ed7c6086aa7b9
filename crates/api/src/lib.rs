//! The HTTP side of Hikyaku, served on the `[http]` listener.
//!
//! For now it answers the questions an operator's monitor and load balancer ask: is the process
//! alive (`/healthz`), can it take mail right now (`/readyz`: not shutting down, database
//! reachable, spool below its limit, free disk space above its reserve), and what are its
//! figures (`/metrics`, Prometheus text). The one-click unsubscribe links of the mail the relay
//! sends lead to `/unsubscribe/{token}` ([`unsubscribe`]). The REST API lives under `/api/v1`
//! ([`v1`]), and the hosted service's API (Customers Mail Cloud v2: `/api/v2/emails/…`,
//! `/transaction/v2/…`) beside it as a thin surface over the same parts ([`hosted`]); the
//! binary merges the console (`hikyaku-console`) at `/` beside it, and the
//! console reaches contracts' data through [`v1::router`] in process. It owns no state of its
//! own beyond the API's per-key rate limits, and it holds no policy the store or the relay
//! own: it authenticates, authorises, translates JSON and calls the store.

pub mod hosted;
pub mod unsubscribe;
pub mod v1;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hikyaku_spool::Spool;
use hikyaku_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub store: Store,
    pub spool: Spool,
    pub metrics: PrometheusHandle,
    /// `true` once the node is shutting down: its listeners drain and take no new clients, so
    /// a load balancer must stop sending any.
    pub draining: tokio::sync::watch::Receiver<bool>,
}

const SPOOL_USED: &str = "hikyaku_spool_used_bytes";
const SPOOL_RESERVED: &str = "hikyaku_spool_reserved_bytes";
const SPOOL_LIMIT: &str = "hikyaku_spool_limit_bytes";
const SPOOL_COMMITS: &str = "hikyaku_spool_commits_total";
const SPOOL_DIRECTORY_SYNCS: &str = "hikyaku_spool_directory_syncs_total";

fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_gauge!(
        SPOOL_USED,
        Unit::Bytes,
        "bytes of committed messages in the spool"
    );
    describe_gauge!(
        SPOOL_RESERVED,
        Unit::Bytes,
        "bytes held for messages being received"
    );
    describe_gauge!(
        SPOOL_LIMIT,
        Unit::Bytes,
        "the spool's limit (relay.spool_limit)"
    );
    describe_counter!(SPOOL_COMMITS, "spool commits since start");
    describe_counter!(
        SPOOL_DIRECTORY_SYNCS,
        "directory fsyncs since start; well below commits when group commit works"
    );
    describe_counter!(
        "hikyaku_unsubscribed_total",
        "recipients unsubscribed through a one-click link (each link counted once)"
    );
    describe_counter!(
        "hikyaku_unsubscribe_refused_total",
        "unsubscribe POSTs whose token was not one of ours (altered, truncated, forged)"
    );
}

/// The HTTP listener's routes: health, readiness, metrics, unsubscribe links, and the REST API
/// under [`v1::PREFIX`].
pub fn router(state: HttpState, api: v1::ApiState) -> Router {
    describe_metrics();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(prometheus_metrics))
        .route(
            unsubscribe::PATH,
            get(unsubscribe::confirmation_page).post(unsubscribe::unsubscribe),
        )
        .with_state(state)
        .merge(hosted::router(api.clone()))
        .nest(v1::PREFIX, v1::router(api))
}

async fn readiness(State(state): State<HttpState>) -> Response {
    let draining = *state.draining.borrow();
    let database = match state.store.ping().await {
        Ok(()) => "ok".to_string(),
        Err(error) => error.to_string(),
    };
    let used = state.spool.used_bytes();
    let limit = state.spool.limit_bytes();
    let spool_ok = used < limit;
    let reserve = state.spool.disk_reserve();
    let min_free = reserve.min_free();
    let disk = match reserve.available() {
        // The same test as a new message's: room for the largest one is not asked for here.
        Ok(available) => serde_json::json!({
            "available_bytes": available,
            "min_free_bytes": min_free,
            "ok": available >= min_free,
        }),
        Err(error) => serde_json::json!({
            "min_free_bytes": min_free,
            "ok": true,
            "error": error.to_string(),
        }),
    };
    let disk_ok = disk["ok"] == true;
    let ready = !draining && database == "ok" && spool_ok && disk_ok;
    let body = serde_json::json!({
        "ready": ready,
        "draining": draining,
        "database": database,
        "spool": { "used_bytes": used, "limit_bytes": limit, "ok": spool_ok },
        "disk": disk,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn prometheus_metrics(State(state): State<HttpState>) -> Response {
    // Figures of state owned elsewhere are read when scraped, so they are never stale. The
    // spool counts its commits itself: the counters take its totals as they are.
    let spool = &state.spool;
    let stats = spool.stats();
    for (name, value) in [
        (SPOOL_USED, spool.used_bytes()),
        (SPOOL_RESERVED, spool.reserved_bytes()),
        (SPOOL_LIMIT, spool.limit_bytes()),
    ] {
        metrics::gauge!(name).set(value as f64);
    }
    for (name, total) in [
        (SPOOL_COMMITS, stats.commits),
        (SPOOL_DIRECTORY_SYNCS, stats.directory_syncs),
    ] {
        metrics::counter!(name).absolute(total);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
