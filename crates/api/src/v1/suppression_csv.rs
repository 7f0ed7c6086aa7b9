//! Reading a suppression CSV: UTF-8 text (a byte-order mark is dropped), RFC 4180 quoting,
//! LF or CRLF line ends, rows of `address[,reason]`. A first row naming an `address` (or
//! `email`) column is a header, and the columns are then found by name, so the list's own export
//! reads back. Both imports read files through here: the one-request import and the import job.

use hikyaku_store::check_suppression_address;

/// The longest note kept with an entry.
pub(crate) const MAX_REASON_LEN: usize = 1000;
/// The longest address (RFC 5321's path limit less the brackets), checked before anything
/// else so that a megabyte-long field is called what it is.
const MAX_ADDRESS_LEN: usize = 254;

/// One data row: the line it starts on and its fields in the address and reason columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsvRow {
    pub line: u64,
    /// `None`: the row has no field in the address column.
    pub address: Option<String>,
    pub reason: Option<String>,
}

/// Why a file cannot be read at all, and the line where that shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsvProblem {
    pub line: u64,
    pub message: String,
}

fn line_at(bytes: &[u8], offset: usize) -> u64 {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// The file's data rows, in order; blank lines are no rows.
pub(crate) fn csv_rows(bytes: &[u8]) -> Result<Vec<CsvRow>, CsvProblem> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(CsvProblem {
            line: line_at(bytes, e.valid_up_to()),
            message: format!(
                "not UTF-8 text (byte {}): a suppression CSV is UTF-8",
                e.valid_up_to() + 1
            ),
        });
    }
    // Valid UTF-8 may still be a binary file; no address or note holds a NUL.
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(CsvProblem {
            line: line_at(bytes, at),
            message: "binary data (a NUL byte): a suppression CSV is text".into(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    let (mut address_column, mut reason_column) = (0, Some(1));
    // The reader's own line numbers miss blank lines and line breaks inside quotes: lines are
    // counted here, from each record's first byte that is no line end.
    let (mut counted_to, mut lines_before) = (0, 0);
    let mut line_of = |offset: u64| {
        let mut at = usize::try_from(offset)
            .unwrap_or(bytes.len())
            .min(bytes.len());
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        if at >= counted_to {
            lines_before += bytes[counted_to..at]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            counted_to = at;
        }
        lines_before + 1
    };
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| CsvProblem {
            line: e.position().map_or(1, |p| line_of(p.byte())),
            message: format!("not CSV: {e}"),
        })?;
        let line = record
            .position()
            .map_or(i as u64 + 1, |p| line_of(p.byte()));
        if i == 0 {
            let names: Vec<String> = record
                .iter()
                .map(|f| f.trim().to_ascii_lowercase())
                .collect();
            if let Some(address) = names.iter().position(|n| n == "address" || n == "email") {
                address_column = address;
                reason_column = names.iter().position(|n| n == "reason");
                continue;
            }
            if !record.iter().any(|f| f.contains('@')) {
                let shown: String = names.join(",").chars().take(100).collect();
                return Err(CsvProblem {
                    line,
                    message: format!(
                        "the first row holds no address, so it is a header, and it names no \
                         `address` column (it names: {shown})"
                    ),
                });
            }
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        rows.push(CsvRow {
            line,
            address: record.get(address_column).map(str::to_string),
            reason: reason_column
                .and_then(|c| record.get(c))
                .map(str::to_string),
        });
    }
    Ok(rows)
}

/// What is wrong with a row, if anything: `(field, problem code, message)`.
pub(crate) struct RowFault {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

/// A row's address, trimmed, and its note (`None` when blank), or what is wrong with them.
pub(crate) fn checked_row(row: &CsvRow) -> Result<(&str, Option<&str>), RowFault> {
    let Some(address) = row.address.as_deref() else {
        return Err(RowFault {
            field: "address",
            code: "no_address",
            message: "the row has no field in the address column".into(),
        });
    };
    let address = checked_address(address)?;
    let reason = checked_reason(row.reason.as_deref())?;
    Ok((address, reason))
}

pub(crate) fn checked_address(address: &str) -> Result<&str, RowFault> {
    if address.trim().len() > MAX_ADDRESS_LEN {
        return Err(RowFault {
            field: "address",
            code: "too_long",
            message: format!(
                "{} bytes: an address is at most {MAX_ADDRESS_LEN}",
                address.trim().len()
            ),
        });
    }
    check_suppression_address(address).map_err(|message| RowFault {
        field: "address",
        code: "bad_address",
        message,
    })
}

/// A note trimmed (`None` when blank), at most [`MAX_REASON_LEN`] bytes without control
/// characters.
pub(crate) fn checked_reason(reason: Option<&str>) -> Result<Option<&str>, RowFault> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.len() > MAX_REASON_LEN || r.chars().any(char::is_control)) {
        return Err(RowFault {
            field: "reason",
            code: "bad_reason",
            message: format!(
                "a reason is at most {MAX_REASON_LEN} bytes, without control characters"
            ),
        });
    }
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(bytes: &[u8]) -> Vec<(u64, Option<String>, Option<String>)> {
        csv_rows(bytes)
            .unwrap()
            .into_iter()
            .map(|r| (r.line, r.address, r.reason))
            .collect()
    }

    #[test]
    fn headers_bom_crlf_and_quotes() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            addresses(
                b"\xEF\xBB\xBFaddress,reason\r\na@x.jp,\"moved,\r\n left\"\r\n\r\nb@x.jp\r\n"
            ),
            vec![
                (2, s("a@x.jp"), s("moved,\r\n left")),
                (5, s("b@x.jp"), None)
            ]
        );
        // Columns by name, in any order; without a header, address then reason.
        assert_eq!(
            addresses(b"source,Email\nmanual,c@x.jp\n"),
            vec![(2, s("c@x.jp"), None)]
        );
        assert_eq!(
            addresses(b"d@x.jp,note\n"),
            vec![(1, s("d@x.jp"), s("note"))]
        );
        assert_eq!(addresses(b""), vec![]);
        assert_eq!(addresses(b"\xEF\xBB\xBF"), vec![]);
    }

    #[test]
    fn unreadable_files_name_their_line() {
        let problem = csv_rows(b"a@x.jp\nb@x.jp\n\xff\xfe\n").unwrap_err();
        assert_eq!(problem.line, 3);
        assert!(problem.message.contains("UTF-8"), "{problem:?}");
        let problem = csv_rows(b"a@x.jp\nb\0@x.jp\n").unwrap_err();
        assert_eq!(problem.line, 2);
        assert!(problem.message.contains("NUL"), "{problem:?}");
        let problem = csv_rows(b"mail,name\na@x.jp,A\n").unwrap_err();
        assert_eq!(problem.line, 1);
        assert!(problem.message.contains("mail,name"), "{problem:?}");
    }

    #[test]
    fn rows_are_checked_field_by_field() {
        let row = |address: Option<&str>, reason: Option<&str>| CsvRow {
            line: 1,
            address: address.map(str::to_string),
            reason: reason.map(str::to_string),
        };
        let code = |r: CsvRow| checked_row(&r).err().map(|f| f.code);
        assert_eq!(code(row(Some(" a@x.jp "), Some(" "))), None);
        assert_eq!(code(row(None, None)), Some("no_address"));
        assert_eq!(code(row(Some("nope"), None)), Some("bad_address"));
        let long = format!("{}@x.jp", "a".repeat(300));
        assert_eq!(code(row(Some(&long), None)), Some("too_long"));
        assert_eq!(
            code(row(Some("a@x.jp"), Some("a\u{7}"))),
            Some("bad_reason")
        );
        let long_reason = "r".repeat(MAX_REASON_LEN + 1);
        assert_eq!(
            code(row(Some("a@x.jp"), Some(&long_reason))),
            Some("bad_reason")
        );
    }
}
