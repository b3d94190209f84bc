//! Which Graph refusals skip a stream or one parent instead of failing the run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::GraphError;

/// Codes Graph uses for an unlicensed or missing mailbox, drive or site, whatever the status.
const LICENSE_CODES: &[&str] = &[
    "MailboxNotEnabledForRESTAPI",
    "MailboxNotSupportedForRESTAPI",
    "ErrorMailboxNotEnabled",
    "ErrorInvalidLicense",
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "Request_ResourceNotFound",
    "ResourceNotFound",
];

/// Whether this refusal is skipped. `per_parent`: the request was for one parent of a child stream,
/// where a 404 means that user's mailbox or drive does not exist, not that the stream is wrong.
pub fn is_skippable(error: &GraphError, per_parent: bool) -> bool {
    match error.status {
        403 => true,
        404 if per_parent => true,
        _ => LICENSE_CODES.contains(&error.code.as_str()),
    }
}

/// Whether this refusal means "not licensed" (no mailbox, drive or premium feature) rather than a
/// missing permission or a broken request.
pub fn is_license_refusal(error: &GraphError, per_parent: bool) -> bool {
    LICENSE_CODES.contains(&error.code.as_str()) || (per_parent && error.status == 404)
}

/// After this many 403s on distinct parents and not one success, the permission is missing for the
/// whole stream: it is skipped once instead of once per parent (20k users, 20k refusals).
pub const DENIALS_BEFORE_STREAM_SKIP: u64 = 3;

/// Tracks a child stream's refusals to decide when the whole stream is skipped.
#[derive(Debug, Default)]
pub struct StreamGate {
    denied: AtomicBool,
    successes: AtomicU64,
    denials: AtomicU64,
}

impl StreamGate {
    /// Whether the stream has been denied, and so skipped whole.
    pub fn is_denied(&self) -> bool {
        self.denied.load(Ordering::Relaxed)
    }

    /// Records a parent read without a refusal: the stream is then never skipped whole.
    pub fn success(&self) {
        self.successes.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a 403 on one parent; returns true exactly once, when the stream becomes denied.
    pub fn denial(&self) -> bool {
        let denials = self.denials.fetch_add(1, Ordering::Relaxed) + 1;
        denials >= DENIALS_BEFORE_STREAM_SKIP
            && self.successes.load(Ordering::Relaxed) == 0
            && !self.denied.swap(true, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str) -> GraphError {
        GraphError {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn refusals_and_missing_mailboxes_skip_other_errors_do_not() {
        assert!(is_skippable(
            &err(403, "Authorization_RequestDenied"),
            false
        ));
        assert!(is_skippable(&err(404, "ResourceNotFound"), true));
        assert!(is_skippable(
            &err(404, "MailboxNotEnabledForRESTAPI"),
            false
        ));
        assert!(!is_skippable(&err(404, "Request_BadRequest"), false));
        assert!(!is_skippable(&err(400, "Request_UnsupportedQuery"), true));
        assert!(!is_skippable(&err(410, "resyncRequired"), true));
    }

    #[test]
    fn gate_denies_once_after_repeated_refusals_without_success() {
        let gate = StreamGate::default();
        assert!(!gate.denial() && !gate.denial());
        assert!(gate.denial());
        assert!(gate.is_denied() && !gate.denial());
        let served = StreamGate::default();
        served.success();
        for _ in 0..10 {
            assert!(
                !served.denial(),
                "a stream that works for some parents is never skipped whole"
            );
        }
    }
}
