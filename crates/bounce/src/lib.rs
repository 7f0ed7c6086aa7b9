//! The bounce analyser (placeholder: being written).
