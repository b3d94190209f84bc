//! Mail and contact folders: the same small tree in every mailbox, ids per user, and which folder
//! each message or contact lives in (a hash of its key, so added items find a folder too).

use crate::ids::{self, child_key, combine, hash_str};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FolderKind {
    Mail,
    Contacts,
}

pub(crate) struct FolderDef {
    pub name: &'static str,
    /// Index of the parent folder; `None` for folders listed at the top.
    pub parent: Option<usize>,
    /// Listed only with `includeHiddenFolders=true` (mail).
    pub hidden: bool,
    /// The default contact folder: its items are at `/users/{id}/contacts`, it is not listed.
    pub default: bool,
}

const fn folder(name: &'static str, parent: Option<usize>, hidden: bool) -> FolderDef {
    FolderDef {
        name,
        parent,
        hidden,
        default: false,
    }
}

/// Some top-level folders, one hidden, and a nested pair under the Inbox.
const MAIL: [FolderDef; 8] = [
    folder("Inbox", None, false),
    folder("Drafts", None, false),
    folder("Sent Items", None, false),
    folder("Deleted Items", None, false),
    folder("Archive", None, false),
    folder("Conversation History", None, true),
    folder("Projects", Some(0), false),
    folder("2026 📁", Some(6), false),
];

const CONTACTS: [FolderDef; 3] = [
    FolderDef {
        name: "Contacts",
        parent: None,
        hidden: false,
        default: true,
    },
    folder("Suppliers", None, false),
    folder("Família", None, false),
];

/// Graph's well-known mail folder names usable in place of an id.
const WELL_KNOWN_MAIL: [(&str, usize); 6] = [
    ("inbox", 0),
    ("drafts", 1),
    ("sentitems", 2),
    ("deleteditems", 3),
    ("archive", 4),
    ("conversationhistory", 5),
];

/// Index standing for the mailbox root (`msgfolderroot`), the parent of the top-level folders.
const ROOT: u64 = 0xff_ffff;

impl FolderKind {
    pub fn folders(self) -> &'static [FolderDef] {
        match self {
            FolderKind::Mail => &MAIL,
            FolderKind::Contacts => &CONTACTS,
        }
    }

    /// The folders a stream's rows live in (`mock.folders`: `mail_folders`, `contact_folders`).
    pub fn of(spec: &stream_spec::StreamSpec) -> Option<Self> {
        let name = spec.mock.folders.as_deref()?;
        [FolderKind::Mail, FolderKind::Contacts]
            .into_iter()
            .find(|kind| kind.listing_stream() == name)
    }

    /// The declared stream whose rows live in these folders.
    pub fn item_spec(self, tenant: &super::Tenant) -> Option<&stream_spec::StreamSpec> {
        tenant.specs().iter().find(|s| Self::of(s) == Some(self))
    }

    /// The name request counts use for folder listings.
    pub fn listing_stream(self) -> &'static str {
        match self {
            FolderKind::Mail => "mail_folders",
            FolderKind::Contacts => "contact_folders",
        }
    }

    pub fn entity(self) -> &'static str {
        match self {
            FolderKind::Mail => "#microsoft.graph.mailFolder",
            FolderKind::Contacts => "#microsoft.graph.contactFolder",
        }
    }

    fn namespace(self) -> &'static str {
        self.listing_stream()
    }

    pub fn id(self, seed: u64, user: u64, folder: usize) -> String {
        ids::guid(seed, self.namespace(), child_key(user, folder as u64))
    }

    /// The id a top-level folder names as its parent: the mailbox root, or the default contact folder.
    pub fn parent_id(self, seed: u64, user: u64, folder: usize) -> String {
        match (self.folders()[folder].parent, self) {
            (Some(parent), _) => self.id(seed, user, parent),
            (None, FolderKind::Mail) => ids::guid(seed, self.namespace(), child_key(user, ROOT)),
            (None, FolderKind::Contacts) if folder != 0 => self.id(seed, user, 0),
            (None, FolderKind::Contacts) => {
                ids::guid(seed, self.namespace(), child_key(user, ROOT))
            }
        }
    }

    /// The folder index `id` (or a well-known name such as `inbox`) names in `user`'s mailbox.
    pub fn decode(self, seed: u64, user: u64, id: &str) -> Option<usize> {
        let well_known = match self {
            FolderKind::Mail => &WELL_KNOWN_MAIL[..],
            FolderKind::Contacts => &[][..],
        };
        if let Some((_, index)) = well_known.iter().find(|(n, _)| n.eq_ignore_ascii_case(id)) {
            return Some(*index);
        }
        let key = ids::decode_guid(seed, self.namespace(), id)?;
        let index = usize::try_from(ids::child_index(key)).ok()?;
        (child_key(user, index as u64) == key && index < self.folders().len()).then_some(index)
    }

    /// The folder an item (by its row key) lives in.
    pub fn folder_of(self, seed: u64, item_key: u64) -> usize {
        let n = self.folders().len() as u64;
        (combine(&[seed, hash_str("folder"), item_key]) % n) as usize
    }
}
