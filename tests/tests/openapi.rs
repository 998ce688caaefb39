//! The OpenAPI contract (`components/core/openapi/waypost.yaml`) against the app: every
//! public route of spin.toml is in it and nothing else is, every schema in it compiles
//! (JSON Schema 2020-12, as OpenAPI 3.1 says), and the answers the demo app gives, the
//! gateway's own problems included, are what the contract says: a status it lists, a
//! media type it lists for that status, a body its schema accepts, the headers it
//! requires.

use reqwest::Method;
use serde_json::{Value, json};
use waypost_tests::{
    Host, HostOptions, civil_date, client, demo_document, demo_secret, dhl_event, edited,
    start_app, unix_now, us_rate_request, workspace_root,
};

const CONTRACT: &str = "urn:waypost:openapi";
/// The keys of a path item that are operations.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const ADMIN_TOKEN: &str = "openapi-test-admin";
const GLOBEX: &str = "globex_WAwrlcp2SyGGIwMdwic5jUZm-cgr1pfNKNsXhXdeYqY";
const GLOBEX_CARRIERS_ONLY: &str = "globex_n0igoyTYOJ8OueFREuxBfxlQNjur5DsKezoDQsE7Q70";
const NORDLICHT: &str = "nordlicht_YW-iF_WcMN_yDuRQHFVssr35wwfd2a3j7u-WwrteQoM";
const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";
/// The host's body limit for the contract's app: above every component's own limit, so
/// that each component's 413 is what answers (the host's `host/payload-too-large`
/// carries no request id).
const MAX_REQUEST_BODY: usize = 8 << 20;

struct Contract {
    doc: Value,
    schemas: boon::Schemas,
    compiler: boon::Compiler,
}

impl Contract {
    fn load() -> Contract {
        let path = workspace_root().join("components/core/openapi/waypost.yaml");
        let text = std::fs::read_to_string(&path).expect("the contract");
        let doc: Value = serde_yaml_ng::from_str(&text).expect("the contract is YAML");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.enable_format_assertions();
        compiler
            .add_resource(CONTRACT, doc.clone())
            .expect("the contract is a schema resource");
        Contract {
            doc,
            schemas: boon::Schemas::new(),
            compiler,
        }
    }

    fn at(&self, pointer: &str) -> &Value {
        self.doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("the contract has nothing at {pointer}"))
    }

    /// Follows a `$ref` to a component (responses, parameters) to the pointer it names.
    fn resolved(&self, pointer: String) -> String {
        match self.at(&pointer)["$ref"].as_str() {
            Some(target) => target.strip_prefix('#').expect("a local $ref").to_string(),
            None => pointer,
        }
    }

    /// `value`, or what its `$ref` names.
    fn follow<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str() {
            Some(target) => self.at(target.strip_prefix('#').expect("a local $ref")),
            None => value,
        }
    }

    fn compile(&mut self, pointer: &str) -> boon::SchemaIndex {
        let location = format!("{CONTRACT}#{}", fragment(pointer));
        self.compiler
            .compile(&location, &mut self.schemas)
            .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e:#}"))
    }

    fn validate(&mut self, pointer: &str, instance: &Value) -> Result<(), String> {
        let index = self.compile(pointer);
        self.schemas
            .validate(instance, index)
            .map_err(|e| format!("{e}"))
    }

    /// The pointer of the path item serving `path`: a `{param}` segment takes one
    /// segment, except a last `{path}`, which takes the rest (it may hold `/`).
    fn path_item(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(usize, &String)> = None;
        for template in self.at("/paths").as_object().unwrap().keys() {
            let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            let rest = parts.last() == Some(&"{path}") && segments.len() >= parts.len();
            if parts.len() != segments.len() && !rest {
                continue;
            }
            let matches = parts.iter().zip(&segments).all(|(part, segment)| {
                part.starts_with('{') && !segment.is_empty() || part == segment
            });
            let params = parts.iter().filter(|p| p.starts_with('{')).count();
            if matches && best.is_none_or(|(fewest, _)| params < fewest) {
                best = Some((params, template));
            }
        }
        best.map(|(_, template)| format!("/paths/{}", escape(template)))
    }

    /// Checks one answer against the contract; the error says what does not match.
    fn check(&mut self, method: &Method, path: &str, answer: &Answer) -> Result<(), String> {
        let item = self
            .path_item(path)
            .ok_or(format!("no path of the contract serves {path}"))?;
        let operation = format!("{item}/{}", method.as_str().to_lowercase());
        if self.doc.pointer(&operation).is_none() {
            return self.check_not_allowed(&item, answer);
        }
        let responses = self.at(&format!("{operation}/responses"));
        let status = answer.status.to_string();
        let listed = if responses.get(&status).is_some() {
            status
        } else if responses.get("default").is_some() {
            "default".to_string()
        } else {
            return Err(format!("{} is not a listed answer", answer.status));
        };
        let response = self.resolved(format!("{operation}/responses/{listed}"));
        if let Some(headers) = self.at(&response).get("headers").and_then(Value::as_object) {
            for (name, header) in headers {
                let header = self.follow(header);
                if header["required"] == true && !answer.headers.contains_key(name.as_str()) {
                    return Err(format!("the required header {name} is missing"));
                }
            }
        }
        let Some(content) = self.at(&response).get("content").and_then(Value::as_object) else {
            return match answer.body.is_empty() {
                true => Ok(()),
                false => Err("a body where the contract lists none".into()),
            };
        };
        let media = if content.contains_key(&answer.media_type) {
            answer.media_type.clone()
        } else if content.contains_key("*/*") {
            "*/*".to_string()
        } else {
            return Err(format!(
                "{} is not a media type listed for {listed}",
                answer.media_type
            ));
        };
        let schema = format!("{response}/content/{}/schema", escape(&media));
        let is_json = media == "application/json" || media.ends_with("+json");
        if !is_json {
            return Ok(());
        }
        let body: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| format!("the {media} body is not JSON: {e}"))?;
        self.validate(&schema, &body)
    }
}

impl Contract {
    /// A method the path item does not list: 405 with `Allow` naming what it lists
    /// (HEAD may come with GET) and a problem.
    fn check_not_allowed(&mut self, item: &str, answer: &Answer) -> Result<(), String> {
        if answer.status != 405 {
            return Err(format!(
                "{} for a method {item} does not list",
                answer.status
            ));
        }
        let mut listed: Vec<String> = operations_of(self.at(item))
            .map(|(method, _)| method.to_uppercase())
            .collect();
        listed.sort();
        let allow = answer.headers.get("allow").and_then(|v| v.to_str().ok());
        let mut allowed: Vec<String> = allow
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        if listed.iter().any(|m| m == "GET") && !listed.iter().any(|m| m == "HEAD") {
            allowed.retain(|m| m != "HEAD");
        }
        allowed.sort();
        if allowed != listed {
            return Err(format!("Allow is {allow:?}; the contract lists {listed:?}"));
        }
        if answer.media_type != "application/problem+json" {
            return Err(format!("a 405 of {}", answer.media_type));
        }
        let body: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        self.validate("/components/schemas/Problem", &body)
    }
}

/// The operations of a path item, by method.
fn operations_of(item: &Value) -> impl Iterator<Item = (&String, &Value)> {
    item.as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| METHODS.contains(&key.as_str()))
}

/// A JSON pointer token: `~` and `/` escaped (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer as a URI fragment: what a fragment may not hold, percent-encoded.
fn fragment(pointer: &str) -> String {
    pointer
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Answer {
    status: u16,
    media_type: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    async fn of(r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let media_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap().trim().to_ascii_lowercase())
            .unwrap_or_default();
        let body = r.bytes().await.unwrap().to_vec();
        Answer {
            status,
            media_type,
            headers,
            body,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request to make, and the status it is expected to get (the contract is checked
/// against each answer; the status keeps the case from drifting into another one).
struct Call {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    expect: u16,
    /// How many times it may be sent to get `expect` (a limit takes a few calls).
    tries: u32,
}

fn call(method: Method, path: &str, expect: u16) -> Call {
    Call {
        method,
        path: path.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        expect,
        tries: 1,
    }
}

impl Call {
    fn until_it_answers(mut self, tries: u32) -> Call {
        self.tries = tries;
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Call {
        self.headers.push((name, value.to_string()));
        self
    }

    fn key(self, key: &str) -> Call {
        self.header("x-api-key", key)
    }

    fn admin(self) -> Call {
        self.header("authorization", &format!("Bearer {ADMIN_TOKEN}"))
    }

    fn json(self, body: &Value) -> Call {
        self.body(body.to_string().into_bytes())
            .header("content-type", "application/json")
    }

    fn body(mut self, body: Vec<u8>) -> Call {
        self.body = body;
        self
    }

    /// Makes the call with `method` (its own, or HEAD for its GET).
    async fn send(&self, host: &Host, method: Method) -> reqwest::Response {
        let mut request = client()
            .request(method, host.url(&self.path))
            .body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request.send().await.unwrap()
    }
}

/// Every answer names its request in `x-request-id`, and the gateway's own problem
/// names the same in `request_id`: what an operator asks a client for. (A carrier's
/// problem, passed on as it came, has the header only.)
fn names_the_request(answer: &Answer) -> Result<(), String> {
    let header = answer
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty())
        .ok_or("no x-request-id")?;
    if answer.media_type != "application/problem+json" {
        return Ok(());
    }
    let body: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
    if !body["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("https://waypost.dev/problems/"))
    {
        return Ok(());
    }
    match body["request_id"].as_str() {
        Some(id) if id == header => Ok(()),
        id => Err(format!("request_id {id:?}, x-request-id {header}")),
    }
}

/// HEAD answers as GET does, without a body (RFC 9110 9.3.2).
fn head_matches(get: &Answer, head: &Answer) -> Result<(), String> {
    let same = |name: &str| get.headers.get(name) == head.headers.get(name);
    if head.status != get.status || head.media_type != get.media_type || !same("allow") {
        return Err(format!(
            "{} {} (allow {:?}); GET was {} {}",
            head.status,
            head.media_type,
            head.headers.get("allow"),
            get.status,
            get.media_type
        ));
    }
    if !head.body.is_empty() {
        return Err(format!("a body of {} bytes", head.body.len()));
    }
    Ok(())
}

fn calls() -> Vec<Call> {
    let today = civil_date(unix_now());
    let rates = us_rate_request(&today);
    let mut bad_rates = rates.clone();
    bad_rates["parcels"][0]["weight"]["value"] = json!(-1);
    bad_rates["colour"] = json!("red");
    let dhl_token = demo_secret("dhl_webhook_token");
    let shipment = format!("77{}", unix_now());
    let demo = demo_document();
    let invalid_document = edited(&demo, "plan = \"pro\"", "plan = \"no-such-plan\"");
    let us_only = edited(
        &demo,
        "[region]\nid = \"local\"\nserves = [\"eu\", \"us\"]",
        "[region]\nid = \"us\"",
    );
    vec![
        call(Method::GET, "/healthz", 200),
        call(Method::POST, "/healthz", 405),
        call(Method::DELETE, "/admin/config", 405).admin(),
        call(Method::POST, "/admin/tenants/globex", 405).admin(),
        call(Method::GET, "/admin/config", 200).admin(),
        call(Method::GET, "/admin/config", 401),
        call(Method::PUT, "/admin/config", 200)
            .admin()
            .body(demo.clone().into_bytes()),
        call(Method::PUT, "/admin/config", 400)
            .admin()
            .body(invalid_document.into_bytes()),
        call(Method::GET, "/admin/tenants/globex", 200).admin(),
        call(Method::GET, "/admin/tenants/no-such-tenant", 404).admin(),
        call(Method::POST, "/v1/rates", 200)
            .key(GLOBEX)
            .json(&rates),
        call(Method::POST, "/v1/rates", 400)
            .key(GLOBEX)
            .json(&bad_rates),
        call(Method::POST, "/v1/rates", 401).json(&rates),
        call(Method::POST, "/v1/rates", 403)
            .key(GLOBEX_CARRIERS_ONLY)
            .json(&rates),
        call(Method::GET, "/v1/rates", 405).key(GLOBEX),
        call(
            Method::GET,
            "/v1/carriers/dhl/track/shipments?trackingNumber=1234567890",
            200,
        )
        .key(NORDLICHT),
        call(Method::GET, "/v1/carriers/dhl/track/shipments", 401),
        call(Method::GET, "/v1/carriers/ups/api/track/v1/details/1Z", 403).key(NORDLICHT),
        call(Method::GET, "/v1/carriers/no-such-carrier/x", 404).key(NORDLICHT),
        call(Method::GET, "/v1/carriers/dhl/track/shipments", 400)
            .key(NORDLICHT)
            .header("x-waypost-deadline", "soon"),
        call(Method::POST, "/v1/carriers/dhl/track/shipments", 400)
            .key(NORDLICHT)
            .header("idempotency-key", "has spaces"),
        call(Method::POST, "/webhooks/dhl/nordlicht", 202)
            .header("x-webhook-token", &dhl_token)
            .body(dhl_event(&shipment)),
        call(Method::POST, "/webhooks/dhl/nordlicht", 200)
            .header("x-webhook-token", &dhl_token)
            .body(dhl_event(&shipment)),
        call(Method::POST, "/webhooks/dhl/nordlicht", 401)
            .header("x-webhook-token", "not-the-token")
            .body(dhl_event(&shipment)),
        call(Method::POST, "/webhooks/dhl/nordlicht", 400)
            .header("x-webhook-token", &dhl_token)
            .body(b"{\"not\": \"a DHL push\"}".to_vec()),
        call(Method::POST, "/webhooks/no-such-carrier", 404).body(b"{}".to_vec()),
        call(Method::POST, "/admin/webhooks/tick", 200).admin(),
        call(Method::GET, "/admin/webhooks/dead?tenant=nordlicht", 200).admin(),
        call(Method::GET, "/admin/webhooks/dead?tenant=Nordlicht", 400).admin(),
        call(Method::GET, "/admin/webhooks/dead?tenat=nordlicht", 400).admin(),
        call(Method::POST, "/admin/webhooks/dead/no-such-id/replay", 404).admin(),
        call(Method::GET, "/admin/webhooks/tick", 405).admin(),
        call(Method::DELETE, "/admin/webhooks/dead", 405).admin(),
        call(Method::GET, "/admin/webhooks/dead/no-such-id/replay", 405).admin(),
        call(Method::GET, "/webhooks/dhl/nordlicht", 405),
        call(Method::PUT, "/admin/config", 409)
            .admin()
            .header("if-match", "999999")
            .body(demo.into_bytes()),
        call(Method::PUT, "/admin/config", 413)
            .admin()
            .body(vec![b'#'; (4 << 20) + 1]),
        call(Method::POST, "/v1/rates", 413)
            .key(GLOBEX)
            .header("content-type", "application/json")
            .body(vec![b' '; 64 * 1024 + 1]),
        call(Method::POST, "/webhooks/dhl/nordlicht", 413)
            .header("x-webhook-token", &dhl_token)
            .body(vec![b' '; (1 << 20) + 1]),
        // DHL's own 400 (the body is no rate request), kept for the key.
        call(Method::POST, "/v1/carriers/dhl/rates", 400)
            .key(NORDLICHT)
            .header("idempotency-key", "contract-reused")
            .json(&json!({"first": true})),
        call(Method::POST, "/v1/carriers/dhl/rates", 422)
            .key(NORDLICHT)
            .header("idempotency-key", "contract-reused")
            .json(&json!({"second": true})),
        // The starter plan's key allows 10 calls a second.
        call(Method::GET, "/v1/carriers/ups/api/track/v1/details/1Z", 429)
            .key(PRAIRIE)
            .until_it_answers(30),
        call(Method::POST, "/v1/rates", 429)
            .key(PRAIRIE)
            .json(&rates)
            .until_it_answers(30),
        // From here on the region is `us`, where strict EU tenants are refused.
        call(Method::PUT, "/admin/config", 200)
            .admin()
            .body(us_only.into_bytes()),
        call(Method::POST, "/v1/rates", 421)
            .key(NORDLICHT)
            .json(&rates),
        call(
            Method::GET,
            "/v1/carriers/dhl/track/shipments?trackingNumber=1234567890",
            421,
        )
        .key(NORDLICHT),
        call(Method::POST, "/webhooks/dhl/nordlicht", 421)
            .header("x-webhook-token", &dhl_token)
            .body(dhl_event(&format!("{shipment}1"))),
    ]
}

#[test]
fn every_schema_in_the_contract_compiles() {
    let mut contract = Contract::load();
    let mut pointers: Vec<String> = contract
        .at("/components/schemas")
        .as_object()
        .unwrap()
        .keys()
        .map(|name| format!("/components/schemas/{}", escape(name)))
        .collect();
    for (template, item) in contract.at("/paths").as_object().unwrap() {
        for (method, operation) in operations_of(item) {
            let op = format!("/paths/{}/{method}", escape(template));
            for status in operation["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|r| r.0)
            {
                let response = contract.resolved(format!("{op}/responses/{status}"));
                for media in contract.at(&response)["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    pointers.push(format!("{response}/content/{}/schema", escape(media.0)));
                }
            }
            for media in operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                pointers.push(format!(
                    "{op}/requestBody/content/{}/schema",
                    escape(media.0)
                ));
            }
        }
    }
    assert!(pointers.len() > 50, "{pointers:?}");
    for pointer in pointers {
        contract.compile(&pointer);
    }
}

/// The rules of OpenAPI 3.1 a generator trips over: operation ids unique, every
/// `{param}` of a path declared as a required path parameter and no other path
/// parameter declared, responses on every operation.
#[test]
fn every_operation_is_well_formed() {
    let contract = Contract::load();
    let mut ids = std::collections::BTreeSet::new();
    let mut operations = 0;
    for (template, item) in contract.at("/paths").as_object().unwrap() {
        let in_template: std::collections::BTreeSet<&str> = template
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for key in item.as_object().unwrap().keys() {
            assert!(
                METHODS.contains(&key.as_str())
                    || matches!(key.as_str(), "parameters" | "summary" | "description"),
                "{template}: `{key}` is neither a method nor a path item field"
            );
        }
        let parameters = |list: &Value| -> Vec<Value> {
            list.as_array()
                .into_iter()
                .flatten()
                .map(|p| contract.follow(p).clone())
                .collect()
        };
        let shared = parameters(&item["parameters"]);
        for (method, operation) in operations_of(item) {
            operations += 1;
            let id = operation["operationId"].as_str();
            assert!(
                id.is_some_and(|id| ids.insert(id.to_string())),
                "{method} {template}: operationId {id:?} missing or not unique"
            );
            let mut declared = std::collections::BTreeSet::new();
            for p in shared.iter().chain(&parameters(&operation["parameters"])) {
                assert!(p["name"].is_string(), "{method} {template}: {p}");
                if p["in"] == "path" {
                    assert_eq!(p["required"], true, "{method} {template}: {p}");
                    declared.insert(p["name"].as_str().unwrap().to_string());
                }
            }
            let expected: std::collections::BTreeSet<String> =
                in_template.iter().map(|s| s.to_string()).collect();
            assert_eq!(declared, expected, "{method} {template}: path parameters");
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {template}: no responses"
            );
        }
    }
    assert!(operations >= 15, "{operations} operations");
}

#[test]
fn the_contract_has_every_public_route_and_no_other() {
    let contract = Contract::load();
    let manifest: toml::Table = std::fs::read_to_string(workspace_root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let routes: Vec<String> = manifest["trigger"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["route"].as_str().map(str::to_string))
        .collect();
    assert!(routes.len() >= 6, "{routes:?}");
    let documented: Vec<&String> = contract.at("/paths").as_object().unwrap().keys().collect();
    let serves = |route: &str, path: &str| match route.strip_suffix("...") {
        Some(prefix) => path.starts_with(prefix) && path.len() > prefix.len(),
        None => path == route,
    };
    for route in &routes {
        // A wildcard route that another, longer route covers entirely is served by
        // that one (`/admin/...` for `/admin/webhooks/...`), but it must still have a
        // documented path of its own.
        assert!(
            documented.iter().any(|path| serves(route, path)
                && !routes.iter().any(|other| other != route
                    && other.len() > route.len()
                    && serves(other, path))),
            "the route {route} of spin.toml has no path in the contract"
        );
    }
    for path in &documented {
        assert!(
            routes.iter().any(|route| serves(route, path)),
            "the contract's {path} is not served by any route of spin.toml"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_apps_answers_are_what_the_contract_says() {
    let host = start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into())],
        args: vec!["--max-request-body".into(), MAX_REQUEST_BODY.to_string()],
        ..Default::default()
    });
    let mut contract = Contract::load();
    let mut mismatches = Vec::new();
    for c in calls() {
        let mut answer = Answer::of(c.send(&host, c.method.clone()).await).await;
        for _ in 1..c.tries {
            if answer.status == c.expect {
                break;
            }
            answer = Answer::of(c.send(&host, c.method.clone()).await).await;
        }
        let case = format!("{} {} ({})", c.method, c.path, answer.status);
        if answer.status != c.expect {
            mismatches.push(format!("{case}: expected {}: {}", c.expect, answer.text()));
            continue;
        }
        let path = c.path.split('?').next().unwrap();
        if let Err(e) = contract.check(&c.method, path, &answer) {
            mismatches.push(format!("{case}: {e}\n  {}", answer.text()));
        }
        if let Err(e) = names_the_request(&answer) {
            mismatches.push(format!("{case}: {e}"));
        }
        if c.method == Method::GET {
            let head = Answer::of(c.send(&host, Method::HEAD).await).await;
            if let Err(e) = head_matches(&answer, &head) {
                mismatches.push(format!("HEAD {}: {e}", c.path));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A change made to a valid rate request.
type Edit = fn(&mut Value);

/// The rate request schema and the gateway's own validation agree on what is a valid
/// request, both ways.
#[tokio::test(flavor = "multi_thread")]
async fn the_rate_request_schema_accepts_what_the_gateway_accepts() {
    let host = start_app(HostOptions::default());
    let mut contract = Contract::load();
    let schema = "/components/schemas/RateRequest";
    let today = civil_date(unix_now());
    let valid = us_rate_request(&today);
    let edits: Vec<(&str, Edit)> = vec![
        ("as it is", |_| {}),
        ("sorted by delivery", |r| r["sort"] = json!("delivery")),
        ("an unknown field", |r| r["colour"] = json!("red")),
        ("no parcels", |r| r["parcels"] = json!([])),
        ("a zero weight", |r| {
            r["parcels"][0]["weight"]["value"] = json!(0)
        }),
        ("grams", |r| r["parcels"][0]["weight"]["unit"] = json!("g")),
        ("a lowercase country", |r| {
            r["origin"]["country"] = json!("us")
        }),
        ("a currency", |r| r["currency"] = json!("EUR")),
        ("no ship date", |r| {
            r.as_object_mut().unwrap().remove("ship_date");
        }),
        ("a service level", |r| {
            r["service_levels"] = json!(["ground"])
        }),
        ("an unknown service level", |r| {
            r["service_levels"] = json!(["teleport"])
        }),
        ("null options", |r| {
            for name in ["carriers", "service_levels", "currency", "sort"] {
                r[name] = Value::Null;
            }
            r["destination"]["residential"] = Value::Null;
            r["destination"]["address_lines"] = Value::Null;
        }),
        ("a blank city", |r| r["origin"]["city"] = json!("   ")),
        ("a blank postal code", |r| {
            r["origin"]["postal_code"] = json!("  ")
        }),
        ("a control character in a city", |r| {
            r["origin"]["city"] = json!("Alpha\u{7}retta")
        }),
        ("a blank address line", |r| {
            r["destination"]["address_lines"] = json!([" "])
        }),
    ];
    for (what, edit) in edits {
        let mut request = valid.clone();
        edit(&mut request);
        let schema_says = contract.validate(schema, &request);
        let r = loop {
            let r = client()
                .post(host.url("/v1/rates"))
                .header("x-api-key", GLOBEX)
                .json(&request)
                .send()
                .await
                .unwrap();
            // The key's plan allows a few rate requests a second.
            if r.status() != 429 {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        let status = r.status().as_u16();
        let gateway_accepts = status != 400;
        assert_eq!(
            schema_says.is_ok(),
            gateway_accepts,
            "{what}: the schema says {schema_says:?}, the gateway answered {status}: {}",
            r.text().await.unwrap()
        );
    }
}
