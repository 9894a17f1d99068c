//! GitHub Actions workflows as data: YAML with positions, compiler-style diagnostics, the
//! expression language (`${{ }}`), matrix expansion, event filter patterns and local actions'
//! metadata files.

pub mod action;
pub mod diagnostic;
pub mod expr;
pub mod filters;
pub mod load;
pub mod matrix;
pub mod model;
pub mod plan;
pub mod trigger;
pub mod yaml;
