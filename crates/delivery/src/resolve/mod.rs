//! MX resolution (placeholder: being written).
