//! GitHub Actions workflows as data: so far the expression language (`${{ }}`), parsed with spans.

pub mod expr;
