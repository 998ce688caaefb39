//! The phases together, as the auth component runs them.

use super::*;
use crate::auth::errors::{Malformed, ProofRefusal, Refusal};
use crate::auth::identity::{IDENTITY_MAC, PRINCIPAL, SCOPES, TENANT};
use crate::auth::testkit::{
    ACME_KEY, NOW, ProofKey, claims, mint, mint_with_kid, solo_claims, variables, with_view,
};
use crate::config::serving_route;
use crate::kv::MemoryKv;
use serde_json::json;

const URL: &str = "https://eu.waypost.example/v1/rates";
const APP_SECRET: &[u8] = b"the app secret keying identity headers";

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// `POST /v1/rates` with `pairs` as headers, authenticated against the test document;
/// `replays` persists across calls when given.
fn post_rates(pairs: &[(&str, &str)], replays: &MemoryKv) -> Result<Authenticated, AuthError> {
    let h = headers(pairs);
    let request = AuthRequest {
        method: "POST",
        url: URL,
        headers: &h,
    };
    with_view(|view, _| authenticate(&request, view, replays, variables, NOW))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn dpop(token: &str) -> String {
    format!("DPoP {token}")
}

#[test]
fn an_api_key_authenticates() {
    let auth = post_rates(&[("X-Api-Key", ACME_KEY)], &MemoryKv::new()).unwrap();
    assert_eq!(auth.tenant.id, "acme");
    assert_eq!(auth.principal.kind(), "key");
}

#[test]
fn a_bearer_token_authenticates() {
    let token = mint("RS256", &claims(json!({})));
    let auth = post_rates(&[("authorization", &bearer(&token))], &MemoryKv::new()).unwrap();
    assert_eq!(auth.principal.to_string(), "user:user-1");
}

#[test]
fn a_request_without_a_credential_is_refused() {
    assert_eq!(
        post_rates(&[("accept", "application/json")], &MemoryKv::new()),
        Err(AuthError::MissingCredential)
    );
}

#[test]
fn a_request_with_both_credentials_is_malformed() {
    let token = mint("HS256", &claims(json!({})));
    assert_eq!(
        post_rates(
            &[("x-api-key", ACME_KEY), ("authorization", &bearer(&token))],
            &MemoryKv::new()
        ),
        Err(AuthError::Malformed(Malformed::TwoCredentials))
    );
}

#[test]
fn a_bound_token_with_a_valid_proof_authenticates() {
    for key in [ProofKey::es256(), ProofKey::ed25519()] {
        let token = mint("ES256", &claims(json!({ "cnf": { "jkt": key.jkt() } })));
        let proof = key.proof("POST", URL, &token, json!({}));
        let auth = post_rates(
            &[("authorization", &dpop(&token)), ("dpop", &proof)],
            &MemoryKv::new(),
        );
        assert_eq!(auth.unwrap().tenant.id, "acme", "{}", key.alg());
    }
}

#[test]
fn a_replayed_proof_is_refused() {
    let key = ProofKey::es256();
    let token = mint("ES256", &claims(json!({ "cnf": { "jkt": key.jkt() } })));
    let proof = key.proof("POST", URL, &token, json!({}));
    let replays = MemoryKv::new();
    let request = [("authorization", dpop(&token)), ("dpop", proof)];
    let request: Vec<(&str, &str)> = request.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert!(post_rates(&request, &replays).is_ok());
    assert_eq!(
        post_rates(&request, &replays),
        Err(AuthError::Proof(ProofRefusal::Replayed))
    );
}

#[test]
fn a_proof_is_claimed_only_when_the_caller_claims_it() {
    let key = ProofKey::es256();
    let token = mint("ES256", &claims(json!({ "cnf": { "jkt": key.jkt() } })));
    let proof = key.proof("POST", URL, &token, json!({}));
    let headers = headers(&[("authorization", &dpop(&token)), ("dpop", &proof)]);
    let request = AuthRequest {
        method: "POST",
        url: URL,
        headers: &headers,
    };
    let (auth, claim) =
        with_view(|view, _| authenticate_unclaimed(&request, view, variables, NOW)).unwrap();
    assert_eq!(auth.tenant.id, "acme");
    let claim = claim.expect("a bound token's proof is to be claimed");
    let replays = MemoryKv::new();
    assert!(replays.keys().is_empty());
    claim.claim(&replays).unwrap();
    assert_eq!(replays.keys().len(), 1);
    assert_eq!(
        claim.claim(&replays),
        Err(AuthError::Proof(ProofRefusal::Replayed))
    );
}

#[test]
fn a_bound_token_without_a_proof_is_refused() {
    let key = ProofKey::es256();
    let token = mint("ES256", &claims(json!({ "cnf": { "jkt": key.jkt() } })));
    assert_eq!(
        post_rates(&[("authorization", &dpop(&token))], &MemoryKv::new()),
        Err(AuthError::Proof(ProofRefusal::Missing))
    );
}

#[test]
fn a_bound_token_presented_as_a_plain_bearer_token_is_refused() {
    let key = ProofKey::es256();
    let token = mint("ES256", &claims(json!({ "cnf": { "jkt": key.jkt() } })));
    assert_eq!(
        post_rates(&[("authorization", &bearer(&token))], &MemoryKv::new()),
        Err(AuthError::Refused(Refusal::BoundTokenAsBearer))
    );
    // Not even with a valid proof: the Bearer scheme is a downgrade.
    let proof = key.proof("POST", URL, &token, json!({}));
    assert_eq!(
        post_rates(
            &[("authorization", &bearer(&token)), ("dpop", &proof)],
            &MemoryKv::new()
        ),
        Err(AuthError::Refused(Refusal::BoundTokenAsBearer))
    );
}

#[test]
fn a_bound_token_with_a_proof_for_another_request_is_refused() {
    let key = ProofKey::es256();
    let token = mint("ES256", &claims(json!({ "cnf": { "jkt": key.jkt() } })));
    let cases = [
        (
            key.proof("GET", URL, &token, json!({})),
            ProofRefusal::WrongMethod,
        ),
        (
            key.proof(
                "POST",
                "https://eu.waypost.example/v1/carriers/ups/x",
                &token,
                json!({}),
            ),
            ProofRefusal::WrongUrl,
        ),
        (
            key.proof("POST", URL, "another-token", json!({})),
            ProofRefusal::WrongAccessTokenHash,
        ),
    ];
    for (proof, why) in cases {
        assert_eq!(
            post_rates(
                &[("authorization", &dpop(&token)), ("dpop", &proof)],
                &MemoryKv::new()
            ),
            Err(AuthError::Proof(why.clone())),
            "{why:?}"
        );
    }
}

#[test]
fn two_proofs_are_refused() {
    let key = ProofKey::es256();
    let token = mint("ES256", &claims(json!({ "cnf": { "jkt": key.jkt() } })));
    let proof = key.proof("POST", URL, &token, json!({}));
    assert_eq!(
        post_rates(
            &[
                ("authorization", &dpop(&token)),
                ("dpop", &proof),
                ("DPoP", &proof)
            ],
            &MemoryKv::new()
        ),
        Err(AuthError::Proof(ProofRefusal::Repeated))
    );
}

#[test]
fn an_unbound_token_under_the_dpop_scheme_is_refused() {
    let token = mint("ES256", &claims(json!({})));
    assert_eq!(
        post_rates(&[("authorization", &dpop(&token))], &MemoryKv::new()),
        Err(AuthError::Refused(Refusal::UnboundTokenWithDpopScheme))
    );
}

#[test]
fn an_issuer_requiring_dpop_refuses_unbound_tokens() {
    let token = mint_with_kid("solo", None, &solo_claims(json!({})));
    assert_eq!(
        post_rates(&[("authorization", &bearer(&token))], &MemoryKv::new()),
        Err(AuthError::Refused(Refusal::BindingRequired))
    );
    let key = ProofKey::ed25519();
    let bound = mint_with_kid(
        "solo",
        None,
        &solo_claims(json!({ "cnf": { "jkt": key.jkt() } })),
    );
    let proof = key.proof("POST", URL, &bound, json!({}));
    assert!(
        post_rates(
            &[("authorization", &dpop(&bound)), ("dpop", &proof)],
            &MemoryKv::new()
        )
        .is_ok()
    );
}

#[test]
fn a_proof_next_to_an_unbound_bearer_token_is_ignored() {
    let key = ProofKey::es256();
    let token = mint("ES256", &claims(json!({})));
    let proof = key.proof("POST", URL, &token, json!({}));
    assert!(
        post_rates(
            &[("authorization", &bearer(&token)), ("dpop", &proof)],
            &MemoryKv::new()
        )
        .is_ok()
    );
}

#[test]
fn an_agent_passes_its_identity_to_the_next_component() {
    let token = mint(
        "EdDSA",
        &claims(json!({ "sub": "agent-7", "sponsor": "ops@acme.example", "scope": "rates" })),
    );
    let incoming = headers(&[
        ("authorization", &bearer(&token)),
        ("x-waypost-tenant", "initech"),
        ("x-waypost-scopes", "*"),
        ("content-type", "application/json"),
    ]);
    let request = AuthRequest {
        method: "POST",
        url: URL,
        headers: &incoming,
    };
    let replays = MemoryKv::new();
    let (auth, routes) = with_view(|view, _| {
        (
            authenticate(&request, view, &replays, variables, NOW),
            view.routes().unwrap(),
        )
    });
    let auth = auth.unwrap();
    authorize(&auth, serving_route(&routes, "POST", "/v1/rates").unwrap()).unwrap();

    // What the component does: strip, then set the identity headers.
    let stripped = strip_incoming(&incoming);
    let mut forwarded: Vec<(String, String)> = incoming
        .iter()
        .filter(|(n, _)| !stripped.contains(&n.to_ascii_lowercase()))
        .cloned()
        .collect();
    let key = IdentityKey::new(APP_SECRET).unwrap();
    forwarded.extend(Identity::of(&auth, "req-1").headers(&key));

    let get = |name: &str| {
        forwarded
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(get(TENANT), ["acme"], "the forged tenant is gone");
    assert_eq!(get(SCOPES), ["rates"]);
    assert_eq!(get(PRINCIPAL), ["agent:agent-7;sponsor=ops@acme.example"]);
    assert!(get("authorization").is_empty(), "the credential is gone");
    assert_eq!(get(IDENTITY_MAC).len(), 1);

    // Behind auth: the quota component reads the same identity back.
    let identity = verify_identity(&forwarded, &key).unwrap();
    assert_eq!(identity.tenant, "acme");
    assert_eq!(identity.principal.kind(), "agent");
    assert_eq!(identity.principal.sponsor(), Some("ops@acme.example"));
    assert_eq!(identity.request_id, "req-1");
}

#[test]
fn a_carriers_only_key_is_refused_rate_shopping() {
    let auth = post_rates(&[("x-api-key", ACME_KEY)], &MemoryKv::new()).unwrap();
    let routes = with_view(|view, _| view.routes().unwrap());
    let err = authorize(&auth, serving_route(&routes, "POST", "/v1/rates").unwrap()).unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(
        err.www_authenticate().unwrap(),
        "Bearer realm=\"waypost\", error=\"insufficient_scope\", \
         error_description=\"This route requires the scopes: rates.\", scope=\"rates\""
    );
}

#[test]
fn no_answer_echoes_the_api_key() {
    let key = "acme_this-key-is-unknown";
    let err = post_rates(&[("x-api-key", key)], &MemoryKv::new()).unwrap_err();
    assert_eq!(err, AuthError::Refused(Refusal::UnknownApiKey));
    let said = format!(
        "{}{}{err:?}{err}",
        err.problem(None).to_json(),
        err.www_authenticate().unwrap()
    );
    assert!(!said.contains("this-key-is-unknown"), "{said}");
}

#[test]
fn the_secrets_a_token_needs_are_named_before_verifying() {
    let token = mint("HS256", &claims(json!({})));
    let names = with_view(|view, _| {
        secret_variables(&headers(&[("authorization", &bearer(&token))]), view)
    });
    assert_eq!(names, ["hs256_secret", "hs384_secret", "hs512_secret"]);
    let by_key = with_view(|view, _| secret_variables(&headers(&[("x-api-key", ACME_KEY)]), view));
    assert!(by_key.is_empty(), "API keys need no variable");
    let garbage = with_view(|view, _| {
        secret_variables(&headers(&[("authorization", "Bearer not.a.jwt")]), view)
    });
    assert!(garbage.is_empty());
}
