use crate::ParseError;
use std::fmt;
use std::str::FromStr;

/// An RFC 3463 enhanced status code, `class.subject.detail` (e.g. `5.1.1`). In JSON and in the
/// database it is its text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnhancedStatus {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedStatus {
    pub const fn new(class: u8, subject: u16, detail: u16) -> EnhancedStatus {
        EnhancedStatus {
            class,
            subject,
            detail,
        }
    }

    /// Parses `2.0.0`-style text: class 2, 4 or 5; subject and detail of 1 to 3 digits, as
    /// RFC 3463 allows. Anything else, surrounding spaces included, is not a status code.
    pub fn parse(text: &str) -> Option<EnhancedStatus> {
        let mut parts = text.split('.');
        let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let number = |s: &str, max_len: usize| {
            (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        let class = number(class, 1)?;
        if !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(EnhancedStatus {
            class: class as u8,
            subject: number(subject, 3)?,
            detail: number(detail, 3)?,
        })
    }
}

impl FromStr for EnhancedStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EnhancedStatus::parse(s).ok_or_else(|| ParseError {
            kind: "enhanced status code",
            text: s.to_string(),
        })
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl serde::Serialize for EnhancedStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EnhancedStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_codes() {
        let table = [
            ("2.0.0", Some((2, 0, 0))),
            ("5.1.1", Some((5, 1, 1))),
            ("4.7.26", Some((4, 7, 26))),
            ("5.999.999", Some((5, 999, 999))),
            ("4.07.000", Some((4, 7, 0))),
            // Not a status code.
            ("", None),
            ("5", None),
            ("5.1", None),
            ("5.1.", None),
            (".1.1", None),
            ("5..1", None),
            ("5.1.1.1", None),
            ("1.0.0", None),
            ("3.0.0", None),
            ("6.0.0", None),
            ("55.1.1", None),
            ("5.1000.1", None),
            ("5.1.1000", None),
            (" 5.1.1", None),
            ("5.1.1 ", None),
            ("5.1.x", None),
            ("5.+1.1", None),
            ("5.-1.1", None),
            ("５.1.1", None),
        ];
        for (text, expected) in table {
            let expected: Option<EnhancedStatus> =
                expected.map(|(c, s, d): (u8, u16, u16)| EnhancedStatus::new(c, s, d));
            assert_eq!(EnhancedStatus::parse(text), expected, "{text:?}");
            assert_eq!(text.parse::<EnhancedStatus>().ok(), expected, "{text:?}");
        }
    }

    #[test]
    fn text_and_json_forms() {
        let status = EnhancedStatus::new(5, 7, 26);
        assert_eq!(status.to_string(), "5.7.26");
        assert_eq!(serde_json::to_string(&status).unwrap(), "\"5.7.26\"");
        assert_eq!(
            serde_json::from_str::<EnhancedStatus>("\"5.7.26\"").unwrap(),
            status
        );
        assert!(serde_json::from_str::<EnhancedStatus>("\"5.7\"").is_err());
        assert!(serde_json::from_str::<EnhancedStatus>("526").is_err());
    }
}
