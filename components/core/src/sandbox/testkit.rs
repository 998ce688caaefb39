//! Building sandbox requests and reading replies in tests.

use super::{Carrier, Reply, SandboxRequest, SandboxResponse, handle};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// "Now" in every test: 2027-01-15T08:00:00Z, a Friday.
pub const NOW: i64 = 1_800_000_000;
pub const SEED: u64 = 42;

/// A request under construction.
pub struct Req {
    pub carrier: Carrier,
    pub method: &'static str,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub fn req(carrier: Carrier, method: &'static str, path: &str) -> Req {
    Req {
        carrier,
        method,
        path: path.to_string(),
        query: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn basic(self, user: &str, password: &str) -> Self {
        let encoded = STANDARD.encode(format!("{user}:{password}"));
        self.header("Authorization", &format!("Basic {encoded}"))
    }

    pub fn query(mut self, query: &str) -> Self {
        self.query = query.to_string();
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = body.to_string().into_bytes();
        self.header("Content-Type", "application/json")
    }

    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        self.body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes();
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    /// The reply with [`SEED`].
    pub fn reply(&self) -> Reply {
        self.reply_seeded(SEED)
    }

    pub fn reply_seeded(&self, seed: u64) -> Reply {
        let request = SandboxRequest {
            method: self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        };
        handle(self.carrier, &request, NOW, seed)
    }

    /// The response (panics on a hang) and its delay.
    pub fn send_delayed(&self) -> (Res, u64) {
        match self.reply() {
            Reply::Answer { response, delay_ms } => (Res(response), delay_ms),
            Reply::Hang => panic!("the sandbox hung"),
        }
    }

    pub fn send(&self) -> Res {
        self.send_delayed().0
    }
}

/// A response, with readers.
#[derive(Debug)]
pub struct Res(pub SandboxResponse);

impl Res {
    pub fn status(&self) -> u16 {
        self.0.status
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.0.header(name)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.0.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.0.body)))
    }

    /// Asserts the status, with the body in the message.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.0.body)
        );
        self.json()
    }
}
