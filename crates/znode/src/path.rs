//! Znode paths and ZooKeeper's rules for them (the checks of ZooKeeper's path
//! validation, applied before anything is created, read or changed).
//!
//! A path is absolute (`/`), its elements are separated by single slashes, it does not
//! end with a slash (except the root `/` itself), and no element is empty, `.` or
//! `..`. The null character is refused, and so are the control characters
//! U+0001..U+001F and U+007F..U+009F, the surrogate and private-use range
//! U+D800..U+F8FF and U+FFF0..U+FFFF. A sequential create names a path that may end
//! with a slash (`/lock/` + the sequence suffix), so it is checked with the suffix.

use crate::command::ZError;

/// The root.
pub const ROOT: &str = "/";

/// Checks `path` against ZooKeeper's rules.
pub fn validate(path: &str) -> Result<(), ZError> {
    let bad = |why: &str| Err(ZError::BadPath(format!("{path:?}: {why}")));
    if path.is_empty() {
        return bad("a path may not be empty");
    }
    if !path.starts_with('/') {
        return bad("a path must start with /");
    }
    if path == ROOT {
        return Ok(());
    }
    if path.ends_with('/') {
        return bad("a path must not end with /");
    }
    for element in path[1..].split('/') {
        match element {
            "" => return bad("empty node name (two slashes in a row)"),
            "." | ".." => return bad("relative names (. and ..) are not allowed"),
            _ => {}
        }
    }
    for c in path.chars() {
        let refused = c == '\u{0}'
            || ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c);
        if refused {
            return bad(&format!("invalid character U+{:04X}", c as u32));
        }
    }
    Ok(())
}

/// The parent of a valid path other than the root.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => ROOT,
        Some(i) => &path[..i],
    }
}

/// The last element of a valid path (empty for the root).
pub fn name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// `parent` joined with a child's `name`.
pub fn join(parent: &str, name: &str) -> String {
    if parent == ROOT {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_paths_pass() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/zookeeper",
            "/a/b-0000000001",
            "/ü",
            "/a.b",
            "/..a",
        ] {
            assert_eq!(validate(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn bad_paths_are_refused_with_the_rule_they_break() {
        let cases = [
            ("", "empty"),
            ("a", "start with /"),
            ("/a/", "end with /"),
            ("//a", "empty node name"),
            ("/a//b", "empty node name"),
            ("/a/./b", "relative"),
            ("/a/..", "relative"),
            ("/a\u{0}", "U+0000"),
            ("/a\u{7}", "U+0007"),
            ("/a\u{85}", "U+0085"),
            ("/a\u{e000}", "U+E000"),
            ("/a\u{fff5}", "U+FFF5"),
        ];
        for (p, why) in cases {
            match validate(p) {
                Err(ZError::BadPath(msg)) => assert!(msg.contains(why), "{p:?}: {msg}"),
                other => panic!("{p:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn parent_name_and_join_agree() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(name("/a/b/c"), "c");
        assert_eq!(name("/"), "");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
