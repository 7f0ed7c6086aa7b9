//! `hikyaku smime`: a contract's S/MIME signing certificates (install, list, remove), on the
//! store directly like the other operator commands. Running relays pick a change up within a
//! minute (their per-contract cache lives that long).

use crate::admin::{Output, Table, field, password_from_stdin, require_contract};
use anyhow::{Context, bail};
use hikyaku_api_types as api;
use hikyaku_model::{CustomerId, Timestamp};
use hikyaku_smime::Signer;
use hikyaku_store::{NewSmimeCertificate, SmimeCertificate, Store};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum SmimeCommand {
    /// Install a signing certificate with its private key, from PEM files (--cert, --key) or a
    /// PKCS#12 file (--pkcs12 with --password-stdin). Mail whose From address the certificate
    /// names is signed from then on.
    Install {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// PEM file: the signer's certificate, then any intermediate certificates.
        #[arg(long, value_name = "FILE", requires = "key", conflicts_with = "pkcs12")]
        cert: Option<PathBuf>,
        /// PEM file: the certificate's private key, unencrypted (PKCS#8, PKCS#1 or SEC 1).
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        /// PKCS#12 file (.p12, .pfx) with the key, the certificate and its chain.
        #[arg(long, value_name = "FILE", required_unless_present = "cert")]
        pkcs12: Option<PathBuf>,
        /// The PKCS#12 password, on the command line (where other local users may see it in
        /// the process list: prefer --password-stdin).
        #[arg(long, requires = "pkcs12", conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the PKCS#12 password from the first line of standard input.
        #[arg(long, requires = "pkcs12")]
        password_stdin: bool,
        /// Sign only mail whose recipients are all in these domains (comma-separated);
        /// without it, mail to any domain is signed.
        #[arg(long, value_name = "DOMAINS", value_delimiter = ',')]
        only_domains: Vec<String>,
    },
    /// List a contract's certificates with their expiry (expired, or expiring within 30 days,
    /// is flagged).
    List {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// Remove a certificate; mail is no longer signed with it (within a minute on running
    /// relays).
    Remove {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The certificate's ID, as `smime list` shows it.
        id: i64,
    },
}

/// The shape `--json` prints, from the store's record.
pub(crate) fn shown(c: &SmimeCertificate, now: Timestamp) -> api::SmimeCertificate {
    api::SmimeCertificate {
        id: c.id,
        customer_id: c.customer_id.clone(),
        subject: c.subject.clone(),
        addresses: c.addresses.clone(),
        only_domains: c.only_domains.clone(),
        not_before: c.not_before.into(),
        not_after: c.not_after.into(),
        expiry: api::CertificateExpiry::at(c.not_before, c.not_after, now),
        created_at: c.created_at.into(),
    }
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub async fn run(cmd: SmimeCommand, store: &Store, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    let now = Timestamp::now();
    match cmd {
        SmimeCommand::Install {
            customer_id,
            cert,
            key,
            pkcs12,
            password,
            password_stdin,
            only_domains,
        } => {
            require_contract(store, &customer_id).await?;
            let signer = match (cert, key, pkcs12) {
                (Some(cert), Some(key), None) => Signer::from_pem(&read(&cert)?, &read(&key)?)?,
                (None, None, Some(file)) => {
                    let password = match (password, password_stdin) {
                        (Some(p), false) => p,
                        (None, true) => password_from_stdin()?,
                        _ => bail!("a PKCS#12 file needs its password: --password-stdin"),
                    };
                    Signer::from_pkcs12(&read(&file)?, &password)?
                }
                _ => bail!("give --cert and --key (PEM), or --pkcs12 (with --password-stdin)"),
            };
            let info = signer.certificate();
            if info.addresses.is_empty() {
                bail!(
                    "the certificate {:?} names no e-mail address (subjectAltName rfc822Name \
                     or emailAddress), so no From address could match it",
                    info.subject
                );
            }
            let installed = store
                .add_smime_certificate(
                    &customer_id,
                    &NewSmimeCertificate {
                        subject: &info.subject,
                        chain_pem: &signer.chain_pem(),
                        key_pem: signer.key_pem(),
                        addresses: &info.addresses,
                        not_before: info.not_before.into(),
                        not_after: info.not_after.into(),
                        only_domains: &only_domains,
                    },
                )
                .await?;
            let shown = shown(&installed, now);
            out.print(&shown, || {
                let mut text = [
                    field("certificate ID", &shown.id.to_string()),
                    field("subject", &shown.subject),
                    field("addresses", &shown.addresses.join(", ")),
                    field("key", &info.key_algorithm.to_string()),
                    field(
                        "valid",
                        &format!("{} to {}", shown.not_before, shown.not_after),
                    ),
                    field("domains", &domains(&shown.only_domains)),
                ]
                .concat();
                if shown.expiry != api::CertificateExpiry::Valid {
                    text.push_str(&format!(
                        "warning: the certificate is {}\n",
                        shown.expiry.as_str()
                    ));
                }
                text
            })
        }
        SmimeCommand::List { customer_id } => {
            require_contract(store, &customer_id).await?;
            let certificates: Vec<api::SmimeCertificate> = store
                .smime_certificates(&customer_id)
                .await?
                .iter()
                .map(|c| shown(c, now))
                .collect();
            out.print(
                &api::SmimeCertificateList {
                    certificates: certificates.clone(),
                },
                || {
                    let mut table = Table::new([
                        "ID",
                        "SUBJECT",
                        "ADDRESSES",
                        "DOMAINS",
                        "NOT AFTER",
                        "EXPIRY",
                    ]);
                    for c in &certificates {
                        let expiry = match c.expiry {
                            api::CertificateExpiry::Valid => "valid".to_string(),
                            other => format!("{} (!)", other.as_str()),
                        };
                        table.row([
                            c.id.to_string(),
                            c.subject.clone(),
                            c.addresses.join(", "),
                            domains(&c.only_domains),
                            c.not_after.to_string(),
                            expiry,
                        ]);
                    }
                    table.render("no S/MIME certificates")
                },
            )
        }
        SmimeCommand::Remove { customer_id, id } => {
            require_contract(store, &customer_id).await?;
            if !store.remove_smime_certificate(&customer_id, id).await? {
                bail!("contract {customer_id} has no S/MIME certificate {id}");
            }
            out.print(&serde_json::json!({ "removed": id }), || {
                format!("removed S/MIME certificate {id} of contract {customer_id}\n")
            })
        }
    }
}

fn domains(only: &[String]) -> String {
    if only.is_empty() {
        "all".to_string()
    } else {
        only.join(",")
    }
}
