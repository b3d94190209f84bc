//! What tenant to fake and how badly to behave.

use std::time::Duration;

use chrono::{DateTime, Utc};
use stream_spec::Catalog;

use crate::auth::AuthConfig;

/// Everything the mock needs to start. `Default` is a small tenant, faults off, seed fixed.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Port to bind on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Every generated value derives from this seed.
    pub seed: u64,
    /// Rows per stream.
    pub sizes: Sizes,
    /// Add undeclared properties and now and then a value of the wrong type.
    pub drift: bool,
    /// Misbehaviour to inject (default: none).
    pub faults: Faults,
    /// What the identity endpoints accept (default: the test tenant and app).
    pub auth: AuthConfig,
    /// The stream declarations to serve (default: the ones compiled into stream-spec).
    pub catalog: Catalog,
    /// "Now" for generated data (default: today, 00:00 UTC): audit rows lie in the 7 days before
    /// it, events start within ±300 days of it. Mutations are stamped with the wall clock, never
    /// before it.
    pub reference_time: DateTime<Utc>,
}

/// Today at 00:00 UTC: stable through a day, so restarts on one day generate the same values.
pub fn today_utc() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    today.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            port: 0,
            seed: 42,
            sizes: Sizes::default(),
            drift: false,
            faults: Faults::default(),
            auth: AuthConfig::default(),
            catalog: Catalog::embedded(),
            reference_time: today_utc(),
        }
    }
}

impl MockConfig {
    /// Binds this port on 127.0.0.1 (0: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Sets the seed every generated value derives from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Replaces every size.
    pub fn sizes(mut self, sizes: Sizes) -> Self {
        self.sizes = sizes;
        self
    }
    /// Adds undeclared properties and now and then a value of the wrong type.
    pub fn drift(mut self, drift: bool) -> Self {
        self.drift = drift;
        self
    }
    /// Sets the misbehaviour to inject.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
    /// Sets what the identity endpoints accept.
    pub fn auth(mut self, auth: AuthConfig) -> Self {
        self.auth = auth;
        self
    }
    /// Serves these stream declarations instead of the embedded ones.
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = catalog;
        self
    }
    /// Sets the data's "now": audit rows lie in the 7 days before it, events around it.
    pub fn reference_time(mut self, at: DateTime<Utc>) -> Self {
        self.reference_time = at;
        self
    }
    /// Shorthand for `sizes.users`.
    pub fn users(mut self, n: u64) -> Self {
        self.sizes.users = n;
        self
    }
    /// Shorthand for `sizes.groups`.
    pub fn groups(mut self, n: u64) -> Self {
        self.sizes.groups = n;
        self
    }
}

/// How many rows each stream has. Per-parent sizes are exact (every parent has that many). A
/// declaration names the size it takes (`mock.size = "messages_per_user"`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sizes {
    /// Users in the tenant (usage reports have one row per user).
    pub users: u64,
    /// Groups in the tenant, teams among them.
    pub groups: u64,
    /// Teams are groups whose resourceProvisioningOptions contains "Team"; at most `groups`.
    pub teams: u64,
    /// Chats in the tenant.
    pub chats: u64,
    /// App registrations in the tenant.
    pub applications: u64,
    /// Service principals in the tenant.
    pub service_principals: u64,
    /// Drives listed at `/drives`.
    pub drives: u64,
    /// Members per group, drawn from users and service principals (capped at their total).
    pub members_per_group: u64,
    /// Owners per group, drawn from users and service principals (capped at their total).
    pub owners_per_group: u64,
    /// Channels per team.
    pub channels_per_team: u64,
    /// Members per team.
    pub members_per_team: u64,
    /// Mail messages per user.
    pub messages_per_user: u64,
    /// Calendar events per user.
    pub events_per_user: u64,
    /// Contacts per user.
    pub contacts_per_user: u64,
    /// Items in each user's drive.
    pub drive_items_per_user: u64,
    /// Messages per chat.
    pub messages_per_chat: u64,
    /// Directory audit log rows.
    pub directory_audits: u64,
    /// Sign-in log rows.
    pub sign_ins: u64,
    /// Conditional access policies.
    pub conditional_access_policies: u64,
    /// Activated directory roles.
    pub directory_roles: u64,
    /// Directory role templates.
    pub directory_role_templates: u64,
    /// Members per directory role, drawn from users and service principals (capped at their total).
    pub members_per_role: u64,
    /// Subscribed SKUs (licenses) of the tenant.
    pub subscribed_skus: u64,
    /// Rows of any declared top-level stream not named above.
    pub other_top_level: u64,
    /// Rows per parent of any declared child stream not named above.
    pub other_per_parent: u64,
}

impl Sizes {
    /// The size named `knob` (a field name), as a declaration's `mock.size` names it.
    pub fn get(&self, knob: &str) -> Option<u64> {
        serde_json::to_value(self).ok()?.get(knob)?.as_u64()
    }
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            users: 120,
            groups: 12,
            teams: 4,
            chats: 6,
            applications: 5,
            service_principals: 8,
            drives: 5,
            members_per_group: 6,
            owners_per_group: 2,
            channels_per_team: 3,
            members_per_team: 4,
            messages_per_user: 4,
            events_per_user: 3,
            contacts_per_user: 2,
            drive_items_per_user: 5,
            messages_per_chat: 5,
            directory_audits: 30,
            sign_ins: 40,
            conditional_access_policies: 4,
            directory_roles: 6,
            directory_role_templates: 10,
            members_per_role: 3,
            subscribed_skus: 3,
            other_top_level: 5,
            other_per_parent: 3,
        }
    }
}

/// Misbehaviour, all off by default. Probabilities are per Graph request (not the token endpoint).
///
/// Random faults (429, 503/504, dropped connection, truncated body) never hit the same URL more than
/// [`Faults::MAX_IN_A_ROW`] times in a row, so a client retrying 6 times always gets through.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added before every Graph response.
    pub latency: Duration,
    /// 429 with Retry-After in seconds, as an HTTP date, or absent (mixed).
    pub throttle_rate: f64,
    /// Retry-After value in seconds sent with 429/503 (keep small so tests stay fast).
    pub retry_after_secs: u64,
    /// 503 or 504 (half each), sometimes with Retry-After.
    pub unavailable_rate: f64,
    /// Connection closed without a response.
    pub drop_rate: f64,
    /// Content-Length larger than the bytes sent, then the connection closes.
    pub truncate_rate: f64,
    /// Outlook's 4 concurrent requests per app per mailbox (429 ApplicationThrottled).
    pub mailbox_concurrency: bool,
    /// Streams answering 403 Authorization_RequestDenied (permission not granted).
    pub denied_streams: Vec<String>,
    /// Parents whose children answer 403 Authorization_RequestDenied, as (parent stream, index).
    pub denied_parents: Vec<(String, u64)>,
    /// User indices whose mailbox is unlicensed: Outlook streams answer 404 MailboxNotEnabledForRESTAPI.
    pub unlicensed_mailboxes: Vec<u64>,
    /// Streams answering every request with 400 BadRequest (a broken endpoint, as a usage report
    /// once did): a permanent failure, not a refusal.
    pub broken_streams: Vec<String>,
    /// Graph's identity budget: resource units per [`Faults::identity_window`] for the streams
    /// that declare `mock.resource_units` (Graph: 3,500 per 10 s under 50 users); `None`: none.
    pub identity_budget: Option<u32>,
    /// The window the identity budget refills over (Graph: 10 s).
    pub identity_window: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            throttle_rate: 0.0,
            retry_after_secs: 1,
            unavailable_rate: 0.0,
            drop_rate: 0.0,
            truncate_rate: 0.0,
            mailbox_concurrency: false,
            denied_streams: Vec::new(),
            denied_parents: Vec::new(),
            unlicensed_mailboxes: Vec::new(),
            broken_streams: Vec::new(),
            identity_budget: None,
            identity_window: Duration::from_secs(10),
        }
    }
}

impl Faults {
    /// The most times one URL gets a random fault in a row.
    pub const MAX_IN_A_ROW: u32 = 3;

    /// Every kind of fault at once, as the client's end-to-end tests run it: 5% 429 (Retry-After
    /// 1 s, HTTP dates or none), 2% 503/504, 2% dropped connections, 2% truncated bodies, and
    /// Outlook's 4-per-mailbox rule.
    pub fn every_kind() -> Self {
        Self::default()
            .throttle_rate(0.05)
            .retry_after_secs(1)
            .unavailable_rate(0.02)
            .drop_rate(0.02)
            .truncate_rate(0.02)
            .mailbox_concurrency(true)
    }

    /// Adds this delay before every Graph response.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    /// Answers this share of Graph requests with 429.
    pub fn throttle_rate(mut self, p: f64) -> Self {
        self.throttle_rate = p;
        self
    }
    /// Sets the `Retry-After` seconds sent with 429 and 503.
    pub fn retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs;
        self
    }
    /// Answers this share of Graph requests with 503 or 504.
    pub fn unavailable_rate(mut self, p: f64) -> Self {
        self.unavailable_rate = p;
        self
    }
    /// Closes this share of connections without an answer.
    pub fn drop_rate(mut self, p: f64) -> Self {
        self.drop_rate = p;
        self
    }
    /// Cuts this share of bodies short of their Content-Length.
    pub fn truncate_rate(mut self, p: f64) -> Self {
        self.truncate_rate = p;
        self
    }
    /// Enforces Outlook's 4 concurrent requests per mailbox (429 ApplicationThrottled).
    pub fn mailbox_concurrency(mut self, on: bool) -> Self {
        self.mailbox_concurrency = on;
        self
    }
    /// Makes `stream` answer 403 Authorization_RequestDenied.
    pub fn deny_stream(mut self, stream: impl Into<String>) -> Self {
        self.denied_streams.push(stream.into());
        self
    }
    /// Makes `stream` answer every request with 400 BadRequest.
    pub fn break_stream(mut self, stream: impl Into<String>) -> Self {
        self.broken_streams.push(stream.into());
        self
    }
    /// Makes the children of row `index` of `parent_stream` answer 403.
    pub fn deny_parent(mut self, parent_stream: impl Into<String>, index: u64) -> Self {
        self.denied_parents.push((parent_stream.into(), index));
        self
    }
    /// Makes user `user_index`'s mailbox unlicensed (404 MailboxNotEnabledForRESTAPI).
    pub fn unlicensed_mailbox(mut self, user_index: u64) -> Self {
        self.unlicensed_mailboxes.push(user_index);
        self
    }
    /// Whether any random fault can fire.
    pub(crate) fn any_random(&self) -> bool {
        self.throttle_rate + self.unavailable_rate + self.drop_rate + self.truncate_rate > 0.0
    }
}
