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

/// Raises this process's soft limit on open files to its hard limit (many connections are
/// many file descriptors; distributions start services with a soft limit of 1,024). Returns
/// the limit in force.
pub fn raise_open_files_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
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
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        let limit = raise_open_files_limit().unwrap();
        assert!(limit >= 1024, "{limit}");
    }
}
