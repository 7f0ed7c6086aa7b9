//! Typed configuration of Hikyaku: TOML with units, defaults and validation, loaded before any port is bound.
