//! The console in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! chromedriver (the JSON protocol spoken here over plain HTTP/1.1). Logs in from the keyboard
//! with a TOTP code, sends a message through the API and finds it in the log search, opens its
//! message view, sees the delivery graph drawn on its canvas (then for one recipient domain over
//! a chosen range), sees the errors as pies, reads the availability page (and the month before
//! from its picker, as the operator does on theirs), checks that every form field has
//! a label and every page a title and landmarks, adds a sender domain and sees its DKIM record,
//! creates an API key and sees it once, switches to Japanese, and logs out. A failing
//! step saves a screenshot (its path is in the failure). Skipped with a note outside CI when
//! chromium or chromedriver is missing; a failure under `CI=true`.

mod common;

use common::{Backend, Server};
use hikyaku_model::Role;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// chromedriver, ended when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(body.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // chromedriver keeps connections open whatever the request says: read by length.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let (split, length) = loop {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .map_err(|_| format!("chromedriver did not answer {method} {path}"))?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "chromedriver closed before answering {method} {path}"
            ));
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("no Content-Length from chromedriver: {head}"))?;
            break (split, length);
        }
    };
    while raw.len() < split + 4 + length {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .map_err(|_| format!("chromedriver's answer to {method} {path} stopped"))?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("chromedriver closed mid-answer".into());
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let payload = raw[split + 4..split + 4 + length].to_vec();
    let value: Value = serde_json::from_slice(&payload).map_err(|e| {
        format!(
            "not JSON from chromedriver ({e}): {}",
            String::from_utf8_lossy(&payload)
        )
    })?;
    if let Some(error) = value["value"]["error"].as_str() {
        return Err(format!(
            "WebDriver {method} {path}: {error}: {}",
            value["value"]["message"].as_str().unwrap_or("")
        ));
    }
    Ok(value["value"].clone())
}

/// One browser session.
struct Session {
    driver: SocketAddr,
    id: String,
    base: String,
}

impl Session {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        http(
            self.driver,
            method,
            &format!("/session/{}{path}", self.id),
            body.as_ref(),
        )
        .await
    }

    async fn goto(&self, path: &str) -> Result<(), String> {
        self.cmd(
            "POST",
            "/url",
            Some(json!({ "url": format!("{}{path}", self.base) })),
        )
        .await
        .map(|_| ())
    }

    async fn find(&self, css: &str) -> Result<String, String> {
        // Elements may come a moment late (htmx swaps, the graph's fetch).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .cmd(
                    "POST",
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await
            {
                Ok(found) => {
                    return found
                        .as_object()
                        .and_then(|o| o.values().next())
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| format!("odd element answer for {css}: {found}"));
                }
                Err(e) if Instant::now() > deadline => return Err(format!("{css}: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let element = self.find(css).await?;
        self.cmd(
            "POST",
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await?;
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await
        .map(|_| ())
    }

    async fn click(&self, css: &str) -> Result<(), String> {
        // An htmx swap may replace the element between finding and clicking it: find again.
        let mut tries = 0;
        loop {
            let element = self.find(css).await?;
            match self
                .cmd(
                    "POST",
                    &format!("/element/{element}/click"),
                    Some(json!({})),
                )
                .await
            {
                Err(e) if e.contains("stale element") && tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other.map(|_| ()),
            }
        }
    }

    async fn script(&self, script: &str) -> Result<Value, String> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    async fn path(&self) -> Result<String, String> {
        let url = self.cmd("GET", "/url", None).await?;
        let url = url.as_str().unwrap_or("");
        Ok(url.strip_prefix(&self.base).unwrap_or(url).to_string())
    }

    /// Waits until `script` (an expression) is truthy.
    async fn wait_for(&self, what: &str, script: &str) -> Result<Value, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.script(&format!("return ({script});")).await?;
            if !(value.is_null()
                || value == json!(false)
                || value == json!("")
                || value == json!(0))
            {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every form field has a label, the page a title, a `main` and (logged in) a `nav`.
    async fn accessible(&self, page: &str, logged_in: bool) -> Result<(), String> {
        let problems = self
            .script(&format!(
                "const p = [];
                 if (!document.title.trim()) p.push('no title');
                 if (!document.querySelector('main')) p.push('no main landmark');
                 if ({logged_in} && !document.querySelector('nav[aria-label]')) p.push('no nav landmark');
                 for (const f of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {{
                   if (!(f.labels && f.labels.length) && !f.getAttribute('aria-label')) p.push('unlabelled ' + (f.id || f.name));
                 }}
                 return p;"
            ))
            .await?;
        if problems.as_array().is_some_and(|p| !p.is_empty()) {
            return Err(format!("{page}: {problems}"));
        }
        Ok(())
    }

    /// With `HIKYAKU_CONSOLE_SCREENSHOTS=DIR` set, saves the page as `DIR/NAME.png`: the
    /// README's pictures are taken this way, so they show the console as it is.
    async fn picture(&self, name: &str) -> Result<(), String> {
        let Some(dir) = std::env::var_os("HIKYAKU_CONSOLE_SCREENSHOTS") else {
            return Ok(());
        };
        let png = self.cmd("GET", "/screenshot", None).await?;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or(""))
            .map_err(|e| e.to_string())?;
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(format!("{name}.png")), bytes).map_err(|e| e.to_string())
    }

    async fn screenshot(&self, name: &str) -> Option<PathBuf> {
        let png = self.cmd("GET", "/screenshot", None).await.ok()?;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str()?)
            .ok()?;
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).ok()?;
        Some(path)
    }
}

async fn start_driver() -> Option<Driver> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        assert!(
            !in_ci(),
            "{missing:?} missing under CI=true: .ci/run installs chromium and chromium-driver"
        );
        eprintln!(
            "skipping the browser test: {missing:?} missing (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(status) = http(driver.addr, "GET", "/status", None).await
            && status["ready"] == json!(true)
        {
            return Some(driver);
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The walk's futures (every step inline, unoptimised in a debug build) outgrow the 2 MB stack
/// of a test thread: it runs on a thread of its own with room to spare.
#[test]
fn a_user_logs_in_with_totp_finds_a_message_sees_the_graph_and_switches_to_japanese() {
    let walk = std::thread::Builder::new()
        .name("browser walk".into())
        .stack_size(32 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(browser_walk())
        })
        .unwrap();
    if let Err(panic) = walk.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn browser_walk() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let server = Server::start(Backend::Sqlite).await.unwrap();
    let (a, user) = server
        .contract_with_user("shop", "taro@shop.example", Role::Admin, true)
        .await;
    let secret: Vec<u8> = (0..20).map(|i| i * 7 + 3).collect();
    server
        .store
        .set_console_totp(&a, &user, Some(&secret))
        .await
        .unwrap();
    let (_, key) = server
        .store
        .create_api_key(
            &a,
            &hikyaku_store::NewApiKey {
                name: "browser test",
                role: Role::Sender,
                see_addresses: true,
            },
        )
        .await
        .unwrap();

    // Failures an hour ago, for the error graph to draw.
    let now = hikyaku_model::Timestamp::now().as_millis();
    let failing = [
        ("gone@docomo.ne.jp", hikyaku_model::Reason::UserUnknown),
        ("old@docomo.ne.jp", hikyaku_model::Reason::UserUnknown),
        ("moved@ezweb.ne.jp", hikyaku_model::Reason::UserUnknown),
        ("full@gmail.com", hikyaku_model::Reason::MailboxFull),
        ("spam@outlook.jp", hikyaku_model::Reason::Blocked),
        ("none@nowhere.example", hikyaku_model::Reason::HostUnknown),
    ];
    let to: Vec<&str> = failing.iter().map(|(address, _)| *address).collect();
    let m = common::accept(
        &server.store,
        &a,
        now - 3_600_000,
        "info@shop.example",
        &to,
        &[],
    )
    .await;
    for (i, (_, reason)) in failing.iter().enumerate() {
        common::bounced(&server.store, m, i as u32, now - 3_500_000, *reason).await;
    }

    // The monitor's minutes of the last three hours, twelve of them with nothing answering.
    let minute = now / 60_000;
    for m in (minute - 180..minute - 120).chain(minute - 108..minute) {
        server
            .store
            .record_monitor_minute(m, "node-a", true, true, "node-a")
            .await
            .unwrap();
    }

    // A message sent through the API, as a contract's system sends it.
    let mut api = server.browser();
    let body = json!({
        "from": "info@shop.example",
        "to": "hanako@customer.example",
        "subject": "ご注文ありがとうございます",
        "text": "hello",
    })
    .to_string();
    let reply = api
        .call(
            "POST",
            "/api/v1/messages",
            &[
                ("Authorization", &format!("Bearer {key}")),
                ("Content-Type", "application/json"),
            ],
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let sent: Value = serde_json::from_slice(&reply.body).unwrap();
    let message_id = sent["message_id"].as_str().unwrap().to_string();

    let session = http(
        driver.addr,
        "POST",
        "/session",
        Some(&json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US",
                         "--accept-lang=en-US,en"],
            },
        }}})),
    )
    .await
    .expect("a Chromium session");
    let session = Session {
        driver: driver.addr,
        id: session["sessionId"].as_str().unwrap().to_string(),
        base: format!("http://{}", server.addr),
    };
    let outcome = steps(&session, &a, &secret, &message_id).await;
    let shot = match &outcome {
        Err((step, _)) => session.screenshot(step).await,
        Ok(()) => None,
    };
    let _ = http(
        driver.addr,
        "DELETE",
        &format!("/session/{}", session.id),
        None,
    )
    .await;
    if let Err((step, error)) = outcome {
        panic!("browser step {step:?} failed: {error}; screenshot: {shot:?}");
    }
}

async fn steps(
    s: &Session,
    customer: &hikyaku_model::CustomerId,
    secret: &[u8],
    message_id: &str,
) -> Result<(), (&'static str, String)> {
    let step = |name: &'static str| move |e: String| (name, e);

    // Keyboard only: type into each field, Enter submits.
    s.goto("/").await.map_err(step("open"))?;
    s.wait_for("the login page", "location.pathname === '/login'")
        .await
        .map_err(step("login page"))?;
    s.accessible("/login", false)
        .await
        .map_err(step("login page accessibility"))?;
    s.type_into("#customer_id", customer.as_str())
        .await
        .map_err(step("login"))?;
    s.type_into("#email", "taro@shop.example")
        .await
        .map_err(step("login"))?;
    s.type_into("#password", &format!("{}\u{E007}", common::PASSWORD))
        .await
        .map_err(step("login"))?;
    s.wait_for("the TOTP page", "location.pathname === '/login/totp'")
        .await
        .map_err(step("totp page"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = hikyaku_console::session::totp_code(secret, now / 30);
    s.type_into("#code", &format!("{code}\u{E007}"))
        .await
        .map_err(step("totp"))?;
    s.wait_for(
        "the dashboard",
        "location.pathname === '/' && document.querySelector('#usage-sent')",
    )
    .await
    .map_err(step("dashboard"))?;
    let lang = s
        .script("return document.documentElement.lang;")
        .await
        .map_err(step("dashboard"))?;
    if lang != json!("en") {
        return Err((
            "dashboard",
            format!("English from Accept-Language expected, got {lang}"),
        ));
    }
    s.accessible("/", true)
        .await
        .map_err(step("dashboard accessibility"))?;
    s.picture("dashboard")
        .await
        .map_err(step("dashboard picture"))?;

    // The log search finds the message; the message view shows its events.
    s.click("nav a[href='/log']").await.map_err(step("log"))?;
    s.wait_for("the log page", "location.pathname === '/log'")
        .await
        .map_err(step("log"))?;
    s.accessible("/log", true)
        .await
        .map_err(step("log accessibility"))?;
    s.type_into("#message_id", message_id)
        .await
        .map_err(step("log search"))?;
    s.click("#search").await.map_err(step("log search"))?;
    // The search answers in place and pushes its URL.
    s.wait_for(
        "the search's results",
        &format!("location.search.includes('message_id={message_id}')"),
    )
    .await
    .map_err(step("log search"))?;
    let link = format!("#results a[href='/log/messages/{message_id}']");
    s.find(&link).await.map_err(step("log search result"))?;
    s.picture("log-search").await.map_err(step("log picture"))?;
    s.click(&link).await.map_err(step("message view"))?;
    let shown = s
        .wait_for("the message view", "document.querySelector('#message-id') && document.querySelector('#message-id').textContent")
        .await
        .map_err(step("message view"))?;
    if shown != json!(message_id) {
        return Err(("message view", format!("shows {shown}")));
    }
    let text = s
        .script("return document.body.innerText;")
        .await
        .map_err(step("message view"))?;
    if !text
        .as_str()
        .unwrap_or("")
        .contains("hanako@customer.example")
    {
        return Err(("message view", format!("no recipient in {text}")));
    }

    // The graph draws: a canvas with pixels that are not all blank.
    s.goto("/graph").await.map_err(step("graph"))?;
    s.accessible("/graph", true)
        .await
        .map_err(step("graph accessibility"))?;
    s.wait_for(
        "the graph's canvas",
        "document.querySelector('#graph canvas') && document.querySelector('#graph').dataset.drawn",
    )
    .await
    .map_err(step("graph"))?;
    let inked = s
        .script(
            "const c = document.querySelector('#graph canvas');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
             return [c.width, c.height, n];",
        )
        .await
        .map_err(step("graph"))?;
    if inked[2].as_u64().unwrap_or(0) < 100 || inked[0].as_u64().unwrap_or(0) < 300 {
        return Err(("graph", format!("the canvas is blank or small: {inked}")));
    }
    s.picture("delivery-graph")
        .await
        .map_err(step("graph picture"))?;
    let failed = s
        .script("return document.querySelector('#graph').dataset.failed || '';")
        .await
        .map_err(step("graph"))?;
    if failed != json!("") {
        return Err(("graph", format!("the data did not load: {failed}")));
    }

    // One recipient domain over a chosen range: "Dates below" follows the typed dates (the
    // page's script), the domain is typed, and the graph draws that domain's figures. The
    // dates are set by script: Chromium's datetime-local field takes keys per segment in the
    // locale's order, which says nothing about the page.
    s.script(
        "const f = (ms) => { const d = new Date(ms + 9 * 3600000); \
           return d.toISOString().slice(0, 16); }; \
         const from = document.querySelector('#from'); \
         from.value = f(Date.now() - 3 * 3600000); \
         from.dispatchEvent(new Event('change')); \
         document.querySelector('#to').value = f(Date.now() + 60000); \
         return null;",
    )
    .await
    .map_err(step("graph range"))?;
    let range = s
        .script("return document.querySelector('#range').value;")
        .await
        .map_err(step("graph range"))?;
    if range != json!("custom") {
        return Err(("graph range", format!("the range list shows {range}")));
    }
    s.type_into("#domain", "Customer.example")
        .await
        .map_err(step("graph domain"))?;
    s.click("#show-graph").await.map_err(step("graph domain"))?;
    s.wait_for(
        "the domain's graph",
        "location.search.includes('domain=Customer.example') \
         && location.search.includes('range=custom') \
         && document.querySelector('#graph canvas') && document.querySelector('#graph').dataset.drawn",
    )
    .await
    .map_err(step("graph domain"))?;
    s.accessible("/graph?domain=", true)
        .await
        .map_err(step("graph domain accessibility"))?;
    let shown = s
        .script(
            "return [document.querySelector('#graph-shown').textContent, \
                     [...document.querySelectorAll('#graph-table tbody tr')] \
                       .reduce((n, row) => n + Number(row.cells[1].textContent), 0)];",
        )
        .await
        .map_err(step("graph domain"))?;
    // Per minute over three hours, the one message accepted to customer.example.
    if !shown[0].as_str().unwrap_or("").contains("customer.example")
        || !shown[0].as_str().unwrap_or("").contains("minute")
        || shown[1] != json!(1)
    {
        return Err(("graph domain", format!("shows {shown}")));
    }
    let drawn = s
        .script("return Number(document.querySelector('#graph').dataset.drawn);")
        .await
        .map_err(step("graph domain"))?;
    if !(180..=182).contains(&drawn.as_u64().unwrap_or(0)) {
        return Err((
            "graph domain",
            format!("{drawn} points drawn, 181 expected"),
        ));
    }
    s.picture("delivery-graph-domain")
        .await
        .map_err(step("graph domain picture"))?;

    // The errors as pies: chosen in the form, drawn by the server, the tables under them.
    s.goto("/errors").await.map_err(step("errors"))?;
    s.click("#view-pie").await.map_err(step("errors pie"))?;
    s.click("#show-errors").await.map_err(step("errors pie"))?;
    s.wait_for(
        "the error pies",
        "location.search.includes('view=pie') && document.querySelector('#reason-pie svg path') \
         && document.querySelector('#domain-pie svg path') && document.querySelector('#by-reason')",
    )
    .await
    .map_err(step("errors pie"))?;
    s.accessible("/errors?view=pie", true)
        .await
        .map_err(step("errors accessibility"))?;
    let fill = s
        .script("return getComputedStyle(document.querySelector('#reason-pie svg path')).fill;")
        .await
        .map_err(step("errors pie"))?;
    // The stylesheet's colour reached the slice (the pages' policy lets no inline style in).
    if fill != json!("rgb(31, 119, 180)") {
        return Err(("errors pie", format!("the first slice is filled {fill}")));
    }
    s.picture("errors-pie")
        .await
        .map_err(step("errors picture"))?;

    // Import a CSV file into the suppression list: chosen in the file field, read into the
    // form by console.js, posted as the form's text; the import job's page shows its progress
    // until it is done.
    s.goto("/suppressions")
        .await
        .map_err(step("suppressions"))?;
    s.accessible("/suppressions", true)
        .await
        .map_err(step("suppressions accessibility"))?;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bounced.csv");
    std::fs::write(
        &csv,
        "address,reason\nfirst@gone.example,closed\nsecond@gone.example,moved\n",
    )
    .unwrap();
    let field = s.find("#csv-file").await.map_err(step("import"))?;
    s.cmd(
        "POST",
        &format!("/element/{field}/value"),
        Some(json!({ "text": csv.display().to_string() })),
    )
    .await
    .map_err(step("import"))?;
    s.wait_for(
        "the file read into the form",
        "document.querySelector('#csv').value.includes('second@gone.example')",
    )
    .await
    .map_err(step("import"))?;
    s.click("#import").await.map_err(step("import"))?;
    // The job's page: htmx polls its progress until the job is done and shows the counts.
    s.wait_for(
        "the import finished",
        "document.querySelector('#import-status') \
         && document.querySelector('#import-status').dataset.state === 'done' \
         && document.querySelector('#import-progress').value === 2",
    )
    .await
    .map_err(step("import"))?;
    s.accessible("/suppressions/imports/{id}", true)
        .await
        .map_err(step("import page accessibility"))?;
    s.goto("/suppressions")
        .await
        .map_err(step("suppressions"))?;
    s.wait_for(
        "the imported list",
        "document.querySelector('#suppression-list') \
         && document.querySelector('#suppression-list').innerText.includes('second@gone.example')",
    )
    .await
    .map_err(step("import"))?;

    availability_steps(s, "/availability", Some("availability")).await?;

    settings_steps(s).await?;

    // Switch to Japanese in the settings.
    s.goto("/settings").await.map_err(step("settings"))?;
    s.accessible("/settings", true)
        .await
        .map_err(step("settings accessibility"))?;
    s.click("#language option[value='ja']")
        .await
        .map_err(step("language"))?;
    s.click("#save-language").await.map_err(step("language"))?;
    s.wait_for("Japanese", "document.documentElement.lang === 'ja'")
        .await
        .map_err(step("language"))?;
    let nav = s
        .script("return document.querySelector('nav').innerText;")
        .await
        .map_err(step("language"))?;
    if !nav.as_str().unwrap_or("").contains("ダッシュボード") {
        return Err(("language", format!("the menu is not Japanese: {nav}")));
    }
    s.goto("/").await.map_err(step("Japanese dashboard"))?;
    s.wait_for(
        "the Japanese dashboard",
        "document.documentElement.lang === 'ja' && document.querySelector('#usage-sent')",
    )
    .await
    .map_err(step("Japanese dashboard"))?;
    s.picture("dashboard-ja")
        .await
        .map_err(step("Japanese dashboard picture"))?;

    // Log out: back at the login page, and the dashboard needs a login again.
    s.click("#logout").await.map_err(step("logout"))?;
    s.wait_for("the login page", "location.pathname === '/login'")
        .await
        .map_err(step("logout"))?;
    s.goto("/").await.map_err(step("after logout"))?;
    let path = s.path().await.map_err(step("after logout"))?;
    if path != "/login" {
        return Err(("after logout", format!("at {path}")));
    }
    Ok(())
}

/// The availability page at `path` (the contract's or the operator's), from the menu: the
/// current month's figures (pictured as `picture`), then the month before chosen in the picker.
async fn availability_steps(
    s: &Session,
    path: &str,
    picture: Option<&str>,
) -> Result<(), (&'static str, String)> {
    let step = |name: &'static str| move |e: String| (name, e);
    s.click(&format!("nav a[href='{path}']"))
        .await
        .map_err(step("availability"))?;
    s.wait_for(
        "the availability page",
        &format!(
            "location.pathname === '{path}' && document.querySelector('#availability-percent')"
        ),
    )
    .await
    .map_err(step("availability"))?;
    s.accessible(path, true)
        .await
        .map_err(step("availability accessibility"))?;
    if let Some(name) = picture {
        s.picture(name)
            .await
            .map_err(step("availability picture"))?;
    }
    let previous = s
        .script("return document.querySelectorAll('#month option')[1].value;")
        .await
        .map_err(step("month picker"))?;
    let previous = previous.as_str().unwrap_or("").to_string();
    s.click(&format!("#month option[value='{previous}']"))
        .await
        .map_err(step("month picker"))?;
    s.click("#month-form button")
        .await
        .map_err(step("month picker"))?;
    s.wait_for(
        "the month before",
        &format!(
            "location.search === '?month={previous}' \
             && document.querySelector('#month').value === '{previous}' \
             && document.querySelector('#figures-h').innerText === '{previous}' \
             && document.querySelector('#measured-minutes')"
        ),
    )
    .await
    .map_err(step("month picker"))?;
    Ok(())
}

/// The contract's settings: every page accessible; a sender domain added shows its DKIM record;
/// an API key created is shown once, and only its beginning afterwards.
async fn settings_steps(s: &Session) -> Result<(), (&'static str, String)> {
    let step = |name: &'static str| move |e: String| (name, e);
    for page in [
        "/settings/allowed-ips",
        "/settings/smtp-credentials",
        "/settings/sender-domains",
        "/settings/send-control",
        "/settings/webhooks",
        "/settings/inbound-routes",
        "/settings/smime",
        "/settings/users",
        "/settings/api-keys",
    ] {
        s.goto(page).await.map_err(step("settings pages"))?;
        s.accessible(page, true)
            .await
            .map_err(step("settings accessibility"))?;
    }
    s.goto("/settings/sender-domains")
        .await
        .map_err(step("sender domain"))?;
    s.type_into("#domain", "shop.example")
        .await
        .map_err(step("sender domain"))?;
    s.click("#add-domain")
        .await
        .map_err(step("sender domain"))?;
    s.wait_for(
        "the DKIM record",
        "document.querySelector('.dkim-records') \
         && document.querySelector('.dkim-records').innerText.includes('._domainkey.shop.example') \
         && document.querySelector('.dkim-records').innerText.includes('v=DKIM1; k=rsa; p=')",
    )
    .await
    .map_err(step("sender domain"))?;
    s.goto("/settings/api-keys")
        .await
        .map_err(step("api key"))?;
    s.type_into("#key-name", "from the browser")
        .await
        .map_err(step("api key"))?;
    s.click("#create-key").await.map_err(step("api key"))?;
    let shown = s
        .wait_for(
            "the new key",
            "document.querySelector('#shown-secret') && document.querySelector('#shown-secret').innerText",
        )
        .await
        .map_err(step("api key"))?;
    let key = shown.as_str().unwrap_or("").to_string();
    if !key.starts_with("hk_") || key.len() < 20 {
        return Err(("api key", format!("not a key: {key:?}")));
    }
    s.goto("/settings/api-keys")
        .await
        .map_err(step("api key"))?;
    let page = s
        .script("return document.body.innerText;")
        .await
        .map_err(step("api key"))?;
    let page = page.as_str().unwrap_or("");
    if page.contains(&key) || !page.contains("from the browser") || !page.contains(&key[..8]) {
        return Err((
            "api key",
            format!("the key is shown again or not listed: {page}"),
        ));
    }
    Ok(())
}

/// Starts a headless Chromium session on `driver` for `server`, in English.
async fn english_session(driver: &Driver, server: &Server) -> Session {
    let session = http(
        driver.addr,
        "POST",
        "/session",
        Some(&json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US",
                         "--accept-lang=en-US,en"],
            },
        }}})),
    )
    .await
    .expect("a Chromium session");
    Session {
        driver: driver.addr,
        id: session["sessionId"].as_str().unwrap().to_string(),
        base: format!("http://{}", server.addr),
    }
}

#[tokio::test]
async fn the_operator_creates_a_contract_and_announces_a_maintenance() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let server = Server::start(Backend::Sqlite).await.unwrap();
    server
        .store
        .create_operator_user("ops@hikyaku.example", common::PASSWORD)
        .await
        .unwrap();
    let session = english_session(&driver, &server).await;
    let outcome = operator_steps(&session).await;
    let shot = match &outcome {
        Err((step, _)) => session.screenshot(&format!("operator-{step}")).await,
        Ok(()) => None,
    };
    let _ = http(
        driver.addr,
        "DELETE",
        &format!("/session/{}", session.id),
        None,
    )
    .await;
    if let Err((step, error)) = outcome {
        panic!("browser step {step:?} failed: {error}; screenshot: {shot:?}");
    }
    // What the browser did is in the store.
    let contracts = server.store.contracts().await.unwrap();
    assert_eq!(contracts.len(), 1);
    assert_eq!(contracts[0].name, "Browser Shop");
    let notices = server.store.maintenance_notices(None, 10).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].title, "Planned network work");
    assert!(!notices[0].emergency);
}

async fn operator_steps(s: &Session) -> Result<(), (&'static str, String)> {
    let step = |name: &'static str| move |e: String| (name, e);

    // The operator's own login page, from the keyboard.
    s.goto("/operator").await.map_err(step("open"))?;
    s.wait_for(
        "the operator's login page",
        "location.pathname === '/operator/login'",
    )
    .await
    .map_err(step("login page"))?;
    s.accessible("/operator/login", false)
        .await
        .map_err(step("login page accessibility"))?;
    s.type_into("#email", "ops@hikyaku.example")
        .await
        .map_err(step("login"))?;
    s.type_into("#password", &format!("{}\u{E007}", common::PASSWORD))
        .await
        .map_err(step("login"))?;
    s.wait_for(
        "the contracts page",
        "location.pathname === '/operator' && document.querySelector('#new-contract')",
    )
    .await
    .map_err(step("contracts page"))?;
    s.accessible("/operator", true)
        .await
        .map_err(step("contracts accessibility"))?;

    // A new contract.
    s.type_into("#new-name", "Browser Shop")
        .await
        .map_err(step("create contract"))?;
    s.click("#new-contract button")
        .await
        .map_err(step("create contract"))?;
    s.wait_for(
        "the new contract in the list",
        "document.querySelector('#contracts') \
         && document.querySelector('#contracts').innerText.includes('Browser Shop')",
    )
    .await
    .map_err(step("create contract"))?;
    s.picture("operator-contracts")
        .await
        .map_err(step("contracts picture"))?;

    // A maintenance notice: refused 2 days ahead, saved 20 days ahead.
    s.click("nav a[href='/operator/maintenance']")
        .await
        .map_err(step("maintenance"))?;
    s.wait_for(
        "the maintenance page",
        "location.pathname === '/operator/maintenance'",
    )
    .await
    .map_err(step("maintenance"))?;
    s.accessible("/operator/maintenance", true)
        .await
        .map_err(step("maintenance accessibility"))?;
    let fill = |days: i64| {
        format!(
            "const at = (d, h) => {{ const t = new Date(Date.now() + d * 86400000 + h * 3600000 + 9 * 3600000);
               return t.toISOString().slice(0, 16); }};
             document.querySelector('#m-starts').value = at({days}, 0);
             document.querySelector('#m-ends').value = at({days}, 2);
             return document.querySelector('#m-starts').value;"
        )
    };
    s.type_into("#m-title", "Planned network work")
        .await
        .map_err(step("maintenance form"))?;
    s.type_into("#m-body", "The relay stops for two hours.")
        .await
        .map_err(step("maintenance form"))?;
    s.script(&fill(2)).await.map_err(step("maintenance form"))?;
    s.click("#new-maintenance button")
        .await
        .map_err(step("maintenance too soon"))?;
    s.wait_for(
        "the 14-day refusal",
        "document.querySelector('[role=alert]') \
         && document.querySelector('[role=alert]').innerText.includes('14 days')",
    )
    .await
    .map_err(step("maintenance too soon"))?;
    s.script(&fill(20))
        .await
        .map_err(step("maintenance form"))?;
    s.click("#new-maintenance button")
        .await
        .map_err(step("maintenance"))?;
    s.wait_for(
        "the saved notice",
        "location.search.includes('done=announced') \
         && document.querySelector('#maintenance').innerText.includes('Planned network work')",
    )
    .await
    .map_err(step("maintenance saved"))?;

    availability_steps(s, "/operator/availability", None).await?;

    // The nodes page opens; logging out ends the session.
    s.click("nav a[href='/operator/nodes']")
        .await
        .map_err(step("nodes"))?;
    s.wait_for("the nodes page", "location.pathname === '/operator/nodes'")
        .await
        .map_err(step("nodes"))?;
    s.click("#logout").await.map_err(step("logout"))?;
    s.wait_for("the login page", "location.pathname === '/operator/login'")
        .await
        .map_err(step("logout"))?;
    Ok(())
}
