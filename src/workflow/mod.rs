//! GitHub Actions workflows as data: YAML with positions, compiler-style diagnostics, the
//! expression language (`${{ }}`), matrix expansion and event filter patterns.

pub mod diagnostic;
pub mod expr;
pub mod filters;
pub mod load;
pub mod matrix;
pub mod model;
pub mod plan;
pub mod trigger;
pub mod yaml;
