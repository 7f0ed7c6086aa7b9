//! Test support: everything the database holds, as a person with the database and the sealing
//! key could read it, for tests that check some data is found nowhere.

use crate::{Backend, Store, StoreError};

/// One value of one row.
#[derive(Debug, Clone)]
pub struct DumpedValue {
    pub table: String,
    pub column: String,
    /// Text as it is, numbers in decimal, byte strings in lower-case hex followed by their
    /// bytes read as UTF-8 (lossily) and, when they open with the sealing key, by the plaintext.
    pub readable: String,
}

impl Store {
    /// Every value of every table (the migrator's own excepted).
    pub async fn readable_dump(&self) -> Result<Vec<DumpedValue>, StoreError> {
        let mut values = Vec::new();
        for (table, column, is_bytes) in self.columns().await? {
            let rows: Vec<String> = match &self.backend {
                Backend::Sqlite(pool) => {
                    let sql = format!(
                        "SELECT CASE WHEN typeof(\"{column}\") = 'blob' THEN lower(hex(\"{column}\")) \
                         ELSE CAST(\"{column}\" AS TEXT) END FROM \"{table}\" \
                         WHERE \"{column}\" IS NOT NULL"
                    );
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_all(pool)
                        .await?
                }
                Backend::Postgres(pool) => {
                    let sql = format!(
                        "SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\" \
                         WHERE \"{column}\" IS NOT NULL"
                    );
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_all(pool)
                        .await?;
                    rows.into_iter()
                        .map(|text| match text.strip_prefix("\\x") {
                            Some(hex) if is_bytes => hex.to_string(),
                            _ => text,
                        })
                        .collect()
                }
            };
            let blob = is_bytes || matches!(self.backend, Backend::Sqlite(_));
            for text in rows {
                let readable = match decode_hex(&text).filter(|_| blob) {
                    Some(bytes) => {
                        let mut readable = format!("{text} {}", String::from_utf8_lossy(&bytes));
                        if let Ok(plain) = self.key.open(&bytes) {
                            readable += " ";
                            readable += &String::from_utf8_lossy(&plain);
                        }
                        readable
                    }
                    None => text,
                };
                values.push(DumpedValue {
                    table: table.clone(),
                    column: column.clone(),
                    readable,
                });
            }
        }
        Ok(values)
    }

    /// An address's keyed look-up hash in lower-case hex, as [`Store::readable_dump`] shows it.
    pub fn address_hash_hex(&self, address: &str) -> String {
        self.key
            .address_hash(address)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Every (table, column, holds bytes) of the schema.
    async fn columns(&self) -> Result<Vec<(String, String, bool)>, StoreError> {
        Ok(match &self.backend {
            Backend::Sqlite(pool) => {
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT m.name, c.name, upper(c.type) FROM sqlite_master m \
                     JOIN pragma_table_info(m.name) c WHERE m.type = 'table' \
                     AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
                     ORDER BY m.name, c.cid",
                )
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(t, c, ty)| (t, c, ty == "BLOB"))
                    .collect()
            }
            Backend::Postgres(pool) => {
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
                     FROM information_schema.columns c JOIN information_schema.tables t \
                     ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                     AND c.table_name <> '_sqlx_migrations' \
                     ORDER BY c.table_name, c.ordinal_position",
                )
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(t, c, ty)| (t, c, ty == "bytea"))
                    .collect()
            }
        })
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}
