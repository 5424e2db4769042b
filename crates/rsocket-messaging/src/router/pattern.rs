//! Route patterns (`find.radar.{code}`, `logs.*`, `events.**`) and the ordered table that
//! matches routes against them.
//!
//! Routes and patterns are split into segments at `.`. A pattern segment is a literal, a
//! variable `{name}` (one non-empty segment, captured), `*` (one segment, not captured) or
//! `**` (any number of segments, zero included; only as the last segment). The empty pattern
//! matches requests without a route.
//!
//! When several patterns match, the most specific wins, compared segment by segment from the
//! left: a literal beats a variable, which beats `*`, which beats `**`.

use std::fmt;

/// A route pattern that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid route pattern '{pattern}': {reason}")]
pub struct PatternError {
    pattern: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable(String),
    Star,
    DoubleStar,
}

impl Segment {
    /// Lower is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Variable(_) => 1,
            Segment::Star => 2,
            Segment::DoubleStar => 3,
        }
    }
}

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    raw: String,
    segments: Vec<Segment>,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Splits a route into segments; the empty route has none.
pub(crate) fn segments(route: &str) -> Vec<&str> {
    if route.is_empty() {
        Vec::new()
    } else {
        route.split('.').collect()
    }
}

impl Pattern {
    /// Parses a pattern.
    pub(crate) fn parse(raw: &str) -> Result<Self, PatternError> {
        let err = |reason: String| PatternError {
            pattern: raw.to_string(),
            reason,
        };
        let parts = segments(raw);
        let mut out = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let seg = match *part {
                "" => return Err(err(format!("segment {} is empty", i + 1))),
                "*" => Segment::Star,
                "**" if i + 1 == parts.len() => Segment::DoubleStar,
                "**" => return Err(err("'**' may only be the last segment".into())),
                p if p.starts_with('{') && p.ends_with('}') => {
                    let name = &p[1..p.len() - 1];
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(err(format!("bad variable name '{name}'")));
                    }
                    if out
                        .iter()
                        .any(|s| matches!(s, Segment::Variable(n) if n == name))
                    {
                        return Err(err(format!("variable '{name}' appears twice")));
                    }
                    Segment::Variable(name.to_string())
                }
                p if p.contains(['{', '}', '*']) => {
                    return Err(err(format!(
                        "segment '{p}' mixes a literal with a variable or wildcard"
                    )));
                }
                p => Segment::Literal(p.to_string()),
            };
            out.push(seg);
        }
        Ok(Pattern {
            raw: raw.to_string(),
            segments: out,
        })
    }

    /// Matches a route's segments; returns the captured variables in pattern order.
    pub(crate) fn matches(&self, route: &[&str]) -> Option<Vec<(String, String)>> {
        let mut params = Vec::new();
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::DoubleStar => return Some(params),
                _ if i >= route.len() => return None,
                Segment::Literal(l) if l == route[i] => {}
                Segment::Literal(_) => return None,
                Segment::Variable(_) | Segment::Star if route[i].is_empty() => return None,
                Segment::Variable(name) => params.push((name.clone(), route[i].to_string())),
                Segment::Star => {}
            }
        }
        (route.len() == self.segments.len()).then_some(params)
    }

    /// Same segments, ignoring variable names: both would match the same routes.
    fn same_shape(&self, other: &Pattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| match (a, b) {
                    (Segment::Literal(x), Segment::Literal(y)) => x == y,
                    _ => a.rank() == b.rank(),
                })
    }

    fn rank(&self) -> Vec<u8> {
        self.segments.iter().map(Segment::rank).collect()
    }
}

/// Patterns with their values, kept most specific first.
#[derive(Clone)]
pub(crate) struct PatternTable<H> {
    entries: Vec<(Pattern, H)>,
}

impl<H> Default for PatternTable<H> {
    fn default() -> Self {
        PatternTable {
            entries: Vec::new(),
        }
    }
}

impl<H> PatternTable<H> {
    /// Adds a pattern; a pattern that is already there is an error.
    pub(crate) fn insert(&mut self, pattern: &str, value: H) -> Result<(), PatternError> {
        let p = Pattern::parse(pattern)?;
        if self.entries.iter().any(|(q, _)| q.same_shape(&p)) {
            return Err(PatternError {
                pattern: pattern.to_string(),
                reason: "a handler is already registered for it".into(),
            });
        }
        let rank = p.rank();
        let at = self
            .entries
            .iter()
            .position(|(q, _)| q.rank() > rank)
            .unwrap_or(self.entries.len());
        self.entries.insert(at, (p, value));
        Ok(())
    }

    /// The most specific match for a route.
    pub(crate) fn find(&self, route: &str) -> Option<(&H, Vec<(String, String)>)> {
        let segs = segments(route);
        self.entries
            .iter()
            .find_map(|(p, h)| p.matches(&segs).map(|params| (h, params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(patterns: &[&'static str]) -> PatternTable<&'static str> {
        let mut t = PatternTable::default();
        for p in patterns {
            t.insert(p, *p).unwrap();
        }
        t
    }

    #[test]
    fn variables_are_captured() {
        let t = table(&["find.radar.{code}", "a.{x}.b.{y}"]);
        let (h, params) = t.find("find.radar.EWR").unwrap();
        assert_eq!(*h, "find.radar.{code}");
        assert_eq!(params, [("code".to_string(), "EWR".to_string())]);
        let (_, params) = t.find("a.1.b.2").unwrap();
        assert_eq!(params.len(), 2);
        assert!(t.find("find.radar").is_none());
        assert!(t.find("find.radar.EWR.x").is_none());
        assert!(t.find("find.radar.").is_none());
    }

    #[test]
    fn literal_beats_variable_beats_star_beats_double_star() {
        let t = table(&["a.**", "a.*", "a.{x}", "a.b"]);
        assert_eq!(*t.find("a.b").unwrap().0, "a.b");
        assert_eq!(*t.find("a.c").unwrap().0, "a.{x}");
        assert_eq!(*t.find("a.c.d").unwrap().0, "a.**");
        assert_eq!(*t.find("a").unwrap().0, "a.**");
        let t = table(&["a.*", "**"]);
        assert_eq!(*t.find("a.z").unwrap().0, "a.*");
        assert_eq!(*t.find("").unwrap().0, "**");
        assert_eq!(*t.find("q.r.s").unwrap().0, "**");
    }

    #[test]
    fn empty_pattern_matches_no_route() {
        let t = table(&["", "echo"]);
        assert_eq!(*t.find("").unwrap().0, "");
        assert_eq!(*t.find("echo").unwrap().0, "echo");
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for bad in [
            "a..b",
            "a.**.b",
            "a.{}",
            "a.{x}.{x}",
            "a.b{x}",
            "a.x*",
            ".a",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        let mut t = table(&["a.{x}"]);
        let e = t.insert("a.{y}", "dup").unwrap_err();
        assert!(e.to_string().contains("already registered"), "{e}");
    }
}
