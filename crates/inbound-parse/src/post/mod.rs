//! Signed HTTP POSTs that are retried until the endpoint answers 2xx: the client and the
//! back-off come from `hikyaku-http-post` (shared with webhooks); the signature scheme of
//! inbound parse lives here.
//!
//! - [`HttpPoster`]: one POST per connection (HTTP/1.1 over TCP, or TLS verified against the
//!   Mozilla roots), a deadline on the whole exchange, no redirects followed.
//! - [`signature`]: the `X-Hikyaku-Signature` header and its check.
//! - [`Backoff`]: when to try again after a failure, and when to give up.

pub mod signature;

pub use hikyaku_http_post::{Backoff, HttpPoster, PostError, PosterSettings};
