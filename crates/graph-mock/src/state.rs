//! What every handler shares: the tenant, the fault engine, the request log and the token service.
//! Its own module so that the handlers and the server both depend on it, not on each other.

use crate::auth::TokenService;
use crate::changes::{self, Snapshot};
use crate::faults::FaultEngine;
use crate::tenant::Tenant;
use crate::truth::{self, RequestLog, Truth, TruthFilter};

/// Shared by every handler.
pub(crate) struct AppState {
    pub tenant: Tenant,
    pub faults: FaultEngine,
    pub requests: RequestLog,
    pub tokens: TokenService,
    pub base_url: String,
    pub graph_url: String,
}

impl AppState {
    pub fn truth(&self, only: &TruthFilter) -> Truth {
        truth::compute(&self.tenant, &self.faults.faults, only)
    }

    pub fn snapshot(&self, only: &TruthFilter) -> Snapshot {
        changes::snapshot(&self.tenant, &self.faults.faults, only)
    }
}
