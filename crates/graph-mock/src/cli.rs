//! Command-line options, shared by the `graph-mock` binary and `msgraph-sync mock`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use stream_spec::Catalog;

use crate::config::{Faults, MockConfig, Sizes};

/// Every size and fault of the mock tenant as a flag. Defaults are those of [`MockConfig::default`].
#[derive(Debug, Clone, Args)]
pub struct MockArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed every generated value derives from.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Add undeclared properties and now and then a value of the wrong type.
    #[arg(long)]
    pub drift: bool,
    /// Read stream declarations from this directory instead of the embedded ones.
    #[arg(long)]
    pub schemas_dir: Option<PathBuf>,

    /// Users in the tenant (usage reports have one row per user).
    #[arg(long, default_value_t = Sizes::default().users)]
    pub users: u64,
    /// Groups in the tenant, teams among them.
    #[arg(long, default_value_t = Sizes::default().groups)]
    pub groups: u64,
    /// Groups that are teams (at most --groups).
    #[arg(long, default_value_t = Sizes::default().teams)]
    pub teams: u64,
    /// Chats in the tenant.
    #[arg(long, default_value_t = Sizes::default().chats)]
    pub chats: u64,
    /// App registrations in the tenant.
    #[arg(long, default_value_t = Sizes::default().applications)]
    pub applications: u64,
    /// Service principals in the tenant.
    #[arg(long, default_value_t = Sizes::default().service_principals)]
    pub service_principals: u64,
    /// Drives listed at `/drives`.
    #[arg(long, default_value_t = Sizes::default().drives)]
    pub drives: u64,
    /// Members per group, drawn from users and service principals (capped at their total).
    #[arg(long, default_value_t = Sizes::default().members_per_group)]
    pub members_per_group: u64,
    /// Owners per group, drawn from users and service principals (capped at their total).
    #[arg(long, default_value_t = Sizes::default().owners_per_group)]
    pub owners_per_group: u64,
    /// Channels per team.
    #[arg(long, default_value_t = Sizes::default().channels_per_team)]
    pub channels_per_team: u64,
    /// Members per team.
    #[arg(long, default_value_t = Sizes::default().members_per_team)]
    pub members_per_team: u64,
    /// Mail messages per user.
    #[arg(long, default_value_t = Sizes::default().messages_per_user)]
    pub messages_per_user: u64,
    /// Calendar events per user.
    #[arg(long, default_value_t = Sizes::default().events_per_user)]
    pub events_per_user: u64,
    /// Contacts per user.
    #[arg(long, default_value_t = Sizes::default().contacts_per_user)]
    pub contacts_per_user: u64,
    /// Items in each user's drive.
    #[arg(long, default_value_t = Sizes::default().drive_items_per_user)]
    pub drive_items_per_user: u64,
    /// Messages per chat.
    #[arg(long, default_value_t = Sizes::default().messages_per_chat)]
    pub messages_per_chat: u64,
    /// Directory audit log rows.
    #[arg(long, default_value_t = Sizes::default().directory_audits)]
    pub directory_audits: u64,
    /// Sign-in log rows.
    #[arg(long, default_value_t = Sizes::default().sign_ins)]
    pub sign_ins: u64,
    /// Conditional access policies.
    #[arg(long, default_value_t = Sizes::default().conditional_access_policies)]
    pub conditional_access_policies: u64,
    /// Activated directory roles.
    #[arg(long, default_value_t = Sizes::default().directory_roles)]
    pub directory_roles: u64,
    /// Directory role templates.
    #[arg(long, default_value_t = Sizes::default().directory_role_templates)]
    pub directory_role_templates: u64,
    /// Members per directory role, drawn from users and service principals (capped at their total).
    #[arg(long, default_value_t = Sizes::default().members_per_role)]
    pub members_per_role: u64,
    /// Subscribed SKUs (licenses) of the tenant.
    #[arg(long, default_value_t = Sizes::default().subscribed_skus)]
    pub subscribed_skus: u64,
    /// Rows of a declared top-level stream without a flag of its own.
    #[arg(long, default_value_t = Sizes::default().other_top_level)]
    pub other_top_level: u64,
    /// Rows per parent of a declared child stream without a flag of its own.
    #[arg(long, default_value_t = Sizes::default().other_per_parent)]
    pub other_per_parent: u64,

    /// Latency added to every Graph response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Probability of 429 (Retry-After in seconds, as an HTTP date, or absent).
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Retry-After seconds on 429/503/504.
    #[arg(long, default_value_t = 1)]
    pub retry_after_secs: u64,
    /// Probability of 503 or 504.
    #[arg(long, default_value_t = 0.0)]
    pub unavailable_rate: f64,
    /// Probability of closing the connection without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Probability of a body cut short of its Content-Length.
    #[arg(long, default_value_t = 0.0)]
    pub truncate_rate: f64,
    /// Enforce Outlook's 4 concurrent requests per mailbox (429 ApplicationThrottled).
    #[arg(long)]
    pub mailbox_concurrency: bool,
    /// Stream answering 403 Authorization_RequestDenied (repeatable).
    #[arg(long = "deny-stream", value_name = "STREAM")]
    pub deny_streams: Vec<String>,
    /// Stream answering every request with 400 BadRequest, a broken endpoint (repeatable).
    #[arg(long = "break-stream", value_name = "STREAM")]
    pub break_streams: Vec<String>,
    /// Graph's identity budget: resource units per 10 s for the directory streams (Graph gives a
    /// tenant under 50 users 3500); absent: unlimited.
    #[arg(long, value_name = "UNITS")]
    pub identity_budget: Option<u32>,
    /// Parent whose children answer 403, as STREAM:INDEX, e.g. users:3 (repeatable).
    #[arg(long = "deny-parent", value_name = "STREAM:INDEX", value_parser = parse_parent)]
    pub deny_parents: Vec<(String, u64)>,
    /// User index whose mailbox is unlicensed: 404 MailboxNotEnabledForRESTAPI (repeatable).
    #[arg(long = "unlicensed-mailbox", value_name = "USER_INDEX")]
    pub unlicensed_mailboxes: Vec<u64>,
}

fn parse_parent(text: &str) -> Result<(String, u64), String> {
    let (stream, index) = text
        .split_once(':')
        .ok_or_else(|| format!("expected STREAM:INDEX, got `{text}`"))?;
    let index = index
        .parse()
        .map_err(|_| format!("`{index}` is not a row index"))?;
    Ok((stream.to_string(), index))
}

/// Why the arguments do not make a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// `--schemas-dir` could not be read as stream declarations.
    #[error(transparent)]
    Schemas(#[from] stream_spec::SpecError),
}

impl MockArgs {
    /// The configuration these flags describe (embedded stream declarations).
    pub fn into_config(self) -> MockConfig {
        self.config_with(Catalog::embedded())
    }

    /// Like [`MockArgs::into_config`], reading declarations from `--schemas-dir` when given.
    pub fn try_into_config(self) -> Result<MockConfig, ArgsError> {
        let catalog = match &self.schemas_dir {
            Some(dir) => Catalog::from_dir(dir)?,
            None => Catalog::embedded(),
        };
        Ok(self.config_with(catalog))
    }

    fn config_with(self, catalog: Catalog) -> MockConfig {
        let sizes = Sizes {
            users: self.users,
            groups: self.groups,
            teams: self.teams,
            chats: self.chats,
            applications: self.applications,
            service_principals: self.service_principals,
            drives: self.drives,
            members_per_group: self.members_per_group,
            owners_per_group: self.owners_per_group,
            channels_per_team: self.channels_per_team,
            members_per_team: self.members_per_team,
            messages_per_user: self.messages_per_user,
            events_per_user: self.events_per_user,
            contacts_per_user: self.contacts_per_user,
            drive_items_per_user: self.drive_items_per_user,
            messages_per_chat: self.messages_per_chat,
            directory_audits: self.directory_audits,
            sign_ins: self.sign_ins,
            conditional_access_policies: self.conditional_access_policies,
            directory_roles: self.directory_roles,
            directory_role_templates: self.directory_role_templates,
            members_per_role: self.members_per_role,
            subscribed_skus: self.subscribed_skus,
            other_top_level: self.other_top_level,
            other_per_parent: self.other_per_parent,
        };
        let faults = Faults {
            latency: Duration::from_millis(self.latency_ms),
            throttle_rate: self.throttle_rate,
            retry_after_secs: self.retry_after_secs,
            unavailable_rate: self.unavailable_rate,
            drop_rate: self.drop_rate,
            truncate_rate: self.truncate_rate,
            mailbox_concurrency: self.mailbox_concurrency,
            denied_streams: self.deny_streams,
            denied_parents: self.deny_parents,
            unlicensed_mailboxes: self.unlicensed_mailboxes,
            broken_streams: self.break_streams,
            identity_budget: self.identity_budget,
            ..Faults::default()
        };
        MockConfig::default()
            .port(self.port)
            .seed(self.seed)
            .drift(self.drift)
            .sizes(sizes)
            .faults(faults)
            .catalog(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mock: MockArgs,
    }

    #[test]
    fn defaults_match_mock_config_and_flags_apply() {
        let config = Cli::parse_from(["graph-mock"]).mock.into_config();
        assert_eq!(config.sizes, Sizes::default());
        assert_eq!(config.faults, Faults::default());
        let config = Cli::parse_from([
            "graph-mock",
            "--users",
            "7",
            "--throttle-rate",
            "0.1",
            "--deny-parent",
            "users:3",
            "--deny-stream",
            "contacts",
        ])
        .mock
        .into_config();
        assert_eq!(config.sizes.users, 7);
        assert_eq!(config.faults.throttle_rate, 0.1);
        assert_eq!(config.faults.denied_parents, vec![("users".to_string(), 3)]);
        assert_eq!(config.faults.denied_streams, vec!["contacts".to_string()]);
    }
}
