// The migrations are embedded by `sqlx::migrate!`, which on stable Rust cannot tell Cargo which
// files it read: without this, a new or changed migration is silently left out of an incremental
// build and the binary runs the old schema.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
