//! The SMTP client (placeholder: being written).
