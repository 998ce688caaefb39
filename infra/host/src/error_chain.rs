//! Finding a cause in an error and its sources. `io::Error::source` skips the error it
//! wraps (it returns that error's own source), so an I/O error is opened with
//! `get_ref` instead: a TLS failure arrives as an `io::Error` around a `rustls::Error`.

use std::error::Error;

/// `error`, then each cause under it.
pub fn causes<'e>(
    error: &'e (dyn Error + 'static),
) -> impl Iterator<Item = &'e (dyn Error + 'static)> {
    std::iter::successors(Some(error), |&e: &&'e (dyn Error + 'static)| {
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(wrapped) => Some(wrapped as &(dyn Error + 'static)),
            None => e.source(),
        }
    })
}

/// The first cause of type `T` in `error`.
pub fn find<'e, T: Error + 'static>(error: &'e (dyn Error + 'static)) -> Option<&'e T> {
    causes(error).find_map(|e| e.downcast_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(Box<dyn Error + Send + Sync>);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn finds_the_error_an_io_error_wraps() {
        let tls = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        // `source` alone would not reach it.
        assert!(io.source().is_none());
        let outer = Outer(Box::new(io));
        assert!(matches!(
            find::<rustls::Error>(&outer),
            Some(rustls::Error::AlertReceived(_))
        ));
        assert!(find::<std::io::Error>(&outer).is_some());
        assert!(find::<std::fmt::Error>(&outer).is_none());
    }
}
