//! S/MIME test material made by the real `openssl` CLI, and its verdict on signed messages:
//! a root CA, an intermediate CA and a signer certificate for given addresses, in PEM and in
//! PKCS#12; `openssl cms -verify` against the root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The kind of key the signer gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    Rsa2048,
    EcdsaP256,
}

/// A root CA, an intermediate CA signed by it, and a signer certificate signed by the
/// intermediate, all in `dir`. The intermediate is only in the signer's chain file, so a
/// verification against the root alone passes only when the signature carries the chain.
pub struct TestPki {
    pub openssl: PathBuf,
    pub dir: PathBuf,
    /// The root CA certificate: what a receiver trusts.
    pub root: PathBuf,
    /// The signer's certificate followed by the intermediate's.
    pub chain: PathBuf,
    /// The signer's private key, unencrypted PEM.
    pub key: PathBuf,
}

fn run(openssl: &Path, dir: &Path, args: &[&str]) {
    let output = Command::new(openssl)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn key_args(key: TestKey) -> &'static [&'static str] {
    match key {
        TestKey::Rsa2048 => &["-newkey", "rsa:2048"],
        TestKey::EcdsaP256 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    }
}

impl TestPki {
    /// Makes the PKI in `dir` with a signer certificate valid for `days` days (from now) whose
    /// subject is `CN=<common_name>` plus `emailAddress=<subject_email>` when given, and whose
    /// subjectAltName lists `alt_emails`. `None` when openssl is missing outside CI.
    pub fn create(
        dir: &Path,
        key: TestKey,
        common_name: &str,
        subject_email: Option<&str>,
        alt_emails: &[&str],
        days: u32,
    ) -> Option<TestPki> {
        let openssl = crate::tool("openssl")?;
        let o = openssl.as_path();
        std::fs::write(
            dir.join("ca.ext"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
        )
        .unwrap();
        let mut signer_ext = String::from(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
             extendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid:always\n",
        );
        if !alt_emails.is_empty() {
            let names: Vec<String> = alt_emails.iter().map(|e| format!("email:{e}")).collect();
            signer_ext.push_str(&format!("subjectAltName={}\n", names.join(",")));
        }
        std::fs::write(dir.join("signer.ext"), signer_ext).unwrap();
        run(
            o,
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "root.key",
                "-out",
                "root.pem",
                "-subj",
                "/CN=Hikyaku Test Root",
                "-days",
                "3650",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        run(
            o,
            dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "inter.key",
                "-out",
                "inter.csr",
                "-subj",
                "/CN=Hikyaku Test Intermediate",
            ],
        );
        run(
            o,
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "inter.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                "2",
                "-days",
                "3650",
                "-extfile",
                "ca.ext",
                "-out",
                "inter.pem",
            ],
        );
        let subject = match subject_email {
            Some(email) => format!("/CN={common_name}/emailAddress={email}"),
            None => format!("/CN={common_name}"),
        };
        let mut req = vec!["req", "-new"];
        req.extend_from_slice(key_args(key));
        req.extend_from_slice(&[
            "-nodes",
            "-keyout",
            "signer.key",
            "-out",
            "signer.csr",
            "-subj",
            &subject,
        ]);
        run(o, dir, &req);
        let days = days.to_string();
        run(
            o,
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "signer.csr",
                "-CA",
                "inter.pem",
                "-CAkey",
                "inter.key",
                "-set_serial",
                "4660",
                "-days",
                &days,
                "-extfile",
                "signer.ext",
                "-out",
                "signer.pem",
            ],
        );
        let mut chain = std::fs::read(dir.join("signer.pem")).unwrap();
        chain.extend(std::fs::read(dir.join("inter.pem")).unwrap());
        std::fs::write(dir.join("chain.pem"), chain).unwrap();
        Some(TestPki {
            root: dir.join("root.pem"),
            chain: dir.join("chain.pem"),
            key: dir.join("signer.key"),
            dir: dir.to_path_buf(),
            openssl,
        })
    }

    /// The signer's key and chain as a PKCS#12 file protected by `password`, written by
    /// `openssl pkcs12 -export` with `extra` arguments (e.g. `-keypbe` for another cipher).
    pub fn pkcs12(&self, name: &str, password: &str, extra: &[&str]) -> PathBuf {
        let pass = format!("pass:{password}");
        let mut args = vec![
            "pkcs12",
            "-export",
            "-inkey",
            "signer.key",
            "-in",
            "chain.pem",
            "-out",
            name,
            "-passout",
            &pass,
        ];
        args.extend_from_slice(extra);
        run(&self.openssl, &self.dir, &args);
        self.dir.join(name)
    }

    /// `openssl cms -verify` of a whole signed message against the root CA alone. `Ok` with
    /// the verified content (the signed part: its header fields, an empty line, its body) or
    /// `Err` with openssl's complaint.
    pub fn verify(&self, signed: &[u8]) -> Result<Vec<u8>, String> {
        let input = tempfile::NamedTempFile::new_in(&self.dir).unwrap();
        std::fs::write(input.path(), signed).unwrap();
        let out = self.dir.join(format!(
            "verified-{}.out",
            input.path().file_name().unwrap().to_string_lossy()
        ));
        let output = Command::new(&self.openssl)
            .args(["cms", "-verify", "-CAfile"])
            .arg(&self.root)
            .arg("-in")
            .arg(input.path())
            .arg("-out")
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .expect("openssl runs");
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        let content = std::fs::read(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        Ok(content)
    }
}
