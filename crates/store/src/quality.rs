//! The operator's quality data: delivery outcomes counted per day by recipient domain and by
//! the remote reply's text with everything that names a person or a message taken out
//! ([`normalise_reply`]). No address and no contract is in these tables (`quality_domain_day`,
//! `quality_reply_day`), so they are kept beyond the report retention and survive a contract's
//! end: the purge of report data must leave them alone.
//!
//! They are written with the events they count, in the same transaction (by
//! [`Store::record_outcomes`] and [`Store::record_bounces`]), so they never disagree with what
//! was recorded. Acceptances are not counted: what the operator studies is what receivers do.

use crate::DAY_MS;
use crate::events::Conn;
use crate::queue::{corrupt, statement_chunks};
use crate::{Store, StoreError};
use hikyaku_model::{EventDetails, EventKind, Timestamp};
use sqlx::QueryBuilder;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The longest normalised reply kept: longer ones are cut (at a character boundary), so one
/// verbose server cannot grow the table without bound.
pub const MAX_REPLY_CHARS: usize = 300;

/// One outcome as the quality counters see it.
pub(crate) struct Observed<'a> {
    pub customer: &'a str,
    pub at: Timestamp,
    /// Lower-case; `None` for rows older than the domain column.
    pub domain: Option<&'a str>,
    pub details: &'a EventDetails,
}

/// A recipient domain's outcomes over a range, platform-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityDomain {
    pub domain: String,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
    pub suppressed: u64,
    pub complaint: u64,
}

impl QualityDomain {
    pub fn total(&self) -> u64 {
        self.delivered
            + self.deferred
            + self.bounced
            + self.expired
            + self.suppressed
            + self.complaint
    }
}

/// How often one normalised reply ended an attempt of one kind over a range, platform-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityReply {
    pub kind: EventKind,
    /// `"550 5.1.1 text…"`: the code and the enhanced status when the reply had them, then the
    /// normalised text.
    pub reply: String,
    pub count: u64,
}

/// Adds `observed` to the day counters, in the caller's transaction. Keys are summed and
/// written in order, as the event writer does, so concurrent writers lock rows in one order.
pub(crate) async fn count(conn: Conn<'_>, observed: &[Observed<'_>]) -> Result<(), StoreError> {
    let mut domains: BTreeMap<(i64, &str, &'static str), i64> = BTreeMap::new();
    let mut replies: BTreeMap<(i64, &'static str, String), i64> = BTreeMap::new();
    for o in observed {
        let day = o.at.as_millis() - o.at.as_millis().rem_euclid(DAY_MS);
        let kind = o.details.kind().as_str();
        if let Some(domain) = o.domain {
            *domains.entry((day, domain, kind)).or_default() += 1;
        }
        if let Some(reply) = reply_key(o.details) {
            *replies.entry((day, kind, reply)).or_default() += 1;
        }
    }
    if domains.is_empty() && replies.is_empty() {
        return Ok(());
    }
    macro_rules! write {
        ($c:expr) => {{
            let domains: Vec<_> = domains.iter().collect();
            for chunk in statement_chunks(&domains) {
                let mut upsert =
                    QueryBuilder::new("INSERT INTO quality_domain_day (day, domain, kind, n) ");
                upsert.push_values(chunk, |mut row, ((day, domain, kind), n)| {
                    row.push_bind(*day)
                        .push_bind(*domain)
                        .push_bind(*kind)
                        .push_bind(**n);
                });
                upsert.push(
                    " ON CONFLICT (day, domain, kind) DO UPDATE SET n = quality_domain_day.n + excluded.n",
                );
                upsert.build().execute(&mut *$c).await?;
            }
            let replies: Vec<_> = replies.iter().collect();
            for chunk in statement_chunks(&replies) {
                let mut upsert =
                    QueryBuilder::new("INSERT INTO quality_reply_day (day, kind, reply, n) ");
                upsert.push_values(chunk, |mut row, ((day, kind, reply), n)| {
                    row.push_bind(*day)
                        .push_bind(*kind)
                        .push_bind(reply.as_str())
                        .push_bind(**n);
                });
                upsert.push(
                    " ON CONFLICT (day, kind, reply) DO UPDATE SET n = quality_reply_day.n + excluded.n",
                );
                upsert.build().execute(&mut *$c).await?;
            }
            Ok::<(), StoreError>(())
        }};
    }
    match conn {
        Conn::Sqlite(c) => write!(c),
        Conn::Postgres(c) => write!(c),
    }
}

/// The reply an outcome is counted under: deferrals and bounces (from a reply at delivery or a
/// bounce report), with a code, a status or a text to show. Deliveries are not: their replies
/// are queue IDs and thanks.
fn reply_key(details: &EventDetails) -> Option<String> {
    if !matches!(details.kind(), EventKind::Deferred | EventKind::Bounced) {
        return None;
    }
    let exchange = details.exchange()?;
    let mut key = String::new();
    if let Some(code) = exchange.code {
        key.push_str(&code.to_string());
    }
    if let Some(status) = exchange.status {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(&status.to_string());
    }
    let text = exchange
        .text
        .as_deref()
        .map(normalise_reply)
        .unwrap_or_default();
    if !text.is_empty() {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(&text);
    }
    (!key.is_empty()).then_some(key)
}

/// A remote reply's text with what identifies a person, a message or a machine taken out, so
/// that the same refusal from the same kind of server reads the same every time: addresses
/// become `{address}`, IP addresses `{ip}`, message and queue IDs, timestamps and long numbers
/// `{id}`, quoted words `{quoted}` (servers quote local parts). Lower case, one space between
/// words, at most [`MAX_REPLY_CHARS`] characters. Host names without digits and URLs are kept:
/// they say which receiver or which help page, not who.
pub fn normalise_reply(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REPLY_CHARS + 8));
    let mut token = String::new();
    let mut chars = text.chars().peekable();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            out.push_str(&normalise_token(token));
            token.clear();
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' if token.is_empty() || c == '"' => {
                // A quoted run (up to its closing quote on the same line) is one value. An
                // apostrophe inside a word ("recipient's") is not a quote.
                let rest: String = chars.clone().take_while(|&d| d != c && d != '\n').collect();
                let closes = chars.clone().nth(rest.chars().count()) == Some(c);
                if closes && !rest.is_empty() {
                    flush(&mut token, &mut out);
                    for _ in 0..=rest.chars().count() {
                        chars.next();
                    }
                    out.push_str(if rest.contains('@') {
                        "{address}"
                    } else {
                        "{quoted}"
                    });
                } else {
                    token.push(c);
                }
            }
            c if c.is_whitespace() => {
                flush(&mut token, &mut out);
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | '=' => {
                flush(&mut token, &mut out);
                out.push(c);
            }
            c => token.push(c),
        }
    }
    flush(&mut token, &mut out);
    let trimmed = out.trim();
    match trimmed.char_indices().nth(MAX_REPLY_CHARS) {
        Some((cut, _)) => trimmed[..cut].trim_end().to_string(),
        None => trimmed.to_string(),
    }
}

/// One word of a reply, punctuation around it kept.
fn normalise_token(token: &str) -> String {
    let core = token.trim_end_matches(['.', ':', '!', '?']);
    let tail = &token[core.len()..];
    let bare = core.strip_prefix("IPv6:").unwrap_or(core);
    let replaced = if core.contains('@') && core.len() > 1 {
        Some("{address}")
    } else if bare.parse::<IpAddr>().is_ok() || is_ip_with_port(bare) {
        Some("{ip}")
    } else if is_identifier(core) {
        Some("{id}")
    } else {
        None
    };
    match replaced {
        Some(placeholder) => format!("{placeholder}{tail}"),
        None => token.to_lowercase(),
    }
}

fn is_ip_with_port(text: &str) -> bool {
    text.rsplit_once(':').is_some_and(|(ip, port)| {
        port.bytes().all(|b| b.is_ascii_digit()) && ip.parse::<std::net::Ipv4Addr>().is_ok()
    })
}

/// A message ID, queue ID, session ID or timestamp: a long mix of letters and digits
/// (`4R1xyz3Kq2z9`, `d2e1a72fcca58-7a1c2b3fd3asi1234567b3a.123`), or a long number
/// (`1700000000`). Short ones (`5.1.1`, `RFC5321`, `IPv6`) are words.
fn is_identifier(word: &str) -> bool {
    let digits = word.bytes().filter(u8::is_ascii_digit).count();
    let letters = word.bytes().filter(u8::is_ascii_alphabetic).count();
    if digits == 0 {
        return false;
    }
    if letters == 0 {
        // 5.1.1 and 4.7.0 are statuses; a run of five or more digits is a number that counts
        // or names something.
        return word
            .split(|c: char| !c.is_ascii_digit())
            .any(|run| run.len() >= 5);
    }
    word.len() >= 8
}

fn kinds_of(counts: &[(String, i64)]) -> Result<[u64; 6], StoreError> {
    let mut out = [0u64; 6];
    for (kind, n) in counts {
        let kind: EventKind = kind
            .parse()
            .map_err(|e| corrupt("quality_domain_day.kind", e))?;
        let slot = match kind {
            EventKind::Delivered => 0,
            EventKind::Deferred => 1,
            EventKind::Bounced => 2,
            EventKind::Expired => 3,
            EventKind::Suppressed => 4,
            EventKind::Complaint => 5,
            _ => continue,
        };
        out[slot] += u64::try_from(*n).unwrap_or(0);
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct DomainRow {
    domain: String,
    kind: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct ReplyRow {
    kind: String,
    reply: String,
    n: i64,
}

impl Store {
    /// Outcomes by recipient domain, of every contract, from the day of `since` on; the
    /// `limit` domains with the most outcomes, most first (ties by name).
    pub async fn quality_by_domain(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<QualityDomain>, StoreError> {
        let day = since.as_millis() - since.as_millis().rem_euclid(DAY_MS);
        let rows: Vec<DomainRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT domain, kind, CAST(SUM(n) AS BIGINT) AS n FROM quality_domain_day WHERE day >= $1 \
                 GROUP BY domain, kind",
            )
            .bind(day)
            .fetch_all(pool)
            .await?
        });
        let mut by_domain: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for row in rows {
            by_domain
                .entry(row.domain)
                .or_default()
                .push((row.kind, row.n));
        }
        let mut out = by_domain
            .into_iter()
            .map(|(domain, counts)| {
                let [delivered, deferred, bounced, expired, suppressed, complaint] =
                    kinds_of(&counts)?;
                Ok(QualityDomain {
                    domain,
                    delivered,
                    deferred,
                    bounced,
                    expired,
                    suppressed,
                    complaint,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by(|a, b| b.total().cmp(&a.total()).then(a.domain.cmp(&b.domain)));
        out.truncate(limit as usize);
        Ok(out)
    }

    /// The normalised replies of deferrals and bounces, of every contract, from the day of
    /// `since` on; the `limit` most frequent, most first.
    pub async fn quality_by_reply(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<QualityReply>, StoreError> {
        let day = since.as_millis() - since.as_millis().rem_euclid(DAY_MS);
        let rows: Vec<ReplyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kind, reply, CAST(SUM(n) AS BIGINT) AS n FROM quality_reply_day WHERE day >= $1 \
                 GROUP BY kind, reply ORDER BY SUM(n) DESC, reply, kind LIMIT $2",
            )
            .bind(day)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(QualityReply {
                    kind: row
                        .kind
                        .parse()
                        .map_err(|e| corrupt("quality_reply_day.kind", e))?,
                    reply: row.reply,
                    count: u64::try_from(row.n).unwrap_or(0),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_lose_addresses_ids_and_ips() {
        let table = [
            // Postfix
            (
                "<bob.smith@example.jp>: Recipient address rejected: User unknown in local recipient table",
                "<{address}>: recipient address rejected: user unknown in local recipient table",
            ),
            ("Ok: queued as 4R1xyz3Kq2z9B", "ok: queued as {id}"),
            (
                "Client host [203.0.113.9] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.9",
                // A URL with digits in it is an ID as far as the normaliser can tell.
                "client host [{ip}] blocked using zen.spamhaus.org; {id}",
            ),
            (
                "<carol@example.jp>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.jp.html",
                "<{address}>: recipient address rejected: greylisted, see http://postgrey.schweikert.ch/help/example.jp.html",
            ),
            // Exim
            ("OK id=1qRsTu-000AbC-Xy", "ok id={id}"),
            ("Unrouteable address", "unrouteable address"),
            // Gmail
            (
                "The email account that you tried to reach does not exist. Please try\ndouble-checking the recipient's email address for typos or\nunnecessary spaces. For more information, go to\nhttps://support.google.com/mail/?p=NoSuchUser d2e1a72fcca58-7a1c2b3fd3asi1234567b3a.123 - gsmtp",
                "the email account that you tried to reach does not exist. please try double-checking the recipient's email address for typos or unnecessary spaces. for more information, go to https://support.google.com/mail/?p=nosuchuser {id} - gsmtp",
            ),
            (
                "The recipient's inbox is out of storage space. a640si3452383pfb.123 - gsmtp",
                "the recipient's inbox is out of storage space. {id} - gsmtp",
            ),
            // Outlook / Exchange Online
            (
                "Requested action not taken: mailbox unavailable (S2017062302). [DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com 2024-01-01T00:00:00.000Z 08DC0A1B2C3D4E5F]",
                "requested action not taken: mailbox unavailable ({id}). [{id} {id} {id}]",
            ),
            (
                "Access denied, banned sender[2001:db8::25]. To request removal from this list please forward this message to delist@messaging.microsoft.com. (AS16012017)",
                "access denied, banned sender[{ip}]. to request removal from this list please forward this message to {address}. ({id})",
            ),
            // Yahoo
            (
                "[TSS04] Messages from 198.51.100.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
                // Yahoo's own code reads as an IP address: stripped too, rather than risk one.
                "[tss04] messages from {ip} temporarily deferred due to unexpected volume or user complaints - {ip}; see https://postmaster.yahooinc.com/error-codes",
            ),
            (
                "5.1.1 Mailbox 'dave' does not exist",
                "5.1.1 mailbox {quoted} does not exist",
            ),
            // Numbers that are IDs go, small ones stay.
            (
                "Message size 10485761 exceeds limit, try again in 5 minutes",
                "message size {id} exceeds limit, try again in 5 minutes",
            ),
            (
                "connect to 192.0.2.1:25: Connection refused",
                "connect to {ip}: connection refused",
            ),
            ("", ""),
            ("   \n\t  ", ""),
            ("user \"unterminated", "user \"unterminated"),
        ];
        for (raw, normalised) in table {
            assert_eq!(normalise_reply(raw), normalised, "{raw:?}");
        }
    }

    #[test]
    fn the_same_refusal_to_two_people_is_one_reply() {
        let a = normalise_reply("<ann@example.jp>... User unknown; id=8A7B31C0F2 from [192.0.2.1]");
        let b = normalise_reply(
            "<Bob.Jones@Example.JP>... User unknown; id=1F2E3D4C5B from [192.0.2.77]",
        );
        assert_eq!(a, b);
        assert!(!a.contains("example.jp") && !a.contains("192.0.2"), "{a}");
    }

    #[test]
    fn hostile_replies_stay_bounded() {
        let long = "x".repeat(10_000);
        assert!(normalise_reply(&long).chars().count() <= MAX_REPLY_CHARS);
        let multibyte = "宛先不明".repeat(200);
        let out = normalise_reply(&multibyte);
        assert_eq!(out.chars().count(), MAX_REPLY_CHARS);
        for odd in [
            "@",
            "@@@",
            "'",
            "''",
            "\"\"",
            "[",
            "]:",
            "a'b'c",
            "\u{0}\u{7f}",
            "IPv6:",
        ] {
            let _ = normalise_reply(odd);
        }
        assert_eq!(normalise_reply("@"), "@");
        assert_eq!(normalise_reply("a@b"), "{address}");
    }
}
