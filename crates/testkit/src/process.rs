use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Builds the configuration of one `hikyaku serve` process for a test: its own data directory,
/// listeners on port 0 (the process prints the ports it got), and any keys the test sets.
pub struct ProcessBuilder {
    binary: PathBuf,
    data_dir: Option<PathBuf>,
    keys: BTreeMap<String, Vec<(String, String)>>,
    env: Vec<(String, String)>,
}

impl ProcessBuilder {
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        let mut builder = ProcessBuilder {
            binary: binary.into(),
            data_dir: None,
            keys: BTreeMap::new(),
            env: Vec::new(),
        };
        builder.set("relay", "listen", "\"127.0.0.1:0\"");
        builder.set("http", "listen", "\"127.0.0.1:0\"");
        builder.set("bounce", "listen", "\"127.0.0.1:0\"");
        // Tests never use the system resolver: a test that wants delivery sets routes or a
        // DNS server on 127.0.0.1 and turns it on.
        builder.set("delivery", "enabled", "false");
        builder
    }

    /// Sets `key = value` in `[section]` (`""` for the top level); `value` is a TOML literal.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> &mut Self {
        let entries = self.keys.entry(section.to_string()).or_default();
        entries.retain(|(k, _)| k != key);
        entries.push((key.to_string(), value.to_string()));
        self
    }

    /// Uses an existing data directory (to restart a node on the same data).
    pub fn data_dir(&mut self, dir: &Path) -> &mut Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    fn render(&self, data_dir: &Path) -> String {
        let mut text = format!("data_dir = {:?}\n", data_dir.display().to_string());
        if let Some(top) = self.keys.get("") {
            for (k, v) in top {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        for (section, entries) in self.keys.iter().filter(|(s, _)| !s.is_empty()) {
            text.push_str(&format!("[{section}]\n"));
            for (k, v) in entries {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        text
    }

    /// Writes the config and data directory without starting anything, for CLI-only tests.
    pub fn prepare(&self) -> anyhow::Result<Prepared> {
        let temp = match &self.data_dir {
            Some(_) => None,
            None => Some(tempfile::Builder::new().prefix("hikyaku-test-").tempdir()?),
        };
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.as_ref().unwrap().path().join("data"));
        std::fs::create_dir_all(&data_dir)?;
        let config_path = data_dir.with_extension("toml");
        std::fs::write(&config_path, self.render(&data_dir))?;
        Ok(Prepared {
            binary: self.binary.clone(),
            data_dir,
            config_path,
            env: self.env.clone(),
            _temp: temp,
        })
    }

    /// Starts `hikyaku serve` and waits until it reports both listeners.
    pub fn start(&self) -> anyhow::Result<HikyakuProcess> {
        self.prepare()?.start()
    }
}

/// A written configuration and data directory; the temporary directory lives as long as this.
pub struct Prepared {
    binary: PathBuf,
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    env: Vec<(String, String)>,
    _temp: Option<tempfile::TempDir>,
}

impl Prepared {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--config").arg(&self.config_path);
        cmd.env_remove("HIKYAKU_DATA").env_remove("HIKYAKU_CONFIG");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs one CLI command (`["contract", "create", "--name", "x"]`) against this node's data.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(self.command().args(args).output()?)
    }

    /// Runs one CLI command with `input` on its standard input (`--password-stdin`).
    pub fn cli_with_input(&self, args: &[&str], input: &[u8]) -> anyhow::Result<Output> {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("piped").write_all(input)?;
        Ok(child.wait_with_output()?)
    }

    /// Like [`cli`](Self::cli) but fails unless the command succeeds; returns its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.cli(args)?;
        if !out.status.success() {
            bail!(
                "hikyaku {args:?} failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    pub fn start(self) -> anyhow::Result<HikyakuProcess> {
        let log_path = self
            .data_dir
            .with_extension(format!("{}.log", std::process::id()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut child = self
            .command()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.binary.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = HikyakuProcess {
            child,
            prepared: Some(self),
            smtp: None,
            errors: None,
            http: None,
            dns: None,
            log_path,
            stdout: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while process.smtp.is_none() || process.http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if line.contains("error server") {
                        process.errors = address_after(&line, "smtp://");
                    } else {
                        process.smtp = process.smtp.or_else(|| address_after(&line, "smtp://"));
                    }
                    process.http = process.http.or_else(|| address_after(&line, "http://"));
                    process.dns = process.dns.or_else(|| address_after(&line, "dns://"));
                    process.stdout.push(line);
                }
                Err(_) => {
                    let status = process.child.try_wait()?;
                    bail!(
                        "hikyaku did not report its listeners (exit: {status:?}); stdout: {:?}\nlog:\n{}",
                        process.stdout,
                        process.log()
                    );
                }
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Ok(process)
    }
}

fn address_after(line: &str, scheme: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(scheme)? + scheme.len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A running `hikyaku serve`.
pub struct HikyakuProcess {
    child: Child,
    prepared: Option<Prepared>,
    smtp: Option<SocketAddr>,
    /// The error server's listener, when it runs (printed before the HTTP line).
    errors: Option<SocketAddr>,
    http: Option<SocketAddr>,
    /// The DNS responder's first address, when it runs (printed before the HTTP line).
    dns: Option<SocketAddr>,
    log_path: PathBuf,
    /// What the process printed on start.
    pub stdout: Vec<String>,
}

impl HikyakuProcess {
    fn prepared(&self) -> &Prepared {
        self.prepared.as_ref().expect("present while running")
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp.expect("known after start")
    }

    /// The error server's SMTP listener (bounces, feedback reports, inbound mail).
    pub fn errors_addr(&self) -> SocketAddr {
        self.errors
            .expect("the error server runs (bounce.enabled) and was reported")
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http.expect("known after start")
    }

    /// The DNS responder's first address (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns
            .expect("the DNS responder runs (dns.responder.listen) and was reported")
    }

    pub fn data_dir(&self) -> &Path {
        &self.prepared().data_dir
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn cli_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        self.prepared().cli_ok(args)
    }

    pub fn cli(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.prepared().cli(args)
    }

    pub fn cli_with_input(&self, args: &[&str], input: &[u8]) -> anyhow::Result<Output> {
        self.prepared().cli_with_input(args, input)
    }

    /// The process's log (stderr) so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL, no chance to clean up; returns the prepared data so it can be started again.
    pub fn kill9(mut self) -> Prepared {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.into_prepared()
    }

    /// SIGTERM, then waits (up to `patience`) for a clean exit.
    pub fn terminate(mut self, patience: Duration) -> anyhow::Result<(ExitStatus, Prepared)> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok((status, self.into_prepared()));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!(
                    "hikyaku did not exit within {patience:?} of SIGTERM\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit on its own.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    fn into_prepared(mut self) -> Prepared {
        self.prepared.take().expect("taken only once")
    }
}

impl Drop for HikyakuProcess {
    fn drop(&mut self) {
        if self.prepared.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
