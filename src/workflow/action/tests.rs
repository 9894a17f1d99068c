//! The action loader: a composite action and its model, then each class of problem as a table
//! of metadata file → expected diagnostics (line, column, a piece of the message).

use super::*;
use crate::workflow::diagnostic::{render, Severity};
use crate::workflow::model::{ActionRef, StepAction};

/// An expected diagnostic: line, column (both from 1) and a piece of the message.
type Expected<'a> = (u32, u32, &'a str);

/// A table row: a metadata file and the diagnostics of one severity it must produce, exactly.
type Row<'a> = (&'a str, &'a [Expected<'a>]);

fn rendered(source: &str) -> String {
    let (_, diagnostics) = load_action("action.yml", source);
    diagnostics
        .iter()
        .map(|d| render("action.yml", source, d, false))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_rows(severity: Severity, rows: &[Row<'_>]) {
    let mut failures = Vec::new();
    for (source, expected) in rows {
        let (action, diagnostics) = load_action("action.yml", source);
        let found: Vec<(u32, u32, String)> = diagnostics
            .into_iter()
            .filter(|d| d.severity == severity)
            .map(|d| (d.span.start.line, d.span.start.col, d.message))
            .collect();
        let matches = found.len() == expected.len()
            && found.iter().zip(expected.iter()).all(
                |((line, col, message), (want_line, want_col, piece))| {
                    line == want_line && col == want_col && message.contains(piece)
                },
            );
        // Errors mean no action; warnings alone leave it loaded.
        let loaded_as_expected = action.is_some() == (severity == Severity::Warning);
        if !matches || !loaded_as_expected {
            failures.push(format!(
                "--- source:\n{source}\n--- expected: {expected:?}\n--- found: {found:?}\n\
                 --- loaded: {}\n{}",
                action.is_some(),
                rendered(source)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn check_errors(rows: &[Row<'_>]) {
    check_rows(Severity::Error, rows);
}

fn check_warnings(rows: &[Row<'_>]) {
    check_rows(Severity::Warning, rows);
}

fn load_ok(source: &str) -> Action {
    let (action, diagnostics) = load_action("action.yml", source);
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{}", rendered(source));
    action.expect("an action without errors has a model")
}

const COMPOSITE: &str = "\
name: Build
description: Builds the project with ${{ inputs.tool }}
author: someone
branding:
  icon: box
  color: blue
inputs:
  tool:
    description: Which tool
    required: true
  jobs:
    default: 4
  token:
    default: ${{ github.token }}
  old:
    deprecationMessage: use `tool`
outputs:
  artifact:
    description: Where the build went
    value: ${{ steps.build.outputs.path }}
runs:
  using: composite
  steps:
    - id: build
      name: Build with ${{ inputs.tool }}
      if: ${{ inputs.tool != '' && always() }}
      run: make -j${{ inputs.jobs }}
      shell: bash
      working-directory: src
      env:
        TOKEN: ${{ inputs.token }}
      continue-on-error: true
    - uses: ./other
      with:
        path: ${{ steps.build.outputs.path }}
        key: ${{ hashFiles('**/lock') }}
";

#[test]
fn a_composite_action_with_inputs_outputs_and_a_nested_local_action_loads() {
    let (action, diagnostics) = load_action("action.yml", COMPOSITE);
    assert!(diagnostics.is_empty(), "{}", rendered(COMPOSITE));
    let action = action.expect("loads");
    assert_eq!(action.path, "action.yml");
    assert_eq!(action.name.as_ref().map(Spanned::as_str), Some("Build"));
    // Descriptions are text: `${{ }}` in them is not an expression.
    assert_eq!(
        action.description.as_ref().map(Spanned::as_str),
        Some("Builds the project with ${{ inputs.tool }}")
    );
    assert_eq!(action.author.as_ref().map(Spanned::as_str), Some("someone"));

    let inputs: Vec<(&str, bool, Option<&str>)> = action
        .inputs
        .iter()
        .map(|i| {
            let default = i.default.as_ref().map(|d| d.text.as_str());
            (i.name.as_str(), i.required, default)
        })
        .collect();
    assert_eq!(
        inputs,
        [
            ("tool", true, None),
            ("jobs", false, Some("4")),
            ("token", false, Some("${{ github.token }}")),
            ("old", false, None),
        ]
    );
    assert!(action
        .input("TOKEN")
        .is_some_and(|i| i.default.as_ref().is_some_and(|d| d.is_single_expr())));
    assert_eq!(
        action
            .input("old")
            .and_then(|i| i.deprecation_message.as_ref())
            .map(Spanned::as_str),
        Some("use `tool`")
    );

    assert_eq!(action.outputs.len(), 1);
    let output = &action.outputs[0];
    assert_eq!(output.name.as_str(), "artifact");
    assert_eq!(
        output.value.as_ref().map(|v| v.text.as_str()),
        Some("${{ steps.build.outputs.path }}")
    );

    let Runs::Composite { steps } = &action.runs else {
        panic!("not composite: {:?}", action.runs);
    };
    assert_eq!(steps.len(), 2);
    let build = &steps[0];
    assert_eq!(build.id.as_ref().map(Spanned::as_str), Some("build"));
    assert!(build.condition.is_some());
    assert!(build.continue_on_error.is_some());
    assert_eq!(
        build.env.get("TOKEN").map(|t| t.text.as_str()),
        Some("${{ inputs.token }}")
    );
    let StepAction::Run {
        run,
        shell,
        working_directory,
    } = &build.action
    else {
        panic!("not a run step: {:?}", build.action);
    };
    assert_eq!(run.text, "make -j${{ inputs.jobs }}");
    assert_eq!(shell.as_ref().map(Spanned::as_str), Some("bash"));
    assert_eq!(
        working_directory.as_ref().map(|w| w.text.as_str()),
        Some("src")
    );
    let StepAction::Uses { uses, with } = &steps[1].action else {
        panic!("not a uses step: {:?}", steps[1].action);
    };
    assert_eq!(uses.value, ActionRef::Local("./other".to_owned()));
    let with: Vec<&str> = with.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(with, ["path", "key"]);
}

#[test]
fn a_run_step_without_shell_is_an_error_at_the_step() {
    check_errors(&[
        (
            "runs:\n  using: composite\n  steps:\n    - run: make\n",
            &[(4, 7, "a `run` step of a composite action needs a `shell`")],
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - run: a\n      shell: bash\n    - name: second\n      run: b\n",
            &[(6, 7, "needs a `shell`")],
        ),
    ]);
    let source = "runs:\n  using: composite\n  steps:\n    - run: make\n";
    assert_eq!(
        rendered(source),
        "\
action.yml:4:7: error: a `run` step of a composite action needs a `shell`
  |
4 |     - run: make
  |       ^
help: add `shell: bash` (composite actions have no default shell)"
    );
    // A `uses` step has no shell.
    load_ok("runs:\n  using: composite\n  steps:\n    - uses: ./x\n");
}

#[test]
fn unknown_keys_are_errors_where_github_is_strict() {
    check_errors(&[
        (
            "runs:\n  using: composite\n  steps:\n    - run: a\n      shell: bash\n      timeout-minutes: 5\n",
            &[(6, 7, "unknown key `timeout-minutes` in a step")],
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - run: a\n      shel: bash\n",
            &[
                (4, 7, "needs a `shell`"),
                (5, 7, "unknown key `shel` in a step"),
            ],
        ),
        (
            "runs:\n  using: composite\n  main: index.js\n  steps: []\n",
            &[(3, 3, "unknown key `main` in `runs` of a composite action")],
        ),
        (
            "runs:\n  using: node20\n  main: index.js\n  steps: []\n",
            &[(4, 3, "unknown key `steps` in `runs` of a JavaScript action")],
        ),
        (
            "outputs:\n  x:\n    value: a\n    descripton: b\nruns:\n  using: composite\n  steps: []\n",
            &[(4, 5, "unknown key `descripton` in output `x`")],
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - run: a\n      shell: bash\n      background: true\n",
            &[(6, 7, "unknown key `background` in a step")],
        ),
    ]);
    let source = "runs:\n  using: composite\n  steps:\n    - run: a\n      shell: bash\n      continue-on-eror: true\n";
    assert_eq!(
        rendered(source),
        "\
action.yml:6:7: error: unknown key `continue-on-eror` in a step
  |
6 |       continue-on-eror: true
  |       ^^^^^^^^^^^^^^^^
help: did you mean `continue-on-error`?"
    );
}

#[test]
fn unknown_keys_are_warnings_where_github_ignores_them() {
    check_warnings(&[
        (
            "nmae: x\nruns:\n  using: composite\n  steps: []\n",
            &[(1, 1, "unknown key `nmae` in the action")],
        ),
        (
            "inputs:\n  a:\n    type: string\nruns:\n  using: composite\n  steps: []\n",
            &[(3, 5, "unknown key `type` in input `a`")],
        ),
        (
            "inputs:\n  a:\n    required: 'yes'\nruns:\n  using: composite\n  steps: []\n",
            &[(3, 15, "`required` of input `a` should be a boolean")],
        ),
        // Marketplace metadata is accepted as it is.
        (
            "branding: {icon: x, anything: [1]}\nruns:\n  using: composite\n  steps: []\n",
            &[],
        ),
    ]);
}

#[test]
fn javascript_and_docker_actions_are_recognised_but_not_run() {
    let node = load_ok(
        "name: js\nruns:\n  using: Node20\n  main: dist/index.js\n  post: dist/post.js\n  post-if: runner.os == 'Linux'\n",
    );
    let Runs::Node {
        using,
        main,
        pre,
        post,
        post_if,
        ..
    } = &node.runs
    else {
        panic!("not a node action: {:?}", node.runs);
    };
    assert_eq!(using.as_str(), "Node20");
    assert_eq!(main.as_str(), "dist/index.js");
    assert!(pre.is_none());
    assert_eq!(post.as_ref().map(Spanned::as_str), Some("dist/post.js"));
    assert_eq!(
        post_if.as_ref().map(Spanned::as_str),
        Some("runner.os == 'Linux'")
    );

    let docker = load_ok(
        "inputs:\n  who: {}\nruns:\n  using: docker\n  image: Dockerfile\n  args: ['${{ inputs.who }}', '--flag']\n  env:\n    WHO: ${{ inputs.who }}\n",
    );
    let Runs::Docker {
        image, args, env, ..
    } = &docker.runs
    else {
        panic!("not a docker action: {:?}", docker.runs);
    };
    assert_eq!(image.as_str(), "Dockerfile");
    assert_eq!(args.len(), 2);
    assert!(env.get("WHO").is_some());

    check_warnings(&[
        (
            "runs:\n  using: node24\n  main: index.js\n",
            &[(2, 10, "`node24` actions are not run by sandpit yet")],
        ),
        (
            "runs:\n  using: docker\n  image: docker://alpine\n",
            &[(2, 10, "Docker actions are not run by sandpit yet")],
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - uses: docker://alpine\n",
            &[(4, 13, "docker actions are not supported by sandpit yet")],
        ),
    ]);
}

#[test]
fn runs_needs_a_known_using_and_the_keys_of_its_kind() {
    check_errors(&[
        ("name: x\n", &[(1, 1, "the action has no `runs`")]),
        ("runs:\n  steps: []\n", &[(2, 3, "`runs` has no `using`")]),
        (
            "runs:\n  using: node8\n  main: a.js\n",
            &[(2, 10, "unknown `using` value `node8`")],
        ),
        (
            "runs:\n  using: composite\n",
            &[(2, 10, "a composite action needs `steps`")],
        ),
        (
            "runs:\n  using: node20\n",
            &[(2, 10, "a JavaScript action needs `runs.main`")],
        ),
        (
            "runs:\n  using: docker\n",
            &[(2, 10, "a Docker action needs `runs.image`")],
        ),
        (
            "runs:\n  using: composite\n  steps: {run: a}\n",
            &[(3, 10, "`steps` must be a sequence")],
        ),
        ("runs: composite\n", &[(1, 7, "`runs` must be a mapping")]),
        ("", &[(1, 1, "the action metadata file is empty")]),
        ("- a\n", &[(1, 1, "the action must be a mapping")]),
    ]);
}

#[test]
fn composite_outputs_need_a_value() {
    check_errors(&[
        (
            "outputs:\n  path:\n    description: x\nruns:\n  using: composite\n  steps: []\n",
            &[(2, 3, "output `path` of a composite action needs a `value`")],
        ),
        (
            "outputs:\n  path:\nruns:\n  using: composite\n  steps: []\n",
            &[(2, 3, "output `path` of a composite action needs a `value`")],
        ),
    ]);
    // JavaScript actions set their outputs from code.
    let action =
        load_ok("outputs:\n  path:\n    description: x\nruns:\n  using: node20\n  main: a.js\n");
    assert_eq!(action.outputs[0].value, None);
}

#[test]
fn contexts_are_available_where_the_action_schema_says() {
    let step = |key_and_value: &str| {
        format!("runs:\n  using: composite\n  steps:\n    - uses: ./x\n      {key_and_value}\n")
    };
    // Available: each row loads without errors.
    let available = [
        step("if: ${{ inputs.a && steps.b.outcome == 'success' && failure() }}"),
        step("name: ${{ github.sha }} ${{ matrix.os }} ${{ strategy.job-index }}"),
        step("env: {A: '${{ runner.os }} ${{ job.status }} ${{ env.B }}'}"),
        step("with: {a: '${{ hashFiles(''x'') }}'}"),
        step("continue-on-error: ${{ inputs.lenient }}"),
        "inputs:\n  a:\n    default: ${{ runner.temp }}/${{ hashFiles('x') }}\nruns:\n  using: composite\n  steps: []\n"
            .to_owned(),
        "outputs:\n  a:\n    value: ${{ steps.x.outputs.y }}${{ env.Z }}\nruns:\n  using: composite\n  steps: []\n"
            .to_owned(),
    ];
    for source in &available {
        load_ok(source);
    }
    check_errors(&[
        (
            &step("with: {token: '${{ secrets.TOKEN }}'}"),
            &[(5, 26, "the `secrets` context is not available in `runs.steps.with`")],
        ),
        (
            &step("env: {A: '${{ vars.A }}'}"),
            &[(5, 21, "the `vars` context is not available in `runs.steps.env`")],
        ),
        (
            &step("name: ${{ needs.a.result }}"),
            &[(5, 17, "the `needs` context is not available in `runs.steps.name`")],
        ),
        (
            &step("with: {a: '${{ success() }}'}"),
            &[(5, 22, "`success()` is not available here")],
        ),
        (
            "inputs:\n  a:\n    default: ${{ inputs.b }}\nruns:\n  using: composite\n  steps: []\n",
            &[(3, 18, "the `inputs` context is not available in `inputs.<input_id>.default`")],
        ),
        (
            "outputs:\n  a:\n    value: ${{ hashFiles('x') }}\nruns:\n  using: composite\n  steps: []\n",
            &[(3, 16, "`hashFiles` is not available in `outputs.<output_id>.value`")],
        ),
        (
            "runs:\n  using: docker\n  image: Dockerfile\n  args: ['${{ github.sha }}']\n",
            &[(4, 15, "the `github` context is not available in `runs.args`")],
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - run: a\n      shell: ${{ inputs.shell }}\n",
            &[(5, 14, "expressions are not allowed in `shell`")],
        ),
    ]);
}

#[test]
fn step_ids_are_checked_as_in_workflows() {
    check_errors(&[
        (
            "runs:\n  using: composite\n  steps:\n    - {id: a, uses: ./x}\n    - {id: A, uses: ./y}\n",
            &[(5, 12, "step id `A` is used more than once")],
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - {id: 1a, uses: ./x}\n",
            &[(4, 12, "invalid step id `1a`")],
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - {run: a, uses: ./x, shell: bash}\n",
            &[(4, 16, "a step cannot have both `run` and `uses`")],
        ),
        (
            "runs:\n  using: composite\n  steps:\n    - {uses: ./x, shell: bash}\n",
            &[(4, 19, "`shell` can only be used in a step that has `run`")],
        ),
    ]);
}

#[test]
fn invalid_yaml_is_reported_with_its_position() {
    check_errors(&[
        ("runs:\n  using: composite\n  steps: [\n", &[(4, 1, "")]),
        ("runs: {}\nruns: {}\n", &[(2, 1, "duplicate key")]),
        ("name: a: b\n", &[(1, 8, "mapping values")]),
    ]);
    let (action, diagnostics) = load_action_bytes("action.yml", b"name: \xff\n");
    assert!(action.is_none());
    assert_eq!(
        (
            diagnostics[0].span.start.line,
            diagnostics[0].span.start.col
        ),
        (1, 7)
    );
    let (action, diagnostics) =
        load_action_bytes("action.yml", b"runs:\n  using: composite\n  steps: []\n");
    assert!(action.is_some() && diagnostics.is_empty());
}

#[test]
fn hostile_files_are_refused_by_the_yaml_limits() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..8 {
        let previous = if level == 1 {
            "a".to_owned()
        } else {
            format!("a{}", level - 1)
        };
        bomb.push_str(&format!(
            "a{level}: &a{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
        ));
    }
    bomb.push_str("runs:\n  using: composite\n  steps: []\n");
    let (action, diagnostics) = load_action("action.yml", &bomb);
    assert!(action.is_none());
    assert!(
        diagnostics.iter().any(Diagnostic::is_error),
        "{}",
        rendered(&bomb)
    );

    let huge = format!("name: {}\n", "x".repeat(yaml::MAX_SOURCE_BYTES));
    let (action, diagnostics) = load_action("action.yml", &huge);
    assert!(action.is_none());
    assert_eq!(diagnostics.len(), 1);
}
