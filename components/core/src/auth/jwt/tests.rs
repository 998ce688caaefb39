use super::*;
use crate::auth::testkit::{
    self, ALGS, HS256_SECRET, NOW, claims, keys, mint, mint_with_kid, raw_token, solo_claims,
    with_view,
};
use serde_json::json;

fn verify(token: &str) -> Result<VerifiedToken, AuthError> {
    verify_at(token, NOW)
}

fn verify_at(token: &str, now: i64) -> Result<VerifiedToken, AuthError> {
    with_view(|view, _| verify_token(token, view, testkit::variables, now))
}

fn refused(r: Refusal) -> Result<VerifiedToken, AuthError> {
    Err(AuthError::Refused(r))
}

fn assert_refused(token: &str, why: Refusal) {
    assert_eq!(verify(token), refused(why));
}

#[test]
fn a_token_of_each_algorithm_is_accepted() {
    for alg in ALGS {
        let verified =
            verify(&mint(alg, &claims(json!({})))).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        let auth = verified.authenticated;
        assert_eq!(auth.tenant.id, "acme", "{alg}");
        assert_eq!(auth.principal.to_string(), "user:user-1", "{alg}");
        assert_eq!(
            auth.scopes,
            Scopes::parse("carriers rates").unwrap(),
            "{alg}"
        );
        assert_eq!(verified.jkt, None);
        assert_eq!(verified.dpop, DpopPolicy::Optional);
    }
}

#[test]
fn a_token_without_kid_is_checked_with_the_issuers_only_key() {
    let token = mint_with_kid("solo", None, &solo_claims(json!({})));
    let verified = verify(&token).unwrap();
    assert_eq!(verified.authenticated.tenant.id, "acme");
    assert_eq!(verified.dpop, DpopPolicy::Required);
}

#[test]
fn a_token_without_kid_is_refused_when_the_issuer_has_several_keys() {
    let token = mint_with_kid("HS256", None, &claims(json!({})));
    assert_refused(&token, Refusal::UnknownKey);
}

#[test]
fn a_token_with_a_wrong_kid_is_refused() {
    let token = mint_with_kid("HS256", Some("hs256-rotated-away"), &claims(json!({})));
    assert_refused(&token, Refusal::UnknownKey);
    let token = mint_with_kid("solo", Some("another"), &solo_claims(json!({})));
    assert_refused(&token, Refusal::UnknownKey);
}

#[test]
fn a_token_whose_alg_is_not_its_keys_alg_is_refused() {
    // A valid ES256 signature, presented as the RS256 key.
    let token = mint_with_kid("ES256", Some("rs256"), &claims(json!({})));
    assert_refused(&token, Refusal::AlgorithmMismatch);
    // RS384 under the RS256 key: same key material, other algorithm.
    let token = mint_with_kid("RS384", Some("rs256"), &claims(json!({})));
    assert_refused(&token, Refusal::AlgorithmMismatch);
}

#[test]
fn an_rs256_public_key_used_as_an_hs256_secret_is_refused() {
    // The classic confusion: the attacker knows the public PEM and MACs with it.
    let public_pem = &keys().rsa_public;
    let c: JWTClaims<Extra> = serde_json::from_value(claims(json!({}))).unwrap();
    let forged = HS256Key::from_bytes(public_pem.as_bytes())
        .with_key_id("rs256")
        .authenticate(c)
        .unwrap();
    assert_refused(&forged, Refusal::AlgorithmMismatch);
}

#[test]
fn an_hs256_token_presented_as_an_asymmetric_key_is_refused() {
    let token = mint_with_kid("HS256", Some("es256"), &claims(json!({})));
    assert_refused(&token, Refusal::AlgorithmMismatch);
}

#[test]
fn alg_none_is_refused() {
    let body = claims(json!({}));
    let with_kid = raw_token(&json!({ "alg": "none", "kid": "hs256" }), &body, b"");
    assert_refused(&with_kid, Refusal::AlgorithmMismatch);
    let solo = raw_token(&json!({ "alg": "none" }), &solo_claims(json!({})), b"");
    assert_refused(&solo, Refusal::AlgorithmMismatch);
    let no_signature = raw_token(&json!({ "alg": "none", "kid": "hs256" }), &body, b"")
        .trim_end_matches('.')
        .to_string()
        + ".";
    assert_refused(&no_signature, Refusal::AlgorithmMismatch);
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let c: JWTClaims<Extra> = serde_json::from_value(claims(json!({}))).unwrap();
    let token = HS256Key::from_bytes(b"some other secret of enough length")
        .with_key_id("hs256")
        .authenticate(c)
        .unwrap();
    assert_refused(&token, Refusal::BadSignature);
}

#[test]
fn a_token_with_altered_claims_is_refused() {
    for alg in ["HS256", "RS256", "ES256", "EdDSA"] {
        let token = mint(alg, &claims(json!({})));
        let parts: Vec<&str> = token.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(claims(json!({ "tenant": "initech" })).to_string());
        let altered = format!("{}.{other}.{}", parts[0], parts[2]);
        assert_refused(&altered, Refusal::BadSignature);
    }
}

#[test]
fn an_expired_token_is_refused_after_the_leeway() {
    let expired = mint("ES256", &claims(json!({ "exp": NOW - 31 })));
    assert_refused(&expired, Refusal::Expired);
    let within_leeway = mint("ES256", &claims(json!({ "exp": NOW - 29 })));
    assert!(verify(&within_leeway).is_ok());
}

#[test]
fn a_not_yet_valid_token_is_refused_before_the_leeway() {
    let early = mint("HS256", &claims(json!({ "nbf": NOW + 31 })));
    assert_refused(&early, Refusal::NotYetValid);
    let within_leeway = mint("HS256", &claims(json!({ "nbf": NOW + 29 })));
    assert!(verify(&within_leeway).is_ok());
    let issued_in_the_future = mint("HS256", &claims(json!({ "iat": NOW + 31 })));
    assert_refused(&issued_in_the_future, Refusal::NotYetValid);
}

#[test]
fn a_token_for_another_audience_is_refused() {
    let token = mint("EdDSA", &claims(json!({ "aud": "someone-else" })));
    assert_refused(&token, Refusal::WrongAudience);
    let token = mint("EdDSA", &claims(json!({ "aud": null })));
    assert_refused(&token, Refusal::WrongAudience);
    let one_of_several = mint("EdDSA", &claims(json!({ "aud": ["x", "waypost-eu"] })));
    assert!(verify(&one_of_several).is_ok());
}

#[test]
fn a_token_older_than_the_maximum_age_is_refused() {
    // max_age_secs = 3600, leeway 30; still unexpired.
    let old = mint(
        "PS256",
        &claims(json!({ "iat": NOW - 3631, "exp": NOW + 600 })),
    );
    assert_refused(&old, Refusal::TooOld);
    let just_young_enough = mint("PS256", &claims(json!({ "iat": NOW - 3629 })));
    assert!(verify(&just_young_enough).is_ok());
}

#[test]
fn required_claims_must_be_present() {
    for (claim, changes) in [
        ("exp", json!({ "exp": null })),
        ("iat", json!({ "iat": null })),
        ("sub", json!({ "sub": null })),
        ("tenant", json!({ "tenant": null })),
    ] {
        let token = mint("HS384", &claims(changes));
        assert_refused(&token, Refusal::MissingClaim(claim.into()));
    }
    let no_iss = mint("HS384", &claims(json!({ "iss": null })));
    assert_refused(&no_iss, Refusal::MissingClaim("iss".into()));
    // Without max_age_secs (solo), iat is optional.
    let token = mint_with_kid("solo", None, &solo_claims(json!({ "iat": null })));
    assert!(verify(&token).is_ok());
}

#[test]
fn a_token_of_an_unknown_issuer_is_refused() {
    let token = mint("HS512", &claims(json!({ "iss": "https://evil.example" })));
    assert_refused(&token, Refusal::UnknownIssuer);
    // Refused before any key is used, so the signature does not matter.
    let header = json!({ "alg": "HS512", "kid": "hs512" });
    let token = raw_token(&header, &claims(json!({ "iss": 42 })), b"sig");
    assert_refused(&token, Refusal::InvalidClaim("iss".into()));
    let long = "https://".to_string() + &"x".repeat(MAX_ISS_LEN);
    let token = mint("HS512", &claims(json!({ "iss": long })));
    assert_refused(&token, Refusal::UnknownIssuer);
}

#[test]
fn a_token_naming_an_unknown_tenant_is_refused() {
    for tenant in ["nobody", "../acme", "ACME"] {
        let token = mint("RS512", &claims(json!({ "tenant": tenant })));
        assert_refused(&token, Refusal::UnknownTenant);
    }
    let token = mint("RS512", &claims(json!({ "tenant": ["acme"] })));
    assert_refused(&token, Refusal::InvalidClaim("tenant".into()));
}

#[test]
fn a_tenant_that_does_not_trust_the_issuer_is_refused() {
    // initech lists only `solo`.
    let token = mint("ES384", &claims(json!({ "tenant": "initech" })));
    assert_refused(&token, Refusal::IssuerNotTrusted);
}

#[test]
fn scopes_come_from_scope_or_else_scp() {
    let scopes_of = |changes| {
        verify(&mint("HS256", &claims(changes))).map(|v| v.authenticated.scopes.to_string())
    };
    assert_eq!(scopes_of(json!({ "scope": "a  b" })), Ok("a b".into()));
    assert_eq!(
        scopes_of(json!({ "scope": null, "scp": ["b", "a"] })),
        Ok("a b".into())
    );
    assert_eq!(
        scopes_of(json!({ "scope": null, "scp": "c d" })),
        Ok("c d".into())
    );
    assert_eq!(
        scopes_of(json!({ "scope": "a", "scp": ["b"] })),
        Ok("a".into()),
        "scope wins"
    );
    assert_eq!(scopes_of(json!({ "scope": null })), Ok("".into()));
}

#[test]
fn unusable_scopes_are_refused() {
    let refused_claim = |claim: &str| Err(AuthError::Refused(Refusal::InvalidClaim(claim.into())));
    for (changes, claim) in [
        (json!({ "scope": "rates *" }), "scope"),
        (json!({ "scope": "a\"b" }), "scope"),
        (json!({ "scope": ["rates"] }), "scope"),
        (json!({ "scope": null, "scp": [1, 2] }), "scp"),
        (json!({ "scope": null, "scp": { "a": 1 } }), "scp"),
    ] {
        let token = mint("HS256", &claims(changes.clone()));
        assert_eq!(
            verify(&token).map(|_| ()),
            refused_claim(claim),
            "{changes}"
        );
    }
}

#[test]
fn an_agent_token_makes_an_agent_principal_with_its_sponsor() {
    let token = mint(
        "EdDSA",
        &claims(json!({ "sub": "agent-7", "sponsor": "ops@acme.example", "scope": "rates" })),
    );
    let auth = verify(&token).unwrap().authenticated;
    assert_eq!(
        auth.principal,
        Principal::Agent {
            id: "agent-7".into(),
            sponsor: "ops@acme.example".into()
        }
    );
    assert_eq!(auth.principal.kind(), "agent");
    assert_eq!(
        auth.principal.to_string(),
        "agent:agent-7;sponsor=ops@acme.example"
    );
    assert_eq!(auth.scopes.to_string(), "rates");
}

#[test]
fn an_agent_token_needs_a_sponsor_that_is_a_name() {
    for sponsor in [json!(""), json!(7), json!({ "sub": "x" })] {
        let token = mint("EdDSA", &claims(json!({ "sponsor": sponsor })));
        assert_refused(&token, Refusal::InvalidClaim("sponsor".into()));
    }
}

#[test]
fn the_agent_claim_means_nothing_to_an_issuer_without_agents() {
    // solo has no agent_claim: `sponsor` is just another claim.
    let token = mint_with_kid("solo", None, &solo_claims(json!({ "sponsor": "x" })));
    let auth = verify(&token).unwrap().authenticated;
    assert_eq!(auth.principal.to_string(), "user:svc-1");
}

#[test]
fn a_bound_token_reports_its_thumbprint() {
    let token = mint(
        "ES256",
        &claims(json!({ "cnf": { "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } })),
    );
    assert_eq!(
        verify(&token).unwrap().jkt.as_deref(),
        Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
    );
}

#[test]
fn a_token_bound_by_another_method_is_refused() {
    let token = mint(
        "ES256",
        &claims(json!({ "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } })),
    );
    assert_refused(&token, Refusal::UnsupportedBinding);
    let token = mint("ES256", &claims(json!({ "cnf": { "jkt": 5 } })));
    assert_refused(&token, Refusal::InvalidClaim("cnf".into()));
}

#[test]
fn what_is_not_a_jwt_is_malformed() {
    let malformed = Err(AuthError::Malformed(Malformed::NotAJwt));
    for token in ["abc", "a.b", "a.b.c.d", "!!.??.##", "e30.bm90IGpzb24.c2ln"] {
        assert_eq!(verify(token), malformed, "{token}");
    }
}

#[test]
fn a_missing_or_weak_hmac_secret_is_the_operators_fault() {
    let token = mint("HS256", &claims(json!({})));
    let missing = with_view(|view, _| verify_token(&token, view, |_: &str| None, NOW));
    assert!(
        matches!(missing, Err(AuthError::Misconfigured(_))),
        "{missing:?}"
    );
    let weak = with_view(|view, _| verify_token(&token, view, |_: &str| Some("short".into()), NOW));
    assert!(matches!(weak, Err(AuthError::Misconfigured(_))), "{weak:?}");
    assert_eq!(missing.unwrap_err().status(), 500);
}

#[test]
fn a_refusal_never_echoes_the_token() {
    let token = mint("HS256", &claims(json!({ "exp": NOW - 600 })));
    let err = verify(&token).unwrap_err();
    let signature = token.rsplit('.').next().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let said = format!(
        "{} {} {err} {err:?}",
        err.problem(Some("req-1")).to_json(),
        err.www_authenticate().unwrap()
    );
    for secret in [token.as_str(), signature, payload, HS256_SECRET] {
        assert!(!said.contains(secret), "{said}");
    }
    assert_eq!(err, AuthError::Refused(Refusal::Expired));
}

#[test]
fn the_token_is_checked_at_the_given_time() {
    let token = mint("HS256", &claims(json!({})));
    assert!(verify_at(&token, NOW).is_ok());
    assert_eq!(verify_at(&token, NOW + 700), refused(Refusal::Expired));
}
