//! `[keys]`: how nodes learn of a new address-sealing key and how the re-sealing job of a key
//! rotation paces itself.

use crate::Duration;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// How often each node reloads the sealing keys from the database.
    pub refresh_interval: Duration,
    /// How long after `hikyaku keys rotate` a new key starts sealing. Longer than
    /// `refresh_interval`, so that every node opens values under the new key before any node
    /// seals with it.
    pub activation_delay: Duration,
    /// Rows read per re-sealing transaction.
    pub batch_size: u32,
    /// The pause after each batch, in which other writers get their turn.
    pub batch_pause: Duration,
    /// How long the re-sealing stays with one node without a batch before another node may
    /// take it over (after a crash).
    pub lease: Duration,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            refresh_interval: Duration::from_secs(60),
            activation_delay: Duration::from_secs(300),
            batch_size: 500,
            batch_pause: Duration::from_millis(50),
            lease: Duration::from_secs(60),
        }
    }
}

impl KeysConfig {
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if self.refresh_interval.as_std().is_zero() {
            problems.push("keys.refresh_interval must be longer than zero".to_string());
        }
        if self.activation_delay.as_std() <= self.refresh_interval.as_std() {
            problems.push(
                "keys.activation_delay must be longer than keys.refresh_interval (every node \
                 must have loaded a new key before it seals)"
                    .to_string(),
            );
        }
        if !(1..=100_000).contains(&self.batch_size) {
            problems.push(format!(
                "keys.batch_size must be 1 to 100000, not {}",
                self.batch_size
            ));
        }
        if self.lease.as_std() < std::time::Duration::from_secs(1) {
            problems.push("keys.lease must be at least 1s".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activation_must_outlast_a_refresh() {
        let mut problems = Vec::new();
        KeysConfig::default().problems(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let c = KeysConfig {
            refresh_interval: Duration::from_secs(60),
            activation_delay: Duration::from_secs(60),
            batch_size: 0,
            ..KeysConfig::default()
        };
        c.problems(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
