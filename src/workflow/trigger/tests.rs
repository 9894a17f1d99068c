//! Event selection as tables: (workflow `on`, event, payload, ref, changed files) → triggered
//! or the reason it is not.

use serde_json::json;

use super::*;
use crate::workflow::load::load;

fn workflow(on: &str) -> Workflow {
    let source = format!(
        "on:\n{on}\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
    );
    let (workflow, diagnostics) = load("ci.yml", &source);
    workflow.unwrap_or_else(|| panic!("invalid workflow:\n{source}\n{diagnostics:?}"))
}

fn event(
    name: &str,
    payload: Value,
    git_ref: Option<&str>,
    changed: Option<&[&str]>,
) -> EventContext {
    EventContext {
        name: name.into(),
        payload,
        git_ref: git_ref.map(str::to_string),
        changed_paths: changed.map(|c| c.iter().map(|p| p.to_string()).collect()),
    }
}

/// One row: the `on` block, the event, and `Ok(notes)` or `Err(substring of the reason)`.
type Row<'a> = (&'a str, EventContext, Result<&'a [&'a str], &'a str>);

fn check(rows: Vec<Row>) {
    let mut failures = Vec::new();
    for (index, (on, event, expected)) in rows.iter().enumerate() {
        let got = triggers(&workflow(on), event);
        let ok = match (&got, expected) {
            (Ok(triggered), Ok(notes)) => triggered.notes == *notes,
            (Err(reason), Err(wanted)) => reason.to_string().contains(wanted),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "row {index}: on {on:?}, event {} ref {:?} changed {:?} payload {}: expected {expected:?}, got {:?}",
                event.name,
                event.git_ref,
                event.changed_paths,
                event.payload,
                got.map_err(|e| e.to_string())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const NONE: &[&str] = &[];

#[test]
fn the_event_must_be_listed() {
    check(vec![
        (
            "  push:",
            event("push", json!({}), Some("refs/heads/main"), None),
            Ok(NONE),
        ),
        (
            "  push:\n  pull_request:",
            event("workflow_dispatch", json!({}), None, None),
            Err("`workflow_dispatch` is not among its events (on: push, pull_request)"),
        ),
        (
            "  workflow_dispatch:",
            event("workflow_dispatch", json!({}), None, None),
            Ok(NONE),
        ),
        (
            "  schedule:\n    - cron: '0 0 * * *'",
            event("schedule", json!({}), None, None),
            Ok(NONE),
        ),
    ]);
}

#[test]
fn push_filters_the_branch_or_tag() {
    let branches = "  push:\n    branches: [main, 'releases/**']";
    let ignore = "  push:\n    branches-ignore: ['wip/*']";
    let tags = "  push:\n    tags: ['v*']";
    let both = "  push:\n    branches: [main]\n    tags: ['v*']";
    let push = |r: &str| event("push", json!({}), Some(r), None);
    check(vec![
        (branches, push("refs/heads/main"), Ok(NONE)),
        (branches, push("refs/heads/releases/1.0"), Ok(NONE)),
        (
            branches,
            push("refs/heads/feature"),
            Err("branch `feature` does not pass the `branches` filter of `push`"),
        ),
        (
            branches,
            push("refs/tags/v1"),
            Err("`push` filters only branches, so a push of tag `v1` does not trigger"),
        ),
        (
            ignore,
            push("refs/heads/wip/x"),
            Err("branch `wip/x` does not pass the `branches-ignore` filter"),
        ),
        (ignore, push("refs/heads/main"), Ok(NONE)),
        (tags, push("refs/tags/v1.2"), Ok(NONE)),
        (
            tags,
            push("refs/tags/nightly"),
            Err("tag `nightly` does not pass the `tags` filter"),
        ),
        (
            tags,
            push("refs/heads/main"),
            Err("`push` filters only tags, so a push of branch `main`"),
        ),
        (both, push("refs/heads/main"), Ok(NONE)),
        (both, push("refs/tags/v2"), Ok(NONE)),
        ("  push:", push("refs/tags/anything"), Ok(NONE)),
        (
            branches,
            push("refs/pull/1/merge"),
            Err("neither a branch nor a tag"),
        ),
        (
            branches,
            event("push", json!({}), None, None),
            Err("the branch or tag is unknown (give `ref`"),
        ),
        ("  push:", event("push", json!({}), None, None), Ok(NONE)),
    ]);
}

#[test]
fn push_filters_changed_paths_except_for_tags() {
    let paths = "  push:\n    paths: ['src/**', '!src/docs/**']";
    let ignore = "  push:\n    paths-ignore: ['docs/**', '*.md']";
    let tags_and_paths = "  push:\n    tags: ['v*']\n    paths: ['src/**']";
    let push = |changed: Option<&'static [&'static str]>| {
        event("push", json!({}), Some("refs/heads/main"), changed)
    };
    check(vec![
        (paths, push(Some(&["src/main.rs", "README.md"])), Ok(NONE)),
        (
            paths,
            push(Some(&["README.md"])),
            Err("none of the 1 changed file matches the `paths` filter of `push`"),
        ),
        (
            paths,
            push(Some(&["src/docs/a.md"])),
            Err("none of the 1 changed file"),
        ),
        (paths, push(Some(&[])), Err("no files changed")),
        (
            paths,
            push(None),
            Ok(&["paths not checked: changed files unknown"]),
        ),
        (
            ignore,
            push(Some(&["docs/a", "README.md"])),
            Err("`paths-ignore` of `push` ignores all 2 changed files"),
        ),
        (ignore, push(Some(&["docs/a", "src/lib.rs"])), Ok(NONE)),
        (
            tags_and_paths,
            event(
                "push",
                json!({}),
                Some("refs/tags/v1"),
                Some(&["README.md"]),
            ),
            Ok(NONE),
        ),
    ]);
}

#[test]
fn pull_requests_filter_the_base_branch_types_and_paths() {
    let on = "  pull_request:\n    branches: [main]\n    types: [opened, labeled]\n    paths: ['src/**']";
    let plain = "  pull_request:";
    let pr = |base: Option<&str>, action: Option<&str>| {
        let mut payload = json!({});
        if let Some(base) = base {
            payload["pull_request"] = json!({"base": {"ref": base}});
        }
        if let Some(action) = action {
            payload["action"] = json!(action);
        }
        event(
            "pull_request",
            payload,
            Some("refs/heads/feature"),
            Some(&["src/a.rs"]),
        )
    };
    check(vec![
        (on, pr(Some("main"), None), Ok(NONE)),
        (on, pr(Some("refs/heads/main"), Some("labeled")), Ok(NONE)),
        (on, pr(Some("dev"), None), Err("base branch `dev` does not pass the `branches` filter of `pull_request`")),
        // Without a base in the payload, the current branch is the base.
        (on, pr(None, None), Err("base branch `feature` does not pass")),
        (on, pr(Some("main"), Some("closed")), Err("activity type `closed` is not among the listed types of `pull_request` (opened, labeled)")),
        (plain, pr(None, Some("synchronize")), Ok(NONE)),
        (plain, pr(None, Some("labeled")), Err("activity type `labeled` is not among the default types of `pull_request` (opened, synchronize, reopened)")),
        (
            on,
            event("pull_request", json!({"pull_request": {"base": {"ref": "main"}}}), None, Some(&["docs/x"])),
            Err("none of the 1 changed file matches the `paths` filter of `pull_request`"),
        ),
        (
            on,
            event("pull_request", json!({"pull_request": {"base": {"ref": "main"}}}), None, None),
            Ok(&["paths not checked: changed files unknown"]),
        ),
        (on, event("pull_request", json!({}), None, None), Err("the base branch is unknown (give `pull_request.base.ref`")),
        (
            "  pull_request_target:\n    branches-ignore: [main]",
            event("pull_request_target", json!({"pull_request": {"base": {"ref": "main"}}}), None, None),
            Err("base branch `main` does not pass the `branches-ignore` filter of `pull_request_target`"),
        ),
    ]);
}

#[test]
fn other_events_check_types_when_the_payload_has_an_action() {
    let release = "  release:\n    types: [published]";
    let run = "  workflow_run:\n    workflows: [CI]\n    types: [completed]\n    branches: [main]";
    check(vec![
        (
            release,
            event("release", json!({"action": "published"}), None, None),
            Ok(NONE),
        ),
        (
            release,
            event("release", json!({"action": "created"}), None, None),
            Err("activity type `created` is not among the listed types of `release`"),
        ),
        (
            release,
            event("release", json!({}), None, None),
            Ok(&["types not checked: the payload has no `action` (give one with -e)"]),
        ),
        (
            "  issues:",
            event("issues", json!({"action": "closed"}), None, None),
            Ok(NONE),
        ),
        (
            run,
            event(
                "workflow_run",
                json!({"action": "completed", "workflow_run": {"name": "CI", "head_branch": "main"}}),
                None,
                None,
            ),
            Ok(NONE),
        ),
        (
            run,
            event(
                "workflow_run",
                json!({"action": "completed", "workflow_run": {"name": "Lint", "head_branch": "main"}}),
                None,
                None,
            ),
            Err("workflow `Lint` is not among the `workflows` of `workflow_run`"),
        ),
        (
            run,
            event(
                "workflow_run",
                json!({"action": "completed", "workflow_run": {"name": "CI", "head_branch": "dev"}}),
                None,
                None,
            ),
            Err("head branch `dev` does not pass the `branches` filter of `workflow_run`"),
        ),
        (
            "  workflow_dispatch:\n    inputs:\n      level:\n        default: info",
            event(
                "workflow_dispatch",
                json!({"inputs": {"level": "debug"}}),
                Some("refs/heads/x"),
                Some(&[]),
            ),
            Ok(NONE),
        ),
    ]);
}
