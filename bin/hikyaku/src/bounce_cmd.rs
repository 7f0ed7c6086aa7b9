//! `hikyaku bounce ...` (placeholder: being written).

#[derive(clap::Subcommand)]
pub enum BounceCommand {}

pub fn run(cmd: BounceCommand, _json: bool) -> anyhow::Result<()> {
    match cmd {}
}
