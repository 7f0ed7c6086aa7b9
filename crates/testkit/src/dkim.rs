//! DKIM verdicts of two independent verifiers that we did not write: Python's dkimpy (with
//! PyNaCl for Ed25519) and OpenDKIM's own test mode (`opendkim -t`), each given the key
//! records to use instead of DNS.

use std::io::Write;
use std::process::{Command, Stdio};

/// The verifier's script: every DKIM-Signature of the message on stdin, by index, against the
/// records in argv[1] (JSON: name → TXT value); one line per signature, `pass d= s= a=` or
/// `fail …`.
const DKIMPY_SCRIPT: &str = r#"
import json, sys, re
import dkim
import nacl  # Ed25519: dkimpy verifies ed25519-sha256 only with PyNaCl
records = json.loads(sys.argv[1])
message = sys.stdin.buffer.read()
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    return records.get(name.rstrip('.').lower(), '').encode()
head = re.split(rb'\r?\n\r?\n', message, maxsplit=1)[0]
count = len(re.findall(rb'(?im)^dkim-signature\s*:', head))
if count == 0:
    print('none')
for i in range(count):
    d = dkim.DKIM(message, minkey=1024)
    try:
        ok = d.verify(idx=i, dnsfunc=dnsfunc)
        tags = d.signature_fields
        print('%s d=%s s=%s a=%s' % ('pass' if ok else 'fail', tags.get(b'd', b'').decode(),
              tags.get(b's', b'').decode(), tags.get(b'a', b'').decode()))
    except Exception as e:
        print('fail %s: %s' % (type(e).__name__, e))
"#;

/// dkimpy's verdict on every signature of `message`, in the order they appear: `pass d=… s=…
/// a=…` or `fail …` per signature (`none` when there is none). `None` when python3, dkimpy or
/// PyNaCl is missing outside CI (the README's set-up installs them).
pub fn dkimpy_verify(message: &[u8], records: &[(String, String)]) -> Option<Vec<String>> {
    let python = crate::tool("python3")?;
    let probe = Command::new(&python)
        .args(["-c", "import dkim, nacl"])
        .stderr(Stdio::null())
        .status()
        .expect("python3 runs");
    if !probe.success() {
        assert!(
            !crate::require_tools(),
            "dkimpy and pynacl are required under CI=true (pip install dkimpy pynacl)"
        );
        eprintln!("skipping: dkimpy or pynacl not installed (pip install dkimpy pynacl)");
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = records
        .iter()
        .map(|(name, value)| {
            (
                name.trim_end_matches('.').to_ascii_lowercase(),
                serde_json::Value::String(value.clone()),
            )
        })
        .collect();
    let mut child = Command::new(&python)
        .args(["-c", DKIMPY_SCRIPT])
        .arg(serde_json::Value::Object(map).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message)
        .expect("the message goes to dkimpy");
    let output = child.wait_with_output().expect("dkimpy finishes");
    assert!(
        output.status.success(),
        "the dkimpy script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// OpenDKIM's verdict (`opendkim -t`, test mode, with the records as its `TestDNSData`): its
/// report lines, each `…: verification (s=…, d=…, …) succeeded` or `… failed: …`. `None` when
/// opendkim is missing outside CI.
pub fn opendkim_verify(message: &[u8], records: &[(String, String)]) -> Option<Vec<String>> {
    let opendkim = crate::tool("opendkim")?;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("dns.txt");
    let mut lines = String::new();
    for (name, value) in records {
        lines.push_str(&format!("{} {value}\n", name.trim_end_matches('.')));
    }
    std::fs::write(&data, lines).unwrap();
    let conf = dir.path().join("opendkim.conf");
    std::fs::write(
        &conf,
        format!(
            "Mode v\nSyslog no\nMinimumKeyBits 1024\nTestDNSData file:{}\n",
            data.display()
        ),
    )
    .unwrap();
    let input = dir.path().join("message.eml");
    std::fs::write(&input, message).unwrap();
    let output = Command::new(opendkim)
        .arg("-x")
        .arg(&conf)
        .arg("-t")
        .arg(&input)
        .stdin(Stdio::null())
        .output()
        .expect("opendkim runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(text.lines().map(str::to_string).collect())
}
