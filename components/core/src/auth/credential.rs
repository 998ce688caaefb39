//! Reading the caller's credential from the request headers.
//!
//! Headers are plain `(name, value)` pairs, so core does not depend on spin-sdk;
//! names compare case-insensitively.

use super::errors::{AuthError, Malformed};

/// Request headers as the component read them.
pub type Headers = [(String, String)];

pub const AUTHORIZATION: &str = "authorization";
pub const API_KEY: &str = "x-api-key";
pub const DPOP: &str = "dpop";

/// Longest credential read at all: longer ones are refused before any parsing.
pub const MAX_CREDENTIAL_LEN: usize = 16 * 1024;

/// A header that must appear at most once appeared more often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatedHeader;

/// The value of header `name` (surrounding spaces trimmed), if sent exactly once.
pub fn single_header<'h>(
    headers: &'h Headers,
    name: &str,
) -> Result<Option<&'h str>, RepeatedHeader> {
    let mut values = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_matches([' ', '\t']));
    let first = values.next();
    match values.next() {
        Some(_) => Err(RepeatedHeader),
        None => Ok(first),
    }
}

/// How the token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    /// RFC 9449: a DPoP-bound token, with a proof in the `DPoP` header.
    Dpop,
}

/// The credential a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'h> {
    ApiKey(&'h str),
    Token { scheme: Scheme, token: &'h str },
}

/// The one credential of a request: `X-Api-Key`, or `Authorization: Bearer|DPoP`.
pub fn credential(headers: &Headers) -> Result<Credential<'_>, AuthError> {
    let malformed = |m| AuthError::Malformed(m);
    let repeated = |_| malformed(Malformed::RepeatedHeader);
    let authorization = single_header(headers, AUTHORIZATION).map_err(repeated)?;
    let api_key = single_header(headers, API_KEY).map_err(repeated)?;
    match (authorization, api_key) {
        (Some(_), Some(_)) => Err(malformed(Malformed::TwoCredentials)),
        (None, None) => Err(AuthError::MissingCredential),
        (None, Some(key)) => {
            if key.is_empty() || key.len() > MAX_CREDENTIAL_LEN {
                return Err(malformed(Malformed::BadApiKey));
            }
            Ok(Credential::ApiKey(key))
        }
        (Some(value), None) => {
            let (scheme, token) = value
                .split_once(' ')
                .ok_or(malformed(Malformed::BadAuthorization))?;
            let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                Scheme::Bearer
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Scheme::Dpop
            } else {
                return Err(malformed(Malformed::UnsupportedScheme));
            };
            let token = token.trim_start_matches(' ');
            if token.is_empty()
                || token.len() > MAX_CREDENTIAL_LEN
                || token.contains([' ', '\t', ','])
            {
                return Err(malformed(Malformed::BadAuthorization));
            }
            Ok(Credential::Token { scheme, token })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_an_api_key_or_a_token_under_either_scheme() {
        let h = headers(&[("X-Api-Key", "acme_s3cret")]);
        assert_eq!(credential(&h), Ok(Credential::ApiKey("acme_s3cret")));
        let h = headers(&[("Authorization", "Bearer a.b.c")]);
        assert_eq!(
            credential(&h),
            Ok(Credential::Token {
                scheme: Scheme::Bearer,
                token: "a.b.c"
            })
        );
        let h = headers(&[("authorization", "dpop a.b.c")]);
        assert_eq!(
            credential(&h),
            Ok(Credential::Token {
                scheme: Scheme::Dpop,
                token: "a.b.c"
            })
        );
    }

    #[test]
    fn no_credential_is_missing_not_malformed() {
        assert_eq!(
            credential(&headers(&[("accept", "*/*")])),
            Err(AuthError::MissingCredential)
        );
    }

    #[test]
    fn two_credentials_or_a_repeated_header_are_malformed() {
        let both = headers(&[("x-api-key", "a_b"), ("authorization", "Bearer t")]);
        assert_eq!(
            credential(&both),
            Err(AuthError::Malformed(Malformed::TwoCredentials))
        );
        let twice = headers(&[("x-api-key", "a_b"), ("X-API-KEY", "c_d")]);
        assert_eq!(
            credential(&twice),
            Err(AuthError::Malformed(Malformed::RepeatedHeader))
        );
    }

    #[test]
    fn other_schemes_and_bad_syntax_are_malformed() {
        for (value, why) in [
            ("Basic dXNlcjpwdw==", Malformed::UnsupportedScheme),
            ("Bearer", Malformed::BadAuthorization),
            ("Bearer ", Malformed::BadAuthorization),
            ("Bearer a b", Malformed::BadAuthorization),
        ] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(credential(&h), Err(AuthError::Malformed(why)), "{value}");
        }
    }
}
