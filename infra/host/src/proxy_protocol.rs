//! `up --proxy-protocol`: behind a load balancer that speaks HAProxy's PROXY protocol
//! (v1 or v2; HAProxy `send-proxy[-v2]`, AWS NLB, ...), every connection starts with a
//! header naming the client the balancer accepted it from. That client, not the
//! balancer, is then the request's `spin-client-addr` and its access-log `client`.
//!
//! With the flag on, a connection without a valid header is closed unanswered: taking
//! a missing header as "no proxy" would let a client that reaches the port directly
//! name any address it likes. A `LOCAL` header (the balancer's own health check) keeps
//! the connection's own address.

use ppp::{HeaderResult, PartialResult};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// A v2 header with TLVs is rarely longer than a few hundred bytes; one past this
/// is refused rather than buffered.
const MAX_HEADER: usize = 1024;

/// Reads the PROXY header `stream` starts with. The client it names (`peer`, the
/// connection's own address, for `LOCAL` and `UNKNOWN`), and the stream from the first
/// byte after the header.
pub async fn accept<S>(mut stream: S, peer: SocketAddr) -> Result<(SocketAddr, Prefixed<S>), String>
where
    S: AsyncRead + Unpin,
{
    let mut buf = Vec::with_capacity(256);
    loop {
        if stream.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("closed before a PROXY header".into());
        }
        let header = HeaderResult::parse(&buf);
        if header.is_incomplete() {
            if buf.len() >= MAX_HEADER {
                return Err(format!("no PROXY header in the first {MAX_HEADER} bytes"));
            }
            continue;
        }
        let (client, length) = client_of(header)?;
        let rest = buf.split_off(length);
        return Ok((
            client.unwrap_or(peer),
            Prefixed {
                prefix: rest,
                read: 0,
                inner: stream,
            },
        ));
    }
}

/// The source a complete header names (`None` for `LOCAL` or an unknown family), and
/// the header's length.
fn client_of(header: HeaderResult<'_>) -> Result<(Option<SocketAddr>, usize), String> {
    use ppp::{v1, v2};
    match header {
        HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            };
            Ok((client, h.header.len()))
        }
        HeaderResult::V2(Ok(h)) => {
            let client = match (h.command, h.addresses) {
                (v2::Command::Local, _) => None,
                (_, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (_, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (_, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => None,
            };
            Ok((client, h.len()))
        }
        HeaderResult::V1(Err(e)) => Err(format!("bad PROXY v1 header: {e}")),
        HeaderResult::V2(Err(e)) => Err(format!("bad PROXY v2 header: {e}")),
    }
}

/// A stream that yields the bytes read past the header first, then the rest.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    read: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.read < this.prefix.len() {
            let left = &this.prefix[this.read..];
            let n = left.len().min(buf.remaining());
            buf.put_slice(&left[..n]);
            this.read += n;
            if this.read == this.prefix.len() {
                this.prefix = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const PEER: &str = "10.0.0.2:4000";

    /// What `accept` makes of `sent`, written in two pieces, and what is read after.
    async fn accept_bytes(sent: &[u8]) -> Result<(SocketAddr, String), String> {
        let (mut client, server) = tokio::io::duplex(4096);
        let (first, second) = sent.split_at(sent.len() / 2);
        let (first, second) = (first.to_vec(), second.to_vec());
        tokio::spawn(async move {
            // The host may close before the second piece: a refusal.
            let _ = client.write_all(&first).await;
            tokio::task::yield_now().await;
            let _ = client.write_all(&second).await;
        });
        let (addr, mut rest) = accept(server, PEER.parse().unwrap()).await?;
        let mut after = String::new();
        rest.read_to_string(&mut after).await.unwrap();
        Ok((addr, after))
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        header.extend([0x20 | command, family]);
        header.extend((addresses.len() as u16).to_be_bytes());
        header.extend(addresses);
        header
    }

    #[tokio::test]
    async fn the_client_a_header_names_is_the_client_and_the_request_follows_intact() {
        let v1 = b"PROXY TCP4 203.0.113.9 10.0.0.1 51000 443\r\nGET / HTTP/1.1\r\n\r\n";
        assert_eq!(
            accept_bytes(v1).await.unwrap(),
            (
                "203.0.113.9:51000".parse().unwrap(),
                "GET / HTTP/1.1\r\n\r\n".into()
            )
        );
        let v1_ipv6 = b"PROXY TCP6 2001:db8::9 2001:db8::1 51000 443\r\nx";
        assert_eq!(
            accept_bytes(v1_ipv6).await.unwrap().0,
            "[2001:db8::9]:51000".parse().unwrap()
        );
        // v2, PROXY over TCP/IPv4: 203.0.113.9:51000 -> 10.0.0.1:443.
        let mut sent = v2(1, 0x11, &[203, 0, 113, 9, 10, 0, 0, 1, 0xc7, 0x38, 1, 0xbb]);
        sent.extend(b"hello");
        assert_eq!(
            accept_bytes(&sent).await.unwrap(),
            ("203.0.113.9:51000".parse().unwrap(), "hello".into())
        );
    }

    #[tokio::test]
    async fn local_and_unknown_keep_the_connections_own_address() {
        let mut local = v2(0, 0x00, &[]);
        local.extend(b"GET");
        assert_eq!(
            accept_bytes(&local).await.unwrap(),
            (PEER.parse().unwrap(), "GET".into())
        );
        let unknown = b"PROXY UNKNOWN\r\nGET";
        assert_eq!(
            accept_bytes(unknown).await.unwrap().0,
            PEER.parse().unwrap()
        );
    }

    #[tokio::test]
    async fn a_connection_without_a_header_is_refused() {
        let error = accept_bytes(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap_err();
        assert!(error.contains("bad PROXY"), "{error}");
        assert!(
            accept_bytes(b"PROXY TCP4 1.2.3.4")
                .await
                .unwrap_err()
                .contains("closed")
        );
        let v1_too_long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200], b"\r\n"].concat();
        let error = accept_bytes(&v1_too_long).await.unwrap_err();
        assert!(error.contains("bad PROXY v1"), "{error}");
        // A v2 header announcing more than the host buffers.
        let mut huge = v2(1, 0x11, &[0; 12]);
        huge[14..16].copy_from_slice(&2000u16.to_be_bytes());
        huge.extend([0; 2000 - 12]);
        let error = accept_bytes(&huge).await.unwrap_err();
        assert!(error.contains("no PROXY header"), "{error}");
    }
}
