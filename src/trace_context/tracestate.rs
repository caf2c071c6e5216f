//! The `tracestate` header (W3C Trace Context § 3.3): validated member by member and cut to the
//! spec's limits before anything of it is kept or forwarded.

use std::collections::HashSet;

use super::OWS;

/// Refuse to even split absurd `tracestate` input; far above anything the spec asks us to keep.
const MAX_TRACESTATE_INPUT: usize = 8192;
/// § tracestate Limits: at most 32 list-members, and at least 512 combined chars to propagate.
pub(super) const MAX_MEMBERS: usize = 32;
pub(super) const MAX_TRACESTATE_LEN: usize = 512;
/// § tracestate Limits: members longer than this are the first to go when truncating.
const LARGE_MEMBER: usize = 128;

/// Parses and sanitises one or more `tracestate` header values (joined with ',' as the spec's
/// combined header). Returns the normalised `k=v,k2=v2` list, or `None` when the input is
/// invalid (any bad member or duplicate key), larger than 8192 bytes, or empty.
pub fn sanitize_tracestate<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut total = 0usize;
    let mut members: Vec<&'a str> = Vec::new();
    let mut keys: HashSet<&'a str> = HashSet::new();
    for (i, value) in values.into_iter().enumerate() {
        // Count the joining ',' too, so a flood of empty header values is also bounded.
        total = total
            .saturating_add(value.len())
            .saturating_add(usize::from(i > 0));
        if total > MAX_TRACESTATE_INPUT {
            return None;
        }
        // § list: empty members and OWS around members are allowed and carry nothing.
        for member in value.split(',').map(|m| m.trim_matches(OWS)) {
            if member.is_empty() {
                continue;
            }
            // Gateway policy (the spec lets a receiver drop a tracestate it cannot parse): one
            // malformed member or a duplicate key (ambiguous: which vendor value wins?) discards
            // the whole header rather than forwarding a partially trusted list.
            let (key, val) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(val) || !keys.insert(key) {
                return None;
            }
            members.push(member);
        }
    }
    // § tracestate Limits: keep at most 32 members (right-most are the least recently added).
    members.truncate(MAX_MEMBERS);
    // § tracestate Limits: to fit 512 chars, first drop members over 128 chars from the right,
    // then plain right-most members.
    while joined_len(&members) > MAX_TRACESTATE_LEN {
        let victim = members
            .iter()
            .rposition(|m| m.len() > LARGE_MEMBER)
            .or(members.len().checked_sub(1));
        match victim {
            Some(i) => drop(members.remove(i)),
            None => break,
        }
    }
    (!members.is_empty()).then(|| members.join(","))
}

fn joined_len(members: &[&str]) -> usize {
    members.iter().map(|m| m.len()).sum::<usize>() + members.len().saturating_sub(1)
}

/// § key: `simple-key = lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`, or
/// `tenant-id "@" system-id` with `tenant-id = (lcalpha / DIGIT) 0*240(...)` and
/// `system-id = lcalpha 0*13(...)`.
fn valid_key(key: &str) -> bool {
    match key.split_once('@') {
        None => key_part(key, 256, |c| c.is_ascii_lowercase()),
        Some((tenant, system)) => {
            key_part(tenant, 241, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit()
            }) && key_part(system, 14, |c| c.is_ascii_lowercase())
        }
    }
}

fn key_part(part: &str, max: usize, first: impl Fn(u8) -> bool) -> bool {
    let b = part.as_bytes();
    // '@' is not in the tail alphabet, so a second '@' in the system-id is rejected here.
    let tail = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/".contains(c);
    b.len() <= max && b.first().is_some_and(|&c| first(c)) && b.iter().all(tail)
}

/// § value: `0*255(chr) nblk-chr`, where chr is 0x20-0x7E minus ',' and '=', and the last
/// char is not a space.
fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    (1..=256).contains(&b.len())
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b.last() != Some(&b' ')
}
