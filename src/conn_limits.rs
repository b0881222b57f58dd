//! Open connections per client IP, capped: one host must not take every slot of a listener.
//! Shared by the SMTP and HTTP listeners, with the open-files limit they need. A leaf.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per client IP.
#[derive(Clone, Default)]
pub struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection's place in its IP's count; released when the connection ends.
pub struct IpSlot {
    counts: PerIp,
    ip: IpAddr,
}

impl PerIp {
    /// A place for one more connection from `ip`, or None when it has `max` already.
    pub fn claim(&self, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Unknown recipients per client IP within a window: a client guessing reply addresses is
/// throttled once it has sent [`GUESS_LIMIT`] of them in [`GUESS_WINDOW`]. Counted per process
/// (like the connection caps): with several gateways an attacker gets that many per process,
/// still nowhere near the 2^128 tokens.
#[derive(Clone, Default)]
pub struct Guesses(Arc<Mutex<HashMap<IpAddr, (u32, std::time::Instant)>>>);

/// Unknown recipients a client IP may send in [`GUESS_WINDOW`].
pub const GUESS_LIMIT: u32 = 30;
/// The window of [`GUESS_LIMIT`].
pub const GUESS_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);
/// Tracked addresses beyond which expired ones are forgotten.
const GUESS_TRACKED: usize = 10_000;

impl Guesses {
    /// Whether `ip` has used up its unknown recipients for now.
    pub fn throttled(&self, ip: IpAddr) -> bool {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .get(&ip)
            .is_some_and(|&(n, since)| n >= GUESS_LIMIT && since.elapsed() < GUESS_WINDOW)
    }

    /// One more unknown recipient from `ip`.
    pub fn record(&self, ip: IpAddr) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() >= GUESS_TRACKED {
            counts.retain(|_, (_, since)| since.elapsed() < GUESS_WINDOW);
        }
        let entry = counts.entry(ip).or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed() >= GUESS_WINDOW {
            *entry = (0, std::time::Instant::now());
        }
        entry.0 += 1;
    }
}

/// Raises this process's soft limit on open files to its hard limit (many connections are
/// many file descriptors; distributions start services with a soft limit of 1,024). Returns
/// the limit in force.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// A listening socket whose accept queue holds a burst of connections (4,096; the kernel caps
/// it at `net.core.somaxconn`, 4,096 since Linux 5.4, 128 before; tokio's default is 1,024): under a flood of connections from one
/// address, which are accepted and refused at once, another client's SYN waits in the queue
/// instead of being dropped and retried a second later.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's and tokio's bind do on Unix: a restart may bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_capped_and_released() {
        let per_ip = PerIp::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = per_ip.claim(ip, 2).unwrap();
        let _b = per_ip.claim(ip, 2).unwrap();
        assert!(per_ip.claim(ip, 2).is_none());
        assert!(
            per_ip.claim("192.0.2.2".parse().unwrap(), 2).is_some(),
            "other hosts are not affected"
        );
        drop(a);
        assert!(per_ip.claim(ip, 2).is_some());
    }

    #[test]
    fn guessing_clients_are_throttled_and_others_are_not() {
        let guesses = Guesses::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..GUESS_LIMIT {
            assert!(!guesses.throttled(ip));
            guesses.record(ip);
        }
        assert!(guesses.throttled(ip));
        assert!(!guesses.throttled("192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        let limit = raise_open_files_limit().unwrap();
        // Raised to the hard limit: asking again changes nothing.
        assert_eq!(raise_open_files_limit().unwrap(), limit);
        assert!(limit >= 1024, "{limit}");
    }
}
