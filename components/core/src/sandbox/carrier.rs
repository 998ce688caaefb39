//! The four simulated carriers, named by the first path segment the sandbox serves.

/// A carrier the sandbox simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    Ups,
    Fedex,
    Dhl,
    Usps,
}

impl Carrier {
    pub const ALL: [Carrier; 4] = [Carrier::Ups, Carrier::Fedex, Carrier::Dhl, Carrier::Usps];

    /// The path prefix and the name in carrier-scoped fault headers: `ups`, `fedex`,
    /// `dhl`, `usps`.
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Ups => "ups",
            Carrier::Fedex => "fedex",
            Carrier::Dhl => "dhl",
            Carrier::Usps => "usps",
        }
    }

    /// The carrier named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Carrier> {
        Carrier::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name))
    }

    /// Splits a sandbox path `/{carrier}/rest` into the carrier and `/rest` (`/` when
    /// nothing follows the prefix). `None` when the first segment names no carrier.
    pub fn split_path(path: &str) -> Option<(Carrier, &str)> {
        let rest = path.strip_prefix('/')?;
        let (name, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Some((Carrier::from_name(name)?, tail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandbox_path_names_its_carrier() {
        assert_eq!(
            Carrier::split_path("/ups/api/rating/v2409/Shop"),
            Some((Carrier::Ups, "/api/rating/v2409/Shop"))
        );
        assert_eq!(Carrier::split_path("/FedEx"), Some((Carrier::Fedex, "/")));
        assert_eq!(Carrier::split_path("/usps/"), Some((Carrier::Usps, "/")));
        assert_eq!(Carrier::split_path("/ontrac/x"), None);
        assert_eq!(Carrier::split_path("dhl/rates"), None);
    }
}
