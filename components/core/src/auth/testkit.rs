//! Test fixtures for the auth phases: a small config document with one issuer per
//! algorithm, keys generated once per test run, and helpers that mint tokens and DPoP
//! proofs the way real issuers and clients do.

use crate::config::KeyHash;
use crate::config::store::{ConfigStore, ConfigView};
use crate::kv::MemoryKv;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::*;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// "Now" in every test: 2027-01-15T08:00:00Z.
pub const NOW: i64 = 1_800_000_000;

pub const MULTI_ISS: &str = "https://multi.example";
pub const SOLO_ISS: &str = "https://solo.example";
pub const DEMO: &str = include_str!("../../../../infra/regions/local/gateway.toml");

pub const HS256_SECRET: &str = "hs256 secret: thirty-two bytes or more";
pub const HS384_SECRET: &str = "hs384 secret: forty-eight bytes or more, for HS384";
pub const HS512_SECRET: &str = "hs512 secret: sixty-four bytes or more, because HS512 hashes wide";

/// Spin variables as the component would resolve them.
pub fn variables(name: &str) -> Option<String> {
    match name {
        "hs256_secret" => Some(HS256_SECRET.into()),
        "hs384_secret" => Some(HS384_SECRET.into()),
        "hs512_secret" => Some(HS512_SECRET.into()),
        _ => None,
    }
}

/// Private keys, as PEM, generated once (RSA generation is slow).
pub struct Keys {
    pub rsa: String,
    pub rsa_public: String,
    pub es256: String,
    pub es384: String,
    pub ed25519: String,
    pub solo: String,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa = RS256KeyPair::generate(2048).unwrap();
        Keys {
            rsa: rsa.to_pem().unwrap(),
            rsa_public: rsa.public_key().to_pem().unwrap(),
            es256: ES256KeyPair::generate().to_pem().unwrap(),
            es384: ES384KeyPair::generate().to_pem().unwrap(),
            ed25519: Ed25519KeyPair::generate().to_pem(),
            solo: ES256KeyPair::generate().to_pem().unwrap(),
        }
    })
}

/// Every algorithm of the `multi` issuer, by kid (the kid is the algorithm's name in
/// lower case).
pub const ALGS: [&str; 10] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA",
];

fn public_pem(alg: &str) -> String {
    let k = keys();
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" => k.rsa_public.clone(),
        "ES256" => ES256KeyPair::from_pem(&k.es256)
            .unwrap()
            .public_key()
            .to_pem()
            .unwrap(),
        "ES384" => ES384KeyPair::from_pem(&k.es384)
            .unwrap()
            .public_key()
            .to_pem()
            .unwrap(),
        "EdDSA" => Ed25519KeyPair::from_pem(&k.ed25519)
            .unwrap()
            .public_key()
            .to_pem(),
        _ => unreachable!("{alg}"),
    }
}

fn toml_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The test document: tenant `acme` trusts `multi` and `solo`; `initech` trusts only
/// `solo`; `multi` has one key per algorithm, `solo` one ES256 key and requires DPoP.
pub fn document() -> String {
    let mut multi_keys = String::new();
    for alg in ALGS {
        let kid = alg.to_ascii_lowercase();
        let material = if alg.starts_with("HS") {
            format!("secret = \"{kid}_secret\"")
        } else {
            format!("public_key = {}", toml_string(&public_pem(alg)))
        };
        multi_keys.push_str(&format!(
            "[[issuers.keys]]\nkid = \"{kid}\"\nalg = \"{alg}\"\n{material}\n\n"
        ));
    }
    let solo_public = ES256KeyPair::from_pem(&keys().solo)
        .unwrap()
        .public_key()
        .to_pem()
        .unwrap();
    format!(
        r#"
[region]
id = "eu"

[regions]
eu = "https://eu.waypost.example"

[[tenants]]
id = "acme"
home = "eu"
residency = "strict"
plan = "basic"
issuers = ["multi", "solo"]
keys = [{{ hash = "{acme_key}", state = "active", scopes = ["carriers"] }}]

[[tenants]]
id = "initech"
home = "eu"
residency = "strict"
plan = "basic"
issuers = ["solo"]

[[plans]]
id = "basic"
limits = [{{ id = "tenant", per = "tenant", rate = 10, window_secs = 1 }}]

[[routes]]
id = "rates"
path = "/v1/rates"
methods = ["POST"]
scopes = ["rates"]

[[routes]]
id = "carriers"
path = "/v1/carriers/{{carrier}}/{{*path}}"
scopes = ["carriers"]

[[issuers]]
id = "multi"
iss = "{MULTI_ISS}"
audiences = ["waypost", "waypost-eu"]
tenant_claim = "tenant"
leeway_secs = 30
max_age_secs = 3600
agent_claim = "sponsor"

{multi_keys}
[[issuers]]
id = "solo"
iss = "{SOLO_ISS}"
audiences = ["waypost"]
tenant_claim = "org"
dpop = "required"

[[issuers.keys]]
kid = "solo-es256"
alg = "ES256"
public_key = {solo_public}
"#,
        acme_key = KeyHash::of_key(ACME_KEY).as_str(),
        solo_public = toml_string(&solo_public),
    )
}

/// An active API key of `acme` in [`document`], scope `carriers`.
pub const ACME_KEY: &str = "acme_k3y-for-tests";

/// The demo document with one more key, owned by `globex`.
pub fn document_with_globex_key(key: &str) -> String {
    let globex_demo = "{ hash = \"sha256:697465eeba6cffbf2e608f97ccab94c6e2738d48da2da33859ede3d7387b9998\", state = \"active\", label = \"demo\" },";
    assert!(DEMO.contains(globex_demo));
    let planted = format!(
        "{globex_demo}\n  {{ hash = \"{}\", state = \"active\" }},",
        KeyHash::of_key(key).as_str()
    );
    DEMO.replacen(globex_demo, &planted, 1)
}

/// A store with `text` applied.
pub fn store(text: &str) -> MemoryKv {
    let kv = MemoryKv::new();
    ConfigStore::new(&kv)
        .apply(text, None)
        .unwrap_or_else(|e| panic!("test document applies: {e:?}"));
    kv
}

/// Runs `f` with a view of the test document.
pub fn with_view<T>(f: impl FnOnce(&ConfigView<'_, '_, MemoryKv>, &MemoryKv) -> T) -> T {
    let kv = store(&document());
    let config = ConfigStore::new(&kv);
    let view = config.view().unwrap().unwrap();
    f(&view, &kv)
}

/// Claims of a valid `multi` token for `acme`, with `changes` applied (a `null`
/// removes a claim).
pub fn claims(changes: Value) -> Value {
    let mut claims = json!({
        "iss": MULTI_ISS,
        "aud": "waypost",
        "sub": "user-1",
        "tenant": "acme",
        "iat": NOW - 10,
        "exp": NOW + 600,
        "scope": "rates carriers",
    });
    merge(&mut claims, changes);
    claims
}

/// Claims of a valid `solo` token for `acme`.
pub fn solo_claims(changes: Value) -> Value {
    let mut claims = json!({
        "iss": SOLO_ISS,
        "aud": "waypost",
        "sub": "svc-1",
        "org": "acme",
        "iat": NOW - 10,
        "exp": NOW + 600,
    });
    merge(&mut claims, changes);
    claims
}

fn merge(target: &mut Value, changes: Value) {
    let (Value::Object(target), Value::Object(changes)) = (target, changes) else {
        panic!("claims are objects");
    };
    for (name, value) in changes {
        if value.is_null() {
            target.remove(&name);
        } else {
            target.insert(name, value);
        }
    }
}

/// A token signed by the `multi` key of `alg`, with header `kid` = `kid`.
pub fn mint_with_kid(alg: &str, kid: Option<&str>, claims: &Value) -> String {
    let c: JWTClaims<Map<String, Value>> = serde_json::from_value(claims.clone()).unwrap();
    let k = keys();
    macro_rules! sign {
        ($key:expr, $method:ident) => {{
            let key = $key;
            let key = match kid {
                Some(kid) => key.with_key_id(kid),
                None => key,
            };
            key.$method(c).unwrap()
        }};
    }
    match alg {
        "HS256" => sign!(HS256Key::from_bytes(HS256_SECRET.as_bytes()), authenticate),
        "HS384" => sign!(HS384Key::from_bytes(HS384_SECRET.as_bytes()), authenticate),
        "HS512" => sign!(HS512Key::from_bytes(HS512_SECRET.as_bytes()), authenticate),
        "RS256" => sign!(RS256KeyPair::from_pem(&k.rsa).unwrap(), sign),
        "RS384" => sign!(RS384KeyPair::from_pem(&k.rsa).unwrap(), sign),
        "RS512" => sign!(RS512KeyPair::from_pem(&k.rsa).unwrap(), sign),
        "PS256" => sign!(PS256KeyPair::from_pem(&k.rsa).unwrap(), sign),
        "ES256" => sign!(ES256KeyPair::from_pem(&k.es256).unwrap(), sign),
        "ES384" => sign!(ES384KeyPair::from_pem(&k.es384).unwrap(), sign),
        "EdDSA" => sign!(Ed25519KeyPair::from_pem(&k.ed25519).unwrap(), sign),
        "solo" => sign!(ES256KeyPair::from_pem(&k.solo).unwrap(), sign),
        _ => unreachable!("{alg}"),
    }
}

/// A token signed by the `multi` key of `alg`, with its kid.
pub fn mint(alg: &str, claims: &Value) -> String {
    mint_with_kid(alg, Some(&alg.to_ascii_lowercase()), claims)
}

/// A compact JWS with any header, claims and signature bytes.
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// A client's DPoP key.
#[derive(Clone)]
pub enum ProofKey {
    Es256(String),
    Ed25519(String),
}

impl ProofKey {
    pub fn es256() -> ProofKey {
        ProofKey::Es256(ES256KeyPair::generate().to_pem().unwrap())
    }

    pub fn ed25519() -> ProofKey {
        ProofKey::Ed25519(Ed25519KeyPair::generate().to_pem())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            ProofKey::Es256(_) => "ES256",
            ProofKey::Ed25519(_) => "EdDSA",
        }
    }

    /// The public JWK, as a client puts it in the proof header.
    pub fn jwk(&self) -> Value {
        let text = match self {
            ProofKey::Es256(pem) => ES256KeyPair::from_pem(pem).unwrap().public_key().to_jwk(),
            ProofKey::Ed25519(pem) => Ed25519KeyPair::from_pem(pem).unwrap().public_key().to_jwk(),
        };
        serde_json::from_str(&text).unwrap()
    }

    /// RFC 7638 thumbprint, computed here independently of the code under test: the
    /// required members, in lexicographic order, no whitespace, SHA-256, base64url.
    pub fn jkt(&self) -> String {
        let jwk = self.jwk();
        let canonical = match self {
            ProofKey::Es256(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk["x"].as_str().unwrap(),
                jwk["y"].as_str().unwrap()
            ),
            ProofKey::Ed25519(_) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                jwk["x"].as_str().unwrap()
            ),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            ProofKey::Es256(pem) => {
                use p256::ecdsa::signature::Signer;
                let raw = ES256KeyPair::from_pem(pem).unwrap().to_bytes();
                let key = p256::ecdsa::SigningKey::from_slice(&raw).unwrap();
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            ProofKey::Ed25519(pem) => {
                let raw = Ed25519KeyPair::from_pem(pem).unwrap().to_bytes();
                let pair = ed25519_compact::KeyPair::from_slice(&raw).unwrap();
                pair.sk.sign(message, None).to_vec()
            }
        }
    }

    /// A proof with `header` and `claims` as given, signed with this key.
    pub fn sign_proof(&self, header: &Value, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The header of a well-formed proof.
    pub fn proof_header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk() })
    }

    /// A valid proof for `method url` with `access_token`, `changes` applied to its
    /// claims.
    pub fn proof(&self, method: &str, url: &str, access_token: &str, changes: Value) -> String {
        let mut claims = json!({
            "jti": format!("jti-{}", URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))),
            "htm": method,
            "htu": url,
            "iat": NOW,
            "ath": URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes())),
        });
        merge(&mut claims, changes);
        self.sign_proof(&self.proof_header(), &claims)
    }
}
