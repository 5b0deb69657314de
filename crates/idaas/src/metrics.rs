//! Process counters exported at `/metrics` in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by all handlers (cheap atomics, no registry).
#[derive(Debug, Default)]
pub struct Metrics {
    http_by_class: [AtomicU64; 5],
    signin_success: AtomicU64,
    signin_failure: AtomicU64,
    sso_success: AtomicU64,
    sso_failure: AtomicU64,
}

impl Metrics {
    /// Counts one answered HTTP request by status code.
    pub fn http_request(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http_by_class[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one sign-in attempt.
    pub fn signin(&self, success: bool) {
        let c = if success {
            &self.signin_success
        } else {
            &self.signin_failure
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one SAML SSO response (success) or refused SSO request (failure).
    pub fn sso(&self, success: bool) {
        let c = if success {
            &self.sso_success
        } else {
            &self.sso_failure
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders all counters in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP gatehouse_idaas_http_requests_total HTTP requests answered, by status class.\n",
        );
        out.push_str("# TYPE gatehouse_idaas_http_requests_total counter\n");
        for (i, c) in self.http_by_class.iter().enumerate() {
            let _ = writeln!(
                out,
                "gatehouse_idaas_http_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP gatehouse_idaas_signins_total Sign-in attempts, by result.\n");
        out.push_str("# TYPE gatehouse_idaas_signins_total counter\n");
        let _ = writeln!(
            out,
            "gatehouse_idaas_signins_total{{result=\"success\"}} {}",
            self.signin_success.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "gatehouse_idaas_signins_total{{result=\"failure\"}} {}",
            self.signin_failure.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP gatehouse_idaas_sso_total SAML SSO responses issued or refused, by result.\n",
        );
        out.push_str("# TYPE gatehouse_idaas_sso_total counter\n");
        let _ = writeln!(
            out,
            "gatehouse_idaas_sso_total{{result=\"success\"}} {}",
            self.sso_success.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "gatehouse_idaas_sso_total{{result=\"failure\"}} {}",
            self.sso_failure.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.http_request(200);
        m.http_request(404);
        m.http_request(404);
        m.signin(true);
        m.sso(false);
        let text = m.render();
        assert!(text.contains("gatehouse_idaas_http_requests_total{class=\"2xx\"} 1\n"));
        assert!(text.contains("gatehouse_idaas_http_requests_total{class=\"4xx\"} 2\n"));
        assert!(text.contains("gatehouse_idaas_signins_total{result=\"success\"} 1\n"));
        assert!(text.contains("gatehouse_idaas_sso_total{result=\"failure\"} 1\n"));
    }
}
