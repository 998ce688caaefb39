use super::*;
use crate::auth::testkit::{NOW, ProofKey};
use crate::kv::MemoryKv;
use serde_json::json;

const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl";
const URL: &str = "https://eu.waypost.example/v1/rates";

fn expect<'a>(key: &'a str) -> ProofExpectation<'a> {
    ProofExpectation {
        method: "POST",
        url: URL,
        access_token: TOKEN,
        jkt: key,
        tenant: "acme",
    }
}

fn check(key: &ProofKey, proof: &str, kv: &MemoryKv) -> Result<(), AuthError> {
    let jkt = key.jkt();
    verify_proof(proof, &expect(&jkt), kv, NOW)
}

fn refused(r: ProofRefusal) -> Result<(), AuthError> {
    Err(AuthError::Proof(r))
}

fn proof_with(key: &ProofKey, changes: serde_json::Value) -> String {
    key.proof("POST", URL, TOKEN, changes)
}

#[test]
fn a_valid_es256_proof_is_accepted() {
    let key = ProofKey::es256();
    assert_eq!(
        check(&key, &proof_with(&key, json!({})), &MemoryKv::new()),
        Ok(())
    );
}

#[test]
fn a_valid_eddsa_proof_is_accepted() {
    let key = ProofKey::ed25519();
    assert_eq!(
        check(&key, &proof_with(&key, json!({})), &MemoryKv::new()),
        Ok(())
    );
}

#[test]
fn a_replayed_jti_is_refused() {
    let key = ProofKey::es256();
    let kv = MemoryKv::new();
    let proof = proof_with(&key, json!({ "jti": "once" }));
    assert_eq!(check(&key, &proof, &kv), Ok(()));
    assert_eq!(check(&key, &proof, &kv), refused(ProofRefusal::Replayed));
    // A fresh proof with the same jti, signed anew a few seconds later, too.
    let again = proof_with(&key, json!({ "jti": "once", "iat": NOW + 1 }));
    assert_eq!(check(&key, &again, &kv), refused(ProofRefusal::Replayed));
    // Another jti passes.
    let other = proof_with(&key, json!({ "jti": "twice" }));
    assert_eq!(check(&key, &other, &kv), Ok(()));
}

#[test]
fn replay_records_are_per_tenant_and_carry_their_expiry() {
    let key = ProofKey::es256();
    let kv = MemoryKv::new();
    let proof = proof_with(&key, json!({ "jti": "j1" }));
    assert_eq!(check(&key, &proof, &kv), Ok(()));
    let jkt = key.jkt();
    let record = replay_key("acme", &jkt, "j1", NOW);
    assert!(record.starts_with("dpop-jti/acme/30000000/"), "{record}");
    assert_eq!(kv.keys(), std::slice::from_ref(&record));
    let value: serde_json::Value =
        serde_json::from_slice(&kv.get(&record).unwrap().unwrap()).unwrap();
    assert_eq!(value["expires"], 30_000_002 * 60);
    // The same proof for another tenant's token is recorded separately.
    let other = ProofExpectation {
        tenant: "initech",
        ..expect(&jkt)
    };
    assert_eq!(verify_proof(&proof, &other, &kv, NOW), Ok(()));
}

#[test]
fn dead_replay_records_are_purged_and_live_ones_kept() {
    let key = ProofKey::es256();
    let kv = MemoryKv::new();
    let old = proof_with(&key, json!({ "jti": "old", "iat": NOW - 50 }));
    let new = proof_with(&key, json!({ "jti": "new", "iat": NOW + 50 }));
    check(&key, &old, &kv).unwrap();
    check(&key, &new, &kv).unwrap();
    kv.set("config/unrelated", b"x").unwrap();
    let keys = kv.keys();
    // Nothing is dead while either proof could still be presented.
    assert_eq!(purge_replay_records(&kv, &keys, NOW).unwrap(), 0);
    // Once `old` is stale for good, its record goes; `new`'s stays.
    let later = NOW - 50 + PROOF_WINDOW_SECS + PROOF_WINDOW_SECS;
    assert_eq!(purge_replay_records(&kv, &keys, later).unwrap(), 1);
    assert_eq!(kv.keys().len(), 2);
    // A purged record could not be replayed anyway: the proof is stale.
    assert_eq!(
        verify_proof(&old, &expect(&key.jkt()), &kv, later),
        refused(ProofRefusal::Stale)
    );
}

#[test]
fn a_proof_for_another_access_token_is_refused() {
    let key = ProofKey::es256();
    let proof = key.proof("POST", URL, "another.access.token", json!({}));
    assert_eq!(
        check(&key, &proof, &MemoryKv::new()),
        refused(ProofRefusal::WrongAccessTokenHash)
    );
    let no_ath = proof_with(&key, json!({ "ath": null }));
    assert_eq!(
        check(&key, &no_ath, &MemoryKv::new()),
        refused(ProofRefusal::MissingClaim("ath"))
    );
}

#[test]
fn a_proof_for_another_url_is_refused() {
    let key = ProofKey::es256();
    for htu in [
        "https://eu.waypost.example/v1/rates/x",
        "https://us.waypost.example/v1/rates",
        "http://eu.waypost.example/v1/rates",
        "https://eu.waypost.example:8443/v1/rates",
        "/v1/rates",
    ] {
        let proof = proof_with(&key, json!({ "htu": htu }));
        assert_eq!(
            check(&key, &proof, &MemoryKv::new()),
            refused(ProofRefusal::WrongUrl),
            "{htu}"
        );
    }
}

#[test]
fn the_url_is_compared_without_query_fragment_case_or_default_port() {
    let key = ProofKey::es256();
    for htu in [
        "https://eu.waypost.example/v1/rates?carrier=ups",
        "https://EU.Waypost.Example/v1/rates",
        "HTTPS://eu.waypost.example:443/v1/rates#top",
    ] {
        let proof = proof_with(&key, json!({ "htu": htu, "jti": htu }));
        assert_eq!(check(&key, &proof, &MemoryKv::new()), Ok(()), "{htu}");
    }
    let jkt = key.jkt();
    let with_query = ProofExpectation {
        url: "https://eu.waypost.example/v1/rates?x=1",
        ..expect(&jkt)
    };
    let proof = proof_with(&key, json!({}));
    assert_eq!(
        verify_proof(&proof, &with_query, &MemoryKv::new(), NOW),
        Ok(())
    );
}

#[test]
fn a_proof_for_another_method_is_refused() {
    let key = ProofKey::ed25519();
    for htm in ["GET", "post"] {
        let proof = proof_with(&key, json!({ "htm": htm }));
        assert_eq!(
            check(&key, &proof, &MemoryKv::new()),
            refused(ProofRefusal::WrongMethod),
            "{htm}"
        );
    }
}

#[test]
fn a_proof_outside_the_time_window_is_refused() {
    let key = ProofKey::es256();
    for iat in [NOW - 61, NOW + 61, NOW - 3600] {
        let proof = proof_with(&key, json!({ "iat": iat }));
        assert_eq!(
            check(&key, &proof, &MemoryKv::new()),
            refused(ProofRefusal::Stale),
            "{iat}"
        );
    }
    for iat in [NOW - 59, NOW + 59] {
        let proof = proof_with(&key, json!({ "iat": iat }));
        assert_eq!(check(&key, &proof, &MemoryKv::new()), Ok(()), "{iat}");
    }
    let no_iat = proof_with(&key, json!({ "iat": null }));
    assert_eq!(
        check(&key, &no_iat, &MemoryKv::new()),
        refused(ProofRefusal::MissingClaim("iat"))
    );
}

#[test]
fn a_proof_without_jti_is_refused() {
    let key = ProofKey::es256();
    for jti in [json!(null), json!(""), json!(7), json!("x".repeat(300))] {
        let proof = proof_with(&key, json!({ "jti": jti }));
        assert_eq!(
            check(&key, &proof, &MemoryKv::new()),
            refused(ProofRefusal::MissingClaim("jti"))
        );
    }
}

#[test]
fn a_proof_must_be_typed_dpop_jwt() {
    let key = ProofKey::es256();
    let claims = json!({ "jti": "j", "htm": "POST", "htu": URL, "iat": NOW,
        "ath": access_token_hash(TOKEN) });
    for typ in [json!("JWT"), json!(null), json!("at+jwt")] {
        let mut header = key.proof_header();
        header["typ"] = typ;
        let proof = key.sign_proof(&header, &claims);
        assert_eq!(
            check(&key, &proof, &MemoryKv::new()),
            refused(ProofRefusal::WrongType)
        );
    }
}

#[test]
fn a_proof_with_a_symmetric_or_unsupported_alg_is_refused() {
    let key = ProofKey::es256();
    let claims = json!({ "jti": "j", "htm": "POST", "htu": URL, "iat": NOW,
        "ath": access_token_hash(TOKEN) });
    for alg in ["HS256", "none", "RS256", "ES384"] {
        let mut header = key.proof_header();
        header["alg"] = json!(alg);
        let proof = key.sign_proof(&header, &claims);
        assert_eq!(
            check(&key, &proof, &MemoryKv::new()),
            refused(ProofRefusal::UnsupportedAlg),
            "{alg}"
        );
    }
}

#[test]
fn a_proof_whose_jwk_is_not_a_public_key_of_its_alg_is_refused() {
    let key = ProofKey::es256();
    let claims = json!({ "jti": "j", "htm": "POST", "htu": URL, "iat": NOW,
        "ath": access_token_hash(TOKEN) });
    let ed = ProofKey::ed25519();
    let mut with_private = key.proof_header();
    with_private["jwk"]["d"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let mut wrong_type = key.proof_header();
    wrong_type["jwk"] = ed.jwk();
    let mut missing = key.proof_header();
    missing.as_object_mut().unwrap().remove("jwk");
    let mut as_text = key.proof_header();
    as_text["jwk"] = json!(key.jwk().to_string());
    for header in [with_private, wrong_type, missing, as_text] {
        let proof = key.sign_proof(&header, &claims);
        assert_eq!(
            check(&key, &proof, &MemoryKv::new()),
            refused(ProofRefusal::BadKey),
            "{header}"
        );
    }
}

#[test]
fn a_proof_by_another_key_than_the_bound_one_is_refused() {
    let bound = ProofKey::es256();
    let thief = ProofKey::es256();
    let proof = proof_with(&thief, json!({}));
    assert_eq!(
        check(&bound, &proof, &MemoryKv::new()),
        refused(ProofRefusal::KeyMismatch)
    );
}

#[test]
fn a_proof_naming_the_bound_key_but_signed_by_another_is_refused() {
    let bound = ProofKey::es256();
    let thief = ProofKey::es256();
    let claims = json!({ "jti": "j", "htm": "POST", "htu": URL, "iat": NOW,
        "ath": access_token_hash(TOKEN) });
    let proof = thief.sign_proof(&bound.proof_header(), &claims);
    assert_eq!(
        check(&bound, &proof, &MemoryKv::new()),
        refused(ProofRefusal::BadSignature)
    );
    let ed_bound = ProofKey::ed25519();
    let ed_thief = ProofKey::ed25519();
    let proof = ed_thief.sign_proof(&ed_bound.proof_header(), &claims);
    assert_eq!(
        check(&ed_bound, &proof, &MemoryKv::new()),
        refused(ProofRefusal::BadSignature)
    );
}

#[test]
fn what_is_not_a_proof_is_malformed() {
    let key = ProofKey::es256();
    for proof in ["abc", "a.b", "a.b.c", "e30.e30.!!", "e30.e30.e30.e30"] {
        assert_eq!(
            check(&key, proof, &MemoryKv::new()),
            refused(ProofRefusal::Malformed),
            "{proof}"
        );
    }
    let mut header = key.proof_header();
    header["crit"] = json!(["exp"]);
    let proof = key.sign_proof(&header, &json!({}));
    assert_eq!(
        check(&key, &proof, &MemoryKv::new()),
        refused(ProofRefusal::Malformed)
    );
}

#[test]
fn a_store_outage_fails_closed() {
    let key = ProofKey::es256();
    let kv = MemoryKv::new();
    kv.set_failing(true);
    assert!(matches!(
        check(&key, &proof_with(&key, json!({})), &kv),
        Err(AuthError::Unavailable(_))
    ));
}

#[test]
fn the_thumbprint_follows_rfc_7638() {
    // RFC 7638 §3.1's example is an RSA key; jwt-simple's EC/OKP thumbprints are
    // checked against an independent computation (testkit) and this fixed vector.
    let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    let key = Ed25519PublicKey::from_jwk(jwk).unwrap();
    // RFC 8037 appendix A.3.
    assert_eq!(
        key.jwk_thumbprint(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    for key in [ProofKey::es256(), ProofKey::ed25519()] {
        assert_eq!(verifier_thumbprint(&key), key.jkt());
    }
}

#[test]
fn the_access_token_hash_is_base64url_sha256() {
    // RFC 9449 §7.1's example access token and ath.
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

/// The thumbprint the verifier computes for a client key's JWK.
fn verifier_thumbprint(key: &ProofKey) -> String {
    super::ProofKey::from_jwk(key.alg(), &key.jwk().to_string())
        .ok()
        .unwrap()
        .thumbprint()
}
