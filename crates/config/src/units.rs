//! Sizes and durations as people write them: `2097152` or `"2MiB"`, `300` or `"5m"`.

use serde::{Deserialize, Deserializer, de};
use std::fmt;

/// A number of bytes. Text forms take `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB`,
/// `T`/`TB`/`TiB`, all as powers of 1024 — mail software has always meant binary units here
/// (the specified "2 MB" message limit is 2,097,152 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// A span of time. Text forms: `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"3d"`; a bare integer is seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(std::time::Duration);

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    pub fn as_std(self) -> std::time::Duration {
        self.0
    }
}

fn split_number(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number = text[..digits].parse().ok()?;
    Some((number, text[digits..].trim()))
}

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("not a size: {text:?} (try 2097152 or \"2MiB\")");
        let (n, unit) = split_number(text).ok_or_else(bad)?;
        let shift = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            _ => return Err(bad()),
        };
        n.checked_mul(1 << shift).map(ByteSize).ok_or_else(bad)
    }
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("not a duration: {text:?} (try \"30s\", \"5m\", \"3d\")");
        let (n, unit) = split_number(text).ok_or_else(bad)?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let millis = n.checked_mul(millis_per_unit).ok_or_else(bad)?;
        Ok(Duration(std::time::Duration::from_millis(millis)))
    }
}

/// Accepts either a TOML integer or a string with a unit.
struct NumberOrText<T>(std::marker::PhantomData<T>);

impl<T: std::str::FromStr<Err = String>> de::Visitor<'_> for NumberOrText<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or a string with a unit")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        if v < 0 {
            return Err(E::custom("must not be negative"));
        }
        v.to_string().parse().map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        v.to_string().parse().map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberOrText(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberOrText(std::marker::PhantomData))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let table = [
            ("0", Some(0)),
            ("2097152", Some(2_097_152)),
            ("2MiB", Some(2_097_152)),
            ("2 MB", Some(2_097_152)),
            ("30GB", Some(32_212_254_720)),
            ("512k", Some(524_288)),
            ("1.5MB", None),
            ("-1", None),
            ("MB", None),
            ("99999999999999999999", None),
            ("20000000T", None),
        ];
        for (text, want) in table {
            assert_eq!(text.parse::<ByteSize>().ok().map(|s| s.0), want, "{text:?}");
        }
    }

    #[test]
    fn durations() {
        let table = [
            ("300", Some(300_000)),
            ("500ms", Some(500)),
            ("5m", Some(300_000)),
            ("2h", Some(7_200_000)),
            ("3d", Some(259_200_000)),
            ("5 m", Some(300_000)),
            ("5min", None),
            ("", None),
        ];
        for (text, want) in table {
            let got = text
                .parse::<Duration>()
                .ok()
                .map(|d| d.as_std().as_millis() as u64);
            assert_eq!(got, want, "{text:?}");
        }
    }
}
