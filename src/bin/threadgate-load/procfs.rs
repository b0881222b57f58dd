//! What `/proc` says about the server process: its resident memory
//! (`VmRSS`, `VmHWM` in `/proc/<pid>/status`) and its CPU time
//! (`/proc/<pid>/stat`).

/// A `kB` field (VmRSS, VmHWM) of `/proc/<pid>/status`, in KiB.
pub(super) fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

/// User + system CPU time of a process, all its threads, in seconds (`/proc/<pid>/stat`
/// fields 14 and 15, in clock ticks: 100 per second on Linux).
pub(super) fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat).map(|ticks| ticks as f64 / 100.0)
}

/// `read` added up over the server's processes; None when there is none to read (a peer
/// started without `--server-pid`: no figure rather than a zero) or one could not be read.
pub(super) fn over_processes<T: std::iter::Sum>(
    pids: &[u32],
    read: impl Fn(u32) -> Option<T>,
) -> Option<T> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&pid| read(pid)).sum()
}

pub(super) fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

pub(super) fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}
