//! The relay's policy: who may relay, contract state, limits, headers, and handing accepted mail to the spool and the store.
