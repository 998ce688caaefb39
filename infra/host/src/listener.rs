//! The app's listening socket: `--listen`, and with `--find-free-port` the next of
//! the ten ports from it that is free, as `spin up` searches.

use anyhow::bail;
use std::io::ErrorKind;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Ports tried after the one asked for, as Spin's `MAX_RETRIES`.
const MORE_PORTS: u16 = 10;

pub async fn bind(addr: SocketAddr, find_free_port: bool) -> anyhow::Result<TcpListener> {
    let mut at = addr;
    loop {
        match TcpListener::bind(at).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == ErrorKind::AddrInUse => {
                if !find_free_port {
                    bail!(
                        "cannot listen on {addr}: it is already in use (--find-free-port \
                         tries the next {MORE_PORTS} ports)"
                    );
                }
                let tried = at.port() - addr.port();
                match at.port().checked_add(1) {
                    Some(port) if tried < MORE_PORTS => at.set_port(port),
                    _ => bail!(
                        "cannot listen on {addr}: it and the next {MORE_PORTS} ports are in use"
                    ),
                }
            }
            Err(e) => bail!("cannot listen on {at}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_is_refused_naming_the_flag_or_the_next_free_one_taken() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();

        let e = bind(addr, false).await.unwrap_err().to_string();
        assert!(
            e.contains(&format!("cannot listen on {addr}: it is already in use")),
            "{e}"
        );
        assert!(e.contains("--find-free-port"), "{e}");

        let found = bind(addr, true).await.unwrap().local_addr().unwrap();
        assert!(
            found.port() > addr.port() && found.port() <= addr.port() + MORE_PORTS,
            "{found} after {addr}"
        );
    }

    #[tokio::test]
    async fn the_search_stops_after_ten_more_ports() {
        // Eleven ports in a row, all taken (a run the OS's ephemeral range leaves free).
        let held: Vec<std::net::TcpListener> = (0..200u16)
            .map(|i| 20_000 + i * 11)
            .find_map(|base| {
                (0..=MORE_PORTS)
                    .map(|k| std::net::TcpListener::bind(("127.0.0.1", base + k)))
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
            })
            .expect("eleven free ports in a row");
        let addr = held[0].local_addr().unwrap();
        let e = bind(addr, true).await.unwrap_err().to_string();
        assert!(e.contains("it and the next 10 ports are in use"), "{e}");
    }
}
