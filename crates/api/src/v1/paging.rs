//! Cursor pagination for every list: `?limit=&cursor=` in, `{"data":[…],"next_cursor":…}` out.
//!
//! A cursor is the base64url of a version byte, the list's kind byte and the position of the
//! last entry returned, in the list's own order. Positions are never addresses (the suppression
//! list's is the keyed look-up hash, a credential's the SHA-256 of its user name), so a cursor
//! logged by a proxy leaks no one. Reading goes on *after* the position, so entries added or
//! removed meanwhile never make another entry appear twice or go missing.

use super::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::IntoParams;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
const VERSION: u8 = 1;
/// The longest position a cursor may carry (a SHA-256 or an IPv6 range fits well within).
const MAX_POSITION: usize = 64;

/// Which list a cursor belongs to: one list's cursor is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ListKind {
    Suppressions = 1,
    AllowedIps = 2,
    SmtpCredentials = 3,
    InboundRoutes = 4,
    Contracts = 5,
    ConsoleUsers = 6,
    ApiKeys = 7,
    Events = 8,
    Bounces = 9,
    Notices = 15,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Entries per page, 1 to 1000 (100 when left out).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; leave it out for the first.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("limit must be 1 to {MAX_LIMIT}, not {n}"),
            )
            .with_field("limit")),
        }
    }

    /// The position to read after, if a cursor was given.
    pub fn after(&self, kind: ListKind) -> Result<Option<Vec<u8>>, ApiError> {
        self.cursor
            .as_deref()
            .map(|cursor| decode(kind, cursor))
            .transpose()
    }
}

pub fn encode(kind: ListKind, position: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(position.len() + 2);
    bytes.extend([VERSION, kind as u8]);
    bytes.extend_from_slice(position);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode(kind: ListKind, cursor: &str) -> Result<Vec<u8>, ApiError> {
    let invalid = || {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "not a cursor of this list: give back a next_cursor as it was received",
        )
        .with_field("cursor")
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    match bytes.as_slice() {
        [VERSION, k, position @ ..] if *k == kind as u8 && position.len() <= MAX_POSITION => {
            Ok(position.to_vec())
        }
        _ => Err(invalid()),
    }
}

/// One page of a list held whole in memory (the settings lists are short), ordered by the
/// position `position_of` gives each entry: the entries after the cursor's position, and the
/// cursor of the next page when more remain.
pub fn page_of<T>(
    kind: ListKind,
    query: &PageQuery,
    items: Vec<T>,
    position_of: impl Fn(&T) -> Vec<u8>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = query.limit()? as usize;
    let after = query.after(kind)?;
    let mut positioned: Vec<(Vec<u8>, T)> = items
        .into_iter()
        .map(|item| (position_of(&item), item))
        .filter(|(position, _)| after.as_ref().is_none_or(|after| position > after))
        .collect();
    positioned.sort_by(|a, b| a.0.cmp(&b.0));
    let next = (positioned.len() > limit).then(|| encode(kind, &positioned[limit - 1].0));
    positioned.truncate(limit);
    Ok((positioned.into_iter().map(|(_, item)| item).collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_belong_to_their_list() {
        let cursor = encode(ListKind::Suppressions, b"\x01\x02");
        let query = PageQuery {
            limit: None,
            cursor: Some(cursor),
        };
        assert_eq!(
            query.after(ListKind::Suppressions).unwrap(),
            Some(vec![1, 2])
        );
        assert_eq!(
            query.after(ListKind::Contracts).unwrap_err().code,
            "invalid_cursor"
        );
        for hostile in ["", "!!", "AQ", "%00", &"A".repeat(200)] {
            let query = PageQuery {
                limit: None,
                cursor: Some(hostile.to_string()),
            };
            assert!(query.after(ListKind::Suppressions).is_err(), "{hostile:?}");
        }
    }

    #[test]
    fn pages_cover_every_entry_once_under_inserts() {
        let mut items: Vec<u32> = (0..25).map(|i| i * 10).collect();
        let mut seen = Vec::new();
        let mut query = PageQuery {
            limit: Some(7),
            cursor: None,
        };
        loop {
            let (page, next) = page_of(ListKind::InboundRoutes, &query, items.clone(), |i| {
                i.to_be_bytes().to_vec()
            })
            .unwrap();
            seen.extend(page);
            // Entries appear before and after the reader's position between pages.
            items.push(seen.len() as u32 * 10 + 5);
            match next {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        for original in (0..25).map(|i| i * 10) {
            assert_eq!(
                seen.iter().filter(|s| **s == original).count(),
                1,
                "{original}"
            );
        }
        assert!(
            PageQuery {
                limit: Some(0),
                cursor: None
            }
            .limit()
            .is_err()
        );
        assert!(
            PageQuery {
                limit: Some(1001),
                cursor: None
            }
            .limit()
            .is_err()
        );
    }
}
