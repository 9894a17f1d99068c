//! GitHub Actions workflows as data: the expression language (`${{ }}`), parsed with spans;
//! matrix expansion; event filter patterns.

pub mod expr;
pub mod filters;
pub mod matrix;
