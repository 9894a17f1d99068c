//! The syntax tree of an expression. Every node keeps the byte span it was parsed from.

use super::error::Span;
use super::value::Value;

/// A parsed expression (or a part of one).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it is in the source text (a parenthesised node's span includes the parentheses).
    pub span: Span,
}

/// The kinds of expression nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `null`, `true`, `711`, `0xff`, `'It''s'`.
    Literal(Value),
    /// A context by name, as written (`github`, `GitHub`).
    Context(String),
    /// `target.name`.
    Property {
        /// What is dereferenced.
        target: Box<Expr>,
        /// The property name as written.
        name: String,
        /// Where the name is.
        name_span: Span,
    },
    /// `target[index]`.
    Index {
        /// What is indexed.
        target: Box<Expr>,
        /// The index expression.
        index: Box<Expr>,
    },
    /// `target.*` or `target[*]`: the object filter, which yields the values of an object or
    /// the items of an array, and maps any further property or index over them.
    Filter {
        /// What is filtered.
        target: Box<Expr>,
    },
    /// `!operand`.
    Not(Box<Expr>),
    /// A comparison of two operands.
    Compare {
        /// Which comparison.
        op: CompareOp,
        /// The left operand.
        left: Box<Expr>,
        /// The right operand.
        right: Box<Expr>,
    },
    /// `a && b && …` or `a || b || …`, with at least two operands in source order.
    Logical {
        /// Which operator.
        op: LogicalOp,
        /// The operands.
        operands: Vec<Expr>,
    },
    /// `name(args…)`.
    Call {
        /// The function name as written (names are case-insensitive).
        name: String,
        /// Where the name is.
        name_span: Span,
        /// The arguments in order.
        args: Vec<Expr>,
    },
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The logical operators, which return one of their operands (not a boolean).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicalOp {
    /// `&&`: the first falsy operand, else the last.
    And,
    /// `||`: the first truthy operand, else the last.
    Or,
}

impl Expr {
    /// The node's direct children in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Literal(_) | ExprKind::Context(_) => Vec::new(),
            ExprKind::Property { target, .. } | ExprKind::Filter { target } => vec![target],
            ExprKind::Index { target, index } => vec![target, index],
            ExprKind::Not(operand) => vec![operand],
            ExprKind::Compare { left, right, .. } => vec![left, right],
            ExprKind::Logical { operands, .. } => operands.iter().collect(),
            ExprKind::Call { args, .. } => args.iter().collect(),
        }
    }

    /// Every node of the tree, this one first, depth first in source order.
    pub fn nodes(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            out.push(node);
            stack.extend(node.children().into_iter().rev());
        }
        out
    }
}
