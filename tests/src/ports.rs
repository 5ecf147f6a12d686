//! Picks free loopback TCP ports for servers to listen on.
//!
//! A port is found by binding `127.0.0.1:0`, reading the port the kernel chose and
//! closing the listener again. Another process may take the port before the server binds
//! it; the server starters therefore retry with fresh ports when the server reports
//! "address already in use".

use std::net::{Ipv4Addr, TcpListener};

use crate::HarnessError;

/// How many times a server (or a whole cluster) is restarted with fresh ports when its
/// port was taken in the meantime.
pub const PORT_RETRIES: usize = 5;

/// Returns one currently free port on 127.0.0.1.
pub fn free_port() -> Result<u16, HarnessError> {
    Ok(free_ports(1)?[0])
}

/// Returns `n` distinct, currently free ports on 127.0.0.1.
///
/// All listeners are held open until every port is known, so the ports are distinct.
pub fn free_ports(n: usize) -> Result<Vec<u16>, HarnessError> {
    let mut listeners = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| HarnessError::io("binding 127.0.0.1:0 to find a free port", e))?;
        listeners.push(listener);
    }
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| HarnessError::io("reading a free port", e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_nonzero() {
        let mut ports = free_ports(4).unwrap();
        assert!(ports.iter().all(|&p| p != 0));
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 4);
    }
}
