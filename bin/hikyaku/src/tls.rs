//! The STARTTLS certificate: the operator's, or a self-signed one made at first start and kept
//! in the data directory so that it stays the same across restarts.

use anyhow::Context;
use hikyaku_config::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the certificate came from, for the start-up banner.
pub enum CertificateSource {
    Configured(PathBuf),
    SelfSigned(PathBuf),
}

pub fn server_config(
    config: &Config,
    hostname: &str,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, CertificateSource)> {
    let (cert_path, key_path, source) = match (&config.relay.tls_certificate, &config.relay.tls_key)
    {
        (Some(cert), Some(key)) => (
            cert.clone(),
            key.clone(),
            CertificateSource::Configured(cert.clone()),
        ),
        _ => {
            let dir = config.tls_dir();
            let (cert, key) = (dir.join("self-signed.crt"), dir.join("self-signed.key"));
            if !cert.exists() || !key.exists() {
                generate_self_signed(&dir, &cert, &key, hostname)?;
            }
            (cert.clone(), key, CertificateSource::SelfSigned(cert))
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("cannot read TLS certificate {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad PEM in {}", cert_path.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "no certificate in {}",
        cert_path.display()
    );
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("cannot read TLS key {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not fit together")?;
    Ok((Arc::new(tls), source))
}

fn generate_self_signed(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    hostname: &str,
) -> anyhow::Result<()> {
    crate::permissions::create_data_dir(dir)?;
    let names = vec![hostname.to_string(), "localhost".to_string()];
    let certified =
        rcgen::generate_simple_self_signed(names).context("cannot generate a certificate")?;
    write_private(key_path, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, certified.cert.pem())?;
    Ok(())
}

/// Writes a file only its owner can read, atomically.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
