use super::*;
use crate::config::Adapter;

fn creds(pairs: &[(&str, &str)]) -> Credentials {
    Credentials::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn oauth_creds() -> Credentials {
    creds(&[("client_id", "my id"), ("client_secret", "s3cr&t+/=")])
}

fn url(u: &str) -> HttpUrl {
    HttpUrl(u.into())
}

fn header<'a>(r: &'a TokenRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn ups_sends_client_credentials_as_basic_and_the_account_as_merchant_id() {
    let token_url = url("https://wwwcie.ups.com/security/v1/oauth/token");
    let r = token_request(
        RateAdapter::Ups,
        Some(&token_url),
        &oauth_creds(),
        Some("W4YP05"),
    )
    .unwrap();
    assert_eq!(r.url, "https://wwwcie.ups.com/security/v1/oauth/token");
    assert_eq!(r.body, "grant_type=client_credentials");
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("Basic {}", BASE64.encode("my id:s3cr&t+/=")).as_str())
    );
    assert_eq!(
        header(&r, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(header(&r, "x-merchant-id"), Some("W4YP05"));
}

#[test]
fn fedex_and_usps_send_client_credentials_in_the_form_body() {
    for adapter in [RateAdapter::Fedex, RateAdapter::Usps] {
        let token_url = url("https://apis-sandbox.fedex.com/oauth/token");
        let r =
            token_request(adapter, Some(&token_url), &oauth_creds(), Some("740561073")).unwrap();
        assert_eq!(
            r.body,
            "grant_type=client_credentials&client_id=my+id&client_secret=s3cr%26t%2B%2F%3D"
        );
        assert_eq!(header(&r, "authorization"), None, "{adapter:?}");
        assert_eq!(header(&r, "x-merchant-id"), None, "{adapter:?}");
    }
}

#[test]
fn token_requests_need_their_roles_and_url() {
    let token_url = url("https://x.example/token");
    assert_eq!(
        token_request(
            RateAdapter::Fedex,
            Some(&token_url),
            &creds(&[("client_id", "a"), ("client_secret", "")]),
            None
        ),
        Err(AuthError::MissingCredential("client_secret"))
    );
    assert_eq!(
        token_request(RateAdapter::Usps, None, &oauth_creds(), None),
        Err(AuthError::MissingTokenUrl)
    );
    assert_eq!(
        token_request(RateAdapter::Dhl, Some(&token_url), &oauth_creds(), None),
        Err(AuthError::NoTokenStep)
    );
}

#[test]
fn token_answers_give_the_token_and_its_lifetime() {
    let parse = |adapter, body: &[u8]| parse_token_response(adapter, 200, body, None);
    let ups = parse(RateAdapter::Ups, fixture!("ups/token-ok.json")).unwrap();
    assert_eq!(ups.expires_in_secs, 14_399, "UPS sends a string");
    assert!(ups.access_token.ends_with(".ups-demo"));
    let fedex = parse(RateAdapter::Fedex, fixture!("fedex/token-ok.json")).unwrap();
    assert_eq!(fedex.expires_in_secs, 3_599);
    assert!(fedex.access_token.ends_with(".fedex-demo"));
    let usps = parse(RateAdapter::Usps, fixture!("usps/token-ok.json")).unwrap();
    assert_eq!(usps.expires_in_secs, 28_799);
    let no_expiry = parse(
        RateAdapter::Usps,
        br#"{"access_token":"t","expires_in":"soon"}"#,
    );
    assert_eq!(
        no_expiry.unwrap().expires_in_secs,
        DEFAULT_TOKEN_LIFETIME_SECS
    );
    assert!(matches!(
        parse(RateAdapter::Usps, br#"{"token":"t"}"#),
        Err(CarrierError::Malformed { .. })
    ));
    assert!(matches!(
        parse(RateAdapter::Fedex, br#"{"access_token":""}"#),
        Err(CarrierError::Malformed { .. })
    ));
}

#[test]
fn refused_clients_are_credential_failures_with_the_carrier_message() {
    let e = parse_token_response(
        RateAdapter::Ups,
        401,
        fixture!("ups/token-error-401.json"),
        None,
    )
    .unwrap_err();
    assert_eq!(
        e,
        CarrierError::CredentialsRefused {
            status: 401,
            message: "10401: ClientId is Invalid".into()
        }
    );
    let e = parse_token_response(
        RateAdapter::Usps,
        400,
        fixture!("usps/token-error-400.json"),
        None,
    )
    .unwrap_err();
    assert_eq!(
        e,
        CarrierError::CredentialsRefused {
            status: 400,
            message: "invalid_client: Client authentication failed: unknown client_id.".into()
        }
    );
    let e = parse_token_response(
        RateAdapter::Fedex,
        401,
        fixture!("fedex/error-401.json"),
        None,
    )
    .unwrap_err();
    assert!(e.is_credential_failure());
    assert!(e.message().starts_with("NOT.AUTHORIZED.ERROR"));
    let e = parse_token_response(RateAdapter::Usps, 429, b"", Some(60)).unwrap_err();
    assert_eq!(e.retry_after_secs(), Some(60));
}

#[test]
fn calls_carry_bearer_tokens_or_dhl_basic() {
    assert_eq!(
        authorization_header(RateAdapter::Fedex, &oauth_creds(), Some("abc")),
        Ok("Bearer abc".to_string())
    );
    assert_eq!(
        authorization_header(RateAdapter::Ups, &oauth_creds(), None),
        Err(AuthError::TokenRequired)
    );
    let dhl = creds(&[("username", "apiuser"), ("password", "p@ss")]);
    assert_eq!(
        authorization_header(RateAdapter::Dhl, &dhl, None),
        Ok(format!("Basic {}", BASE64.encode("apiuser:p@ss")))
    );
    assert_eq!(
        authorization_header(RateAdapter::Dhl, &creds(&[("username", "u")]), None),
        Err(AuthError::MissingCredential("password"))
    );
}

#[test]
fn the_roles_used_are_the_configs_required_roles() {
    for (adapter, used) in [
        (RateAdapter::Ups, ["client_id", "client_secret"]),
        (RateAdapter::Fedex, ["client_id", "client_secret"]),
        (RateAdapter::Usps, ["client_id", "client_secret"]),
        (RateAdapter::Dhl, ["username", "password"]),
    ] {
        let (required, _) = adapter.adapter().credential_roles().unwrap();
        assert_eq!(required, used, "{adapter:?}");
        assert_eq!(
            adapter.adapter().uses_oauth(),
            matches!(adapter.auth_scheme(), AuthScheme::ClientCredentials(_))
        );
    }
    assert!(Adapter::Generic.credential_roles().is_none());
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let r = token_request(
        RateAdapter::Fedex,
        Some(&url("https://x.example/t")),
        &oauth_creds(),
        None,
    )
    .unwrap();
    let token = CarrierToken {
        access_token: "tok-123".into(),
        expires_in_secs: 60,
    };
    let shown = format!("{r:?} {token:?} {:?}", oauth_creds());
    assert!(!shown.contains("s3cr"), "{shown}");
    assert!(!shown.contains("tok-123"), "{shown}");
    assert!(shown.contains("client_secret"), "roles are shown: {shown}");
}

#[test]
fn dhl_calls_carry_the_tracking_api_key_when_one_is_configured() {
    let with_key = creds(&[("username", "u"), ("password", "p"), ("api_key", "k-1")]);
    assert_eq!(
        api_key_headers(RateAdapter::Dhl, &with_key),
        vec![("dhl-api-key".to_string(), "k-1".to_string())]
    );
    let without = creds(&[("username", "u"), ("password", "p")]);
    assert!(api_key_headers(RateAdapter::Dhl, &without).is_empty());
    assert!(api_key_headers(RateAdapter::Ups, &with_key).is_empty());
}
