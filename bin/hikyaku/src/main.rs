//! The `hikyaku` binary: parses the command line, loads and validates the configuration, and
//! wires the library crates together. No product logic lives here.

mod access_cmd;
mod admin;
mod availability_cmd;
mod bounce_cmd;
mod dns_cmd;
mod domain_cmd;
mod inbound_cmd;
mod keys_cmd;
mod lifecycle_cmd;
mod notice_cmd;
mod operator_user_cmd;
mod permissions;
mod quality_cmd;
mod serve;
mod smime_cmd;
mod suppression_cmd;
mod tls;
mod webhook_cmd;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hikyaku_config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hikyaku",
    version,
    about = "Hikyaku: a self-hostable transactional e-mail delivery platform"
)]
struct Cli {
    /// TOML configuration file (every key is optional; see the README's reference).
    #[arg(long, global = true, env = "HIKYAKU_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the configuration file).
    #[arg(long, global = true, env = "HIKYAKU_DATA", value_name = "DIR")]
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
    Serve {
        /// Only check the configuration, as `check-config` does, and exit.
        #[arg(long)]
        check: bool,
    },
    /// Check the configuration (file, `--data-dir`, `HIKYAKU_LOG`) without starting anything:
    /// every problem is reported at once, and the exit status is 0 only when there is none.
    CheckConfig,
    #[command(flatten)]
    Admin(admin::AdminCommand),
    /// Bounce analysis: `hikyaku bounce parse FILE... --json`.
    #[command(subcommand)]
    Bounce(bounce_cmd::BounceCommand),
    /// The DNS records to publish (`dns records`) and their check (`dns check`).
    #[command(subcommand)]
    Dns(dns_cmd::DnsCommand),
    /// Inbound parse: routes (`inbound route add|list|remove`) and the POST log (`inbound log`).
    #[command(subcommand)]
    Inbound(inbound_cmd::InboundCommand),
    /// Sender domains and their DKIM keys: `domain add|add-service|list|show|verify|remove|
    /// rotate-key|remove-key`.
    #[command(subcommand)]
    Domain(domain_cmd::DomainCommand),
    /// A contract's S/MIME signing certificates: `smime install|list|remove`.
    #[command(subcommand)]
    Smime(smime_cmd::SmimeCommand),
    /// Contract notices and their mail to the contracts' admins: `notice list`.
    #[command(subcommand)]
    Notice(notice_cmd::NoticeCommand),
    /// A contract's suppression list: `suppression list|add|remove|import|export`.
    #[command(subcommand)]
    Suppression(suppression_cmd::SuppressionCommand),
    /// A contract's console users: `user add|list|remove`.
    #[command(subcommand)]
    User(access_cmd::UserCommand),
    /// A contract's webhook endpoints: `webhook add|list|remove|enable|test|attempts|
    /// rotate-secret`.
    #[command(subcommand)]
    Webhook(webhook_cmd::WebhookCommand),
    /// A contract's API keys: `api-key create|list|revoke`.
    #[command(subcommand)]
    ApiKey(access_cmd::ApiKeyCommand),
    /// The operator's API keys: `operator-key create|list|revoke`.
    #[command(subcommand)]
    OperatorKey(access_cmd::OperatorKeyCommand),
    /// The operator's console users (the /operator pages): `operator-user add|list|remove`.
    #[command(subcommand)]
    OperatorUser(operator_user_cmd::OperatorUserCommand),
    /// Run the lifecycle job once, now (`serve` runs it every retention.interval): delete
    /// report data past retention.report_days, the data of contracts terminated longer than
    /// contracts.termination_grace ago, and warn or suspend idle trial contracts.
    Purge(lifecycle_cmd::PurgeArgs),
    /// Messages sent per contract in a calendar month (contracts.usage_time_zone) against
    /// its plan's volume, with the excess in units of 1,000.
    Usage(lifecycle_cmd::UsageArgs),
    /// The month's availability as the terms count it (outage minutes over 43,200, announced
    /// maintenance excluded) and the credit it earns, from the monitor's record.
    Availability(availability_cmd::AvailabilityArgs),
    /// Run only the availability monitor against [[monitor.target]] (a machine outside the
    /// cluster), recording into the same store, until SIGTERM or SIGINT.
    Monitor,
    /// The operator's quality data, all contracts together: `stats domains|replies`.
    #[command(subcommand)]
    Stats(quality_cmd::StatsCommand),
    /// Each contract's hard-bounce and complaint rates before the reputation guard
    /// (`reputation [--contract ID]`), and `reputation resume ID` for a paused contract.
    Reputation(quality_cmd::ReputationArgs),
    /// The address-sealing keys: `keys rotate [--wait]|finish|status`.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    // It replaces `log.level`, so it is held to the same rule.
    if let Ok(filter) = std::env::var(LOG_ENV) {
        hikyaku_config::check_log_filter(&filter)
            .map_err(|problem| anyhow::anyhow!("{LOG_ENV}: {problem}"))?;
    }
    Ok(config.with_data_dir_override(cli.data_dir.clone()))
}

/// The environment variable that overrides `log.level`.
const LOG_ENV: &str = "HIKYAKU_LOG";

/// How to run a command against the same configuration and data as this process: the banner's
/// next steps print it, so that following them in another terminal (or another directory) never
/// opens a second, empty data directory. Paths are made absolute for that reason.
fn operator_command(cli: &Cli, config: &Config) -> String {
    let absolute =
        |path: &std::path::Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let program = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.components().count() > 1)
        .map_or_else(|| "hikyaku".to_string(), |p| shell_word(&absolute(&p)));
    let mut command = program;
    if let Some(file) = &cli.config {
        command += &format!(" --config {}", shell_word(&absolute(file)));
    }
    // Without a file the data directory is the one thing that says where the data is; with
    // one, only an explicit override needs repeating.
    if cli.config.is_none() || cli.data_dir.is_some() {
        command += &format!(" --data-dir {}", shell_word(&absolute(&config.data_dir)));
    }
    command
}

/// A path as one shell word: quoted only when it needs to be.
fn shell_word(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
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
        .with_context(|| format!("cannot open the database {}", database_name(config)))?;
    Ok((store, verp_key))
}

/// Logs go to standard error; standard output is for what a person or a script asked for.
fn init_logging(config: &Config) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let (source, text) = match std::env::var(LOG_ENV) {
        Ok(text) => (LOG_ENV, text),
        Err(_) => ("log.level", config.log.level.clone()),
    };
    let mut filter = EnvFilter::try_new(&text)
        .with_context(|| format!("{source}: not a log filter: {text:?}"))?;
    // hickory-server logs every DNS question it answers at INFO: the responder's log would be
    // one line per query. Its warnings stay, and a filter that names it decides for itself.
    if !text.contains("hickory_server") {
        filter = filter.add_directive(
            "hickory_server=warn"
                .parse()
                .context("the built-in log directive")?,
        );
    }
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        hikyaku_config::LogFormat::Json => builder.json().init(),
        hikyaku_config::LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// A failure is one line on standard error and exit status 1 (clap's usage errors are 2): the
/// operator reads what went wrong and why, never a backtrace, whatever `RUST_BACKTRACE` says.
fn main() -> ExitCode {
    let cli = parse_command_line();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The command line, with the configured plans as the values `contract create --plan` lists
/// in its help and its error. Only that list is read from the configuration file here; the
/// file is loaded and checked properly (and its errors reported) after parsing.
fn parse_command_line() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    // clap (without its `string` feature) takes `'static` names; these few live as long as
    // the process anyway.
    let plans: Vec<&'static str> = configured_plans(std::env::args_os().skip(1))
        .into_iter()
        .map(|plan| &*Box::leak(plan.into_boxed_str()))
        .collect();
    let command = Cli::command().mut_subcommand("contract", |contract| {
        contract.mut_subcommand("create", |create| {
            create.mut_arg("plan", |plan| {
                plan.value_parser(clap::builder::PossibleValuesParser::new(plans))
            })
        })
    });
    command
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
        .unwrap_or_else(|error| exit_on_usage_error(error))
}

/// Help and version go to standard output as clap renders them; a usage error is one line on
/// standard error (clap's own rendering spreads it over several), with exit status 2.
fn exit_on_usage_error(error: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit()
    }
    let rendered = error.render().to_string();
    let mut line = String::new();
    for part in rendered
        .lines()
        .map(str::trim)
        .filter(|part| !part.is_empty() && !part.starts_with("For more information"))
    {
        if !line.is_empty() {
            // A usage line or a tip is a sentence of its own; a list continues the one before.
            line += if part.starts_with("Usage:") || part.starts_with("tip:") {
                "; "
            } else {
                " "
            };
        }
        line += part;
    }
    eprintln!("{line} (see --help)");
    std::process::exit(2)
}

/// The plans of the configuration file named by `--config` or `HIKYAKU_CONFIG`, or the
/// defaults' when there is none or it cannot be read.
fn configured_plans(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<String> {
    let mut file = std::env::var_os("HIKYAKU_CONFIG").map(PathBuf::from);
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            file = args.peek().map(PathBuf::from);
        } else if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            file = Some(PathBuf::from(path));
        }
    }
    file.and_then(|file| Config::from_file(&file).ok())
        .unwrap_or_default()
        .contracts
        .plans
}

/// The error and its causes as `what: why: why`, leaving out a cause that the text before it
/// already quotes (many errors print their source themselves), with line breaks folded.
fn one_line(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        let cause = cause.split_whitespace().collect::<Vec<_>>().join(" ");
        if cause.is_empty() || text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text += ": ";
        }
        text += &cause;
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Analysing bounce files needs neither configuration nor data.
    if let Command::Bounce(cmd) = cli.command {
        return bounce_cmd::run(cmd, cli.json);
    }
    let config = load_config(&cli)?;
    if let Command::CheckConfig | Command::Serve { check: true } = cli.command {
        return check_config(&cli, &config);
    }
    let operator_command = operator_command(&cli, &config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => {
                init_logging(&config)?;
                serve::run(config, &operator_command).await
            }
            Command::Bounce(_) | Command::CheckConfig => {
                unreachable!("handled before the runtime starts")
            }
            Command::Admin(cmd) => {
                let (store, _) = open_store(&config).await?;
                admin::run(cmd, &store, &config, cli.json).await
            }
            Command::Dns(cmd) => dns_cmd::run(cmd, &config, cli.json).await,
            Command::Inbound(cmd) => {
                let (store, _) = open_store(&config).await?;
                inbound_cmd::run(cmd, &store, cli.json).await
            }
            Command::Domain(cmd) => {
                let (store, _) = open_store(&config).await?;
                domain_cmd::run(cmd, &store, &config, cli.json).await
            }
            Command::Smime(cmd) => {
                let (store, _) = open_store(&config).await?;
                smime_cmd::run(cmd, &store, cli.json).await
            }
            Command::Notice(cmd) => {
                let (store, _) = open_store(&config).await?;
                notice_cmd::run(cmd, &store, cli.json).await
            }
            Command::Suppression(cmd) => {
                let (store, _) = open_store(&config).await?;
                suppression_cmd::run(cmd, &store, cli.json).await
            }
            Command::User(cmd) => {
                let (store, _) = open_store(&config).await?;
                access_cmd::run_user(cmd, &store, cli.json).await
            }
            Command::Webhook(cmd) => {
                let (store, _) = open_store(&config).await?;
                webhook_cmd::run(cmd, &store, &config, cli.json).await
            }
            Command::ApiKey(cmd) => {
                let (store, _) = open_store(&config).await?;
                access_cmd::run_api_key(cmd, &store, cli.json).await
            }
            Command::OperatorKey(cmd) => {
                let (store, _) = open_store(&config).await?;
                access_cmd::run_operator_key(cmd, &store, cli.json).await
            }
            Command::OperatorUser(cmd) => {
                let (store, _) = open_store(&config).await?;
                operator_user_cmd::run(cmd, &store, cli.json).await
            }
            Command::Purge(args) => {
                let (store, _) = open_store(&config).await?;
                lifecycle_cmd::purge(args, &store, &config, cli.json).await
            }
            Command::Usage(args) => {
                let (store, _) = open_store(&config).await?;
                lifecycle_cmd::usage(args, &store, &config, cli.json).await
            }
            Command::Availability(args) => {
                let (store, _) = open_store(&config).await?;
                availability_cmd::availability(args, &store, &config, cli.json).await
            }
            Command::Monitor => {
                init_logging(&config)?;
                let (store, _) = open_store(&config).await?;
                let node = config
                    .node_name
                    .clone()
                    .unwrap_or_else(|| format!("monitor@{}", serve::system_hostname()));
                availability_cmd::run_monitor(store, &config, &node).await
            }
            Command::Stats(cmd) => {
                let (store, _) = open_store(&config).await?;
                quality_cmd::run_stats(cmd, &store, cli.json).await
            }
            Command::Reputation(args) => {
                let (store, _) = open_store(&config).await?;
                quality_cmd::run_reputation(args, &store, &config, cli.json).await
            }
            Command::Keys(cmd) => {
                let (store, _) = open_store(&config).await?;
                keys_cmd::run(cmd, &store, &config, cli.json).await
            }
        }
    })
}

/// `check-config`: what `serve` checks before it binds a port, minus what would create or
/// change anything (the data directory, keys, the database, a self-signed certificate).
fn check_config(cli: &Cli, config: &Config) -> anyhow::Result<()> {
    if config.relay.tls_certificate.is_some() {
        tls::server_config(config, "localhost")?;
    }
    serve::delivery_transport(config, "localhost", None)?;
    let file = cli.config.as_ref().map_or_else(
        || "(no file: the defaults)".to_string(),
        |f| f.display().to_string(),
    );
    let out = admin::Output { json: cli.json };
    out.print(
        &serde_json::json!({
            "ok": true,
            "config": cli.config,
            "data_dir": config.data_dir,
            "database": database_name(config),
        }),
        || {
            format!(
                "configuration OK: {file}\n  data directory {}\n  database {}\n",
                config.data_dir.display(),
                database_name(config)
            )
        },
    )
}

/// The database URL as it may be shown: its password masked.
pub(crate) fn database_name(config: &Config) -> String {
    hikyaku_model::masked_url(&config.database_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let error = anyhow::Error::new(io).context("cannot read x: No such file");
        assert_eq!(one_line(&error), "cannot read x: No such file");
        let error = anyhow::anyhow!("inner\nover two lines").context("outer");
        assert_eq!(one_line(&error), "outer: inner over two lines");
    }
}
