//! Per-stream facts that the CSDL does not hold: paths, keys, paging rules, permissions, and the
//! properties Graph refuses or omits on list requests.

use stream_spec::{BookmarkOperator, PageSize, StreamKind};

/// How a stream's fields are built from the CSDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The entity's structural properties.
    Entity,
    /// `directoryObject` collections mixing users, groups, service principals, devices...:
    /// `@odata.type`, then the directoryObject properties, then [`MIXED_DIRECTORY_PROPERTIES`].
    MixedDirectoryObjects,
    /// `conversationMember` collections: `@odata.type`, the conversationMember properties, then
    /// those of `aadUserConversationMember` (the member type Teams returns for people).
    ConversationMembers,
}

/// One stream of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct StreamDef {
    pub stream: &'static str,
    pub kind: StreamKind,
    pub path: &'static str,
    /// (parent stream, parent column).
    pub parent: Option<(&'static str, &'static str)>,
    pub primary_key: &'static [&'static str],
    pub query: &'static [(&'static str, &'static str)],
    pub page_size: PageSize,
    /// Fully qualified entity type.
    pub entity: &'static str,
    pub permission: &'static str,
    pub outlook_mailbox_limit: bool,
    pub shape: Shape,
    /// (Graph property, why it is left out).
    pub exclude: &'static [(&'static str, &'static str)],
    /// How a run after the first finds what changed.
    pub incremental: IncrementalDef,
}

/// [`stream_spec::Incremental`] in a form a `const` table can hold.
#[derive(Debug, Clone, Copy)]
pub enum IncrementalDef {
    Compare,
    Delta(DeltaDef),
    Bookmark(BookmarkDef),
}

#[derive(Debug, Clone, Copy)]
pub struct DeltaDef {
    pub path: &'static str,
    pub tombstone: &'static str,
    pub select: bool,
    pub window: bool,
    pub folders: Option<FoldersDef>,
}

#[derive(Debug, Clone, Copy)]
pub struct FoldersDef {
    pub path: &'static str,
    pub children: Option<&'static str>,
    pub query: &'static [(&'static str, &'static str)],
    pub default_path: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
pub struct BookmarkDef {
    pub property: &'static str,
    pub overlap_minutes: u32,
    pub retention_days: Option<u32>,
    pub operator: BookmarkOperator,
    pub order_by: Option<&'static str>,
}

/// Directory objects (`/users/delta` ...): deletions as `@removed`, `$select` tracks the columns.
const fn directory_delta(path: &'static str) -> IncrementalDef {
    IncrementalDef::Delta(DeltaDef {
        path,
        tombstone: "@removed",
        select: true,
        window: false,
        folders: None,
    })
}

/// Minutes a bookmark is read again, for rows Graph makes visible late.
const BOOKMARK_OVERLAP_MINUTES: u32 = 15;

/// Sign-ins and directory audits are kept 30 days (Entra ID P1/P2; 7 on free tenants).
const AUDIT_RETENTION_DAYS: u32 = 30;

const fn audit_bookmark(property: &'static str) -> IncrementalDef {
    IncrementalDef::Bookmark(BookmarkDef {
        property,
        overlap_minutes: BOOKMARK_OVERLAP_MINUTES,
        retention_days: Some(AUDIT_RETENTION_DAYS),
        operator: BookmarkOperator::Ge,
        order_by: None,
    })
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

/// Properties of `user` that Graph returns only when one user is read (`GET /users/{id}`), or only
/// with extra permissions or licences; a `$select` naming them fails the whole list request.
const USER_EXCLUDES: &[(&str, &str)] = &[
    ("aboutMe", "supported only on GET /users/{id}"),
    ("birthday", "supported only on GET /users/{id}"),
    ("hireDate", "supported only on GET /users/{id}"),
    ("interests", "supported only on GET /users/{id}"),
    ("mySite", "supported only on GET /users/{id}"),
    ("pastProjects", "supported only on GET /users/{id}"),
    ("preferredName", "supported only on GET /users/{id}"),
    ("responsibilities", "supported only on GET /users/{id}"),
    ("schools", "supported only on GET /users/{id}"),
    ("skills", "supported only on GET /users/{id}"),
    (
        "mailboxSettings",
        "supported only on GET /users/{id}; needs MailboxSettings.Read",
    ),
    (
        "print",
        "supported only on GET /users/{id}; Universal Print settings",
    ),
    (
        "signInActivity",
        "needs AuditLog.Read.All and an Entra ID P1 licence",
    ),
    (
        "customSecurityAttributes",
        "needs CustomSecAttributeAssignment.Read.All",
    ),
    ("employeeLeaveDateTime", "needs User-LifeCycleInfo.Read.All"),
];

/// Properties of `group` that Graph returns only on `GET /groups/{id}` (Exchange-backed settings)
/// or only to a signed-in user.
const GROUP_EXCLUDES: &[(&str, &str)] = &[
    ("allowExternalSenders", "supported only on GET /groups/{id}"),
    (
        "autoSubscribeNewMembers",
        "supported only on GET /groups/{id}",
    ),
    ("hideFromAddressLists", "supported only on GET /groups/{id}"),
    (
        "hideFromOutlookClients",
        "supported only on GET /groups/{id}",
    ),
    (
        "isSubscribedByMail",
        "supported only on GET /groups/{id}; delegated only",
    ),
    (
        "unseenCount",
        "supported only on GET /groups/{id}; delegated only",
    ),
    (
        "unseenConversationsCount",
        "supported only on GET /groups/{id}; delegated only",
    ),
    (
        "unseenMessagesCount",
        "supported only on GET /groups/{id}; delegated only",
    ),
    ("isFavorite", "per signed-in user; delegated only"),
    ("isArchived", "read through GET /teams/{id}, not on groups"),
    (
        "welcomeMessageEnabled",
        "supported only on GET /groups/{id}",
    ),
];

const APPLICATION_EXCLUDES: &[(&str, &str)] = &[(
    "logo",
    "Edm.Stream media, fetched from /applications/{id}/logo",
)];

const SERVICE_PRINCIPAL_EXCLUDES: &[(&str, &str)] = &[(
    "customSecurityAttributes",
    "needs CustomSecAttributeAssignment.Read.All",
)];

/// The 23 entity streams. Report streams come from reports.md (see `reports.rs`).
pub const STREAMS: &[StreamDef] = &[
    StreamDef {
        stream: "users",
        kind: StreamKind::Collection,
        path: "/users",
        parent: None,
        primary_key: &["id"],
        query: &[],
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.user",
        permission: "User.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: USER_EXCLUDES,
        incremental: directory_delta("/users/delta"),
    },
    StreamDef {
        stream: "applications",
        kind: StreamKind::Collection,
        path: "/applications",
        parent: None,
        primary_key: &["id"],
        query: &[],
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.application",
        permission: "Application.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: APPLICATION_EXCLUDES,
        incremental: directory_delta("/applications/delta"),
    },
    StreamDef {
        stream: "service_principals",
        kind: StreamKind::Collection,
        path: "/servicePrincipals",
        parent: None,
        primary_key: &["id"],
        query: &[],
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.servicePrincipal",
        permission: "Application.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: SERVICE_PRINCIPAL_EXCLUDES,
        incremental: directory_delta("/servicePrincipals/delta"),
    },
    StreamDef {
        stream: "groups",
        kind: StreamKind::Collection,
        path: "/groups",
        parent: None,
        primary_key: &["id"],
        query: &[],
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.group",
        permission: "Group.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: GROUP_EXCLUDES,
        incremental: directory_delta("/groups/delta"),
    },
    StreamDef {
        stream: "group_member",
        kind: StreamKind::Collection,
        path: "/groups/{parent_id}/members",
        parent: Some(("groups", "group_id")),
        primary_key: &["id", "group_id"],
        query: &[],
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.directoryObject",
        permission: "Group.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::MixedDirectoryObjects,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "group_owner",
        kind: StreamKind::Collection,
        path: "/groups/{parent_id}/owners",
        parent: Some(("groups", "group_id")),
        primary_key: &["id", "group_id"],
        query: &[],
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.directoryObject",
        permission: "Group.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::MixedDirectoryObjects,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "teams",
        kind: StreamKind::Collection,
        path: "/groups",
        parent: None,
        primary_key: &["id"],
        query: &[("$filter", "resourceProvisioningOptions/Any(x:x eq 'Team')")],
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.group",
        permission: "Group.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: GROUP_EXCLUDES,
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "channels",
        kind: StreamKind::Collection,
        path: "/teams/{parent_id}/channels",
        parent: Some(("teams", "team_id")),
        primary_key: &["id", "team_id"],
        query: &[],
        // List channels documents only $filter, $select and $expand.
        page_size: PageSize::Unsupported,
        entity: "microsoft.graph.channel",
        permission: "Group.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "team_member",
        kind: StreamKind::Collection,
        path: "/teams/{parent_id}/members",
        parent: Some(("teams", "team_id")),
        primary_key: &["id", "team_id"],
        query: &[],
        // List members of a team documents only $filter and $select.
        page_size: PageSize::Unsupported,
        entity: "microsoft.graph.conversationMember",
        permission: "Group.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::ConversationMembers,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "chats",
        kind: StreamKind::Collection,
        path: "/chats",
        parent: None,
        primary_key: &["id"],
        query: &[],
        // List chats caps $top at 50, like chat messages.
        page_size: PageSize::Cap(50),
        entity: "microsoft.graph.chat",
        permission: "Chat.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "chat_messages",
        kind: StreamKind::Collection,
        path: "/chats/{parent_id}/messages",
        parent: Some(("chats", "chat_id")),
        primary_key: &["id", "chat_id"],
        query: &[],
        page_size: PageSize::Cap(50),
        entity: "microsoft.graph.chatMessage",
        permission: "Chat.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Bookmark(BookmarkDef {
            property: "lastModifiedDateTime",
            overlap_minutes: BOOKMARK_OVERLAP_MINUTES,
            retention_days: None,
            // List chat messages filters only with `gt`/`lt`, and only together with this order.
            operator: BookmarkOperator::Gt,
            order_by: Some("lastModifiedDateTime desc"),
        }),
    },
    StreamDef {
        stream: "mail_messages",
        kind: StreamKind::Collection,
        path: "/users/{parent_id}/messages",
        parent: Some(("users", "user_id")),
        primary_key: &["id", "user_id"],
        query: &[],
        page_size: PageSize::Cap(1000),
        entity: "microsoft.graph.message",
        permission: "Mail.Read",
        outlook_mailbox_limit: true,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Delta(DeltaDef {
            // Mail has delta per folder only; there is none across /users/{id}/messages.
            path: "/users/{parent_id}/mailFolders/{folder_id}/messages/delta",
            tombstone: "@removed",
            select: true,
            window: false,
            folders: Some(FoldersDef {
                path: "/users/{parent_id}/mailFolders",
                children: Some("childFolders"),
                query: &[("includeHiddenFolders", "true")],
                default_path: None,
            }),
        }),
    },
    StreamDef {
        stream: "calendar_events",
        kind: StreamKind::Collection,
        path: "/users/{parent_id}/events",
        parent: Some(("users", "user_id")),
        primary_key: &["id", "user_id"],
        query: &[],
        // Outlook collections share the 1000 cap of messages.
        page_size: PageSize::Cap(1000),
        entity: "microsoft.graph.event",
        permission: "Calendars.Read",
        outlook_mailbox_limit: true,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Delta(DeltaDef {
            // calendarView/delta needs a fixed window and refuses $select.
            path: "/users/{parent_id}/calendarView/delta",
            tombstone: "@removed",
            select: false,
            window: true,
            folders: None,
        }),
    },
    StreamDef {
        stream: "contacts",
        kind: StreamKind::Collection,
        path: "/users/{parent_id}/contacts",
        parent: Some(("users", "user_id")),
        primary_key: &["id", "user_id"],
        query: &[],
        page_size: PageSize::Cap(1000),
        entity: "microsoft.graph.contact",
        permission: "Contacts.Read",
        outlook_mailbox_limit: true,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Delta(DeltaDef {
            path: "/users/{parent_id}/contactFolders/{folder_id}/contacts/delta",
            tombstone: "@removed",
            select: true,
            window: false,
            folders: Some(FoldersDef {
                path: "/users/{parent_id}/contactFolders",
                children: None,
                query: &[],
                // The default contact folder is not among /contactFolders.
                default_path: Some("/users/{parent_id}/contacts/delta"),
            }),
        }),
    },
    StreamDef {
        stream: "drives",
        kind: StreamKind::Collection,
        path: "/drives",
        parent: None,
        primary_key: &["id"],
        query: &[],
        // List drives documents $top without a cap; stay under OneDrive's 1000.
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.drive",
        permission: "Files.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "drive_items",
        kind: StreamKind::Delta,
        path: "/users/{parent_id}/drive/root/delta",
        parent: Some(("users", "user_id")),
        primary_key: &["id", "user_id"],
        query: &[],
        // delta accepts $top (no documented cap); the same choice as drives.
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.driveItem",
        permission: "Files.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[(
            "content",
            "the file body (Edm.Stream), downloaded separately, never listed",
        )],
        incremental: IncrementalDef::Delta(DeltaDef {
            path: "/users/{parent_id}/drive/root/delta",
            // Drive deletions come as a `deleted` facet, not `@removed`.
            tombstone: "deleted",
            select: true,
            window: false,
            folders: None,
        }),
    },
    StreamDef {
        stream: "audit_logs_directory",
        kind: StreamKind::Collection,
        path: "/auditLogs/directoryAudits",
        parent: None,
        primary_key: &["id"],
        query: &[],
        page_size: PageSize::Cap(1000),
        entity: "microsoft.graph.directoryAudit",
        permission: "AuditLog.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: audit_bookmark("activityDateTime"),
    },
    StreamDef {
        stream: "audit_logs_signins",
        kind: StreamKind::Collection,
        path: "/auditLogs/signIns",
        parent: None,
        primary_key: &["id"],
        query: &[],
        page_size: PageSize::Cap(1000),
        entity: "microsoft.graph.signIn",
        permission: "AuditLog.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: audit_bookmark("createdDateTime"),
    },
    StreamDef {
        stream: "conditional_access_policies",
        kind: StreamKind::Collection,
        path: "/identity/conditionalAccess/policies",
        parent: None,
        primary_key: &["id"],
        query: &[],
        // $top is documented without a cap; a tenant holds at most 195 policies, so one default
        // page nearly always suffices and no guessed cap risks a 400.
        page_size: PageSize::Unsupported,
        entity: "microsoft.graph.conditionalAccessPolicy",
        permission: "Policy.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "directory_roles",
        kind: StreamKind::Collection,
        path: "/directoryRoles",
        parent: None,
        primary_key: &["id"],
        query: &[],
        page_size: PageSize::Unsupported,
        entity: "microsoft.graph.directoryRole",
        permission: "RoleManagement.Read.Directory",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "directory_role_templates",
        kind: StreamKind::Collection,
        path: "/directoryRoleTemplates",
        parent: None,
        primary_key: &["id"],
        query: &[],
        page_size: PageSize::Unsupported,
        entity: "microsoft.graph.directoryRoleTemplate",
        permission: "RoleManagement.Read.Directory",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "directory_role_member",
        kind: StreamKind::Collection,
        path: "/directoryRoles/{parent_id}/members",
        parent: Some(("directory_roles", "role_id")),
        primary_key: &["id", "role_id"],
        query: &[],
        page_size: PageSize::Cap(999),
        entity: "microsoft.graph.directoryObject",
        permission: "RoleManagement.Read.Directory",
        outlook_mailbox_limit: false,
        shape: Shape::MixedDirectoryObjects,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
    StreamDef {
        stream: "subscribed_skus",
        kind: StreamKind::Collection,
        path: "/subscribedSkus",
        parent: None,
        primary_key: &["sku_id"],
        query: &[],
        page_size: PageSize::Unsupported,
        entity: "microsoft.graph.subscribedSku",
        permission: "Organization.Read.All",
        outlook_mailbox_limit: false,
        shape: Shape::Entity,
        exclude: &[],
        incremental: IncrementalDef::Compare,
    },
];
