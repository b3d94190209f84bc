//! How a member collection's fields are built from the CSDL: the facts behind a declaration's
//! `shape` (see `catalog/*.toml`).

use serde::Deserialize;

/// How a stream's fields are built from the CSDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The entity's structural properties.
    #[default]
    Entity,
    /// `directoryObject` collections mixing users, groups, service principals, devices...:
    /// `@odata.type`, then the directoryObject properties, then [`MIXED_DIRECTORY_PROPERTIES`].
    MixedDirectoryObjects,
    /// `conversationMember` collections: `@odata.type`, the conversationMember properties, then
    /// those of `aadUserConversationMember` (the member type Teams returns for people).
    ConversationMembers,
}

/// Common properties of user, group, servicePrincipal, device and orgContact worth keeping on member
/// rows; each is typed from the first of those types that declares it.
pub const MIXED_DIRECTORY_PROPERTIES: &[&str] = &[
    "displayName",
    "description",
    "mail",
    "mailNickname",
    "userPrincipalName",
    "givenName",
    "surname",
    "jobTitle",
    "userType",
    "accountEnabled",
    "securityEnabled",
    "mailEnabled",
    "groupTypes",
    "appId",
    "servicePrincipalType",
    "deviceId",
    "createdDateTime",
];

/// Types whose properties [`MIXED_DIRECTORY_PROPERTIES`] come from, in priority order.
pub const MIXED_DIRECTORY_TYPES: &[&str] = &[
    "microsoft.graph.user",
    "microsoft.graph.group",
    "microsoft.graph.servicePrincipal",
    "microsoft.graph.device",
    "microsoft.graph.orgContact",
];

pub const CONVERSATION_MEMBER_SUBTYPE: &str = "microsoft.graph.aadUserConversationMember";
