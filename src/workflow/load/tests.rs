//! The loader: each error class as a table of YAML → expected diagnostics (line, column, a
//! piece of the message), the context-availability table, warnings, positions inside scalars,
//! a large valid workflow and its model, and the fixture corpus.

use super::*;
use crate::workflow::diagnostic::{render, Severity};
use crate::workflow::expr::Value;

/// An expected diagnostic: line, column (both from 1) and a piece of the message.
type Expected<'a> = (u32, u32, &'a str);

/// A table row: a workflow and the errors it must produce, exactly.
type Row<'a> = (&'a str, &'a [Expected<'a>]);

fn diagnostics(source: &str, severity: Severity) -> Vec<(u32, u32, String)> {
    let (_, diagnostics) = load("test.yml", source);
    diagnostics
        .into_iter()
        .filter(|d| d.severity == severity)
        .map(|d| (d.span.start.line, d.span.start.col, d.message))
        .collect()
}

fn rendered(source: &str) -> String {
    let (_, diagnostics) = load("test.yml", source);
    diagnostics
        .iter()
        .map(|d| render("test.yml", source, d, false))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_rows(severity: Severity, rows: &[Row<'_>]) {
    let mut failures = Vec::new();
    for (source, expected) in rows {
        let found = diagnostics(source, severity);
        let matches = found.len() == expected.len()
            && found.iter().zip(expected.iter()).all(
                |((line, col, message), (want_line, want_col, piece))| {
                    line == want_line && col == want_col && message.contains(piece)
                },
            );
        if !matches {
            failures.push(format!(
                "--- source:\n{source}\n--- expected: {expected:?}\n--- found: {found:?}\n{}",
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

fn help_of(source: &str, piece: &str) -> Option<String> {
    let (_, diagnostics) = load("test.yml", source);
    diagnostics
        .into_iter()
        .find(|d| d.message.contains(piece))
        .unwrap_or_else(|| panic!("no diagnostic with `{piece}` for:\n{source}"))
        .help
}

fn load_ok(source: &str) -> Workflow {
    let (workflow, diagnostics) = load("test.yml", source);
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{}", rendered(source));
    workflow.expect("a workflow without errors has a model")
}

#[test]
fn yaml_errors_are_reported_with_their_position() {
    check_errors(&[
        ("on: push\njobs: [\n", &[(3, 1, "")]),
        (
            "on: push\non: pull_request\njobs: {}\n",
            &[(2, 1, "duplicate key")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n    - run: a: b\n",
            &[(6, 13, "mapping values")],
        ),
    ]);
    let (workflow, diagnostics) = load("test.yml", "on: push\njobs: [\n");
    assert!(workflow.is_none());
    assert!(!diagnostics.is_empty());
    // Bytes: invalid UTF-8 is refused where it starts; valid bytes load as text does.
    let (workflow, diagnostics) = load_bytes("test.yml", b"on: push\njobs:\n  a\xff: {}\n");
    assert!(workflow.is_none());
    assert_eq!(
        (
            diagnostics[0].span.start.line,
            diagnostics[0].span.start.col
        ),
        (3, 4)
    );
    let (workflow, diagnostics) = load_bytes(
        "test.yml",
        b"on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: a}]\n",
    );
    assert!(workflow.is_some() && diagnostics.is_empty());
}

#[test]
fn unknown_keys_are_errors_at_every_level() {
    check_errors(&[
        (
            "on: push\nname: x\nnmae: y\njobs: {}\n",
            &[(3, 1, "unknown key `nmae` in the workflow")],
        ),
        (
            "on:\n  push:\n    branch: [main]\njobs: {}\n",
            &[(3, 5, "unknown key `branch` in `on.push`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs_on: x\n    steps:\n      - run: a\n",
            &[
                (3, 3, "job `a` has no `runs-on`"),
                (4, 5, "unknown key `runs_on` in job `a`"),
            ],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: a\n        shel: bash\n",
            &[(7, 9, "unknown key `shel` in a step")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      fail_fast: false\n    steps:\n      - run: a\n",
            &[(6, 7, "unknown key `fail_fast` in `strategy`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    container:\n      imag: node:20\n    steps:\n      - run: a\n",
            &[(6, 7, "unknown key `imag` in `container`")],
        ),
        (
            "on: push\npermissions:\n  content: read\njobs: {}\n",
            &[(3, 3, "unknown key `content` in `permissions`")],
        ),
        (
            "on:\n  workflow_dispatch:\n    inputs:\n      env:\n        typ: string\njobs: {}\n",
            &[(5, 9, "unknown key `typ` in input `env`")],
        ),
        (
            "on: push\ndefaults:\n  run:\n    shell: bash\n    workdir: x\njobs: {}\n",
            &[(5, 5, "unknown key `workdir` in `defaults.run`")],
        ),
    ]);
}

#[test]
fn unknown_keys_and_names_get_the_closest_known_one_as_help() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "on: push\njobs:\n  a:\n    runs_on: x\n    steps:\n      - run: a\n",
            "runs_on",
            "did you mean `runs-on`?",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    stpes:\n      - run: a\n",
            "stpes",
            "did you mean `steps`?",
        ),
        (
            "on:\n  pull-request:\njobs: {}\n",
            "pull-request",
            "did you mean `pull_request`?",
        ),
        (
            "on:\n  pull_request:\n    types: [opend]\njobs: {}\n",
            "opend",
            "did you mean `opened`?",
        ),
        (
            "on: push\npermissions:\n  content: read\njobs: {}\n",
            "content",
            "did you mean `contents`?",
        ),
        (
            "on: push\njobs:\n  build:\n    runs-on: x\n    steps: [{run: a}]\n  test:\n    needs: biuld\n    runs-on: x\n    steps: [{run: a}]\n",
            "biuld",
            "did you mean `build`?",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: a\n        wiht: {}\n",
            "wiht",
            "did you mean `with`?",
        ),
    ];
    for (source, piece, help) in cases {
        assert_eq!(help_of(source, piece).as_deref(), Some(*help), "{source}");
    }
    // Nothing close: the help lists what is allowed.
    let help = help_of("on: push\nfrobnicate: 1\njobs: {}\n", "frobnicate").unwrap();
    assert!(
        help.starts_with("expected one of: name, description, run-name, on"),
        "{help}"
    );
}

#[test]
fn wrong_types_are_errors() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      run: a\n",
            &[(6, 7, "`steps` must be a sequence, found a mapping")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: abc\n    steps: [{run: a}]\n",
            &[(5, 22, "`timeout-minutes` must be a number, found a string")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: \"30\"\n    steps: [{run: a}]\n",
            &[(5, 22, "`timeout-minutes` must be a number, found a string")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    continue-on-error: yes\n    steps: [{run: a}]\n",
            &[(5, 24, "`continue-on-error` must be a boolean, found a string")],
        ),
        (
            "on: push\nenv: [A]\njobs: {}\n",
            &[(2, 6, "`env` must be a mapping, found a sequence")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: {labels: {a: b}}\n    steps: [{run: a}]\n",
            &[(4, 23, "`runs-on.labels` must be a string or a sequence of strings")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          fetch-depth: [1]\n",
            &[(8, 24, "`fetch-depth` in `with` must be a string, found a sequence")],
        ),
        (
            "on: push\njobs:\n  a: build\n",
            &[(3, 6, "job `a` must be a mapping, found a string")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - echo hi\n",
            &[(6, 9, "a step must be a mapping, found a string")],
        ),
        (
            "on: push\npermissions: read\njobs: {}\n",
            &[(2, 14, "must be `read-all`, `write-all` or a mapping of scopes")],
        ),
        (
            "on: push\npermissions:\n  id-token: read\njobs: {}\n",
            &[(3, 13, "permission `id-token` must be `write` or `none`, found `read`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        os: ubuntu-latest\n    steps: [{run: a}]\n",
            &[(7, 13, "matrix axis `os` must be a sequence, found a string")],
        ),
        (
            "on:\n  schedule:\n    cron: '0 0 * * *'\njobs: {}\n",
            &[(3, 5, "`on.schedule` must be a sequence")],
        ),
        (
            "on:\n  push:\n    branches: {main: true}\njobs: {}\n",
            &[(3, 15, "`on.push.branches` must be a string or a sequence of strings")],
        ),
        (
            "on:\n  create:\n    branches: [main]\njobs: {}\n",
            &[(3, 5, "`on.create` takes no configuration")],
        ),
    ]);
}

#[test]
fn scalars_convert_to_strings_as_github_converts_them() {
    // Where a string is expected, numbers and booleans are taken as their text; GitHub's
    // reader does the same (so `runs-on: 1` is the label "1").
    let workflow = load_ok(
        "on: push\nenv:\n  PY: 3.10\n  ON: true\n  NONE:\n  HEX: 0x10\njobs:\n  a:\n    runs-on: 1\n    steps: [{run: 2}]\n",
    );
    let env: Vec<(&str, &str)> = workflow
        .env
        .vars
        .iter()
        .map(|v| (v.name.as_str(), v.value.text.as_str()))
        .collect();
    assert_eq!(
        env,
        [("PY", "3.1"), ("ON", "true"), ("NONE", ""), ("HEX", "16")]
    );
    let JobKind::Steps(job) = &workflow.jobs[0].kind else {
        panic!("a runner job")
    };
    let RunsOn::Labels(labels) = &job.runs_on else {
        panic!("labels")
    };
    assert_eq!(labels[0].text, "1");
}

#[test]
fn job_ids_must_be_identifiers() {
    check_errors(&[
        (
            "on: push\njobs:\n  1build:\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(3, 3, "invalid job id `1build`")],
        ),
        (
            "on: push\njobs:\n  build job:\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(3, 3, "invalid job id `build job`")],
        ),
        (
            "on: push\njobs:\n  a.b:\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(3, 3, "invalid job id `a.b`")],
        ),
        (
            "on: push\njobs:\n  _ok-1_x:\n    runs-on: x\n    steps: [{run: a}]\n",
            &[],
        ),
    ]);
}

#[test]
fn needs_must_name_jobs_of_the_workflow() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: a}]\n  b:\n    needs: c\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(7, 12, "job `b` needs `c`, which is not a job in this workflow")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: a}]\n  b:\n    needs: [a, zz]\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(7, 16, "needs `zz`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: a}]\n  b:\n    needs: [a, '']\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(7, 16, "must not be empty")],
        ),
    ]);
}

#[test]
fn needs_cycles_are_errors_that_name_the_cycle() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps: [{run: a}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(8, 12, "`needs` forms a cycle: a -> b -> a")],
        ),
        (
            "on: push\njobs:\n  a:\n    needs: a\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(4, 12, "`needs` forms a cycle: a -> a")],
        ),
        (
            "on: push\njobs:\n  lint:\n    runs-on: x\n    steps: [{run: a}]\n  build:\n    needs: [lint, deploy]\n    runs-on: x\n    steps: [{run: a}]\n  test:\n    needs: build\n    runs-on: x\n    steps: [{run: a}]\n  deploy:\n    needs: test\n    runs-on: x\n    steps: [{run: a}]\n",
            &[(11, 12, "`needs` forms a cycle: build -> deploy -> test -> build")],
        ),
    ]);
}

#[test]
fn jobs_need_runs_on_and_steps_unless_they_call_a_workflow() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    steps: [{run: a}]\n",
            &[(3, 3, "job `a` has no `runs-on`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n",
            &[(3, 3, "job `a` has no `steps`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: []\n",
            &[(5, 12, "job `a` has no steps")],
        ),
        (
            "on: push\njobs:\n  a:\n    uses: ./.github/workflows/b.yml\n",
            &[],
        ),
        (
            "on: push\njobs:\n  a:\n    uses: ./.github/workflows/b.yml\n    runs-on: x\n",
            &[(
                5,
                5,
                "`runs-on` cannot be used in a job that calls a reusable workflow",
            )],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    with: {a: 1}\n    steps: [{run: a}]\n",
            &[(5, 5, "`with` cannot be used in a job that runs steps")],
        ),
        (
            "on: push\njobs:\n  a:\n    uses: octo/repo/.github/workflows/b.yml\n",
            &[(4, 11, "invalid reusable workflow reference")],
        ),
    ]);
}

#[test]
fn a_step_has_exactly_one_of_run_and_uses() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: a\n        uses: actions/checkout@v4\n",
            &[(7, 9, "a step cannot have both `run` and `uses`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: nothing\n",
            &[(6, 9, "a step needs `run` or `uses`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: a\n        with: {b: c}\n",
            &[(7, 9, "`with` can only be used in a step that `uses` an action")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n        shell: bash\n",
            &[(7, 9, "`shell` can only be used in a step that has `run`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout\n",
            &[(6, 15, "invalid action reference `actions/checkout`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: ''\n",
            &[(6, 14, "`run` must not be empty")],
        ),
    ]);
}

#[test]
fn step_ids_are_identifiers_unique_in_their_job() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: build\n        run: a\n      - id: Build\n        run: b\n",
            &[(8, 13, "step id `Build` is used more than once")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: 1st\n        run: a\n",
            &[(6, 13, "invalid step id `1st`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: __x\n        run: a\n",
            &[(6, 13, "reserved")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: build\n        run: a\n  b:\n    runs-on: x\n    steps:\n      - id: build\n        run: a\n",
            &[],
        ),
    ]);
}

#[test]
fn matrices_that_expand_to_nothing_or_too_much_are_errors() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix: {}\n    steps: [{run: a}]\n",
            &[(6, 15, "empty matrix")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        os: []\n    steps: [{run: a}]\n",
            &[(7, 9, "matrix axis `os` does not contain any values")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        os: [a]\n        exclude:\n          - os: a\n    steps: [{run: a}]\n",
            &[(7, 9, "empty matrix")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        a: [1, 2, 3, 4, 5, 6, 7]\n        b: [1, 2, 3, 4, 5, 6, 7]\n        c: [1, 2, 3, 4, 5, 6, 7]\n    steps: [{run: a}]\n",
            &[(7, 9, "the matrix produces 343 combinations; at most 256")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        os: [a, b]\n        exclude:\n          - oss: a\n    steps: [{run: a}]\n",
            &[(9, 13, "matrix exclude key `oss` does not match any key")],
        ),
        // Include-only, dynamic and expression-valued matrices are fine.
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        include: [{os: a}, {os: b}]\n    steps: [{run: a}]\n",
            &[],
        ),
        (
            "on: push\njobs:\n  setup:\n    runs-on: x\n    steps: [{run: a}]\n  a:\n    needs: setup\n    runs-on: x\n    strategy:\n      matrix: ${{ fromJSON(needs.setup.outputs.matrix) }}\n    steps: [{run: a}]\n",
            &[],
        ),
        (
            "on:\n  workflow_dispatch:\n    inputs:\n      os: {type: string}\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        os: ${{ fromJSON(inputs.os) }}\n        node: [18, 20]\n    steps: [{run: a}]\n",
            &[],
        ),
    ]);
}

#[test]
fn matrices_keep_their_values_and_dynamic_ones_their_expressions() {
    let workflow = load_ok(
        "on: push\njobs:\n  a:\n    runs-on: ${{ matrix.os }}\n    strategy:\n      matrix:\n        os: [ubuntu-latest, macos-latest]\n        node: [18, 20]\n        include:\n          - os: ubuntu-latest\n            experimental: true\n    steps: [{run: a}]\n  b:\n    needs: a\n    runs-on: x\n    strategy:\n      matrix:\n        include: ${{ fromJSON(needs.a.outputs.list) }}\n    steps: [{run: a}]\n",
    );
    let Some(Matrix::Static(spec)) = workflow.jobs[0].matrix() else {
        panic!("a static matrix")
    };
    assert_eq!(spec.value.axes.len(), 2);
    assert_eq!(
        spec.value.axes[1].1,
        vec![Value::Number(18.0), Value::Number(20.0)]
    );
    assert_eq!(spec.value.include.len(), 1);
    assert_eq!(
        crate::workflow::matrix::expand(&spec.value).unwrap().len(),
        4
    );
    let Some(Matrix::Dynamic { expressions, .. }) = workflow.jobs[1].matrix() else {
        panic!("a dynamic matrix")
    };
    assert_eq!(expressions.len(), 1);
    assert_eq!(expressions[0].text, "${{ fromJSON(needs.a.outputs.list) }}");
}

#[test]
fn expression_syntax_errors_point_into_the_string() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.ref == }}\n",
            &[(6, 36, "")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.ref\n",
            &[(6, 19, "`${{` is not closed by `}}`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    if: github.ref == 'x' &&\n    steps: [{run: a}]\n",
            &[(5, 29, "unexpected end of expression")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ }}\n",
            &[(6, 19, "expected an expression")],
        ),
    ]);
}

#[test]
fn unknown_functions_are_errors_with_a_hint() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ frobnicate(1) }}\n",
            &[(6, 23, "unrecognized function `frobnicate`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    if: startWith(github.ref, 'refs/tags/')\n    steps: [{run: a}]\n",
            &[(5, 9, "unrecognized function `startWith`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ contains('a') }}\n",
            &[(6, 23, "`contains` takes 2 arguments, got 1")],
        ),
    ]);
    let help = help_of(
        "on: push\njobs:\n  a:\n    runs-on: x\n    if: startWith(github.ref, 'refs/tags/')\n    steps: [{run: a}]\n",
        "startWith",
    );
    assert_eq!(help.as_deref(), Some("did you mean `startsWith`?"));
}

/// GitHub's context availability table, a row per workflow key: a workflow with the
/// expression at that key, and whether it must be accepted.
#[test]
fn contexts_are_available_where_githubs_table_says() {
    let job = |key: &str, value: &str| {
        format!(
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        os: [x]\n    {key}: {value}\n    steps: [{{run: a}}]\n"
        )
    };
    let step = |key: &str, value: &str| {
        format!(
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        os: [x]\n    steps:\n      - run: a\n        {key}: {value}\n"
        )
    };
    let bare_job = |key: &str, value: &str| {
        format!(
            "on: push\njobs:\n  a:\n    runs-on: x\n    {key}: {value}\n    steps: [{{run: a}}]\n"
        )
    };
    let top = |key: &str, value: &str| format!("on: push\n{key}: {value}\njobs: {{}}\n");
    #[rustfmt::skip]
    let rows: Vec<(String, bool)> = vec![
        (top("run-name", "${{ github.actor }} ${{ inputs.x }} ${{ vars.y }}"), true),
        (top("run-name", "${{ env.X }}"), false),
        (top("run-name", "${{ secrets.X }}"), false),
        (top("concurrency", "${{ github.ref }}-${{ inputs.x }}-${{ vars.y }}"), true),
        (top("concurrency", "${{ env.X }}"), false),
        (top("env", "{A: '${{ secrets.X }}${{ github.ref }}${{ vars.y }}${{ inputs.z }}'}"), true),
        (top("env", "{A: '${{ env.B }}'}"), false),
        (top("env", "{A: '${{ matrix.os }}'}"), false),
        (top("name", "${{ github.ref }}"), false),
        (job("if", "github.ref == 'x' && needs.b.result && vars.x && inputs.y && always()"), true),
        (job("if", "success('b', 'c') || failure('b')"), true),
        (job("if", "steps.x.outputs.y"), false),
        (job("if", "matrix.os"), false),
        (job("if", "env.X"), false),
        (job("if", "runner.os"), false),
        (job("if", "secrets.X"), false),
        (job("if", "job.status"), false),
        (job("if", "strategy.fail-fast"), false),
        (job("name", "${{ matrix.os }} ${{ strategy.job-index }} ${{ needs.x.outputs.y }}"), true),
        (job("name", "${{ runner.os }}"), false),
        (bare_job("name", "${{ matrix.os }}"), false),
        (job("name", "${{ secrets.X }}"), false),
        (job("timeout-minutes", "${{ matrix.os }}"), true),
        (job("timeout-minutes", "${{ env.T }}"), false),
        (job("continue-on-error", "${{ matrix.os == 'x' }}"), true),
        (job("continue-on-error", "${{ steps.a.outcome }}"), false),
        (job("env", "{A: '${{ secrets.X }}${{ matrix.os }}${{ needs.b.outputs.c }}'}"), true),
        (job("env", "{A: '${{ env.B }}'}"), false),
        (job("env", "${{ matrix.os }}"), true),
        (job("env", "${{ runner.os }}"), false),
        (job("env", "{A: '${{ runner.os }}'}"), false),
        (job("environment", "${{ matrix.os }}"), true),
        (job("environment", "{name: x, url: '${{ steps.a.outputs.url }}${{ job.status }}${{ runner.os }}${{ env.U }}'}"), true),
        (job("environment", "{name: x, url: '${{ secrets.X }}'}"), false),
        (job("environment", "${{ secrets.X }}"), false),
        (job("concurrency", "${{ matrix.os }}-${{ needs.a.result }}"), true),
        (job("concurrency", "${{ secrets.X }}"), false),
        (job("outputs", "{o: '${{ steps.a.outputs.b }}${{ secrets.X }}${{ env.E }}${{ job.status }}'}"), true),
        (job("defaults", "{run: {shell: '${{ matrix.os }}', working-directory: '${{ env.D }}'}}"), true),
        (job("defaults", "{run: {shell: '${{ secrets.X }}'}}"), false),
        (job("container", "${{ matrix.os }}"), true),
        (job("container", "${{ env.IMAGE }}"), false),
        (job("container", "{image: x, credentials: {username: '${{ env.U }}', password: '${{ secrets.P }}'}}"), true),
        (job("container", "{image: x, env: {A: '${{ runner.os }}${{ job.status }}${{ secrets.S }}'}}"), true),
        (job("container", "{image: x, env: {A: '${{ steps.a.outputs.b }}'}}"), false),
        (job("container", "{image: '${{ secrets.X }}'}"), false),
        (job("services", "{db: {image: '${{ matrix.os }}', credentials: {password: '${{ secrets.P }}'}}}"), true),
        (job("services", "{db: '${{ secrets.X }}'}"), false),
        (bare_job("strategy", "{fail-fast: '${{ inputs.ff }}', max-parallel: '${{ vars.N }}'}"), true),
        (bare_job("strategy", "{fail-fast: '${{ matrix.os }}'}"), false),
        (bare_job("strategy", "{matrix: {os: ['${{ needs.a.outputs.b }}']}}"), true),
        (bare_job("strategy", "{matrix: {os: ['${{ env.X }}']}}"), false),
        (step("if", "steps.a.outputs.b && env.X && job.status && runner.os && matrix.os && failure() && hashFiles('x')"), true),
        (step("if", "secrets.X"), false),
        (step("if", "jobs.a.outputs.b"), false),
        (step("name", "${{ secrets.X }} ${{ steps.a.outputs.b }}"), true),
        (step("env", "{A: '${{ secrets.X }}${{ steps.a.outputs.b }}${{ runner.temp }}'}"), true),
        (step("env", "{A: '${{ jobs.x }}'}"), false),
        (step("working-directory", "${{ runner.temp }}/${{ matrix.os }}"), true),
        (step("timeout-minutes", "${{ fromJSON(env.T) }}"), true),
        (step("continue-on-error", "${{ steps.a.outcome == 'failure' }}"), true),
        (step("shell", "${{ matrix.shell }}"), false),
        (step("id", "${{ matrix.os }}"), false),
        (step("name", "${{ success() }}"), false),
    ];
    let mut failures = Vec::new();
    for (source, accepted) in &rows {
        let errors = diagnostics(source, Severity::Error);
        let refused = errors
            .iter()
            .any(|(_, _, m)| m.contains("not available") || m.contains("not allowed"));
        let fine = if *accepted {
            errors.is_empty()
        } else {
            refused && errors.len() == 1
        };
        if !fine {
            failures.push(format!(
                "expected {}:\n{source}\n{}",
                if *accepted { "no error" } else { "an error" },
                rendered(source)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn unavailable_contexts_are_reported_at_the_exact_column() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    if: github.ref == 'x' && steps.s.outputs.ok\n    steps: [{run: a}]\n",
            &[(5, 30, "the `steps` context is not available in `jobs.<job_id>.if`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    if: ${{ steps.s.outputs.ok }}\n    steps: [{run: a}]\n",
            &[(5, 13, "the `steps` context is not available")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: ${{ matrix.os }}\n    steps: [{run: a}]\n",
            &[(4, 18, "the `matrix` context is not available in `jobs.<job_id>.runs-on`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    env:\n      A: \"x\\ty ${{ runner.os }}\"\n    steps: [{run: a}]\n",
            &[(6, 20, "the `runner` context is not available in `jobs.<job_id>.env`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ githb.ref }}\n",
            &[(6, 23, "unrecognized named-value `githb`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    env:\n      KEY: ${{ hashFiles('x') }}\n    steps: [{run: a}]\n",
            &[(6, 16, "`hashFiles` is not available in `jobs.<job_id>.env`")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@${{ github.sha }}\n",
            &[(6, 32, "expressions are not allowed in `uses`")],
        ),
    ]);
    assert_eq!(
        help_of(
            "on: push\njobs:\n  a:\n    runs-on: ${{ matrix.os }}\n    steps: [{run: a}]\n",
            "matrix"
        )
        .as_deref(),
        Some("the `matrix` context is only available in a job with a `strategy.matrix`")
    );
    assert_eq!(
        help_of(
            "on: push\njobs:\n  a:\n    runs-on: x\n    if: steps.s.outputs.ok\n    steps: [{run: a}]\n",
            "steps"
        )
        .as_deref(),
        Some("available there: github, needs, vars, inputs")
    );
}

#[test]
fn expression_positions_inside_block_scalars_are_exact_per_line() {
    check_errors(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: |\n          echo one\n          echo ${{ secrets.X }} ${{ jobs.b }}\n",
            &[(8, 37, "the `jobs` context is not available")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: >-\n          echo one\n          two ${{ jobs.b }}\n",
            &[(8, 19, "the `jobs` context is not available")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    if: >\n      github.ref == 'x' &&\n      steps.a.outputs.b\n    steps: [{run: a}]\n",
            &[(7, 7, "the `steps` context is not available")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: 'it''s ${{ jobs.b }}'\n",
            &[(6, 25, "the `jobs` context is not available")],
        ),
    ]);
}

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let source = "on: pushh\nname: x\njobs:\n  build:\n    runs_on: ubuntu-latest\n    steps:\n      - run: a\n        uses: actions/checkout@v4\n  test:\n    needs: [build, lint]\n    runs-on: x\n    timeout-minutes: soon\n    if: steps.a.outputs.b\n    steps:\n      - run: echo ${{ frobnicate() }}\n  bad id:\n    runs-on: x\n    steps: [{run: a}]\n";
    check_errors(&[(
        source,
        &[
            (1, 5, "unknown event `pushh`"),
            (4, 3, "job `build` has no `runs-on`"),
            (5, 5, "unknown key `runs_on`"),
            (8, 9, "both `run` and `uses`"),
            (10, 20, "needs `lint`"),
            (12, 22, "must be a number"),
            (13, 9, "the `steps` context is not available"),
            (15, 23, "unrecognized function `frobnicate`"),
            (16, 3, "invalid job id `bad id`"),
        ],
    )]);
    assert!(load("test.yml", source).0.is_none());
}

#[test]
fn events_and_their_filters_are_checked() {
    check_errors(&[
        (
            "on: [push, pul_request]\njobs: {}\n",
            &[(1, 12, "unknown event `pul_request`")],
        ),
        (
            "on:\n  push:\n    branches: [main]\n    branches-ignore: [dev]\njobs: {}\n",
            &[(4, 5, "`branches` and `branches-ignore` cannot both be used for `push`")],
        ),
        (
            "on:\n  pull_request:\n    types: [opened, merged]\njobs: {}\n",
            &[(3, 21, "unknown activity type `merged` for `pull_request`")],
        ),
        (
            "on:\n  pull_request:\n    tags: [v1]\njobs: {}\n",
            &[(3, 5, "unknown key `tags` in `on.pull_request`")],
        ),
        (
            "on:\n  schedule:\n    - cron: '0 0 * *'\njobs: {}\n",
            &[(3, 13, "invalid cron `0 0 * *`: expected 5 fields, found 4")],
        ),
        (
            "on:\n  workflow_call:\n    inputs:\n      x:\n        required: true\njobs: {}\n",
            &[(4, 7, "input `x` of `workflow_call` needs a `type`")],
        ),
        (
            "on:\n  workflow_call:\n    inputs:\n      x:\n        type: choice\njobs: {}\n",
            &[(5, 15, "must be one of `string`, `boolean`, `number`")],
        ),
        (
            "on:\n  push:\n    branches: ['${{ github.ref }}']\njobs: {}\n",
            &[(3, 17, "expressions are not allowed")],
        ),
        (
            "on:\n  workflow_call:\n    outputs:\n      o:\n        value: ${{ jobs.a.outputs.b }}\n      p:\n        value: ${{ needs.a.outputs.b }}\njobs: {}\n",
            &[(7, 20, "the `needs` context is not available")],
        ),
        ("jobs: {}\n", &[(1, 1, "the workflow has no `on`")]),
        ("on: push\n", &[(1, 1, "the workflow has no `jobs`")]),
        ("", &[(1, 1, "the workflow is empty")]),
        ("- on\n", &[(1, 1, "the workflow must be a mapping")]),
    ]);
}

#[test]
fn triggers_keep_their_filters_inputs_and_schedules() {
    let workflow = load_ok(
        "on:\n  push:\n    branches: [main, 'releases/**']\n    tags: v*\n    paths-ignore: ['docs/**']\n  pull_request:\n    types: [opened, synchronize]\n  schedule:\n    - cron: '30 5 * * 1-5'\n      timezone: Europe/Paris\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n        options: [info, debug]\n        default: info\n      dry:\n        type: boolean\n        required: true\n  workflow_call:\n    inputs:\n      who: {type: string, default: '${{ github.actor }}'}\n    secrets:\n      token:\n      other: {required: true}\n    outputs:\n      out: {value: '${{ jobs.a.outputs.x }}'}\n  release:\njobs: {}\n",
    );
    let events: Vec<&str> = workflow.on.iter().map(|t| t.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "push",
            "pull_request",
            "schedule",
            "workflow_dispatch",
            "workflow_call",
            "release"
        ]
    );
    let push = workflow.trigger("push").unwrap();
    let names = |list: &Option<Vec<Spanned<String>>>| {
        list.as_ref()
            .map(|l| l.iter().map(|s| s.value.clone()).collect::<Vec<_>>())
    };
    assert_eq!(
        names(&push.filters.branches).unwrap(),
        ["main", "releases/**"]
    );
    assert_eq!(names(&push.filters.tags).unwrap(), ["v*"]);
    assert_eq!(names(&push.filters.paths_ignore).unwrap(), ["docs/**"]);
    assert_eq!(push.filters.paths, None);
    let pr = workflow.trigger("pull_request").unwrap();
    assert_eq!(names(&pr.types).unwrap(), ["opened", "synchronize"]);
    let schedule = workflow.trigger("schedule").unwrap();
    assert_eq!(schedule.schedule[0].cron.value, "30 5 * * 1-5");
    assert_eq!(
        schedule.schedule[0].timezone.as_ref().unwrap().value,
        "Europe/Paris"
    );
    let dispatch = workflow.trigger("workflow_dispatch").unwrap();
    assert_eq!(dispatch.inputs.len(), 2);
    let InputType::Choice(options) = &dispatch.inputs[0].kind else {
        panic!("a choice")
    };
    assert_eq!(options.len(), 2);
    assert_eq!(
        dispatch.inputs[0]
            .default
            .as_ref()
            .and_then(MaybeExpr::literal),
        Some(&Value::String("info".into()))
    );
    assert!(dispatch.inputs[1].required);
    assert_eq!(dispatch.inputs[1].kind, InputType::Boolean);
    let call = workflow.trigger("workflow_call").unwrap();
    assert!(matches!(call.inputs[0].default, Some(MaybeExpr::Expr(_))));
    assert_eq!(call.secrets.len(), 2);
    assert!(!call.secrets[0].required);
    assert!(call.secrets[1].required);
    assert_eq!(call.outputs[0].name.value, "out");
}

#[test]
fn warnings_mark_what_sandpit_does_not_run_yet() {
    check_warnings(&[
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/cache@v4\n      - uses: actions/upload-artifact@v4\n      - uses: actions/download-artifact@main\n      - uses: ./.github/actions/local\n      - uses: $/.github/actions/mine\n",
            &[],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/setup-node@v4\n      - uses: docker://alpine:3.20\n",
            &[
                (6, 15, "`actions/setup-node@v4` is a remote action"),
                (7, 15, "docker actions are not supported"),
            ],
        ),
        (
            "on: push\njobs:\n  a:\n    uses: octo/repo/.github/workflows/ci.yml@v1\n    secrets: inherit\n",
            &[(4, 11, "reusable workflows are not run by sandpit yet")],
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    services:\n      db: postgres:16\n    steps: [{run: a}]\n",
            &[(5, 5, "service containers are not supported")],
        ),
    ]);
    // Warnings alone leave the model in place.
    let (workflow, diagnostics) = load(
        "test.yml",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/setup-node@v4\n",
    );
    assert!(workflow.is_some());
    assert_eq!(diagnostics.len(), 1);
}

#[test]
fn hash_files_in_steps_loads_without_any_diagnostic() {
    let source = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/cache@v4\n        with:\n          key: ${{ hashFiles('**/Cargo.lock') }}\n      - if: hashFiles('x') != ''\n        name: n-${{ hashFiles('a', '!b') }}\n        env:\n          K: ${{ hashFiles('**/*.lock') }}\n        run: echo ${{ hashFiles('y') }}\n";
    let (workflow, diagnostics) = load("test.yml", source);
    assert!(workflow.is_some());
    assert!(diagnostics.is_empty(), "{}", rendered(source));
}

#[test]
fn the_remote_action_warning_names_the_builtins() {
    let help = help_of(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: octo/act@v1\n",
        "remote action",
    )
    .unwrap();
    assert!(help.contains("actions/checkout, actions/cache"), "{help}");
}

#[test]
fn action_references_are_classified() {
    let cases: &[(&str, Option<ActionRef>)] = &[
        (
            "actions/checkout@v4",
            Some(ActionRef::Remote {
                owner: "actions".into(),
                repo: "checkout".into(),
                path: String::new(),
                git_ref: "v4".into(),
            }),
        ),
        (
            "github/codeql-action/init@v3",
            Some(ActionRef::Remote {
                owner: "github".into(),
                repo: "codeql-action".into(),
                path: "init".into(),
                git_ref: "v3".into(),
            }),
        ),
        (
            "./.github/actions/x",
            Some(ActionRef::Local("./.github/actions/x".into())),
        ),
        ("$/actions/x", Some(ActionRef::SelfRepo("actions/x".into()))),
        ("$/actions/x@v1", None),
        ("docker://alpine", Some(ActionRef::Docker("alpine".into()))),
        ("actions/checkout", None),
        ("actions@v1", None),
        ("/checkout@v1", None),
    ];
    for (text, expected) in cases {
        assert_eq!(&ActionRef::parse(text), expected, "{text}");
        if let Some(action) = expected {
            assert_eq!(action.to_string(), *text);
        }
    }
    assert!(ActionRef::parse("actions/checkout@v4").unwrap().runs_here());
    assert!(ActionRef::parse("Actions/Cache@v4").unwrap().runs_here());
    assert!(!ActionRef::parse("actions/checkout/sub@v4")
        .unwrap()
        .runs_here());
    assert!(!ActionRef::parse("actions/setup-go@v5").unwrap().runs_here());
}

/// A workflow in the shapes real projects use, with every kind of key.
const LARGE: &str = r#"name: CI
run-name: CI for ${{ github.ref_name }} by @${{ github.actor }}
on:
  push:
    branches: [main, 'release/**']
    tags: ['v*']
  pull_request:
    types: [opened, synchronize, reopened]
    paths-ignore: ['**.md']
  workflow_dispatch:
    inputs:
      debug:
        description: Enable debug logging
        type: boolean
        default: false
permissions:
  contents: read
  id-token: write
concurrency:
  group: ${{ github.workflow }}-${{ github.ref }}
  cancel-in-progress: ${{ github.event_name == 'pull_request' }}
env:
  CARGO_TERM_COLOR: always
  RUST_BACKTRACE: 1
defaults:
  run:
    shell: bash
jobs:
  lint:
    name: Lint
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - uses: actions/checkout@v4
      - name: Format
        run: cargo fmt --check
  test:
    name: Test ${{ matrix.os }} / ${{ matrix.rust }}
    needs: lint
    runs-on: ${{ matrix.os }}
    continue-on-error: ${{ matrix.rust == 'nightly' }}
    strategy:
      fail-fast: false
      max-parallel: 4
      matrix:
        os: [ubuntu-latest, macos-latest, windows-latest]
        rust: [stable, nightly]
        exclude:
          - os: windows-latest
            rust: nightly
        include:
          - os: ubuntu-latest
            rust: stable
            coverage: true
    env:
      RUSTFLAGS: -D warnings
    outputs:
      version: ${{ steps.meta.outputs.version }}
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/cache@v4
        with:
          path: target
          key: ${{ runner.os }}-${{ matrix.rust }}-${{ github.sha }}
      - id: meta
        name: Read version
        run: |
          version=$(cargo metadata --format-version 1 | jq -r '.packages[0].version')
          echo "version=$version" >> "$GITHUB_OUTPUT"
      - name: Test
        if: ${{ !cancelled() }}
        run: cargo test --all-features
        working-directory: crates/core
        timeout-minutes: 30
        env:
          COVERAGE: ${{ matrix.coverage && 'yes' || 'no' }}
      - name: Upload
        if: failure() && steps.meta.outcome == 'success'
        uses: actions/upload-artifact@v4
        continue-on-error: true
        with:
          name: logs-${{ matrix.os }}
          path: target/debug/*.log
  container:
    needs: [lint]
    runs-on: [self-hosted, linux, x64]
    container:
      image: rust:1.80
      credentials:
        username: ${{ github.actor }}
        password: ${{ secrets.GITHUB_TOKEN }}
      env:
        CI: true
      ports: [8080]
      volumes: ['/tmp:/tmp']
      options: --cpus 2
    defaults:
      run:
        working-directory: app
    steps:
      - run: cargo build
        shell: sh
  deploy:
    if: startsWith(github.ref, 'refs/tags/v') && needs.test.result == 'success'
    needs: [test, container]
    runs-on:
      group: deployers
      labels: [linux]
    environment:
      name: production
      url: ${{ steps.deploy.outputs.url }}
    concurrency: deploy-${{ github.ref }}
    permissions:
      contents: write
      deployments: write
    steps:
      - id: deploy
        run: ./deploy.sh "${{ needs.test.outputs.version }}"
        env:
          TOKEN: ${{ secrets.DEPLOY_TOKEN }}
"#;

#[test]
fn a_large_valid_workflow_loads_without_diagnostics_into_the_expected_model() {
    let (workflow, diagnostics) = load(".github/workflows/ci.yml", LARGE);
    assert!(diagnostics.is_empty(), "{}", rendered(LARGE));
    let workflow = workflow.expect("valid");
    assert_eq!(workflow.path, ".github/workflows/ci.yml");
    assert_eq!(workflow.name.as_ref().unwrap().value, "CI");
    assert!(!workflow.run_name.as_ref().unwrap().is_literal());
    assert_eq!(workflow.on.len(), 3);
    assert_eq!(workflow.env.vars.len(), 2);
    assert_eq!(
        workflow
            .defaults
            .as_ref()
            .unwrap()
            .shell
            .as_ref()
            .unwrap()
            .text,
        "bash"
    );
    let Some(Spanned {
        value: Permissions::Scopes(scopes),
        ..
    }) = &workflow.permissions
    else {
        panic!("scopes")
    };
    assert_eq!(scopes[1].0.value, "id-token");
    assert_eq!(scopes[1].1.value, Access::Write);
    let concurrency = workflow.concurrency.as_ref().unwrap();
    assert!(matches!(
        concurrency.cancel_in_progress,
        Some(MaybeExpr::Expr(_))
    ));

    let ids: Vec<&str> = workflow.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["lint", "test", "container", "deploy"]);

    let lint = workflow.job("lint").unwrap();
    let JobKind::Steps(lint_job) = &lint.kind else {
        panic!("steps")
    };
    assert_eq!(
        lint_job.timeout_minutes.as_ref().unwrap().literal(),
        Some(&10.0)
    );
    assert_eq!(lint.steps().len(), 2);
    assert_eq!(lint.steps()[1].display_name(), "Format");

    let test = workflow.job("test").unwrap();
    assert_eq!(test.needs[0].value, "lint");
    let JobKind::Steps(test_job) = &test.kind else {
        panic!("steps")
    };
    assert!(matches!(test_job.runs_on, RunsOn::Expr(_)));
    assert!(matches!(
        test_job.continue_on_error,
        Some(MaybeExpr::Expr(_))
    ));
    let strategy = test.strategy.as_ref().unwrap();
    assert_eq!(strategy.fail_fast.as_ref().unwrap().literal(), Some(&false));
    assert_eq!(
        strategy.max_parallel.as_ref().unwrap().literal(),
        Some(&4.0)
    );
    let Some(Matrix::Static(spec)) = &strategy.matrix else {
        panic!("static")
    };
    assert_eq!(
        crate::workflow::matrix::expand(&spec.value).unwrap().len(),
        5
    );
    assert_eq!(test_job.outputs[0].0.value, "version");
    let steps = test.steps();
    assert_eq!(steps.len(), 5);
    let StepAction::Uses { uses, with } = &steps[0].action else {
        panic!("uses")
    };
    assert!(uses.value.runs_here());
    assert_eq!(with[0].0.value, "fetch-depth");
    assert_eq!(with[0].1.text, "0");
    assert_eq!(steps[2].id.as_ref().unwrap().value, "meta");
    let StepAction::Run { run, .. } = &steps[2].action else {
        panic!("run")
    };
    assert!(run.text.starts_with("version=$(cargo metadata"));
    assert!(run.text.ends_with("\"$GITHUB_OUTPUT\"\n"));
    let condition = steps[3].condition.as_ref().unwrap();
    assert!(!condition.parsed.implicit_success());
    let StepAction::Run {
        working_directory, ..
    } = &steps[3].action
    else {
        panic!("run")
    };
    assert_eq!(working_directory.as_ref().unwrap().text, "crates/core");
    assert_eq!(
        steps[3].timeout_minutes.as_ref().unwrap().literal(),
        Some(&30.0)
    );
    let upload_if = steps[4].condition.as_ref().unwrap();
    assert!(!upload_if.parsed.implicit_success());
    assert_eq!(
        steps[4].continue_on_error.as_ref().unwrap().literal(),
        Some(&true)
    );

    let container = workflow.job("container").unwrap();
    let JobKind::Steps(container_job) = &container.kind else {
        panic!("steps")
    };
    let RunsOn::Labels(labels) = &container_job.runs_on else {
        panic!("labels")
    };
    assert_eq!(labels.len(), 3);
    let image = container_job.container.as_ref().unwrap();
    assert_eq!(image.image.as_ref().unwrap().text, "rust:1.80");
    assert_eq!(image.ports[0].text, "8080");
    assert_eq!(image.env.get("CI").unwrap().text, "true");
    assert!(image.credentials.as_ref().unwrap().password.is_some());
    let StepAction::Run { shell, .. } = &container.steps()[0].action else {
        panic!("run")
    };
    assert_eq!(shell.as_ref().unwrap().value, "sh");

    let deploy = workflow.job("deploy").unwrap();
    assert!(deploy.condition.as_ref().unwrap().parsed.implicit_success());
    let JobKind::Steps(deploy_job) = &deploy.kind else {
        panic!("steps")
    };
    let RunsOn::Group { group, labels } = &deploy_job.runs_on else {
        panic!("group")
    };
    assert_eq!(group.as_ref().unwrap().text, "deployers");
    assert_eq!(labels[0].text, "linux");
    let environment = deploy_job.environment.as_ref().unwrap();
    assert_eq!(environment.name.text, "production");
    assert!(environment.url.is_some());
    assert!(deploy.concurrency.is_some());
}

#[test]
fn reusable_workflow_calls_keep_uses_with_and_secrets() {
    let (workflow, diagnostics) = load(
        "test.yml",
        "on: push\njobs:\n  test:\n    runs-on: x\n    outputs: {version: '1'}\n    steps: [{run: a}]\n  notes:\n    needs: test\n    uses: ./.github/workflows/notes.yml\n    with:\n      version: ${{ needs.test.outputs.version }}\n      draft: false\n      count: 3\n    secrets: inherit\n  publish:\n    uses: octo/pipelines/.github/workflows/publish.yml@v2\n    secrets:\n      token: ${{ secrets.NPM_TOKEN }}\n",
    );
    let warnings: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        warnings,
        [
            "reusable workflows are not run by sandpit yet",
            "reusable workflows are not run by sandpit yet"
        ]
    );
    let workflow = workflow.expect("valid");
    let JobKind::Call(notes) = &workflow.job("notes").unwrap().kind else {
        panic!("a call")
    };
    assert_eq!(notes.uses.value, "./.github/workflows/notes.yml");
    assert!(matches!(notes.with[0].1, MaybeExpr::Expr(_)));
    assert_eq!(notes.with[1].1.literal(), Some(&Value::Bool(false)));
    assert_eq!(notes.with[2].1.literal(), Some(&Value::Number(3.0)));
    assert!(matches!(notes.secrets, Some(CallSecrets::Inherit(_))));
    assert!(workflow.job("notes").unwrap().steps().is_empty());
    let JobKind::Call(publish) = &workflow.job("publish").unwrap().kind else {
        panic!("a call")
    };
    let Some(CallSecrets::Map(secrets)) = &publish.secrets else {
        panic!("a map")
    };
    assert_eq!(secrets[0].0.value, "token");
}

#[test]
fn the_on_key_is_a_string_and_yaml_anchors_work() {
    let workflow = load_ok(
        "on: push\njobs:\n  a:\n    runs-on: x\n    env: &env\n      A: 1\n    steps: [{run: a}]\n  b:\n    runs-on: x\n    env: *env\n    steps: [{run: a}]\n",
    );
    assert_eq!(workflow.on[0].event.value, "push");
    let JobKind::Steps(b) = &workflow.jobs[1].kind else {
        panic!("steps")
    };
    assert_eq!(b.env.vars[0].value.text, "1");
}

#[test]
fn template_positions_map_back_into_the_file() {
    let source = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: |\n          echo a\n            echo ${{ github.sha }}\n";
    let workflow = load_ok(source);
    let StepAction::Run { run, .. } = &workflow.jobs[0].steps()[0].action else {
        panic!("run")
    };
    let at = run.text.find("github").unwrap();
    let pos = run.position(at);
    assert_eq!((pos.line, pos.col), (8, 22));
    assert_eq!(&source[pos.offset..pos.offset + 6], "github");
    let expr = run.parsed.expressions().next().unwrap();
    let span = run.locate(expr.span.clone());
    assert_eq!(&source[span.range()], "github.sha");
}

/// The fixture corpus (`tests/fixtures/workflows/corpus`, when present): every workflow
/// `EXPECTED.tsv` marks valid loads without error, and its jobs expand to the instance count
/// worked out by hand (a dynamic matrix counts as one).
#[test]
fn every_corpus_workflow_loads_as_expected() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows/corpus");
    let Ok(expected) = std::fs::read_to_string(dir.join("EXPECTED.tsv")) else {
        return; // no corpus in this checkout
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in expected.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (name, valid, jobs) = (fields[0], fields[1] == "yes", fields[2]);
        let source = std::fs::read_to_string(dir.join(name)).unwrap();
        let (workflow, diagnostics) = load(name, &source);
        let errors: Vec<String> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| render(name, &source, d, false))
            .collect();
        if valid != errors.is_empty() {
            failures.push(format!(
                "{name}: expected valid={valid}\n{}",
                errors.join("\n")
            ));
        }
        if let (Some(workflow), Ok(jobs)) = (workflow, jobs.parse::<usize>()) {
            let instances: usize = workflow
                .jobs
                .iter()
                .map(|job| match job.matrix() {
                    Some(Matrix::Static(spec)) => {
                        crate::workflow::matrix::expand(&spec.value).map_or(0, |c| c.len())
                    }
                    _ => 1,
                })
                .sum();
            if instances != jobs {
                failures.push(format!(
                    "{name}: {instances} job instances, expected {jobs}"
                ));
            }
        }
        checked += 1;
    }
    // Files the table does not list must load too.
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yml")
            && !expected
                .lines()
                .any(|l| l.starts_with(&format!("{name}\t")))
        {
            let source = std::fs::read_to_string(entry.path()).unwrap();
            if load(&name, &source).0.is_none() {
                failures.push(format!("{name} (not in EXPECTED.tsv) does not load"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked >= 30, "only {checked} corpus workflows");
}

/// Shapes seen in real projects' workflows (written for this test) that must load with no
/// error.
#[test]
fn common_real_world_shapes_load_without_errors() {
    let sources: &[&str] = &[
        r#"name: Python package
on: { push: { branches: [main] }, pull_request: { branches: [ main ] } }
jobs:
  build:
    runs-on: ${{ matrix.os }}
    if: "!contains(github.event.head_commit.message, '[skip ci]')"
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, windows-latest]
        python-version: ["3.9", "3.10", 3.11, 3.12]
        include:
          - os: ubuntu-latest
            python-version: "3.13"
            experimental: true
    continue-on-error: ${{ matrix.experimental || false }}
    defaults:
      run:
        shell: bash -el {0}
    steps:
      - uses: actions/checkout@v4
        with: { submodules: recursive, token: "${{ secrets.PAT }}" }
      - name: Set up Python ${{ matrix.python-version }}
        uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
          cache: pip
      - id: cache
        uses: actions/cache@v4
        with:
          path: ~/.cache/pip
          key: ${{ runner.os }}-pip-${{ hashFiles('**/requirements*.txt') }}
          restore-keys: |
            ${{ runner.os }}-pip-
      - if: steps.cache.outputs.cache-hit != 'true'
        run: python -m pip install -r requirements.txt
      - run: pytest -q
        env:
          FORCE_COLOR: 1
          PYTHONHASHSEED: 0
"#,
        r#"on:
  pull_request_target:
    types: [opened, labeled]
  issue_comment:
    types: [created]
  merge_group:
  workflow_run:
    workflows: ["CI"]
    types: [completed]
    branches: [main]
  repository_dispatch:
    types: [deploy-docs]
  release:
    types: published
  schedule:
    - cron: "0 3 * * 1"
  workflow_dispatch: {}
permissions: write-all
concurrency:
  group: ${{ github.workflow }}-${{ github.event.pull_request.number || github.sha }}
  cancel-in-progress: true
jobs:
  triage:
    if: >-
      github.event_name == 'issue_comment' &&
      startsWith(github.event.comment.body, '/retest') &&
      github.event.issue.pull_request
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - uses: actions/github-script@v7
        with:
          script: |
            await github.rest.issues.addLabels({ ...context.repo, issue_number: context.issue.number, labels: ['retest'] })
  db:
    runs-on: ubuntu-22.04
    services:
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: postgres
        ports:
          - 5432:5432
        options: >-
          --health-cmd pg_isready
          --health-interval 10s
    steps:
      - run: psql -h localhost -p ${{ job.services.postgres.ports[5432] }} -c 'select 1'
        env:
          PGPASSWORD: postgres
  release:
    needs: [triage, db]
    if: always() && needs.db.result == 'success' && github.event_name == 'release'
    runs-on: [self-hosted, "${{ vars.ARCH }}"]
    environment:
      name: pypi
      url: https://pypi.org/p/example
    permissions:
      id-token: write
      contents: read
    steps:
      - uses: actions/download-artifact@v4
        with: { name: dist, path: dist/ }
      - uses: pypa/gh-action-pypi-publish@release/v1
"#,
        r#"name: Matrix from a job
run-name: Deploy ${{ inputs.target || 'staging' }} by @${{ github.actor }}
on:
  workflow_dispatch:
    inputs:
      target:
        description: Where to deploy
        required: true
        default: staging
        type: environment
      dry-run:
        type: boolean
      count:
        type: number
        default: 3
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      matrix: ${{ steps.set.outputs.matrix }}
      any: ${{ steps.set.outputs.any }}
    steps:
      - id: set
        run: |
          echo 'matrix={"include":[{"svc":"api"},{"svc":"web"}]}' >> "$GITHUB_OUTPUT"
          echo "any=true" >> "$GITHUB_OUTPUT"
  deploy:
    needs: plan
    if: needs.plan.outputs.any == 'true'
    name: deploy ${{ matrix.svc }}
    runs-on: ubuntu-latest
    environment: ${{ inputs.target }}
    timeout-minutes: ${{ fromJSON(inputs.count) }}
    strategy:
      matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
      max-parallel: 2
    container:
      image: ghcr.io/example/deployer:latest
      credentials:
        username: ${{ github.actor }}
        password: ${{ secrets.GITHUB_TOKEN }}
    steps:
      - uses: actions/checkout@v4
      - run: ./deploy.sh ${{ matrix.svc }} ${{ inputs.dry-run && '--dry-run' || '' }}
        working-directory: ./services/${{ matrix.svc }}
  notify:
    needs: [plan, deploy]
    if: ${{ always() && contains(needs.*.result, 'failure') }}
    uses: example/shared/.github/workflows/notify.yml@v2
    with:
      status: ${{ needs.deploy.result }}
      retries: 3
    secrets:
      webhook: ${{ secrets.SLACK_WEBHOOK }}
"#,
    ];
    for source in sources {
        load_ok(source);
    }
}
