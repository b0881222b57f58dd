//! The CPU one posted message's body extraction may spend (per message: an LMTP email to
//! several reply addresses is extracted for each). Cutting the text is always done (the text
//! is what gets posted); the HTML part — a DOM built, matched against the text's cuts,
//! serialized, then parsed again by the sanitizer — is the costly rest. The budget is checked
//! before each of those phases, which are each linear in the input (the nesting cap of
//! `html::depth`, the size limit); once spent, the HTML is given up: the message is posted
//! with its text, the original email stays available to staff. So the work is bounded by the
//! budget plus one phase, whatever a phase found later to be slower on some input costs.
//!
//! Measured in the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, POSIX), not wall time: on a
//! busy machine waiting for a core is not spending one, and must not cost a sender their HTML.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct CpuBudget {
    /// The thread's CPU time when the work started, and how much it may add.
    started: Option<Duration>,
    limit: Duration,
}

impl CpuBudget {
    /// No limit (the command-line tools, the fuzz targets).
    pub fn unlimited() -> CpuBudget {
        CpuBudget {
            started: None,
            limit: Duration::MAX,
        }
    }

    /// Starts counting now, on this thread: the work must stay on it (`cpu_bound`).
    pub fn start(limit: Duration) -> CpuBudget {
        CpuBudget {
            started: thread_cpu_time(),
            limit,
        }
    }

    /// The CPU spent since the start (zero when unlimited or unmeasurable).
    pub fn spent(&self) -> Duration {
        match (self.started, thread_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => Duration::ZERO,
        }
    }

    pub fn exhausted(&self) -> bool {
        self.started.is_some() && self.spent() > self.limit
    }
}

fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the call only writes to it.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (status == 0).then(|| {
        Duration::new(
            u64::try_from(now.tv_sec).unwrap_or(0),
            u32::try_from(now.tv_nsec).unwrap_or(0),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_counts_this_thread_s_cpu_and_runs_out() {
        assert!(!CpuBudget::unlimited().exhausted());
        let budget = CpuBudget::start(Duration::from_millis(20));
        assert!(!budget.exhausted());
        let mut x = 0u64;
        while !budget.exhausted() {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(budget.spent() > Duration::from_millis(20));
        // Sleeping spends no CPU.
        let budget = CpuBudget::start(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!budget.exhausted(), "{:?}", budget.spent());
    }
}
