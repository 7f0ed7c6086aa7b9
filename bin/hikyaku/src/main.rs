//! The `hikyaku` binary: parses the command line, loads and validates the configuration, and
//! wires the library crates together. No product logic lives here.

mod admin;
mod bounce_cmd;
mod inbound_cmd;
mod permissions;
mod serve;
mod suppression_cmd;
mod tls;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hikyaku_config::Config;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "hikyaku",
    version,
    about = "Hikyaku: a self-hostable transactional e-mail delivery platform"
)]
struct Cli {
    /// TOML configuration file (every key is optional; see the README's reference).
    #[arg(long, global = true, env = "HIKYAKU_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the configuration file).
    #[arg(long, global = true, env = "HIKYAKU_DATA")]
    data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole service: relay SMTP listener and HTTP listener.
    Serve,
    #[command(flatten)]
    Admin(admin::AdminCommand),
    /// Bounce analysis: `hikyaku bounce parse FILE... --json`.
    #[command(subcommand)]
    Bounce(bounce_cmd::BounceCommand),
    /// Inbound parse: routes (`inbound route add|list|remove`) and the POST log (`inbound log`).
    #[command(subcommand)]
    Inbound(inbound_cmd::InboundCommand),
    /// A contract's suppression list: `suppression list|add|remove|import|export`.
    #[command(subcommand)]
    Suppression(suppression_cmd::SuppressionCommand),
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    Ok(config.with_data_dir_override(cli.data_dir.clone()))
}

/// Opens (creating on first use) the data directory, the sealing key and the database; also
/// returns the VERP key derived from the same secret.
async fn open_store(
    config: &Config,
) -> anyhow::Result<(hikyaku_store::Store, hikyaku_model::VerpKey)> {
    permissions::create_data_dir(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let key = hikyaku_store::SealingKey::load_or_create(&config.secret_key_path())
        .context("cannot load the address sealing key")?;
    let verp_key = key.verp_key();
    let store = hikyaku_store::Store::connect(&config.database_url(), key)
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url()))?;
    Ok((store, verp_key))
}

/// Logs go to standard error; standard output is for what a person or a script asked for.
fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HIKYAKU_LOG")
        .unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        hikyaku_config::LogFormat::Json => builder.json().init(),
        hikyaku_config::LogFormat::Text => builder.init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Analysing bounce files needs neither configuration nor data.
    if let Command::Bounce(cmd) = cli.command {
        return bounce_cmd::run(cmd, cli.json);
    }
    let config = load_config(&cli)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => {
                init_logging(&config);
                serve::run(config).await
            }
            Command::Bounce(_) => unreachable!("handled before the runtime starts"),
            Command::Admin(cmd) => {
                let (store, _) = open_store(&config).await?;
                admin::run(cmd, &store, cli.json).await
            }
            Command::Inbound(cmd) => {
                let (store, _) = open_store(&config).await?;
                inbound_cmd::run(cmd, &store, cli.json).await
            }
            Command::Suppression(cmd) => {
                let (store, _) = open_store(&config).await?;
                suppression_cmd::run(cmd, &store, cli.json).await
            }
        }
    })
}
