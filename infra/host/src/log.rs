//! One JSON object per line on stderr: the host's access log and events. Values are
//! passed in already redacted; nothing here sees a credential.

use std::io::Write;

pub fn event(kind: &str, fields: &[(&str, &str)]) {
    let mut obj = serde_json::Map::new();
    obj.insert("ts".into(), now_rfc3339().into());
    obj.insert("event".into(), kind.into());
    for (k, v) in fields {
        obj.insert((*k).into(), (*v).into());
    }
    write_line(serde_json::Value::Object(obj));
}

pub fn write_line(value: serde_json::Value) {
    let mut line = value.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
