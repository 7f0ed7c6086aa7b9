use hikyaku_model::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in time as the API shows it: RFC 3339 in UTC with milliseconds
/// (`2026-11-25T03:32:00.123Z`). Read with any offset (`+09:00`), or as a bare date meaning its
/// midnight in UTC, as people type it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2026-11-25T03:32:00.123Z")]
pub struct Time(pub Timestamp);

impl From<Timestamp> for Time {
    fn from(t: Timestamp) -> Self {
        Time(t)
    }
}

impl From<Time> for Timestamp {
    fn from(t: Time) -> Self {
        t.0
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse::<Timestamp>()
            .map(Time)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_and_out() {
        let t: Time = serde_json::from_str("\"2026-11-25T12:32:00.123+09:00\"").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-11-25T03:32:00.123Z\""
        );
        assert!(serde_json::from_str::<Time>("\"25/11/2026\"").is_err());
        assert!(serde_json::from_str::<Time>("1764041520123").is_err());
    }
}
