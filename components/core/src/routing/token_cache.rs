//! The OAuth2 client-credentials token cache: one record per carrier credential, so
//! that concurrent requests fetch a token once and reuse it until shortly before it
//! expires.
//!
//! The token is stored in the key-value store as it came from the carrier. That store
//! is per region (one per deployment, nothing crosses regions) and private to the
//! Waypost app (only its components open it), so a token never leaves the region that
//! fetched it and is readable only by the gateway. Every record belongs to exactly one
//! credential: the key names the carrier, the account and a hash of the client id,
//! and for a tenant's own account the tenant too, so tenant A's token is never
//! returned for tenant B. The platform account's token is shared by the tenants using
//! that account.
//!
//! Records (JSON) and their transitions, each one compare-and-swap:
//!
//! - absent, a stale `token` or a `fetching` whose lease ran out → `fetching`: the one
//!   request that swapped it fetches ([`TokenLookup::Fetch`]); the others wait
//!   ([`TokenLookup::Wait`]) and look again;
//! - `fetching` → `token { valid_until_ms }` ([`store`]), valid until `expires_in`
//!   minus a margin (60 s, or half the lifetime for tokens shorter than 2 minutes);
//! - `token` rejected by the carrier (401) → `fetching` ([`invalidate`]), only if it
//!   is still the rejected token, so many requests failing with the same token
//!   refresh it once.
//!
//! How the component uses it: `lookup`; `Cached` → call the carrier with it; `Fetch` →
//! call the token endpoint, then `store` (or `give_up` when that fails) and use the
//! token; `Wait` → sleep `retry_in_ms` and look again, within the request's deadline.
//! On a 401 from the carrier: `invalidate` with the token that was sent, get a token
//! the same way, and retry the call once; a second 401 is the answer (and a
//! credential failure for the breaker). On a key-value fault the component fetches a
//! token for this request without caching it.
//!
//! Storage: one key per configured credential. A rotated client id starts a new key;
//! the old one (a single small record) stays until the operator deletes it.

use super::credentials::Account;
use crate::kv::{KeyValue, KvError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a fetch may hold the lease before another request may fetch instead.
pub const FETCH_LEASE_MS: u64 = 10_000;
/// How long a waiting request sleeps before looking again.
pub const WAIT_MS: u64 = 50;
/// Tokens are used until this long before they expire.
pub const EXPIRY_MARGIN_SECS: u64 = 60;

const MAX_CAS_ATTEMPTS: usize = 16;

/// The key-value key of one credential's token:
/// `token:<carrier>:platform:<account number or ->:<h>` or
/// `token:<carrier>:tenant:<tenant>:<account>:<h>`, where `<h>` is the first 32 hex
/// digits of SHA-256 of the client id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenCacheKey(String);

impl TokenCacheKey {
    pub fn new(carrier: &str, account: &Account, client_id: &str) -> TokenCacheKey {
        let digest = Sha256::digest(client_id.as_bytes());
        let hash = base16ct::lower::encode_string(&digest[..16]);
        TokenCacheKey(match account {
            Account::Platform { account_number } => format!(
                "token:{carrier}:platform:{}:{hash}",
                account_number.as_deref().unwrap_or("-")
            ),
            Account::Own { tenant, account } => {
                format!("token:{carrier}:tenant:{tenant}:{account}:{hash}")
            }
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
enum Entry {
    Token { token: String, valid_until_ms: u64 },
    Fetching { lease_until_ms: u64, lease: u64 },
}

/// What to do for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    /// A valid cached token.
    Cached(String),
    /// This request fetches the token; report with [`store`] or [`give_up`].
    Fetch(FetchLease),
    /// Another request is fetching; look again after `retry_in_ms`.
    Wait { retry_in_ms: u64 },
}

/// The right to fetch one credential's token (the `fetching` record written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchLease {
    key: TokenCacheKey,
    claim: Vec<u8>,
}

fn encode(entry: &Entry) -> Vec<u8> {
    serde_json::to_vec(entry).expect("token entry serializes")
}

fn read<K: KeyValue + ?Sized>(
    kv: &K,
    key: &TokenCacheKey,
) -> Result<Option<(Entry, Vec<u8>)>, KvError> {
    let Some(bytes) = kv.get(key.as_str())? else {
        return Ok(None);
    };
    let entry = serde_json::from_slice(&bytes)
        .map_err(|e| KvError(format!("corrupt token record `{}`: {e}", key.as_str())))?;
    Ok(Some((entry, bytes)))
}

/// The cached token, or the lease to fetch it, or how long to wait for another
/// request's fetch. `lease_id` is a random number from the caller, naming its lease.
pub fn lookup<K: KeyValue + ?Sized>(
    kv: &K,
    key: &TokenCacheKey,
    lease_id: u64,
    now_ms: u64,
) -> Result<TokenLookup, KvError> {
    acquire(kv, key, None, lease_id, now_ms)
}

/// The carrier refused `rejected` (401): drops it, unless another request already
/// replaced it, then answers as [`lookup`].
pub fn invalidate<K: KeyValue + ?Sized>(
    kv: &K,
    key: &TokenCacheKey,
    rejected: &str,
    lease_id: u64,
    now_ms: u64,
) -> Result<TokenLookup, KvError> {
    acquire(kv, key, Some(rejected), lease_id, now_ms)
}

fn acquire<K: KeyValue + ?Sized>(
    kv: &K,
    key: &TokenCacheKey,
    rejected: Option<&str>,
    lease_id: u64,
    now_ms: u64,
) -> Result<TokenLookup, KvError> {
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = read(kv, key)?;
        match &current {
            Some((
                Entry::Token {
                    token,
                    valid_until_ms,
                },
                _,
            )) if now_ms < *valid_until_ms && rejected != Some(token.as_str()) => {
                return Ok(TokenLookup::Cached(token.clone()));
            }
            Some((Entry::Fetching { lease_until_ms, .. }, _)) if now_ms < *lease_until_ms => {
                return Ok(TokenLookup::Wait {
                    retry_in_ms: WAIT_MS.min(lease_until_ms - now_ms),
                });
            }
            _ => {}
        }
        let claim = encode(&Entry::Fetching {
            lease_until_ms: now_ms + FETCH_LEASE_MS,
            lease: lease_id,
        });
        let expected = current.as_ref().map(|(_, bytes)| bytes.as_slice());
        if kv.compare_and_swap(key.as_str(), expected, &claim)? {
            return Ok(TokenLookup::Fetch(FetchLease {
                key: key.clone(),
                claim,
            }));
        }
    }
    // Constant churn on one record: let the caller wait a moment rather than fetch.
    Ok(TokenLookup::Wait {
        retry_in_ms: WAIT_MS,
    })
}

/// How long a token that lives `expires_in_secs` is used: until `expires_in` minus 60 s,
/// or minus half its lifetime when that is shorter.
pub fn usable_ms(expires_in_secs: u64) -> u64 {
    let margin = EXPIRY_MARGIN_SECS.min(expires_in_secs / 2);
    (expires_in_secs - margin).saturating_mul(1000)
}

/// Stores the token fetched under `lease` (`expires_in_secs` from the token response).
/// `Ok(false)` when it was not stored (the lease was taken over, or the token expires
/// at once): the caller still uses it for its own request.
pub fn store<K: KeyValue + ?Sized>(
    kv: &K,
    lease: &FetchLease,
    token: &str,
    expires_in_secs: u64,
    now_ms: u64,
) -> Result<bool, KvError> {
    let usable = usable_ms(expires_in_secs);
    if usable == 0 {
        give_up(kv, lease)?;
        return Ok(false);
    }
    let entry = encode(&Entry::Token {
        token: token.to_string(),
        valid_until_ms: now_ms + usable,
    });
    kv.compare_and_swap(lease.key.as_str(), Some(&lease.claim), &entry)
}

/// The fetch under `lease` failed: the next request may fetch at once.
pub fn give_up<K: KeyValue + ?Sized>(kv: &K, lease: &FetchLease) -> Result<(), KvError> {
    let released = encode(&Entry::Fetching {
        lease_until_ms: 0,
        lease: 0,
    });
    kv.compare_and_swap(lease.key.as_str(), Some(&lease.claim), &released)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    fn own(tenant: &str) -> TokenCacheKey {
        TokenCacheKey::new(
            "ups",
            &Account::Own {
                tenant: tenant.into(),
                account: "A1".into(),
            },
            "client-1",
        )
    }

    fn platform() -> TokenCacheKey {
        TokenCacheKey::new(
            "ups",
            &Account::Platform {
                account_number: Some("W4YP05".into()),
            },
            "platform-client",
        )
    }

    /// What a component does: look up, fetch when told to (counting fetches).
    fn token_for(kv: &MemoryKv, key: &TokenCacheKey, fetched: &str, now_ms: u64) -> String {
        match lookup(kv, key, now_ms, now_ms).unwrap() {
            TokenLookup::Cached(token) => token,
            TokenLookup::Fetch(lease) => {
                store(kv, &lease, fetched, 3600, now_ms).unwrap();
                fetched.to_string()
            }
            TokenLookup::Wait { .. } => panic!("nobody else is fetching"),
        }
    }

    #[test]
    fn a_token_is_reused_until_shortly_before_it_expires() {
        let kv = MemoryKv::new();
        let key = platform();
        assert_eq!(token_for(&kv, &key, "t1", 0), "t1");
        assert_eq!(token_for(&kv, &key, "t2", 3_539_999), "t1");
        // expires_in 3600 s, used until 60 s before.
        assert_eq!(token_for(&kv, &key, "t2", 3_540_000), "t2");
        assert_eq!(usable_ms(3600), 3_540_000);
        assert_eq!(usable_ms(30), 15_000);
        assert_eq!(usable_ms(0), 0);
    }

    #[test]
    fn tenant_a_token_is_never_returned_for_tenant_b() {
        let kv = MemoryKv::new();
        let a = own("tenant-a");
        let b = own("tenant-b");
        assert_ne!(a, b);
        assert_eq!(token_for(&kv, &a, "token-of-a", 0), "token-of-a");
        assert_eq!(token_for(&kv, &b, "token-of-b", 1), "token-of-b");
        assert_eq!(token_for(&kv, &a, "unused", 2), "token-of-a");
        assert_eq!(token_for(&kv, &b, "unused", 3), "token-of-b");
        assert!(a.as_str().starts_with("token:ups:tenant:tenant-a:A1:"));
        assert!(!a.as_str().contains("client-1"), "the client id is hashed");
    }

    #[test]
    fn the_platform_token_is_shared_and_keyed_by_account() {
        let shared = platform();
        assert_eq!(
            shared,
            TokenCacheKey::new(
                "ups",
                &Account::Platform {
                    account_number: Some("W4YP05".into())
                },
                "platform-client"
            )
        );
        let rotated = TokenCacheKey::new(
            "ups",
            &Account::Platform {
                account_number: Some("W4YP05".into()),
            },
            "new-client",
        );
        assert_ne!(shared, rotated, "a new client id gets a new token");
    }

    #[test]
    fn concurrent_requests_fetch_the_token_once() {
        let kv = Arc::new(MemoryKv::new());
        let key = platform();
        let fetches = Arc::new(AtomicUsize::new(0));
        let threads = 16;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads as u64)
            .map(|i| {
                let (kv, key, fetches, barrier) = (
                    Arc::clone(&kv),
                    key.clone(),
                    Arc::clone(&fetches),
                    Arc::clone(&barrier),
                );
                std::thread::spawn(move || {
                    barrier.wait();
                    // Simulated time advances per look, so waiting ends.
                    let mut now = 1_000;
                    loop {
                        match lookup(&*kv, &key, i, now).unwrap() {
                            TokenLookup::Cached(t) => return t,
                            TokenLookup::Fetch(lease) => {
                                fetches.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(20));
                                assert!(store(&*kv, &lease, "shared-token", 3600, now).unwrap());
                                return "shared-token".to_string();
                            }
                            TokenLookup::Wait { retry_in_ms } => {
                                std::thread::sleep(std::time::Duration::from_millis(2));
                                // 1 ms of simulated time per look: the lease (10 s) outlasts any real stall.
                                now += retry_in_ms.min(1);
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), "shared-token");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_rejected_token_is_refreshed_once() {
        let kv = MemoryKv::new();
        let key = own("globex");
        token_for(&kv, &key, "old", 0);
        // Two requests got 401 with the old token; only the first refreshes.
        let TokenLookup::Fetch(lease) = invalidate(&kv, &key, "old", 1, 10).unwrap() else {
            panic!("the first 401 refreshes");
        };
        assert_eq!(
            invalidate(&kv, &key, "old", 2, 11).unwrap(),
            TokenLookup::Wait { retry_in_ms: 50 }
        );
        assert!(store(&kv, &lease, "new", 3600, 20).unwrap());
        assert_eq!(
            invalidate(&kv, &key, "old", 2, 30).unwrap(),
            TokenLookup::Cached("new".into()),
            "a late 401 for the old token does not drop the new one"
        );
    }

    #[test]
    fn a_failed_fetch_lets_the_next_request_fetch_and_a_stuck_one_times_out() {
        let kv = MemoryKv::new();
        let key = platform();
        let TokenLookup::Fetch(lease) = lookup(&kv, &key, 1, 0).unwrap() else {
            panic!("fetch");
        };
        give_up(&kv, &lease).unwrap();
        let TokenLookup::Fetch(_stuck) = lookup(&kv, &key, 2, 1).unwrap() else {
            panic!("fetch again after a failure");
        };
        assert!(matches!(
            lookup(&kv, &key, 3, 2).unwrap(),
            TokenLookup::Wait { .. }
        ));
        assert!(matches!(
            lookup(&kv, &key, 3, 1 + FETCH_LEASE_MS).unwrap(),
            TokenLookup::Fetch(_)
        ));
    }

    #[test]
    fn store_faults_are_errors() {
        let kv = MemoryKv::new();
        kv.set_failing(true);
        assert!(lookup(&kv, &platform(), 1, 0).is_err());
    }
}
