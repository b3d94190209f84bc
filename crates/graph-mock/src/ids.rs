//! Deterministic hashing and GUIDs that encode their row index, so a parent id in a URL maps back to
//! its index without storing anything (a 20k-user tenant costs no memory).

use uuid::Uuid;

/// splitmix64 finaliser: a fast, well-mixed 64-bit hash step.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, stable across Rust versions (unlike `DefaultHasher`).
pub(crate) fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Combines values into one hash.
pub(crate) fn combine(parts: &[u64]) -> u64 {
    parts.iter().fold(0x51_7cc1_b727_220a, |h, &p| mix(h ^ p))
}

/// Row keys live in 48 bits: `parent_index << 24 | index` for children, `index` for top level.
pub(crate) const KEY_BITS: u32 = 48;
const HALF_BITS: u32 = KEY_BITS / 2;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;
const ROUNDS: u64 = 4;

/// The key of a child row.
pub(crate) fn child_key(parent_index: u64, index: u64) -> u64 {
    (parent_index << HALF_BITS) | (index & HALF_MASK)
}

/// A child row's index under its parent: the low half of its [`child_key`].
pub(crate) fn child_index(key: u64) -> u64 {
    key & HALF_MASK
}

/// A row key folded into the half a [`child_key`]'s parent index has room for: the parent
/// index of a row that is a child itself (a channel, whose messages hang under it).
pub(crate) fn parent_digest(key: u64) -> u64 {
    mix(key) & HALF_MASK
}

/// A GUID for `key` in `namespace` (a stream name): the last 48 bits are a keyed Feistel permutation
/// of the key, so [`decode_guid`] can invert it; the rest is a hash that makes foreign ids fail to decode.
pub(crate) fn guid(seed: u64, namespace: &str, key: u64) -> String {
    let ns = combine(&[seed, hash_str(namespace)]);
    let mut bytes = [0u8; 16];
    let high = combine(&[ns, key, 1]).to_be_bytes();
    let mid = combine(&[ns, key, 2]).to_be_bytes();
    bytes[..8].copy_from_slice(&high);
    bytes[8..10].copy_from_slice(&mid[..2]);
    bytes[10..].copy_from_slice(&feistel(ns, key).to_be_bytes()[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes).hyphenated().to_string()
}

/// The key a [`guid`] was made from, or `None` if `id` is not one of this namespace's ids.
pub(crate) fn decode_guid(seed: u64, namespace: &str, id: &str) -> Option<u64> {
    let uuid = Uuid::parse_str(id).ok()?;
    let ns = combine(&[seed, hash_str(namespace)]);
    let mut tail = [0u8; 8];
    tail[2..].copy_from_slice(&uuid.as_bytes()[10..]);
    let key = feistel_inverse(ns, u64::from_be_bytes(tail));
    (guid(seed, namespace, key) == uuid.hyphenated().to_string()).then_some(key)
}

fn round(ns: u64, round: u64, half: u64) -> u64 {
    combine(&[ns, round, half]) & HALF_MASK
}

fn feistel(ns: u64, key: u64) -> u64 {
    let (mut left, mut right) = ((key >> HALF_BITS) & HALF_MASK, key & HALF_MASK);
    for r in 0..ROUNDS {
        (left, right) = (right, left ^ round(ns, r, right));
    }
    (left << HALF_BITS) | right
}

fn feistel_inverse(ns: u64, value: u64) -> u64 {
    let (mut left, mut right) = ((value >> HALF_BITS) & HALF_MASK, value & HALF_MASK);
    for r in (0..ROUNDS).rev() {
        (left, right) = (right ^ round(ns, r, left), left);
    }
    (left << HALF_BITS) | right
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_decode_to_their_key_and_only_in_their_namespace() {
        for key in [0, 1, 2, 999, child_key(7, 3), child_key(20_000, 1_000)] {
            let id = guid(42, "users", key);
            assert_eq!(Uuid::parse_str(&id).unwrap().get_version_num(), 4);
            assert_eq!(decode_guid(42, "users", &id), Some(key));
            assert_eq!(decode_guid(42, "groups", &id), None);
            assert_eq!(decode_guid(43, "users", &id), None);
        }
        assert_eq!(decode_guid(42, "users", "not-a-guid"), None);
    }

    #[test]
    fn guids_are_distinct() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|k| guid(1, "users", k)).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
