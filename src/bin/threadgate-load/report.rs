//! The report: throughput, nearest-rank latency percentiles, the server's
//! CPU time per message and peak RSS, verification; as text or JSON.

use serde::Serialize;

use super::verify::VerifyReport;

#[derive(Serialize, Debug)]
pub(super) struct LatencyReport {
    pub(super) p50: f64,
    pub(super) p95: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
    pub(super) mean: f64,
}

#[derive(Serialize, Debug)]
pub(super) struct Report {
    pub(super) ok: bool,
    pub(super) backend: String,
    /// Gateway processes sharing the database (the sessions dealt to them in turn).
    pub(super) gateways: usize,
    pub(super) conversations: u32,
    pub(super) messages: u64,
    pub(super) sessions: u32,
    pub(super) size: usize,
    pub(super) attachment_size: usize,
    pub(super) accepted: u64,
    pub(super) errors: u64,
    /// SMTP sessions re-opened during the load (after a 421 or a broken connection).
    pub(super) reconnects: u64,
    pub(super) prepare_s: f64,
    pub(super) elapsed_s: f64,
    pub(super) throughput_per_s: f64,
    pub(super) latency_ms: LatencyReport,
    /// The server's CPU time (user + system, all threads) while the replies were sent, per
    /// accepted message: steadier than throughput on a shared machine, where other load
    /// moves wall-clock figures but not the work each message costs
    pub(super) server_cpu_ms_per_message: Option<f64>,
    /// max(VmHWM at the end, largest sampled VmRSS)
    pub(super) server_peak_rss_bytes: Option<u64>,
    /// Largest VmRSS seen sampling every 100 ms
    pub(super) server_max_sampled_rss_bytes: Option<u64>,
    pub(super) verified: Option<VerifyReport>,
    pub(super) first_errors: Vec<String>,
    pub(super) warnings: Vec<String>,
}

impl Report {
    pub(super) fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let attach = if self.attachment_size > 0 {
            format!(" + {} B attachment", self.attachment_size)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "threadgate-load: {} messages ({} B{attach}) over {} sessions, backend {}{}",
            self.messages,
            self.size,
            self.sessions,
            self.backend,
            match self.gateways {
                1 => String::new(),
                n => format!(", {n} gateways"),
            }
        );
        let _ = writeln!(
            s,
            "  accepted: {}   errors: {}   elapsed: {:.2} s",
            self.accepted, self.errors, self.elapsed_s
        );
        if self.reconnects > 0 {
            let _ = writeln!(s, "  reconnects: {}", self.reconnects);
        }
        let _ = writeln!(s, "  throughput: {:.1} messages/s", self.throughput_per_s);
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "  latency: p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            l.p50, l.p95, l.p99, l.max
        );
        if let Some(cpu) = self.server_cpu_ms_per_message {
            let _ = writeln!(s, "  server CPU: {cpu:.3} ms per message");
        }
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        match (
            self.server_peak_rss_bytes,
            self.server_max_sampled_rss_bytes,
        ) {
            (Some(h), Some(m)) => {
                let _ = writeln!(
                    s,
                    "  server peak RSS: {:.1} MiB (max sampled {:.1} MiB)",
                    mib(h),
                    mib(m)
                );
            }
            (Some(h), None) => {
                let _ = writeln!(s, "  server peak RSS: {:.1} MiB", mib(h));
            }
            (None, Some(m)) => {
                let _ = writeln!(s, "  server peak RSS: max sampled {:.1} MiB", mib(m));
            }
            (None, None) => {
                let _ = writeln!(s, "  server peak RSS: n/a (no server pid)");
            }
        }
        match &self.verified {
            None => {
                let _ = writeln!(s, "  verified: skipped (--no-verify)");
            }
            Some(v) if v.ok => {
                let _ = writeln!(s, "  verified: {} stored messages", v.stored);
            }
            Some(v) => {
                let _ = writeln!(
                    s,
                    "  verify FAILED: {} stored messages, {} accepted{}",
                    v.stored,
                    v.expected,
                    v.detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
            }
        }
        if !self.first_errors.is_empty() {
            let _ = writeln!(s, "  first errors:");
            for e in &self.first_errors {
                let _ = writeln!(s, "    {e}");
            }
        }
        s
    }
}

/// Nearest-rank percentile of ascending `sorted`; 0 when empty.
pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
