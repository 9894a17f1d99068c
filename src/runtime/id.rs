//! Sandbox ids: lowercase DNS labels, so they can appear in host names (preview URLs) and paths.

use std::fmt;

/// A validated sandbox id: 1 to 63 characters of `a-z`, `0-9` and `-`, starting and ending
/// with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SandboxId(String);

/// Why a string is not a sandbox id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sandbox id {id:?}: {reason} (ids are 1 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)")]
pub struct InvalidId {
    /// The refused input.
    pub id: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl SandboxId {
    /// Validates `id`.
    pub fn new(id: &str) -> Result<Self, InvalidId> {
        let fail = |reason| {
            Err(InvalidId {
                id: id.chars().take(80).collect(),
                reason,
            })
        };
        if id.is_empty() {
            return fail("it is empty");
        }
        if id.len() > 63 {
            return fail("it is longer than 63 characters");
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail("it contains a character other than a-z, 0-9 and '-'");
        }
        if id.starts_with('-') || id.ends_with('-') {
            return fail("it starts or ends with '-'");
        }
        Ok(Self(id.to_string()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SandboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SandboxId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests;
