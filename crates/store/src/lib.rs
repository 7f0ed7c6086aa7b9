//! The database of Hikyaku: sqlx repositories over SQLite and PostgreSQL with migrations; e-mail addresses sealed at rest.
