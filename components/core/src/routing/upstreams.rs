//! Which of a carrier's upstreams fit a request, and the weighted choice among them.
//!
//! An upstream's conditions must all hold for it to fit: `path_prefix` (the pass-through
//! path starts with it), `header` (the request carries that header with exactly that
//! value) and `host` (the request's host, without port, case-insensitive).
//!
//! Among the fitting upstreams of one region:
//!
//! 1. the longest `path_prefix` wins (no prefix = length 0): a path-specific upstream
//!    (DHL tracking under `/track/`) takes its paths, and only those upstreams are
//!    considered, even when they are all failing;
//! 2. within that group, upstreams picked by a `header` or `host` (a canary, a beta)
//!    come first; when all of them are unavailable, the group's plain upstreams serve;
//! 3. plain upstreams with weight 0 serve only when pinned by a tenant.
//!
//! Within a tier an upstream is picked with probability weight / total weight (equal
//! chances when every weight is 0), from a random `u64` the caller provides.

use crate::auth::credential::Headers;
use crate::config::{Carrier, Upstream};

/// What upstream matching reads from a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The pass-through path (what follows `/v1/carriers/{carrier}`), starting with `/`.
    pub path: &'a str,
    /// The request's `Host` (or URI authority), port allowed.
    pub host: Option<&'a str>,
    pub headers: &'a Headers,
}

fn has_header(headers: &Headers, name: &str, value: &str) -> bool {
    headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(name) && v.trim_matches([' ', '\t']) == value)
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
}

/// Whether every condition of `upstream` holds for the request.
pub fn fits(upstream: &Upstream, request: &RequestFacts<'_>) -> bool {
    if let Some(prefix) = &upstream.path_prefix
        && !prefix_matches(prefix, request.path)
    {
        return false;
    }
    if let Some(h) = &upstream.header
        && !has_header(request.headers, &h.name, &h.value)
    {
        return false;
    }
    if let Some(host) = &upstream.host {
        let Some(asked) = request.host else {
            return false;
        };
        if !host_without_port(asked).eq_ignore_ascii_case(host) {
            return false;
        }
    }
    true
}

/// Whether a pinned upstream can take this path (its `path_prefix`, if any, holds).
/// A pin ignores `header`, `host` and weight: the tenant chose this upstream.
pub fn pin_fits(upstream: &Upstream, request: &RequestFacts<'_>) -> bool {
    upstream
        .path_prefix
        .as_deref()
        .is_none_or(|p| prefix_matches(p, request.path))
}

fn is_selected_by_request(upstream: &Upstream) -> bool {
    upstream.header.is_some() || upstream.host.is_some()
}

/// The upstreams of `carrier` in `region` that may serve the request, as tiers in
/// order of preference (see the module doc). Empty when none fits.
pub fn tiers<'c>(
    carrier: &'c Carrier,
    region: &str,
    request: &RequestFacts<'_>,
) -> Vec<Vec<&'c Upstream>> {
    let fitting: Vec<&Upstream> = carrier
        .upstreams
        .iter()
        .filter(|u| u.region == region && fits(u, request))
        .collect();
    let prefix_len = |u: &Upstream| u.path_prefix.as_ref().map_or(0, String::len);
    let Some(longest) = fitting.iter().map(|u| prefix_len(u)).max() else {
        return Vec::new();
    };
    let group = fitting.into_iter().filter(|u| prefix_len(u) == longest);
    let (selected, plain): (Vec<&Upstream>, Vec<&Upstream>) =
        group.partition(|u| is_selected_by_request(u));
    let plain: Vec<&Upstream> = plain.into_iter().filter(|u| u.weight > 0).collect();
    [selected, plain]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect()
}

/// An index into `weights`, chosen with probability weight / total (uniformly when all
/// are 0). `None` only for an empty slice.
pub fn pick_weighted(weights: &[u32], random: u64) -> Option<usize> {
    if weights.is_empty() {
        return None;
    }
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return Some((random % weights.len() as u64) as usize);
    }
    let mut point = random % total;
    for (i, w) in weights.iter().enumerate() {
        let w = u64::from(*w);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    unreachable!("point < total")
}

/// The next random number after `random` (SplitMix64), for a second choice after the
/// first was unavailable.
pub fn next_random(random: u64) -> u64 {
    let mut z = random.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::testkit::headers;
    use crate::routing::testkit::{carrier, upstream};

    fn ids(tiers: &[Vec<&Upstream>]) -> Vec<Vec<String>> {
        tiers
            .iter()
            .map(|t| t.iter().map(|u| u.id.clone()).collect())
            .collect()
    }

    fn facts<'a>(path: &'a str, host: Option<&'a str>, h: &'a Headers) -> RequestFacts<'a> {
        RequestFacts {
            path,
            host,
            headers: h,
        }
    }

    #[test]
    fn a_path_prefix_takes_its_paths_and_only_those() {
        let mut dhl = carrier("dhl", &[upstream("main", "eu"), upstream("track", "eu")]);
        dhl.upstreams[1].path_prefix = Some("/track/".into());
        let none = headers(&[]);
        assert_eq!(
            ids(&tiers(&dhl, "eu", &facts("/track/shipments", None, &none))),
            [["track"]]
        );
        assert_eq!(
            ids(&tiers(&dhl, "eu", &facts("/mydhlapi/rates", None, &none))),
            [["main"]]
        );
        assert!(tiers(&dhl, "us", &facts("/track/x", None, &none)).is_empty());
    }

    #[test]
    fn a_canary_header_picks_the_canary_first_with_the_stable_ones_behind() {
        let mut ups = carrier("ups", &[upstream("stable", "us"), upstream("canary", "us")]);
        ups.upstreams[1].weight = 0;
        ups.upstreams[1].header = Some(crate::config::HeaderMatch {
            name: "x-carrier-canary".into(),
            value: "1".into(),
        });
        let canary = headers(&[("X-Carrier-Canary", "1")]);
        assert_eq!(
            ids(&tiers(&ups, "us", &facts("/api/rating", None, &canary))),
            [vec!["canary"], vec!["stable"]]
        );
        let other = headers(&[("x-carrier-canary", "2")]);
        assert_eq!(
            ids(&tiers(&ups, "us", &facts("/api/rating", None, &other))),
            [["stable"]]
        );
    }

    #[test]
    fn a_host_picks_its_upstream() {
        let mut ups = carrier("ups", &[upstream("stable", "us"), upstream("beta", "us")]);
        ups.upstreams[1].host = Some("ups-beta.us.waypost.example".into());
        let none = headers(&[]);
        assert_eq!(
            ids(&tiers(
                &ups,
                "us",
                &facts("/x", Some("UPS-Beta.us.waypost.example:443"), &none)
            )),
            [vec!["beta"], vec!["stable"]]
        );
        assert_eq!(
            ids(&tiers(
                &ups,
                "us",
                &facts("/x", Some("us.waypost.example"), &none)
            )),
            [["stable"]]
        );
    }

    #[test]
    fn weight_zero_plain_upstreams_serve_only_when_pinned() {
        let mut fedex = carrier(
            "fedex",
            &[upstream("main", "eu"), upstream("dedicated", "eu")],
        );
        fedex.upstreams[1].weight = 0;
        let none = headers(&[]);
        let request = facts("/ship", None, &none);
        assert_eq!(ids(&tiers(&fedex, "eu", &request)), [["main"]]);
        assert!(pin_fits(&fedex.upstreams[1], &request));
    }

    #[test]
    fn weights_shift_traffic_in_proportion() {
        // A gradual shift: 90 % old, 10 % new, over many seeds.
        let weights = [90, 10];
        let mut counts = [0u32; 2];
        let mut random = 7;
        for _ in 0..20_000 {
            random = next_random(random);
            counts[pick_weighted(&weights, random).unwrap()] += 1;
        }
        let share = f64::from(counts[1]) / 20_000.0;
        assert!((0.085..0.115).contains(&share), "new upstream got {share}");
    }

    #[test]
    fn zero_total_weight_picks_evenly_and_empty_picks_nothing() {
        let mut counts = [0u32; 3];
        for seed in 0..3_000u64 {
            counts[pick_weighted(&[0, 0, 0], next_random(seed)).unwrap()] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
        assert_eq!(pick_weighted(&[], 1), None);
        assert_eq!(pick_weighted(&[0, 5], 0), Some(1));
    }
}
