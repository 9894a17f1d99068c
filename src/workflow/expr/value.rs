//! Values of the expression language and GitHub's rules for converting and comparing them.
//!
//! The rules follow GitHub's runner (`actions/runner`, `Expressions2`): loose equality in the
//! manner of JavaScript's `==` except that strings compare ignoring case and arrays and objects
//! are never converted (they equal only themselves); numbers print with at most 15 significant
//! digits (.NET's `G15`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A value: what contexts hold and what expressions produce.
///
/// Arrays and objects sit behind [`Arc`] so that reading a context is cheap and so that identity
/// (the only equality GitHub gives them) can be told. Rust's `==` on `Value` compares structure
/// (for tests and callers); the language's `==` is [`Value::loose_eq`].
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null`, and what a missing property or context reads as.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// Every number is a double, as in GitHub.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Arc<Vec<Value>>),
    /// An object with keys that are looked up ignoring case.
    Object(Arc<Object>),
}

impl Value {
    /// An array value.
    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Arc::new(items))
    }

    /// An object value.
    pub fn object(object: Object) -> Value {
        Value::Object(Arc::new(object))
    }

    /// Parses JSON text, keeping the order of object keys (as `fromJSON` does).
    pub fn from_json(text: &str) -> Result<Value, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The value as GitHub's `toJSON` prints it: two-space indentation, numbers as the language
    /// prints them.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_json(&mut out, self, 0);
        out
    }

    /// The name of the value's type as messages use it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Null, booleans, numbers and strings are primitives; arrays and objects are not.
    pub fn is_primitive(&self) -> bool {
        !matches!(self, Value::Array(_) | Value::Object(_))
    }

    /// GitHub's truthiness: `false`, `0`, `-0`, `NaN`, `''` and `null` are falsy, all else
    /// (every array and object included) is truthy.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => !(*n == 0.0 || n.is_nan()),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// The value as a string, as `format`, `join` and template strings convert it: null is
    /// empty, numbers print as [`format_number`] does, arrays and objects become `Array` and
    /// `Object`.
    pub fn coerce_to_string(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => format_number(*n),
            Value::String(s) => s.clone(),
            Value::Array(_) => "Array".to_owned(),
            Value::Object(_) => "Object".to_owned(),
        }
    }

    /// The value as a number: null is 0, booleans 0 or 1, strings as [`parse_number`] reads
    /// them, arrays and objects NaN.
    pub fn coerce_to_number(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => *n,
            Value::String(s) => parse_number(s),
            Value::Array(_) | Value::Object(_) => f64::NAN,
        }
    }

    /// The language's `==`: values of different types are converted to numbers first
    /// (null and booleans always, strings when compared with a number); strings compare
    /// ignoring case; NaN equals nothing; arrays and objects equal only themselves.
    pub fn loose_eq(&self, other: &Value) -> bool {
        match coerce_pair(self, other) {
            (Operand::Null, Operand::Null) => true,
            (Operand::Number(a), Operand::Number(b)) => a == b,
            (Operand::Str(a), Operand::Str(b)) => compare_ignore_case(a, b) == Ordering::Equal,
            (Operand::Bool(a), Operand::Bool(b)) => a == b,
            (Operand::Array(a), Operand::Array(b)) => Arc::ptr_eq(a, b),
            (Operand::Object(a), Operand::Object(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The language's `<`, `<=`, `>`, `>=` as an ordering, when the two values are comparable
    /// after conversion: numbers (neither NaN), strings (ignoring case) or booleans. `None`
    /// makes every relational operator false.
    pub(crate) fn loose_cmp(&self, other: &Value) -> Option<Ordering> {
        match coerce_pair(self, other) {
            (Operand::Number(a), Operand::Number(b)) => a.partial_cmp(&b),
            (Operand::Str(a), Operand::Str(b)) => Some(compare_ignore_case(a, b)),
            (Operand::Bool(a), Operand::Bool(b)) => Some(a.cmp(&b)),
            _ => None,
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::array(items)
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Value {
        Value::object(object)
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(items) => {
                Value::array(items.into_iter().map(Value::from).collect())
            }
            serde_json::Value::Object(map) => Value::object(
                map.into_iter()
                    .map(|(key, value)| (key, Value::from(value)))
                    .collect(),
            ),
        }
    }
}

/// An object: keys in insertion order, looked up ignoring case (GitHub's contexts are
/// case-insensitive: `github.REF` reads `github.ref`).
#[derive(Clone, Default)]
pub struct Object {
    entries: Vec<(String, Value)>,
    /// Case-folded key → position in `entries`.
    index: HashMap<String, usize>,
}

impl Object {
    /// An empty object.
    pub fn new() -> Object {
        Object::default()
    }

    /// Sets `key` to `value`. A key equal to an existing one ignoring case replaces that
    /// entry's value (keeping its position and spelling).
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        let folded = fold(&key);
        match self.index.get(&folded) {
            Some(&at) => self.entries[at].1 = value,
            None => {
                self.index.insert(folded, self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    /// The value under `key`, ignoring case.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(&fold(key)).map(|&at| &self.entries[at].1)
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The values in insertion order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Object) -> bool {
        self.entries == other.entries
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Object {
        let mut object = Object::new();
        for (key, value) in iter {
            object.insert(key, value);
        }
        object
    }
}

/// One side of a comparison after GitHub's type coercion.
enum Operand<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(&'a str),
    Array(&'a Arc<Vec<Value>>),
    Object(&'a Arc<Object>),
}

impl<'a> Operand<'a> {
    fn of(value: &'a Value) -> Operand<'a> {
        match value {
            Value::Null => Operand::Null,
            Value::Bool(b) => Operand::Bool(*b),
            Value::Number(n) => Operand::Number(*n),
            Value::String(s) => Operand::Str(s),
            Value::Array(a) => Operand::Array(a),
            Value::Object(o) => Operand::Object(o),
        }
    }

    fn same_type(&self, other: &Operand<'_>) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    fn to_number(&self) -> f64 {
        match self {
            Operand::Null => 0.0,
            Operand::Bool(b) => f64::from(u8::from(*b)),
            Operand::Number(n) => *n,
            Operand::Str(s) => parse_number(s),
            Operand::Array(_) | Operand::Object(_) => f64::NAN,
        }
    }
}

/// GitHub's coercion before comparing: number with string turns the string into a number;
/// null or boolean on either side turns into a number (then the rule applies again); anything
/// else (an array or object against another type) is left as is and compares unequal.
fn coerce_pair<'a>(left: &'a Value, right: &'a Value) -> (Operand<'a>, Operand<'a>) {
    let (mut l, mut r) = (Operand::of(left), Operand::of(right));
    // At most three steps: null/bool on the left, null/bool on the right, string vs number.
    loop {
        if l.same_type(&r) {
            return (l, r);
        }
        match (&l, &r) {
            (Operand::Number(_), Operand::Str(_)) => r = Operand::Number(r.to_number()),
            (Operand::Str(_), Operand::Number(_)) => l = Operand::Number(l.to_number()),
            (Operand::Null | Operand::Bool(_), _) => l = Operand::Number(l.to_number()),
            (_, Operand::Null | Operand::Bool(_)) => r = Operand::Number(r.to_number()),
            _ => return (l, r),
        }
    }
}

/// Upper-cases one character the way .NET's ordinal ignore-case comparison does: a simple
/// one-to-one mapping (`ß` stays `ß`), and the dotless `ı` is left alone.
fn fold_char(c: char) -> char {
    if c == 'ı' {
        return c;
    }
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// A string case-folded for comparisons that ignore case.
pub(crate) fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

/// Compares two strings ignoring case, ordinally by UTF-16 code unit as .NET does.
pub(crate) fn compare_ignore_case(a: &str, b: &str) -> Ordering {
    folded_utf16(a).cmp(folded_utf16(b))
}

fn folded_utf16(s: &str) -> impl Iterator<Item = u16> + '_ {
    s.chars().flat_map(|c| {
        let mut buf = [0u16; 2];
        let len = fold_char(c).encode_utf16(&mut buf).len();
        buf.into_iter().take(len)
    })
}

/// Reads a string as a number the way GitHub converts strings (and number literals):
/// surrounding whitespace is ignored, empty text is 0, then a decimal number with optional
/// sign, fraction and exponent, or `0x` with up to 8 hex digits, or `0o` with octal digits
/// (both read as a 32-bit signed integer, so `0xffffffff` is -1), or `Infinity` /
/// `-Infinity`. Anything else is NaN.
pub fn parse_number(text: &str) -> f64 {
    let s = text.trim();
    if s.is_empty() {
        return 0.0;
    }
    if is_decimal(s) {
        return s.parse().unwrap_or(f64::NAN);
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return parse_radix_i32(hex, 16);
    }
    if let Some(octal) = s.strip_prefix("0o") {
        return parse_radix_i32(octal, 8);
    }
    match s {
        "Infinity" | "+Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ => f64::NAN,
    }
}

/// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`
fn is_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Digits in `radix` as a 32-bit two's-complement integer, or NaN when there are none, one
/// is not a digit, or the value needs more than 32 bits.
fn parse_radix_i32(digits: &str, radix: u32) -> f64 {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return f64::NAN;
    }
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return 0.0;
    }
    if significant.len() > 11 {
        return f64::NAN;
    }
    match u64::from_str_radix(significant, radix) {
        Ok(n) => match u32::try_from(n) {
            // Two's complement, as .NET reads hex into an Int32.
            Ok(n) => f64::from(n as i32),
            Err(_) => f64::NAN,
        },
        Err(_) => f64::NAN,
    }
}

/// Prints a number as GitHub does (.NET's `G15`): at most 15 significant digits, no trailing
/// zeros, plain notation for exponents from -5 to 14 and `1.5E+15` / `1E-05` style otherwise;
/// `NaN`, `Infinity`, `-Infinity`; and `0` for both zeros.
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if n == 0.0 {
        return "0".to_owned();
    }
    // 15 significant digits, correctly rounded: "d.dddddddddddddde<exp>".
    let scientific = format!("{:.14e}", n.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut out = String::new();
    if n < 0.0 {
        out.push('-');
    }
    if (-5 < exponent) && (exponent < 15) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                out.push_str(&"0".repeat(int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exponent - 1) as usize));
            out.push_str(digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('E');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.unsigned_abs()));
    }
    out
}

fn write_json(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(*n)),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, level + 1);
                write_json(out, item, level + 1);
            }
            newline_indent(out, level);
            out.push(']');
        }
        Value::Object(object) if object.is_empty() => out.push_str("{}"),
        Value::Object(object) => {
            out.push('{');
            for (i, (key, item)) in object.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, level + 1);
                write_json_string(out, key);
                out.push_str(": ");
                write_json(out, item, level + 1);
            }
            newline_indent(out, level);
            out.push('}');
        }
    }
}

fn newline_indent(out: &mut String, level: usize) {
    out.push('\n');
    out.push_str(&"  ".repeat(level));
}

/// A JSON string literal, escaped as Newtonsoft.Json (GitHub's serializer) escapes by default.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Builds a [`Value`] straight from a parser, keeping object keys in document order.
struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Object::new();
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        Ok(Value::object(object))
    }
}
