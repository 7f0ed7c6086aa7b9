//! Signed HTTP POSTs that are retried until the endpoint answers 2xx: the part of inbound parse
//! that knows nothing of mail, so that webhooks can send their events the same way.
//!
//! - [`HttpPoster`]: one POST per connection (HTTP/1.1 over TCP, or TLS verified against the
//!   Mozilla roots), a deadline on the whole exchange, no redirects followed.
//! - [`signature`]: the `X-Hikyaku-Signature` header and its check.
//! - [`Backoff`]: when to try again after a failure, and when to give up.

mod backoff;
mod client;
pub mod signature;

pub use backoff::Backoff;
pub use client::{HttpPoster, PostError, PosterSettings};
