//! `hikyaku suppression`: a contract's suppression list on the store directly, like
//! the commands in `admin`: list and search, add, remove, and CSV import and export. A running
//! relay sees a change with the next message it takes in.
//!
//! The CSV is RFC 4180 (UTF-8, quoted fields where needed). Export writes the header
//! `address,source,reason,message_id,created_at`; import takes any file whose first column is
//! the address and whose second, if any, is the reason, with or without a header row, and reads
//! its own export back (a header naming `source` and `message_id` columns keeps them).

use crate::admin::{Output, Table, require_contract, times_as_rfc3339};
use anyhow::Context;
use hikyaku_model::{CustomerId, MessageId, Timestamp};
use hikyaku_store::{
    NewSuppression, Store, SuppressionEntry, SuppressionFilter, SuppressionSource,
    check_suppression_address,
};
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Rows per transaction when importing: large enough that the commit costs little per row,
/// small enough that the database is never held long.
const IMPORT_BATCH: usize = 5_000;
/// Entries read per page when exporting or searching.
const PAGE: u32 = 10_000;
/// Bad rows named one by one; beyond this only counted.
const REPORTED_BAD_ROWS: usize = 100;

#[derive(clap::Subcommand)]
pub enum SuppressionCommand {
    /// List a contract's suppressed addresses (in a fixed order that is not alphabetical).
    List {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The entry of this address (any case), or else every address containing this text.
        #[arg(long)]
        search: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Add addresses to a contract's list (an address already listed keeps its entry).
    Add {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// E-mail addresses, one or more.
        #[arg(required = true)]
        addresses: Vec<String>,
        /// A note kept with each entry.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Take addresses off a contract's list: mail to them is sent again.
    Remove {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// E-mail addresses, one or more (any case).
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Add the addresses of a CSV file (first column the address, optional second the reason,
    /// optional header row); bad rows are reported with their line number and skipped.
    Import {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The CSV file to read.
        file: PathBuf,
    },
    /// Write a contract's list as CSV (address,source,reason,message_id,created_at) to FILE,
    /// or to standard output.
    Export {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The CSV file to write (standard output without it).
        file: Option<PathBuf>,
    },
}

pub async fn run(cmd: SuppressionCommand, store: &Store, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        SuppressionCommand::List {
            customer_id,
            search,
            limit,
        } => {
            require_contract(store, &customer_id).await?;
            let entries = match &search {
                Some(text) => search_entries(store, &customer_id, text, limit).await?,
                None => {
                    store
                        .suppressions(
                            &customer_id,
                            &SuppressionFilter {
                                after: None,
                                limit: Some(limit),
                            },
                        )
                        .await?
                }
            };
            let total = store.suppression_count(&customer_id).await?;
            out.print(
                &serde_json::json!({ "suppressions": entries, "total": total }),
                || {
                    let mut table =
                        Table::new(["ADDRESS", "SOURCE", "REASON", "MESSAGE ID", "ADDED"]);
                    for e in &entries {
                        table.row([
                            e.address.clone(),
                            e.source.to_string(),
                            e.reason.clone().unwrap_or_else(|| "-".into()),
                            e.message_id.map_or_else(|| "-".into(), |id| id.to_string()),
                            e.created_at.to_string(),
                        ]);
                    }
                    let mut text = table.render("no suppressed addresses");
                    if search.is_none() && (entries.len() as u64) < total {
                        text +=
                            &format!("({} of {total} shown; --limit for more)\n", entries.len());
                    }
                    text
                },
            )
        }
        SuppressionCommand::Add {
            customer_id,
            addresses,
            reason,
        } => {
            require_contract(store, &customer_id).await?;
            let mut entries = Vec::with_capacity(addresses.len());
            for address in &addresses {
                let address = check_suppression_address(address).map_err(anyhow::Error::msg)?;
                entries.push(NewSuppression {
                    address,
                    source: SuppressionSource::Manual,
                    reason: reason.as_deref(),
                    message_id: None,
                });
            }
            let added = store
                .add_suppressions(&customer_id, &entries, Timestamp::now())
                .await?;
            let already = entries.len() as u64 - added;
            out.print(
                &serde_json::json!({ "added": added, "already_listed": already }),
                || format!("added {added}, already listed {already}\n"),
            )
        }
        SuppressionCommand::Remove {
            customer_id,
            addresses,
        } => {
            require_contract(store, &customer_id).await?;
            let mut removed = Vec::new();
            let mut not_listed = Vec::new();
            for address in addresses {
                if store.remove_suppression(&customer_id, &address).await? {
                    removed.push(address);
                } else {
                    not_listed.push(address);
                }
            }
            out.print(
                &serde_json::json!({ "removed": removed, "not_listed": not_listed }),
                || {
                    let mut text = format!("removed {}", removed.len());
                    if !not_listed.is_empty() {
                        text += &format!("; not listed: {}", not_listed.join(", "));
                    }
                    text + "\n"
                },
            )
        }
        SuppressionCommand::Import { customer_id, file } => {
            require_contract(store, &customer_id).await?;
            let summary = import(store, &customer_id, &file).await?;
            out.print(&summary, || {
                format!(
                    "added {}, already listed {}, invalid {} ({} rows in {:.1}s)\n",
                    summary.added,
                    summary.already_listed,
                    summary.invalid,
                    summary.rows,
                    summary.seconds
                )
            })
        }
        SuppressionCommand::Export { customer_id, file } => {
            require_contract(store, &customer_id).await?;
            match file {
                Some(path) => {
                    let written = std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    let exported = export(store, &customer_id, written).await?;
                    out.print(
                        &serde_json::json!({ "exported": exported, "file": path }),
                        || format!("exported {exported} addresses to {}\n", path.display()),
                    )
                }
                None if json => export_json(store, &customer_id).await,
                None => export(store, &customer_id, std::io::stdout().lock())
                    .await
                    .map(|_| ()),
            }
        }
    }
}

/// The entry of `text` as an address, or else the entries whose address contains `text`
/// (ignoring case), at most `limit`. Addresses are sealed, so the second reads the whole list.
async fn search_entries(
    store: &Store,
    customer: &CustomerId,
    text: &str,
    limit: u32,
) -> anyhow::Result<Vec<SuppressionEntry>> {
    if let Some(entry) = store.suppression(customer, text).await? {
        return Ok(vec![entry]);
    }
    let needle = text.trim().to_lowercase();
    let mut found = Vec::new();
    each_page(store, customer, |page| {
        found.extend(
            page.iter()
                .filter(|e| e.address.to_lowercase().contains(&needle))
                .cloned(),
        );
        Ok(if found.len() < limit as usize {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        })
    })
    .await?;
    found.truncate(limit as usize);
    Ok(found)
}

#[derive(serde::Serialize)]
struct ImportSummary {
    rows: u64,
    added: u64,
    already_listed: u64,
    invalid: u64,
    /// The first bad rows, by line number.
    invalid_rows: Vec<BadRow>,
    seconds: f64,
}

#[derive(serde::Serialize)]
struct BadRow {
    line: u64,
    error: String,
}

/// An address read from the file, waiting for its batch.
struct Row {
    address: String,
    reason: Option<String>,
    source: SuppressionSource,
    message_id: Option<MessageId>,
}

/// Where the columns are: what a header row named, or address then reason.
struct Columns {
    address: usize,
    reason: Option<usize>,
    source: Option<usize>,
    message_id: Option<usize>,
}

impl Columns {
    const PLAIN: Columns = Columns {
        address: 0,
        reason: Some(1),
        source: None,
        message_id: None,
    };

    /// The columns a header row names; `None` when the row is data (its first field is an
    /// address).
    fn from_header(fields: &[String]) -> Option<Columns> {
        if fields.first().is_some_and(|f| f.contains('@')) {
            return None;
        }
        let find = |names: &[&str]| {
            fields
                .iter()
                .position(|f| names.contains(&f.to_ascii_lowercase().as_str()))
        };
        let address = find(&["address", "email", "e-mail", "email address", "mail"]).unwrap_or(0);
        let source = find(&["source"]);
        let reason = find(&["reason", "note", "notes", "comment"])
            .or_else(|| (source.is_none() && address == 0 && fields.len() > 1).then_some(1));
        Some(Columns {
            address,
            reason,
            source,
            message_id: find(&["message_id", "message id"]),
        })
    }
}

async fn import(
    store: &Store,
    customer: &CustomerId,
    path: &Path,
) -> anyhow::Result<ImportSummary> {
    let started = std::time::Instant::now();
    // Read whole (a million addresses are some 30 MB): line numbers of bad rows are counted
    // from the bytes, as csv's own count names the line before a record's.
    let data = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = data.len() as u64;
    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(size);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {percent:>3}% {msg} ({elapsed}, {eta} left)",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data.as_slice());
    let mut summary = ImportSummary {
        rows: 0,
        added: 0,
        already_listed: 0,
        invalid: 0,
        invalid_rows: Vec::new(),
        seconds: 0.0,
    };
    let mut columns: Option<Columns> = None;
    let mut batch: Vec<Row> = Vec::with_capacity(IMPORT_BATCH);
    let mut record = csv::ByteRecord::new();
    let now = Timestamp::now();
    let mut lines = LineCounter::new(&data);
    loop {
        let line = lines.line_at(reader.position().byte());
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                summary.rows += 1;
                bad(&mut summary, line, format!("unreadable CSV: {error}"));
                continue;
            }
        }
        let line = record.position().map_or(line, |p| lines.line_at(p.byte()));
        let fields: Vec<String> = match record
            .iter()
            .map(|f| std::str::from_utf8(f).map(str::to_string))
            .collect::<Result<_, _>>()
        {
            Ok(fields) => fields,
            Err(_) => {
                summary.rows += 1;
                bad(&mut summary, line, "not UTF-8".into());
                continue;
            }
        };
        if columns.is_none() {
            // Only the first row may be a header.
            let header = Columns::from_header(&fields);
            let is_header = header.is_some();
            columns = Some(header.unwrap_or(Columns::PLAIN));
            if is_header {
                continue;
            }
        }
        let layout = columns.as_ref().expect("set at the first row");
        summary.rows += 1;
        match row_of(&fields, layout) {
            Ok(row) => batch.push(row),
            Err(error) => bad(&mut summary, line, error),
        }
        if batch.len() >= IMPORT_BATCH {
            add_batch(store, customer, &mut batch, now, &mut summary).await?;
            progress.set_position(record.position().map_or(0, |p| p.byte()));
            progress.set_message(format!("{} added", summary.added));
        }
    }
    add_batch(store, customer, &mut batch, now, &mut summary).await?;
    progress.finish_and_clear();
    if summary.invalid as usize > summary.invalid_rows.len() {
        eprintln!(
            "… and {} more bad rows",
            summary.invalid as usize - summary.invalid_rows.len()
        );
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Line numbers (from 1) of byte offsets, asked in increasing order.
struct LineCounter<'a> {
    data: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(data: &'a [u8]) -> Self {
        LineCounter {
            data,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the first byte at or after `byte` that is not a line break: csv places a
    /// record before the previous one's terminator (and any blank lines), not at its first field.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut byte = (byte as usize).min(self.data.len());
        while self
            .data
            .get(byte)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            byte += 1;
        }
        if byte > self.offset {
            self.line += self.data[self.offset..byte]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.offset = byte;
        }
        self.line
    }
}

/// Counts a bad row, and names it (on standard error and in the summary) while few were bad.
fn bad(summary: &mut ImportSummary, line: u64, error: String) {
    summary.invalid += 1;
    if summary.invalid_rows.len() < REPORTED_BAD_ROWS {
        eprintln!("line {line}: {error}; skipped");
        summary.invalid_rows.push(BadRow { line, error });
    }
}

fn row_of(fields: &[String], columns: &Columns) -> Result<Row, String> {
    let field = |index: Option<usize>| {
        index
            .and_then(|i| fields.get(i))
            .map(String::as_str)
            .filter(|f| !f.is_empty())
    };
    let address = field(Some(columns.address)).ok_or("no address")?;
    let address = check_suppression_address(address)?.to_string();
    let source = match field(columns.source) {
        Some(text) => text.parse().map_err(|e| format!("{e}"))?,
        None => SuppressionSource::Manual,
    };
    let message_id = field(columns.message_id)
        .map(|text| text.parse::<MessageId>())
        .transpose()
        .map_err(|e| format!("{e}"))?;
    Ok(Row {
        address,
        reason: field(columns.reason).map(str::to_string),
        source,
        message_id,
    })
}

async fn add_batch(
    store: &Store,
    customer: &CustomerId,
    batch: &mut Vec<Row>,
    at: Timestamp,
    summary: &mut ImportSummary,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let entries: Vec<NewSuppression> = batch
        .iter()
        .map(|row| NewSuppression {
            address: &row.address,
            source: row.source,
            reason: row.reason.as_deref(),
            message_id: row.message_id,
        })
        .collect();
    let added = store.add_suppressions(customer, &entries, at).await?;
    summary.added += added;
    summary.already_listed += entries.len() as u64 - added;
    batch.clear();
    Ok(())
}

/// Streams the whole list as CSV, page by page. Returns how many entries were written.
async fn export(store: &Store, customer: &CustomerId, to: impl Write) -> anyhow::Result<u64> {
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(to));
    writer.write_record(["address", "source", "reason", "message_id", "created_at"])?;
    let mut written = 0;
    each_page(store, customer, |page| {
        for e in page {
            writer.write_record([
                e.address.as_str(),
                e.source.as_str(),
                e.reason.as_deref().unwrap_or(""),
                &e.message_id.map(|id| id.to_string()).unwrap_or_default(),
                &e.created_at.to_string(),
            ])?;
            written += 1;
        }
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    writer.flush()?;
    Ok(written)
}

/// `{"suppressions": [...]}` on one line, written page by page.
async fn export_json(store: &Store, customer: &CustomerId) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    write!(stdout, "{{\"suppressions\":[")?;
    let mut first = true;
    each_page(store, customer, |page| {
        for e in page {
            if !first {
                write!(stdout, ",")?;
            }
            first = false;
            let mut entry = serde_json::to_value(e)?;
            times_as_rfc3339(&mut entry);
            serde_json::to_writer(&mut stdout, &entry)?;
        }
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    writeln!(stdout, "]}}")?;
    stdout.flush()?;
    Ok(())
}

/// Calls `each` with every page of the contract's list, in order, until it says to stop.
async fn each_page(
    store: &Store,
    customer: &CustomerId,
    mut each: impl FnMut(&[SuppressionEntry]) -> anyhow::Result<ControlFlow<()>>,
) -> anyhow::Result<()> {
    let mut after = None;
    loop {
        let page = store
            .suppressions(
                customer,
                &SuppressionFilter {
                    after: after.take(),
                    limit: Some(PAGE),
                },
            )
            .await?;
        if each(&page)?.is_break() {
            return Ok(());
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.address.clone()),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn headers_name_their_columns_and_data_rows_are_not_headers() {
        assert!(Columns::from_header(&strings(&["a@example.jp", "note"])).is_none());
        let export = Columns::from_header(&strings(&[
            "address",
            "source",
            "reason",
            "message_id",
            "created_at",
        ]))
        .unwrap();
        assert_eq!(
            (
                export.address,
                export.source,
                export.reason,
                export.message_id
            ),
            (0, Some(1), Some(2), Some(3))
        );
        let plain = Columns::from_header(&strings(&["Email", "Why"])).unwrap();
        assert_eq!((plain.address, plain.reason), (0, Some(1)));
        let moved = Columns::from_header(&strings(&["name", "E-Mail"])).unwrap();
        assert_eq!((moved.address, moved.reason), (1, None));
    }

    #[test]
    fn rows_are_checked() {
        let row = row_of(&strings(&["a@example.jp", "left"]), &Columns::PLAIN).unwrap();
        assert_eq!(row.address, "a@example.jp");
        assert_eq!(row.reason.as_deref(), Some("left"));
        assert_eq!(row.source, SuppressionSource::Manual);
        let bare = row_of(&strings(&["a@example.jp"]), &Columns::PLAIN).unwrap();
        assert_eq!(bare.reason, None);
        assert!(row_of(&strings(&["nobody"]), &Columns::PLAIN).is_err());
        assert!(row_of(&strings(&[""]), &Columns::PLAIN).is_err());
        let export =
            Columns::from_header(&strings(&["address", "source", "reason", "message_id"])).unwrap();
        let id = MessageId::new(Timestamp(1_764_041_520_000)).to_string();
        let hard = row_of(
            &strings(&["b@example.jp", "hard-bounce", "userunknown", &id]),
            &export,
        );
        let hard = hard.unwrap();
        assert_eq!(hard.source, SuppressionSource::HardBounce);
        assert!(hard.message_id.is_some());
        assert!(row_of(&strings(&["b@example.jp", "bounced", "", ""]), &export).is_err());
    }
}
