//! DKIM signatures verified by Python's dkimpy (an independent implementation), with the
//! public keys taken from the records a domain's view says to publish.

use serde_json::Value;

/// Verifies every DKIM-Signature of `raw` with dkimpy, answering DNS from `records`.
pub fn dkimpy_verifies(raw: &[u8], records: &Value) -> Result<usize, String> {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("m.eml");
    std::fs::write(&eml, raw).unwrap();
    let txt: serde_json::Map<String, Value> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "TXT")
        .map(|r| (r["host"].as_str().unwrap().to_string(), r["value"].clone()))
        .collect();
    let zone = dir.path().join("zone.json");
    std::fs::write(&zone, Value::Object(txt).to_string()).unwrap();
    let script = r#"
import json, sys, dkim
raw = open(sys.argv[1], 'rb').read()
zone = json.load(open(sys.argv[2]))
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    value = zone.get(name.rstrip('.'))
    return value.encode() if value else None
d = dkim.DKIM(raw)
count = sum(1 for h in d.headers if h[0].lower() == b'dkim-signature')
ok = [d.verify(idx=i, dnsfunc=dnsfunc) for i in range(count)]
print(json.dumps(ok))
sys.exit(0 if count and all(ok) else 1)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&eml)
        .arg(&zone)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        Ok(serde_json::from_str::<Vec<bool>>(stdout.trim())
            .map(|v| v.len())
            .unwrap_or(0))
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

pub fn dkimpy_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import dkim, nacl"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("dkimpy and pynacl are required in CI (.ci/run installs them)");
    }
    ok
}
