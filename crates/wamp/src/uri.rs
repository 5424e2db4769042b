//! URI validation per the spec's loose and strict rules.
//!
//! * **Loose**: components (between dots) must not contain `.`, `#` or whitespace and must not be
//!   empty. Regex: `^([^\s\.#]+\.)*([^\s\.#]+)$`.
//! * **Strict**: components contain only `[0-9a-z_]`. Regex: `^([0-9a-z_]+\.)*([0-9a-z_]+)$`.
//! * With **empty components allowed** (wildcard patterns in the Advanced Profile) a component may
//!   be empty: `^(([^\s\.#]+\.)|\.)*([^\s\.#]+)?$`.
//! * A **prefix** pattern may end with a dot after a non-empty component, e.g. `com.myapp.`; it
//!   is validated as a loose URI with empty components allowed.

/// Which URI rule set to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriRule {
    /// Loose rules (the MUST of the spec).
    #[default]
    Loose,
    /// Strict rules (the SHOULD of the spec).
    Strict,
}

/// Whether `uri` is valid under `rule`; `allow_empty` permits empty components (patterns).
pub fn is_valid(uri: &str, rule: UriRule, allow_empty: bool) -> bool {
    if uri.is_empty() {
        return false;
    }
    uri.split('.').all(|c| {
        if c.is_empty() {
            return allow_empty;
        }
        match rule {
            UriRule::Loose => !c.chars().any(|ch| ch == '#' || ch.is_whitespace()),
            UriRule::Strict => c
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        }
    })
}

/// Whether `uri` is in the reserved `wamp.` namespace.
pub fn is_reserved(uri: &str) -> bool {
    uri == "wamp" || uri.starts_with("wamp.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn loose_rules() {
        for ok in ["com.myapp.topic1", "a", "com.MyApp.Topic-1", "x.ü"] {
            assert!(is_valid(ok, UriRule::Loose, false), "{ok}");
        }
        for bad in ["", ".", "a..b", ".a", "a.", "a b.c", "a#b", "a\tb"] {
            assert!(!is_valid(bad, UriRule::Loose, false), "{bad:?}");
        }
    }

    #[test]
    fn strict_rules() {
        assert!(is_valid("com.myapp.topic_1", UriRule::Strict, false));
        assert!(!is_valid("com.MyApp", UriRule::Strict, false));
        assert!(!is_valid("com.my-app", UriRule::Strict, false));
    }

    #[test]
    fn empty_components() {
        for ok in ["com..topic", "com.myapp.", ".a", "a..", "com.myapp"] {
            assert!(is_valid(ok, UriRule::Loose, true), "{ok}");
        }
        assert!(!is_valid("com..to pic", UriRule::Loose, true));
        assert!(!is_valid("", UriRule::Loose, true));
    }

    fn loose_regex(s: &str) -> bool {
        // ^([^\s\.#]+\.)*([^\s\.#]+)$ written out by hand.
        !s.is_empty()
            && s.split('.')
                .all(|c| !c.is_empty() && !c.chars().any(|x| x == '#' || x.is_whitespace()))
    }

    proptest! {
        #[test]
        fn loose_matches_reference(s in "[a-c.# ]{0,8}") {
            prop_assert_eq!(is_valid(&s, UriRule::Loose, false), loose_regex(&s));
        }
        #[test]
        fn strict_implies_loose(s in "[a-z0-9_.A-Z-]{0,12}") {
            if is_valid(&s, UriRule::Strict, false) {
                prop_assert!(is_valid(&s, UriRule::Loose, false));
            }
        }
    }
}
