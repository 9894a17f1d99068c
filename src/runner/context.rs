//! The facts of a run that jobs see: the `github` context and the `GITHUB_*` environment,
//! built the way GitHub's hosted runners build them, with sandbox paths.

use std::collections::BTreeMap;

use crate::workflow::expr::{Object, Value};

/// Where the repository appears inside each job's sandbox (`GITHUB_WORKSPACE`).
pub const WORKSPACE: &str = "/workspace";
/// `HOME` of the job's commands (they run as root).
pub const HOME: &str = "/root";
/// `RUNNER_TEMP`.
pub const RUNNER_TEMP: &str = "/runner/temp";
/// `RUNNER_TOOL_CACHE`.
pub const RUNNER_TOOL_CACHE: &str = "/runner/tool-cache";
/// Where the step's command files (`GITHUB_ENV`, …) are made.
pub const COMMAND_FILES: &str = "/runner/commands";
/// `GITHUB_EVENT_PATH`.
pub const EVENT_PATH: &str = "/runner/event.json";
/// `PATH` when the job sets none: the usual Debian root path.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What is the same for every job of a run.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// `GITHUB_RUN_ID` (also `GITHUB_RUN_NUMBER`: locally every run is the next number).
    pub run_id: u64,
    /// The event's name.
    pub event_name: String,
    /// The event's payload.
    pub payload: serde_json::Value,
    /// `GITHUB_SHA` (empty outside a git repository).
    pub sha: String,
    /// `GITHUB_REF` (empty when unknown).
    pub git_ref: String,
    /// `owner/name`, from the `origin` remote (empty when unknown).
    pub repository: String,
    /// `GITHUB_ACTOR`.
    pub actor: String,
}

impl RunFacts {
    /// `refs/heads/main` → `main`; the ref itself when it has no known prefix.
    pub fn ref_name(&self) -> &str {
        let r = self.git_ref.as_str();
        r.strip_prefix("refs/heads/")
            .or_else(|| r.strip_prefix("refs/tags/"))
            .unwrap_or(r)
    }

    /// `branch`, `tag` or empty.
    pub fn ref_type(&self) -> &'static str {
        if self.git_ref.starts_with("refs/heads/") {
            "branch"
        } else if self.git_ref.starts_with("refs/tags/") {
            "tag"
        } else {
            ""
        }
    }

    /// The owner part of `repository`.
    pub fn owner(&self) -> &str {
        self.repository.split('/').next().unwrap_or_default()
    }

    fn pull_request_ref(&self, side: &str) -> String {
        self.payload
            .pointer(&format!("/pull_request/{side}/ref"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// The `github` context for a job of `workflow` (its name, or its path when unnamed).
    pub fn github_context(&self, workflow: &str, job_id: &str) -> Value {
        let mut github: Object = self
            .env_pairs(workflow, job_id)
            .into_iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("GITHUB_")?.to_ascii_lowercase();
                Some((key, Value::String(v)))
            })
            .collect();
        github.insert("event", Value::from(self.payload.clone()));
        github.insert("repository_owner", Value::String(self.owner().to_string()));
        github.insert("token", Value::String(String::new()));
        github.insert("repositoryUrl", Value::String(self.repository_url()));
        github.insert("ref_protected", Value::Bool(false));
        github.insert("secret_source", Value::String("Actions".into()));
        github.insert("action", Value::String(String::new()));
        github.insert("action_path", Value::String(String::new()));
        Value::object(github)
    }

    fn repository_url(&self) -> String {
        if self.repository.is_empty() {
            String::new()
        } else {
            format!("git://github.com/{}.git", self.repository)
        }
    }

    /// The `GITHUB_*`, `RUNNER_*` and other variables every step of the job gets (the
    /// per-step file paths are added by the step).
    pub fn env_pairs(&self, workflow: &str, job_id: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        set("CI", "true".into());
        set("GITHUB_ACTIONS", "true".into());
        set("GITHUB_ACTOR", self.actor.clone());
        set("GITHUB_TRIGGERING_ACTOR", self.actor.clone());
        set("GITHUB_API_URL", "https://api.github.com".into());
        set(
            "GITHUB_GRAPHQL_URL",
            "https://api.github.com/graphql".into(),
        );
        set("GITHUB_SERVER_URL", "https://github.com".into());
        set("GITHUB_BASE_REF", self.pull_request_ref("base"));
        set("GITHUB_HEAD_REF", self.pull_request_ref("head"));
        set("GITHUB_EVENT_NAME", self.event_name.clone());
        set("GITHUB_EVENT_PATH", EVENT_PATH.into());
        set("GITHUB_JOB", job_id.to_string());
        set("GITHUB_REF", self.git_ref.clone());
        set("GITHUB_REF_NAME", self.ref_name().to_string());
        set("GITHUB_REF_TYPE", self.ref_type().to_string());
        set("GITHUB_REPOSITORY", self.repository.clone());
        set("GITHUB_REPOSITORY_OWNER", self.owner().to_string());
        set("GITHUB_RETENTION_DAYS", "0".into());
        set("GITHUB_RUN_ATTEMPT", "1".into());
        set("GITHUB_RUN_ID", self.run_id.to_string());
        set("GITHUB_RUN_NUMBER", self.run_id.to_string());
        set("GITHUB_SHA", self.sha.clone());
        set("GITHUB_WORKFLOW", workflow.to_string());
        set("GITHUB_WORKSPACE", WORKSPACE.into());
        set("HOME", HOME.into());
        set("RUNNER_ARCH", runner_arch().into());
        set("RUNNER_NAME", "sandpit".into());
        set("RUNNER_OS", "Linux".into());
        set("RUNNER_TEMP", RUNNER_TEMP.into());
        set("RUNNER_TOOL_CACHE", RUNNER_TOOL_CACHE.into());
        env
    }

    /// The `runner` context.
    pub fn runner_context(&self, debug: bool) -> Value {
        let mut runner = Object::new();
        runner.insert("name", Value::from("sandpit"));
        runner.insert("os", Value::from("Linux"));
        runner.insert("arch", Value::from(runner_arch()));
        runner.insert("temp", Value::from(RUNNER_TEMP));
        runner.insert("tool_cache", Value::from(RUNNER_TOOL_CACHE));
        runner.insert("environment", Value::from("self-hosted"));
        if debug {
            runner.insert("debug", Value::from("1"));
        }
        Value::object(runner)
    }
}

/// `RUNNER_ARCH` as GitHub spells it.
fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        "arm" => "ARM",
        "x86" => "X86",
        _ => "X64",
    }
}

/// `owner/name` from a remote URL (`https://github.com/o/n.git`, `git@github.com:o/n.git`,
/// `ssh://git@host/o/n`); `None` when it has no two path parts.
pub fn repository_from_remote(url: &str) -> Option<String> {
    let url = url.trim();
    // A local path or file:// remote names no hosted repository.
    if url.starts_with('/') || url.starts_with('.') || url.starts_with("file:") {
        return None;
    }
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/').map(|(_, path)| path)?
    } else if let Some((_, path)) = url.split_once(':') {
        path
    } else {
        url
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.rsplit('/');
    let name = parts.next().filter(|s| !s.is_empty())?;
    let owner = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("{owner}/{name}"))
}

/// An object of strings.
pub fn string_object<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_comes_from_any_remote_form() {
        let table = [
            ("https://github.com/nektos/act.git", Some("nektos/act")),
            ("https://github.com/nektos/act", Some("nektos/act")),
            ("git@github.com:owner/repo.git", Some("owner/repo")),
            ("ssh://git@example.com:22/a/b.git", Some("a/b")),
            ("https://example.com/", None),
            ("/work/main", None),
            ("../other.git", None),
            ("file:///srv/git/project.git", None),
            ("", None),
        ];
        for (url, expected) in table {
            assert_eq!(repository_from_remote(url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn ref_name_and_type_follow_the_ref() {
        let mut facts = RunFacts {
            git_ref: "refs/heads/main".into(),
            ..RunFacts::default()
        };
        assert_eq!((facts.ref_name(), facts.ref_type()), ("main", "branch"));
        facts.git_ref = "refs/tags/v1".into();
        assert_eq!((facts.ref_name(), facts.ref_type()), ("v1", "tag"));
    }
}
