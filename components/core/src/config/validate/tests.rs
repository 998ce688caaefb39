use super::*;

const HASH_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HASH_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A small valid document; tests break one thing at a time with `replace`.
fn base() -> String {
    format!(
        r#"[region]
id = "eu"

[regions]
eu = "https://eu.example"
us = "https://us.example"

[[tenants]]
id = "acme"
home = "eu"
residency = "strict"
plan = "basic"
issuers = ["idp"]
keys = [
  {{ hash = "{HASH_A}", state = "active" }},
]
carriers = [
  {{ carrier = "dhl", account = "platform" }},
]

[[tenants]]
id = "globex"
home = "us"
residency = "relaxed"
allowed_regions = ["eu"]
plan = "basic"
keys = [{{ hash = "{HASH_B}", state = "active", expires = 2030-01-01T00:00:00Z }}]
carriers = [
  {{ carrier = "ups", account = "A1", credentials = {{ client_id = "globex_ups_id", client_secret = "globex_ups_secret" }} }},
]

[[issuers]]
id = "idp"
iss = "https://idp.example"
audiences = ["waypost"]
tenant_claim = "tenant"
keys = [{{ kid = "k1", alg = "HS256", secret = "idp_secret" }}]

[[routes]]
id = "rates"
path = "/v1/rates"
scopes = ["rates"]

[[carriers]]
id = "ups"
adapter = "ups"
token_url = "https://ups.example/token"
platform = {{ credentials = {{ client_id = "ups_id", client_secret = "ups_secret" }} }}
upstreams = [{{ id = "us", region = "us", url = "https://ups.example" }}]

[[carriers]]
id = "dhl"
adapter = "dhl"
platform = {{ credentials = {{ username = "dhl_user", password = "dhl_password" }} }}
upstreams = [{{ id = "eu", region = "eu", url = "https://dhl.example" }}]
fallback = ["dhl-backup"]

[[carriers]]
id = "dhl-backup"
adapter = "dhl"
platform = {{ account_number = "B1", credentials = {{ username = "dhl_user", password = "dhl_password" }} }}
upstreams = [{{ id = "eu", region = "eu", url = "https://backup.dhl.example" }}]

[[plans]]
id = "basic"
limits = [{{ id = "tenant", per = "tenant", rate = 100, window_secs = 60 }}]

[[account_limits]]
carrier = "ups"
account = "A1"
rate = 10
window_secs = 1

[[webhooks]]
carrier = "dhl"
signature = {{ scheme = "static-token", header = "x-token" }}
secrets = ["dhl_hook_token"]
event_id = "body-hash"

[[subscriptions]]
id = "acme-events"
tenant = "acme"
url = "https://hooks.acme.example/in"
secret = "acme_hook_secret"
"#
    )
}

const RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0xoLz2c7v6bjO6ki4jVR
vrZDiRxNlb5JtdDUFmqToleHiX4AG66WUVBgAeaMn53gN5kWtdqd7LC1a/L+QLcD
EXXd4vDfrrAG3qyogIGBmJSjcPdRfEGEXpQNRhAHpbjhulviv9EJgrRtV+7LSFTE
nbuFzVdKSogfQ/G+CUpeSbBEvopnMuZb2kdTr9KgWSsJGHI9aCoFZANJCYrDs/sa
4MDR8G6xvkDRVGtxORL5PoHHMn7fwMWSs/2iASUcQfz8rNgxcx2Mc/qPMzNkK1aX
875vgE4DZYfwTLqZpzBcKwPxyFf92fTXLbZTnLlt98UwfdiZzFiHTUty7NA6P3af
rwIDAQAB
-----END PUBLIC KEY-----";
const P256_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHzUQrsFs0m8CHzWUUZVgTRxn5Uxe
OnH7OsMkRh+TNDgIAn8VBGAp71y7hKzw0i3yXv1sMlT1ont+tYxlVPnKKw==
-----END PUBLIC KEY-----";
const P384_PUB: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE2eVIm8W3i+/X/wdaz9nNDfU/NgtUMJQ/
ppgNHYRXk8cwjdH6x6eNUVdWoCf4Ui2zFlodD5HGlKvYX3o7bnLvx0QjvIIDnZpK
aH74rKvNlMNCqqMORJaEMIPUHyC0gWlS
-----END PUBLIC KEY-----";
const ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAlM90F+DtfRCSogUagSTLKhKtWMkGCwmJYXg8ybwPwfU=
-----END PUBLIC KEY-----";

/// Replaces exactly one occurrence (so a test cannot silently miss its target).
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replacen(from, to, 1)
}

/// 1-based line of the only occurrence of `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "{needle:?} must occur once"
    );
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_and_validate(text) {
        Ok(_) => panic!("expected errors, the document is valid:\n{text}"),
        Err(errors) => errors,
    }
}

/// The document has exactly these errors: (path, line, part of the message).
fn assert_errors(text: &str, expected: &[(&str, usize, &str)]) {
    let found = errors(text);
    let show = || {
        found
            .iter()
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(found.len(), expected.len(), "errors:\n{}", show());
    for (path, line, fragment) in expected {
        assert!(
            found
                .iter()
                .any(|e| e.path == *path && e.line == Some(*line) && e.message.contains(fragment)),
            "no error at {path} line {line} containing {fragment:?}; errors:\n{}",
            show()
        );
    }
}

fn assert_one(text: &str, path: &str, needle: &str, fragment: &str) {
    assert_errors(text, &[(path, line_of(text, needle), fragment)]);
}

// ----------------------------------------------------------------------------- valid

#[test]
fn base_document_is_valid() {
    let doc = parse_and_validate(&base()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(doc.tenants.len(), 2);
    assert_eq!(doc.issuers[0].leeway_secs, 30, "default leeway");
    assert_eq!(doc.carriers[0].timeout_ms, 10_000, "default timeout");
    assert_eq!(
        doc.plans[0].limits[0].fail,
        FailMode::Open,
        "plan limits fail open by default"
    );
    assert_eq!(
        doc.account_limits[0].fail,
        FailMode::Closed,
        "account limits fail closed by default"
    );
    assert_eq!(doc.webhooks[0].tolerance_secs, 300);
    assert_eq!(doc.webhooks[0].dedup_window_secs, 72 * 3600);
    assert_eq!(doc.subscriptions[0].events, vec!["*"]);
    assert_eq!(doc.schedule("default"), Some(&DEFAULT_SCHEDULE_SECS[..]));
    assert_eq!(
        doc.tenants[1].keys[0]
            .expires
            .as_ref()
            .unwrap()
            .unix_seconds(),
        Some(1_893_456_000)
    );
    assert_eq!(doc.served_regions(), vec!["eu"]);
    assert!(doc.serves("eu") && !doc.serves("us"));
}

#[test]
fn region_documents_are_valid() {
    for (name, text) in [
        (
            "local",
            include_str!("../../../../../infra/regions/local/gateway.toml"),
        ),
        (
            "eu",
            include_str!("../../../../../infra/regions/eu/gateway.toml"),
        ),
        (
            "us",
            include_str!("../../../../../infra/regions/us/gateway.toml"),
        ),
    ] {
        let doc = parse_and_validate(text).unwrap_or_else(|errors| {
            let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            panic!("{name}:\n{}", list.join("\n"))
        });
        assert_eq!(doc.region.id, name);
        assert!(doc.tenants.len() >= 3, "{name}");
        let ids: Vec<&str> = doc.carriers.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["ups", "fedex", "dhl", "usps"], "{name}");
        let strict_eu = doc.tenant("nordlicht").unwrap();
        assert_eq!(
            (strict_eu.home.as_str(), strict_eu.residency),
            ("eu", Residency::Strict)
        );
        let relaxed = doc.tenant("globex").unwrap();
        assert_eq!(relaxed.residency, Residency::Relaxed);
        assert!(
            relaxed.carriers.iter().any(|c| !c.is_platform()),
            "own carrier account"
        );
        assert!(doc.tenant("prairie-supply").is_some_and(|t| t.home == "us"));
        assert!(
            doc.webhooks.len() == 4 && !doc.subscriptions.is_empty(),
            "{name}"
        );
    }
}

#[test]
fn local_demo_serves_every_home_region_through_the_sandbox() {
    let doc = parse_and_validate(include_str!(
        "../../../../../infra/regions/local/gateway.toml"
    ))
    .unwrap();
    assert!(doc.serves("eu") && doc.serves("us") && !doc.serves("local"));
    let dev = doc
        .issuer_by_iss("https://dev-issuer.waypost.local")
        .unwrap();
    assert_eq!(dev.keys[0].alg, Alg::HS256);
    assert_eq!(
        dev.keys[0].secret.as_ref().unwrap().as_str(),
        "dev_jwt_secret"
    );
    for carrier in &doc.carriers {
        for region in ["eu", "us"] {
            let up = carrier
                .upstreams
                .iter()
                .find(|u| u.region == region)
                .unwrap();
            assert_eq!(
                up.url.as_str(),
                format!("http://sandbox.spin.internal/{}", carrier.id)
            );
        }
    }
    let vars = doc.variable_names();
    assert!(vars.contains("dev_jwt_secret") && vars.contains("globex_ups_client_secret"));
    // The deprecated UPS rating route beats the generic carrier route.
    let route = doc
        .route_for("POST", "/v1/carriers/ups/api/rating/v1601/Shop")
        .unwrap();
    assert_eq!(route.id, "ups-rating-v1601");
    assert_eq!(
        doc.route_for("GET", "/v1/carriers/ups/api/track/v1/details/1Z")
            .unwrap()
            .id,
        "carriers"
    );
    assert_eq!(doc.route_for("POST", "/v1/rates").unwrap().id, "rates");
    assert!(
        doc.route_for("GET", "/v1/rates").is_none(),
        "rates is POST only"
    );
}

#[test]
fn demo_keys_match_their_hashes() {
    let doc = parse_and_validate(include_str!(
        "../../../../../infra/regions/local/gateway.toml"
    ))
    .unwrap();
    let keys = include_str!("../../../../../infra/regions/local/DEMO-KEYS.md");
    let mut found = 0;
    for word in keys.split(|c: char| c.is_whitespace() || matches!(c, '`' | '|' | '\'')) {
        let Some(tenant) = api_key_tenant(word) else {
            continue;
        };
        if doc.tenant(tenant).is_none() || word.len() < 40 {
            continue;
        }
        let (owner, _) = doc
            .api_key(KeyHash::of_key(word).as_str())
            .unwrap_or_else(|| panic!("demo key {word} is not in the document"));
        assert_eq!(owner.id, tenant);
        found += 1;
    }
    assert!(found >= 3, "found {found} demo keys");
}

// ---------------------------------------------------------------------------- syntax

#[test]
fn syntax_errors_have_lines() {
    let text = edit(&base(), "rate = 10\n", "rate = = 10\n");
    let found = errors(&text);
    assert!(!found.is_empty());
    assert_eq!(found[0].line, Some(line_of(&text, "rate = = 10")));
    assert_eq!(found[0].path, "");
}

#[test]
fn duplicate_toml_keys_are_syntax_errors() {
    let text = edit(&base(), "id = \"idp\"\n", "id = \"idp\"\nid = \"idp2\"\n");
    let found = errors(&text);
    assert_eq!(found[0].line, Some(line_of(&text, "id = \"idp2\"")));
}

// ------------------------------------------------------------------------- structure

#[test]
fn unknown_fields_are_all_reported() {
    let text = edit(
        &base(),
        "tenant_claim = \"tenant\"\n",
        "tenant_claim = \"tenant\"\nleway_secs = 5\n",
    );
    let text = edit(
        &text,
        "{ id = \"us\", region = \"us\",",
        "{ id = \"us\", regoin = \"x\", region = \"us\",",
    );
    let text = edit(&text, "[[routes]]\n", "colour = \"red\"\n[[routes]]\n");
    assert_errors(
        &text,
        &[
            (
                "issuers[0].colour",
                line_of(&text, "colour"),
                "unknown field `colour`",
            ),
            (
                "issuers[0].leway_secs",
                line_of(&text, "leway_secs"),
                "unknown field `leway_secs`",
            ),
            (
                "carriers[0].upstreams[0].regoin",
                line_of(&text, "regoin"),
                "unknown field `regoin`",
            ),
        ],
    );
}

#[test]
fn unknown_top_level_table() {
    let text = format!("{}\n[tennants]\nid = \"x\"\n", base());
    assert_one(&text, "tennants", "[tennants]", "unknown field `tennants`");
}

#[test]
fn a_signed_timestamp_must_be_one_of_the_signed_fields() {
    let hmac = |fields: &str| {
        edit(
            &base(),
            "signature = { scheme = \"static-token\", header = \"x-token\" }",
            &format!(
                "signature = {{ scheme = \"hmac-sha256\", header = \"x-hmac\", \
                 encoding = \"base64\", {fields} }}"
            ),
        )
    };
    let signed = hmac("signed_fields = [\"/ts\", \"/payload\"], timestamp = \"/ts\"");
    assert!(parse_and_validate(&signed).is_ok());
    let unsigned = hmac("signed_fields = [\"/payload\"], timestamp = \"/sent\"");
    assert_one(
        &unsigned,
        "webhooks[0].signature.timestamp",
        "timestamp = ",
        "\"/sent\" is not one of `signed_fields`",
    );
}

#[test]
fn unknown_field_inside_a_tagged_signature() {
    let text = edit(
        &base(),
        "header = \"x-token\" }",
        "header = \"x-token\", encodin = \"hex\" }",
    );
    assert_one(
        &text,
        "webhooks[0].signature.encodin",
        "encodin",
        "unknown field `encodin`",
    );
}

#[test]
fn unknown_alg_is_reported_once() {
    let text = edit(&base(), "alg = \"HS256\"", "alg = \"HS257\"");
    assert_one(
        &text,
        "issuers[0].keys[0].alg",
        "HS257",
        "unknown value `HS257`, expected one of `HS256`",
    );
}

#[test]
fn unknown_enum_values() {
    let text = edit(&base(), "residency = \"relaxed\"", "residency = \"lax\"");
    let text = edit(&text, "state = \"active\" }", "state = \"enabled\" }");
    let text = edit(&text, "per = \"tenant\"", "per = \"ip\"");
    assert_errors(
        &text,
        &[
            (
                "tenants[1].residency",
                line_of(&text, "\"lax\""),
                "unknown value `lax`",
            ),
            (
                "tenants[0].keys[0].state",
                line_of(&text, "\"enabled\""),
                "unknown value `enabled`",
            ),
            (
                "plans[0].limits[0].per",
                line_of(&text, "\"ip\""),
                "unknown value `ip`",
            ),
        ],
    );
}

#[test]
fn unknown_signature_scheme_does_not_cascade() {
    let text = edit(
        &base(),
        "scheme = \"static-token\"",
        "scheme = \"hmac-sha1\"",
    );
    assert_one(
        &text,
        "webhooks[0].signature.scheme",
        "hmac-sha1",
        "unknown value `hmac-sha1`",
    );
}

#[test]
fn unknown_event_id_source() {
    let text = edit(
        &base(),
        "event_id = \"body-hash\"",
        "event_id = { headr = \"id\" }",
    );
    assert_one(
        &text,
        "webhooks[0].event_id.headr",
        "headr",
        "unknown value `headr`",
    );
}

#[test]
fn wrong_types_are_reported_with_the_rest() {
    let text = edit(&base(), "rate = 10\n", "rate = \"ten\"\n");
    let text = edit(
        &text,
        "scopes = [\"rates\"]",
        "scopes = [\"rates\"]\nweight = -1",
    );
    let text = edit(&text, "secret = \"idp_secret\"", "secret = \"IDP\"");
    assert_errors(
        &text,
        &[
            (
                "account_limits[0].rate",
                line_of(&text, "\"ten\""),
                "invalid type: string \"ten\"",
            ),
            (
                "routes[0].weight",
                line_of(&text, "weight = -1"),
                "expected a whole number",
            ),
            // The checks of each value still run after an entry was dropped.
            (
                "issuers[0].keys[0].secret",
                line_of(&text, "\"IDP\""),
                "not a Spin variable name",
            ),
        ],
    );
}

#[test]
fn a_removed_optional_field_leaves_every_check_running() {
    let text = edit(
        &base(),
        "scopes = [\"rates\"]",
        "scopes = [\"rates\"]\ndeadline_ms = \"soon\"",
    );
    let text = edit(
        &text,
        "plan = \"basic\"\nissuers",
        "plan = \"gold\"\nissuers",
    );
    assert_errors(
        &text,
        &[
            (
                "routes[0].deadline_ms",
                line_of(&text, "\"soon\""),
                "invalid type",
            ),
            (
                "tenants[0].plan",
                line_of(&text, "\"gold\""),
                "unknown plan \"gold\"",
            ),
        ],
    );
}

#[test]
fn indexes_after_a_dropped_entry_are_those_of_the_text() {
    // keys[0] lacks `state` and is dropped; keys[1] is still called keys[1].
    let text = edit(
        &base(),
        &format!("{{ hash = \"{HASH_A}\", state = \"active\" }},"),
        &format!("{{ hash = \"{HASH_A}\" }},\n  {{ hash = \"sha256:123\", state = \"active\" }},"),
    );
    assert_errors(
        &text,
        &[
            (
                "tenants[0].keys[0]",
                line_of(&text, &format!("{{ hash = \"{HASH_A}\" }}")),
                "missing field `state`",
            ),
            (
                "tenants[0].keys[1].hash",
                line_of(&text, "sha256:123"),
                "64 lowercase hex",
            ),
        ],
    );
}

#[test]
fn missing_required_fields() {
    let text = edit(&base(), "iss = \"https://idp.example\"\n", "");
    let text = edit(
        &text,
        "{ id = \"tenant\", per = \"tenant\", rate = 100,",
        "{ id = \"tenant\", per = \"tenant\",",
    );
    assert_errors(
        &text,
        &[
            (
                "issuers[0]",
                line_of(&text, "[[issuers]]"),
                "missing field `iss`",
            ),
            (
                "plans[0].limits[0]",
                line_of(&text, "{ id = \"tenant\", per"),
                "missing field `rate`",
            ),
        ],
    );
}

#[test]
fn missing_region() {
    let text = edit(&base(), "[region]\nid = \"eu\"\n", "");
    let found = errors(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.contains("missing field `region`"));
}

// ---------------------------------------------------------------------------- duplicates

#[test]
fn duplicate_tenant_ids() {
    let text = edit(&base(), "id = \"globex\"", "id = \"acme\"");
    let found = errors(&text);
    let dup = found
        .iter()
        .find(|e| e.message.contains("duplicate tenant id"))
        .unwrap();
    assert_eq!(dup.path, "tenants[1].id");
    assert_eq!(
        dup.line,
        Some(line_of(&text, "[[tenants]]\nid = \"acme\"\nhome = \"us\"") + 1)
    );
    assert!(dup.message.contains("first at tenants[0].id"), "{dup}");
}

#[test]
fn duplicate_carrier_issuer_route_plan_subscription_ids() {
    let mut text = base();
    text = edit(
        &text,
        "id = \"dhl\"\nadapter = \"dhl\"",
        "id = \"ups\"\nadapter = \"dhl\"",
    );
    text.push_str(
        "\n[[issuers]]\nid = \"idp\"\niss = \"https://other.example\"\naudiences = [\"w\"]\ntenant_claim = \"t\"\n\
         keys = [{ kid = \"k\", alg = \"HS256\", secret = \"other\" }]\n\
         \n[[routes]]\nid = \"rates\"\npath = \"/v1/other\"\n\
         \n[[plans]]\nid = \"basic\"\n\
         \n[[subscriptions]]\nid = \"acme-events\"\ntenant = \"acme\"\nurl = \"https://h.example\"\nsecret = \"s\"\n",
    );
    let found = errors(&text);
    for (path, what) in [
        ("carriers[1].id", "duplicate carrier id \"ups\""),
        ("issuers[1].id", "duplicate issuer id \"idp\""),
        ("routes[1].id", "duplicate route id \"rates\""),
        ("plans[1].id", "duplicate plan id \"basic\""),
        (
            "subscriptions[1].id",
            "duplicate subscription id \"acme-events\"",
        ),
    ] {
        let e = found
            .iter()
            .find(|e| e.path == path && e.message.contains(what))
            .unwrap_or_else(|| panic!("no {what} at {path}: {found:#?}"));
        assert!(e.line.is_some());
    }
}

#[test]
fn duplicate_key_hashes_across_tenants() {
    let text = edit(&base(), HASH_B, HASH_A);
    let line = line_of(&text, "keys = [{ hash");
    assert_errors(
        &text,
        &[("tenants[1].keys[0].hash", line, "duplicate API key hash")],
    );
}

#[test]
fn duplicate_iss() {
    let mut text = base();
    text.push_str(
        "\n[[issuers]]\nid = \"idp2\"\niss = \"https://idp.example\"\naudiences = [\"w\"]\ntenant_claim = \"t\"\n\
         keys = [{ kid = \"k\", alg = \"HS256\", secret = \"other\" }]\n",
    );
    let line = text.lines().position(|l| l == "id = \"idp2\"").unwrap() + 2;
    assert_errors(&text, &[("issuers[1].iss", line, "duplicate iss")]);
}

// ---------------------------------------------------------------------------- references

#[test]
fn unknown_carrier_of_a_tenant_displays_path_and_line() {
    let text = edit(
        &base(),
        "{ carrier = \"dhl\", account = \"platform\" }",
        "{ carrier = \"upz\", account = \"platform\" }",
    );
    let line = line_of(&text, "\"upz\"");
    assert_errors(
        &text,
        &[(
            "tenants[0].carriers[0].carrier",
            line,
            "unknown carrier \"upz\" (known: dhl, dhl-backup, ups)",
        )],
    );
    let shown = errors(&text)[0].to_string();
    assert!(
        shown.starts_with(&format!(
            "line {line}: tenants[0].carriers[0].carrier: unknown carrier \"upz\""
        )),
        "{shown}"
    );
}

#[test]
fn dangling_references() {
    let mut text = base();
    text = edit(&text, "plan = \"basic\"\nkeys", "plan = \"platinum\"\nkeys");
    text = edit(
        &text,
        "issuers = [\"idp\"]",
        "issuers = [\"idp\", \"okta\"]",
    );
    text = edit(&text, "home = \"us\"", "home = \"apac\"");
    text = edit(
        &text,
        "fallback = [\"dhl-backup\"]",
        "fallback = [\"fedx\"]",
    );
    text = edit(
        &text,
        "carrier = \"dhl\"\nsignature",
        "carrier = \"dhI\"\nsignature",
    );
    text = edit(&text, "tenant = \"acme\"", "tenant = \"acme-corp\"");
    text = edit(
        &text,
        "per = \"tenant\", rate",
        "per = \"route\", route = \"labels\", rate",
    );
    text = edit(&text, "account = \"A1\"\nrate", "account = \"B2\"\nrate");
    assert_errors(
        &text,
        &[
            (
                "tenants[1].plan",
                line_of(&text, "\"platinum\""),
                "unknown plan \"platinum\"",
            ),
            (
                "tenants[0].issuers[1]",
                line_of(&text, "\"okta\""),
                "unknown issuer \"okta\"",
            ),
            (
                "tenants[1].home",
                line_of(&text, "\"apac\""),
                "unknown region \"apac\"",
            ),
            (
                "carriers[1].fallback[0]",
                line_of(&text, "\"fedx\""),
                "unknown carrier \"fedx\"",
            ),
            (
                "webhooks[0].carrier",
                line_of(&text, "\"dhI\""),
                "unknown carrier \"dhI\"",
            ),
            (
                "subscriptions[0].tenant",
                line_of(&text, "\"acme-corp\""),
                "unknown tenant \"acme-corp\"",
            ),
            (
                "plans[0].limits[0].route",
                line_of(&text, "\"labels\""),
                "unknown route \"labels\"",
            ),
            (
                "account_limits[0].account",
                line_of(&text, "\"B2\""),
                "no tenant uses account \"B2\"",
            ),
        ],
    );
}

#[test]
fn region_identity_must_be_known() {
    let text = edit(
        &base(),
        "id = \"eu\"\n\n[regions]",
        "id = \"eu-west\"\nserves = [\"eu\", \"mars\"]\n\n[regions]",
    );
    assert_errors(
        &text,
        &[
            (
                "region.id",
                line_of(&text, "\"eu-west\""),
                "no public base URL",
            ),
            (
                "region.serves[1]",
                line_of(&text, "\"mars\""),
                "unknown region \"mars\"",
            ),
        ],
    );
}

#[test]
fn platform_account_needs_a_platform_and_own_account_needs_credentials() {
    let text = edit(
        &base(),
        "credentials = { client_id = \"globex_ups_id\", client_secret = \"globex_ups_secret\" }",
        "credentials = { client_id = \"globex_ups_id\", token = \"globex_token\" }",
    );
    let text = edit(
        &text,
        "platform = { credentials = { username = \"dhl_user\", password = \"dhl_password\" } }\n",
        "",
    );
    let line = line_of(&text, "globex_token");
    assert_errors(
        &text,
        &[
            (
                "tenants[0].carriers[0].account",
                line_of(&text, "{ carrier = \"dhl\""),
                "has no platform account",
            ),
            (
                "tenants[1].carriers[0].credentials.token",
                line,
                "unknown credential \"token\"",
            ),
            (
                "tenants[1].carriers[0].credentials",
                line,
                "needs credentials client_secret",
            ),
        ],
    );
}

#[test]
fn subscription_tier_and_carriers_must_exist() {
    let text = edit(
        &base(),
        "secret = \"acme_hook_secret\"",
        "secret = \"acme_hook_secret\"\ntier = \"gold\"\ncarriers = [\"ups\"]",
    );
    assert_errors(
        &text,
        &[
            (
                "subscriptions[0].tier",
                line_of(&text, "\"gold\""),
                "unknown tier \"gold\"",
            ),
            (
                "subscriptions[0].carriers[0]",
                line_of(&text, "carriers = [\"ups\"]"),
                "does not use carrier \"ups\"",
            ),
        ],
    );
}

// ---------------------------------------------------------------------------- formats

#[test]
fn malformed_key_hash_and_expiry() {
    let text = edit(&base(), HASH_A, "sha256:abc123");
    let text = edit(
        &text,
        "expires = 2030-01-01T00:00:00Z",
        "expires = \"next year\"",
    );
    assert_errors(
        &text,
        &[
            (
                "tenants[0].keys[0].hash",
                line_of(&text, "sha256:abc123"),
                "64 lowercase hex",
            ),
            (
                "tenants[1].keys[0].expires",
                line_of(&text, "next year"),
                "not an RFC 3339",
            ),
        ],
    );
}

#[test]
fn key_hash_must_be_a_hash_not_a_key() {
    let text = edit(&base(), HASH_A, "acme_0123456789abcdef");
    assert_one(
        &text,
        "tenants[0].keys[0].hash",
        "acme_0123",
        "expected `sha256:`",
    );
}

#[test]
fn rfc3339_strings_and_local_times() {
    let text = edit(
        &base(),
        "expires = 2030-01-01T00:00:00Z",
        "expires = \"2030-01-01T00:00:00+02:00\"",
    );
    assert!(parse_and_validate(&text).is_ok());
    let text = edit(
        &base(),
        "expires = 2030-01-01T00:00:00Z",
        "expires = 2030-01-01T00:00:00",
    );
    assert_one(
        &text,
        "tenants[1].keys[0].expires",
        "2030-01-01T00:00:00",
        "with an offset",
    );
}

#[test]
fn secrets_must_be_variable_names() {
    let text = edit(
        &base(),
        "secret = \"idp_secret\"",
        "secret = \"s3cr3t-Value!\"",
    );
    let text = edit(
        &text,
        "secrets = [\"dhl_hook_token\"]",
        "secrets = [\"dhl_hook_token\", \"DHL_TOKEN\"]",
    );
    let text = edit(
        &text,
        "client_secret = \"ups_secret\"",
        "client_secret = \"ups__secret\"",
    );
    assert_errors(
        &text,
        &[
            (
                "issuers[0].keys[0].secret",
                line_of(&text, "s3cr3t"),
                "not a Spin variable name",
            ),
            (
                "webhooks[0].secrets[1]",
                line_of(&text, "DHL_TOKEN"),
                "lowercase",
            ),
            (
                "carriers[0].platform.credentials.client_secret",
                line_of(&text, "ups__secret"),
                "`__`",
            ),
        ],
    );
}

#[test]
fn urls_must_be_http() {
    let text = edit(
        &base(),
        "url = \"https://ups.example\"",
        "url = \"ups.example\"",
    );
    let text = edit(
        &text,
        "url = \"https://hooks.acme.example/in\"",
        "url = \"https://user:pw@hooks.acme.example/in\"",
    );
    let text = edit(
        &text,
        "us = \"https://us.example\"",
        "us = \"ftp://us.example\"",
    );
    assert_errors(
        &text,
        &[
            (
                "carriers[0].upstreams[0].url",
                line_of(&text, "\"ups.example\""),
                "not an http or https URL",
            ),
            (
                "subscriptions[0].url",
                line_of(&text, "user:pw"),
                "embeds credentials",
            ),
            (
                "regions.us",
                line_of(&text, "ftp://"),
                "not an http or https URL",
            ),
        ],
    );
}

#[test]
fn tenant_ids_cannot_contain_underscores() {
    let text = edit(&base(), "id = \"globex\"", "id = \"globex_inc\"");
    assert_one(
        &text,
        "tenants[1].id",
        "globex_inc",
        "no `_`: API keys are `<tenant>_<secret>`",
    );
}

#[test]
fn hmac_alg_with_a_public_key() {
    let text = edit(
        &base(),
        "{ kid = \"k1\", alg = \"HS256\", secret = \"idp_secret\" }",
        &format!("{{ kid = \"k1\", alg = \"HS256\", public_key = \"\"\"\n{RSA_PUB}\n\"\"\" }}"),
    );
    assert_one(
        &text,
        "issuers[0].keys[0].alg",
        "alg = \"HS256\"",
        "HS256 is HMAC",
    );
}

#[test]
fn asymmetric_alg_with_a_variable() {
    let text = edit(&base(), "alg = \"HS256\"", "alg = \"RS256\"");
    assert_one(
        &text,
        "issuers[0].keys[0].alg",
        "alg = \"RS256\"",
        "RS256 is asymmetric",
    );
}

fn issuer_key(alg: &str, pem: &str) -> String {
    edit(
        &base(),
        "keys = [{ kid = \"k1\", alg = \"HS256\", secret = \"idp_secret\" }]",
        &format!(
            "[[issuers.keys]]\nkid = \"k1\"\nalg = \"{alg}\"\npublic_key = \"\"\"\n{pem}\n\"\"\""
        ),
    )
}

#[test]
fn public_keys_match_their_algorithm() {
    for (alg, pem) in [
        ("RS256", RSA_PUB),
        ("RS512", RSA_PUB),
        ("PS256", RSA_PUB),
        ("ES256", P256_PUB),
        ("ES384", P384_PUB),
        ("EdDSA", ED25519_PUB),
    ] {
        let text = issuer_key(alg, pem);
        assert!(
            parse_and_validate(&text).is_ok(),
            "{alg}: {:?}",
            parse_and_validate(&text).err()
        );
    }
    for (alg, pem, kind) in [
        ("ES256", RSA_PUB, "an RSA key"),
        ("ES256", P384_PUB, "an EC P-384 key"),
        ("RS256", P256_PUB, "an EC P-256 key"),
        ("EdDSA", P256_PUB, "an EC P-256 key"),
    ] {
        let text = issuer_key(alg, pem);
        assert_one(
            &text,
            "issuers[0].keys[0].alg",
            &format!("alg = \"{alg}\""),
            kind,
        );
    }
}

#[test]
fn private_keys_and_garbage_are_refused() {
    let private =
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----";
    let text = issuer_key("EdDSA", private);
    assert_one(
        &text,
        "issuers[0].keys[0].public_key",
        "public_key = ",
        "private keys are secrets",
    );
    let text = issuer_key(
        "EdDSA",
        "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----",
    );
    assert_one(
        &text,
        "issuers[0].keys[0].public_key",
        "public_key = ",
        "not valid base64",
    );
    let text = issuer_key("EdDSA", "ssh-ed25519 AAAAC3Nza");
    assert_one(
        &text,
        "issuers[0].keys[0].public_key",
        "public_key = ",
        "expected a PEM public key",
    );
}

#[test]
fn route_patterns_and_overlaps() {
    let mut text = base();
    text.push_str(
        "\n[[routes]]\nid = \"rates-again\"\npath = \"/v1/rates\"\nmethods = [\"POST\"]\n",
    );
    text.push_str("\n[[routes]]\nid = \"bad\"\npath = \"/v1/{*rest}/x\"\nmethods = [\"FETCH\"]\n");
    text.push_str("\n[[routes]]\nid = \"old\"\npath = \"/v0/rates\"\nsunset = 2027-01-01\n");
    assert_errors(
        &text,
        &[
            (
                "routes[1].path",
                line_of(&text, "path = \"/v1/rates\"\nmethods"),
                "same paths and methods as routes[0]",
            ),
            (
                "routes[2].path",
                line_of(&text, "{*rest}"),
                "must be the last segment",
            ),
            (
                "routes[2].methods[0]",
                line_of(&text, "FETCH"),
                "not an HTTP method",
            ),
            (
                "routes[3].sunset",
                line_of(&text, "sunset = 2027"),
                "needs `deprecated = true`",
            ),
        ],
    );
}

#[test]
fn key_scopes_must_be_required_by_some_route() {
    let text = edit(
        &base(),
        "state = \"active\" },",
        "state = \"active\", scopes = [\"rates\", \"labels\"] },",
    );
    assert_one(
        &text,
        "tenants[0].keys[0].scopes[1]",
        "\"labels\"",
        "not required by any route",
    );
}

#[test]
fn a_fallback_must_speak_the_same_api() {
    let text = edit(
        &base(),
        "fallback = [\"dhl-backup\"]",
        "fallback = [\"dhl-backup\", \"ups\"]",
    );
    assert_errors(
        &text,
        &[(
            "carriers[1].fallback[1]",
            line_of(&text, "\"ups\"]"),
            "carrier \"ups\" speaks the `ups` API, not `dhl`",
        )],
    );
}

#[test]
fn limits_and_timeouts_in_range() {
    let text = edit(
        &base(),
        "rate = 100, window_secs = 60",
        "rate = 0, window_secs = 60",
    );
    let text = edit(
        &text,
        "fallback = [\"dhl-backup\"]",
        "fallback = [\"dhl-backup\"]\nconnect_timeout_ms = 20000\ntimeout_ms = 5000",
    );
    assert_errors(
        &text,
        &[
            (
                "plans[0].limits[0].rate",
                line_of(&text, "rate = 0"),
                "out of range",
            ),
            (
                "carriers[1].connect_timeout_ms",
                line_of(&text, "connect_timeout_ms"),
                "longer than timeout_ms",
            ),
        ],
    );
}

#[test]
fn a_route_heavier_than_a_limit_is_an_error() {
    let text = edit(
        &base(),
        "scopes = [\"rates\"]\n",
        "scopes = [\"rates\"]\nweight = 101\n",
    );
    assert_one(
        &text,
        "plans[0].limits[0].rate",
        "rate = 100",
        "could never pass",
    );
}

#[test]
fn oauth_carriers_need_a_token_url() {
    let text = edit(&base(), "token_url = \"https://ups.example/token\"\n", "");
    // An absent field's error is on the line of its table.
    assert_one(
        &text,
        "carriers[0].token_url",
        "[[carriers]]\nid = \"ups\"",
        "token_url is needed",
    );
}

#[test]
fn default_tier_cannot_be_weaker_than_svix() {
    let text = format!(
        "{}\n[[tiers]]\nid = \"default\"\nschedule_secs = [0, 5, 60]\n",
        base()
    );
    assert_one(
        &text,
        "tiers[0].schedule_secs",
        "schedule_secs",
        "at least as persistent",
    );
}

// ----------------------------------------------------------------------------- residency

#[test]
fn strict_tenant_needs_an_upstream_in_its_home_region() {
    // acme (strict, eu) switches DHL (eu) for UPS (us only).
    let text = edit(
        &base(),
        "{ carrier = \"dhl\", account = \"platform\" }",
        "{ carrier = \"ups\", account = \"platform\" }",
    );
    assert_one(
        &text,
        "tenants[0].carriers[0].carrier",
        "{ carrier = \"ups\", account = \"platform\" }",
        "carrier \"ups\" has no upstream in region \"eu\", the home of strict tenant \"acme\"",
    );
    // The same carrier is fine for the relaxed tenant, and with an eu upstream.
    let fixed = edit(
        &text,
        "upstreams = [{ id = \"us\", region = \"us\", url = \"https://ups.example\" }]",
        "upstreams = [{ id = \"us\", region = \"us\", url = \"https://ups.example\" }, { id = \"eu\", region = \"eu\", url = \"https://ups.example\" }]",
    );
    assert!(
        parse_and_validate(&fixed).is_ok(),
        "{:?}",
        parse_and_validate(&fixed).err()
    );
}

#[test]
fn strict_tenant_cannot_pin_a_foreign_upstream_or_allow_regions() {
    let text = edit(
        &base(),
        "{ carrier = \"dhl\", account = \"platform\" }",
        "{ carrier = \"dhl\", account = \"platform\", upstream = \"nope\" }",
    );
    let text = edit(
        &text,
        "residency = \"strict\"",
        "residency = \"strict\"\nallowed_regions = [\"us\"]",
    );
    assert_errors(
        &text,
        &[
            (
                "tenants[0].carriers[0].upstream",
                line_of(&text, "\"nope\""),
                "has no upstream \"nope\"",
            ),
            (
                "tenants[0].allowed_regions",
                line_of(&text, "allowed_regions = [\"us\"]"),
                "is strict",
            ),
        ],
    );
}

#[test]
fn upstream_hosts_are_lower_case_host_names_and_not_defaults() {
    let dhl = "upstreams = [{ id = \"eu\", region = \"eu\", url = \"https://dhl.example\" }]";
    let text = edit(
        &base(),
        dhl,
        "upstreams = [{ id = \"eu\", region = \"eu\", url = \"https://dhl.example\" }, { id = \"beta\", region = \"eu\", url = \"https://beta.dhl.example\", host = \"dhl-beta.eu.example\" }]",
    );
    assert!(
        parse_and_validate(&text).is_ok(),
        "{:?}",
        parse_and_validate(&text).err()
    );
    let bad = edit(&text, "\"dhl-beta.eu.example\"", "\"DHL Beta\"");
    assert_one(
        &bad,
        "carriers[1].upstreams[1].host",
        "\"DHL Beta\"",
        "not a lower-case host name",
    );
    // An upstream picked by host is not the region's default upstream.
    let only_host = edit(
        &base(),
        dhl,
        "upstreams = [{ id = \"eu\", region = \"eu\", url = \"https://dhl.example\", host = \"dhl.eu.example\" }]",
    );
    assert!(
        errors(&only_host)
            .iter()
            .any(|e| e.message.contains("no default upstream"))
    );
}

// ------------------------------------------------------------------------------ all at once

#[test]
fn every_kind_of_error_at_once_in_document_order() {
    let mut text = base();
    text = edit(
        &text,
        "tenant_claim = \"tenant\"\n",
        "tenant_claim = \"tenant\"\naudience = \"x\"\n",
    );
    text = edit(
        &text,
        "{ carrier = \"dhl\", account = \"platform\" }",
        "{ carrier = \"upz\", account = \"platform\" }",
    );
    text = edit(&text, HASH_B, "sha256:nothex");
    text = edit(
        &text,
        "secret = \"acme_hook_secret\"",
        "secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
    );
    text = edit(&text, "alg = \"HS256\"", "alg = \"none\"");
    let found = errors(&text);
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "tenants[0].carriers[0].carrier",
            "tenants[1].keys[0].hash",
            "issuers[0].audience",
            "issuers[0].keys[0].alg",
            "subscriptions[0].secret",
        ],
        "{found:#?}"
    );
    let lines: Vec<usize> = found.iter().map(|e| e.line.unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn a_hedge_must_come_before_the_carrier_timeout() {
    let text = edit(
        &base(),
        "fallback = [\"dhl-backup\"]",
        "fallback = [\"dhl-backup\"]\ntimeout_ms = 5000\nhedge_after_ms = 6000",
    );
    assert_errors(
        &text,
        &[(
            "carriers[1].hedge_after_ms",
            line_of(&text, "hedge_after_ms"),
            "out of range",
        )],
    );
    let ok = edit(
        &base(),
        "fallback = [\"dhl-backup\"]",
        "fallback = [\"dhl-backup\"]\nhedge_after_ms = 200",
    );
    assert!(crate::config::parse_and_validate(&ok).is_ok());
}
