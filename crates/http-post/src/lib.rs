//! Hikyaku's outgoing HTTP POST, for every feature that calls customers' servers (inbound
//! parse, webhooks): it owns talking to an endpoint that may be slow, hostile or not what its
//! name says, and the back-off between attempts. It knows nothing of what is posted, how it is
//! signed, or where the attempts are recorded.
//!
//! - [`HttpPoster`]: one POST per connection (HTTP/1.1 over TCP, or TLS verified against the
//!   Mozilla roots), a deadline on connecting and one on the whole exchange, only the first
//!   bytes of the answer read, no redirects followed.
//! - [`AddressPolicy`] with an injectable [`Resolve`]r: the host is resolved once and only an
//!   allowed address is connected to (the SSRF guard).
//! - [`Backoff`]: when to try again after a failure, and when to give up.
//!
//! Its own crate rather than a module of inbound parse: webhooks need the same client, and
//! depending on inbound parse for it would drag mail parsing and its queue into the webhook
//! sender.

mod backoff;
mod client;
mod guard;

pub use backoff::Backoff;
pub use client::{Answer, HttpPoster, PostError, PosterSettings};
pub use guard::{AddressPolicy, Resolve, is_public};
