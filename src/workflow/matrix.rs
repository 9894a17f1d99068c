//! Matrix expansion: `strategy.matrix` → the list of job instances, exactly as GitHub builds it.
//!
//! The rules follow GitHub's workflow parser (`actions/runner`,
//! `src/Sdk/WorkflowParser/Conversion/MatrixBuilder.cs`) and the documentation ("Running
//! variations of jobs in a workflow"):
//!
//! 1. The cartesian product of the axes, the first axis varying slowest.
//! 2. `exclude`: a combination is dropped when it matches every key/value pair of some exclude
//!    entry. Entries may list only some axes (partial match). Each key of an entry must be an
//!    axis.
//! 3. `include`, against the combinations that survived `exclude` (never against one an
//!    include added): the keys of an entry that are axes are its *filter*, the others its
//!    *extra* values. The extra values are added to every combination the filter matches (an
//!    entry whose keys are all extra matches every combination); a later entry's extra value
//!    replaces an earlier entry's. Original axis values are never overwritten: an entry whose
//!    axis values differ from a combination's simply does not match it.
//! 4. Every include entry that matched no combination becomes a combination of its own, in
//!    include order, after the product. So an include-only matrix yields one combination per
//!    entry, and an include can bring back a combination that `exclude` removed.
//!
//! Values compare as GitHub's filters compare them: each leaf of an entry's value is tested
//! with the expression language's `==` ([`Value::loose_eq`]: strings ignoring case, `'18'`
//! equal to `18`), so an object value in an entry matches an object in the matrix on just the
//! keys it lists. Keys are compared ignoring case, as the `matrix` context does.
//!
//! Like GitHub, an axis without values, an empty include or exclude entry and an exclude key
//! that is no axis are errors, and so is a matrix of more than [`MAX_COMBINATIONS`].
//! [`instance_name`] names instances as GitHub's job list does.
//!
//! A dynamic matrix (one that holds expressions, see [`Matrix::Dynamic`]) is known when its
//! job is ready: [`evaluate_dynamic`] evaluates its expressions against the job's contexts,
//! [`spec_from_value`] reads the result as a [`MatrixSpec`], and [`expand`] expands it under
//! the same rules and limits as a matrix written out ([`expand_dynamic`] does all three). As
//! on GitHub, a dynamic matrix that yields no combination (`{}`, `{"include": []}`, an empty
//! axis) fails its job rather than skipping it.
//!
//! [`Matrix::Dynamic`]: crate::workflow::model::Matrix::Dynamic

#[cfg(test)]
mod tests;

use crate::workflow::expr::{format_number, ExprError, Object, Scope, Template, Value};

/// The most combinations one matrix may produce (GitHub: "A matrix will generate a maximum of
/// 256 jobs per workflow run").
pub const MAX_COMBINATIONS: usize = 256;

/// The largest cartesian product expanded before `exclude` is applied. GitHub does not
/// document one; this bound keeps a hostile matrix (say 20 axes of 20 values) from taking
/// minutes. Real matrices stay far below it.
pub const MAX_PRODUCT: usize = 65_536;

/// The most value comparisons one expansion may make: the product's size times the leaves of
/// the `exclude` entries and of the axis values of the `include` entries. GitHub documents no
/// such bound; this one keeps a hostile matrix (a large product against thousands of entries,
/// easy to produce with `fromJSON`) from taking minutes, and real matrices stay far below it.
pub const MAX_COMPARISONS: usize = 1 << 25;

/// One entry of `include` or `exclude`: key/value pairs in source order.
pub type Entry = Vec<(String, Value)>;

/// A matrix as written: the axes, then `include` and `exclude`. Building it from YAML (and
/// checking that each axis is an array and each entry a mapping) is the caller's job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatrixSpec {
    /// The axes (every key other than `include` and `exclude`) with their values, in source
    /// order.
    pub axes: Vec<(String, Vec<Value>)>,
    /// The `include` entries, in order.
    pub include: Vec<Entry>,
    /// The `exclude` entries, in order.
    pub exclude: Vec<Entry>,
}

/// One job instance of a matrix: the `matrix` context it runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Combination {
    /// The values in order: the axes in axis order, then the keys include entries added, in
    /// the order they were first added. For a combination made from an include entry: the
    /// entry's axis keys, then its other keys, each in the entry's order.
    pub values: Vec<(String, Value)>,
    /// How many leading entries of `values` name the instance. GitHub names a product
    /// combination by its axis values only (values an include added do not show); a
    /// combination made from an include entry is named by all of its values.
    pub named: usize,
}

impl Combination {
    /// The value under `key`, ignoring case (as `matrix.<key>` reads it).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, v)| v)
    }

    /// The values that name the instance (see [`Combination::named`]).
    pub fn naming_values(&self) -> &[(String, Value)] {
        &self.values[..self.named.min(self.values.len())]
    }

    /// The combination as the `matrix` context: an object with the keys in order.
    pub fn to_value(&self) -> Value {
        Value::object(self.values.iter().cloned().collect::<Object>())
    }
}

/// Why a matrix cannot be expanded. Messages follow GitHub's where GitHub has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    /// No combination at all: no axis and no include entry, or every combination excluded and
    /// nothing included.
    #[error("the matrix produces no combinations")]
    Empty,
    /// An axis with an empty list of values (GitHub: "Matrix vector 'os' does not contain any
    /// values").
    #[error("matrix axis `{key}` does not contain any values")]
    EmptyAxis {
        /// The axis.
        key: String,
    },
    /// An `exclude` entry without keys.
    #[error("matrix exclude entry {} must not be empty", .index + 1)]
    EmptyExclude {
        /// The entry's position in `exclude`, from 0.
        index: usize,
    },
    /// An `exclude` key that is no axis (GitHub rejects the workflow for it).
    #[error("matrix exclude key `{key}` does not match any key within the matrix")]
    UnknownExcludeKey {
        /// The entry's position in `exclude`, from 0.
        index: usize,
        /// The key as written.
        key: String,
    },
    /// An `include` entry without keys.
    #[error("matrix include entry {} does not contain any values", .index + 1)]
    EmptyInclude {
        /// The entry's position in `include`, from 0.
        index: usize,
    },
    /// More than [`MAX_COMBINATIONS`] combinations.
    #[error("the matrix produces {count} combinations; at most {MAX_COMBINATIONS} are allowed")]
    TooManyCombinations {
        /// How many combinations the matrix produces.
        count: usize,
    },
    /// The axes multiply to more than [`MAX_PRODUCT`] combinations.
    #[error("the matrix axes multiply to more than {MAX_PRODUCT} combinations")]
    ProductTooLarge,
    /// Matching the product against `include` and `exclude` would take more than
    /// [`MAX_COMPARISONS`] comparisons.
    #[error(
        "the matrix is too large to expand: {product} combinations to match against \
         {values} include and exclude values"
    )]
    TooManyComparisons {
        /// The size of the product.
        product: usize,
        /// The leaves of the exclude entries and of the include entries' axis values.
        values: usize,
    },
    /// A dynamic matrix's value is not an object.
    #[error("the matrix must be an object, found {found}")]
    NotAnObject {
        /// The type found (`array`, `string`, …).
        found: &'static str,
    },
    /// An axis of a dynamic matrix is not an array.
    #[error("matrix axis `{key}` must be an array, found {found}")]
    AxisNotAnArray {
        /// The axis.
        key: String,
        /// The type found.
        found: &'static str,
    },
    /// `include` or `exclude` of a dynamic matrix is not an array.
    #[error("matrix `{key}` must be an array of objects, found {found}")]
    EntriesNotAnArray {
        /// `include` or `exclude`.
        key: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// An entry of `include` or `exclude` of a dynamic matrix is not an object.
    #[error("matrix {key} entry {} must be an object, found {found}", .index + 1)]
    EntryNotAnObject {
        /// `include` or `exclude`.
        key: &'static str,
        /// The entry's position, from 0.
        index: usize,
        /// The type found.
        found: &'static str,
    },
    /// An expression of a dynamic matrix failed to parse or to evaluate.
    #[error("failed to evaluate matrix expression `{text}`")]
    Expression {
        /// The string the expression stands in, as written.
        text: String,
        /// Why.
        #[source]
        source: ExprError,
    },
}

/// An include entry split into the part that selects combinations and the part it adds.
struct IncludeRule<'a> {
    /// Pairs whose key is an axis.
    filter: Vec<(&'a str, &'a Value)>,
    /// Pairs whose key is not an axis.
    extra: Vec<(&'a str, &'a Value)>,
    /// Whether the entry matched at least one product combination.
    matched: bool,
}

/// Expands a matrix into its combinations, in GitHub's order: the product (minus excluded
/// combinations, with include values added), then the include entries that matched nothing.
pub fn expand(spec: &MatrixSpec) -> Result<Vec<Combination>, MatrixError> {
    if let Some((key, _)) = spec.axes.iter().find(|(_, values)| values.is_empty()) {
        return Err(MatrixError::EmptyAxis { key: key.clone() });
    }
    if spec.axes.is_empty() && spec.include.is_empty() {
        return Err(MatrixError::Empty);
    }
    let is_axis = |key: &str| spec.axes.iter().any(|(axis, _)| same_key(axis, key));

    for (index, entry) in spec.exclude.iter().enumerate() {
        if entry.is_empty() {
            return Err(MatrixError::EmptyExclude { index });
        }
        if let Some((key, _)) = entry.iter().find(|(key, _)| !is_axis(key)) {
            return Err(MatrixError::UnknownExcludeKey {
                index,
                key: key.clone(),
            });
        }
    }

    let mut rules = Vec::with_capacity(spec.include.len());
    for (index, entry) in spec.include.iter().enumerate() {
        if entry.is_empty() {
            return Err(MatrixError::EmptyInclude { index });
        }
        let (filter, extra) = entry
            .iter()
            .map(|(key, value)| (key.as_str(), value))
            .partition(|(key, _)| is_axis(key));
        rules.push(IncludeRule {
            filter,
            extra,
            matched: false,
        });
    }

    let product = product_size(&spec.axes)?;
    let values = spec
        .exclude
        .iter()
        .flat_map(|entry| entry.iter().map(|(_, value)| value))
        .chain(
            rules
                .iter()
                .flat_map(|rule| rule.filter.iter().map(|(_, value)| *value)),
        )
        .fold(0usize, |sum, value| sum.saturating_add(leaves(value)));
    if product.saturating_mul(values) > MAX_COMPARISONS {
        return Err(MatrixError::TooManyComparisons { product, values });
    }
    let mut combinations = Vec::new();
    let mut count = 0usize;
    for position in 0..product {
        // Borrowed: only the combinations kept are copied.
        let values = nth_product(&spec.axes, product, position);
        if spec
            .exclude
            .iter()
            .any(|entry| entry_matches(entry.iter().map(|(k, v)| (k.as_str(), v)), &values))
        {
            continue;
        }
        count += 1;
        let keep = count <= MAX_COMBINATIONS;
        let mut extra: Vec<(String, Value)> = Vec::new();
        for rule in &mut rules {
            if entry_matches(rule.filter.iter().copied(), &values) {
                rule.matched = true;
                if keep {
                    for (key, value) in &rule.extra {
                        set(&mut extra, key, value);
                    }
                }
            }
        }
        if keep {
            let named = values.len();
            let mut values: Vec<(String, Value)> = values
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.clone()))
                .collect();
            values.extend(extra);
            combinations.push(Combination { values, named });
        }
    }

    for rule in rules.iter().filter(|rule| !rule.matched) {
        count += 1;
        if count <= MAX_COMBINATIONS {
            let values: Vec<(String, Value)> = rule
                .filter
                .iter()
                .chain(&rule.extra)
                .map(|(key, value)| ((*key).to_owned(), (*value).clone()))
                .collect();
            let named = values.len();
            combinations.push(Combination { values, named });
        }
    }

    match count {
        0 => Err(MatrixError::Empty),
        count if count > MAX_COMBINATIONS => Err(MatrixError::TooManyCombinations { count }),
        _ => Ok(combinations),
    }
}

/// Reads the value a dynamic matrix evaluated to (see [`evaluate_dynamic`]) as GitHub reads a
/// matrix: an object whose `include` and `exclude` are arrays of objects and whose other keys
/// are axes, each an array. The keys `include` and `exclude` are matched exactly, as in a
/// matrix written out.
///
/// Only the types are checked here; [`expand`] reports what GitHub reports for a matrix
/// written out: an empty axis, an empty entry, an exclude key that is no axis, a matrix that
/// yields no combination (which fails the job) or too many.
pub fn spec_from_value(value: &Value) -> Result<MatrixSpec, MatrixError> {
    let Value::Object(object) = value else {
        return Err(MatrixError::NotAnObject {
            found: value.kind_name(),
        });
    };
    let mut spec = MatrixSpec::default();
    for (key, value) in object.iter() {
        match key {
            "include" => spec.include = entries("include", value)?,
            "exclude" => spec.exclude = entries("exclude", value)?,
            axis => match value {
                Value::Array(values) => spec.axes.push((axis.to_owned(), values.to_vec())),
                other => {
                    return Err(MatrixError::AxisNotAnArray {
                        key: axis.to_owned(),
                        found: other.kind_name(),
                    })
                }
            },
        }
    }
    Ok(spec)
}

/// The entries of `include` or `exclude`: an array of objects.
fn entries(key: &'static str, value: &Value) -> Result<Vec<Entry>, MatrixError> {
    let Value::Array(items) = value else {
        return Err(MatrixError::EntriesNotAnArray {
            key,
            found: value.kind_name(),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Object(entry) => Ok(entry
                .iter()
                .map(|(key, value)| (key.to_owned(), value.clone()))
                .collect()),
            other => Err(MatrixError::EntryNotAnObject {
                key,
                index,
                found: other.kind_name(),
            }),
        })
        .collect()
}

/// Evaluates the expressions of a dynamic matrix (`value` of
/// [`Matrix::Dynamic`](crate::workflow::model::Matrix::Dynamic): the matrix as written, each
/// expression left as its string) against `scope`, the contexts of its job (`github`, `needs`,
/// `vars`, `inputs`).
///
/// Every string that holds `${{` is evaluated as a template, wherever it stands (the whole
/// matrix, an axis, `include`, an entry, a value inside one). A string that is exactly one
/// `${{ }}` is replaced by the expression's value with its type (an array or object from
/// `fromJSON`, a number, a boolean); any other is replaced by the string the template builds.
/// Keys and the values the expressions produce are not evaluated again.
///
/// For `strategy: ${{ … }}` the loader leaves the whole strategy in `value`: its result is the
/// strategy object, whose `matrix` is the matrix.
pub fn evaluate_dynamic(value: &Value, scope: &Scope) -> Result<Value, MatrixError> {
    Ok(match value {
        Value::String(text) if text.contains("${{") => {
            let failed = |source| MatrixError::Expression {
                text: text.clone(),
                source,
            };
            Template::parse(text)
                .map_err(failed)?
                .evaluate(scope)
                .map_err(failed)?
        }
        Value::Array(items) => Value::array(
            items
                .iter()
                .map(|item| evaluate_dynamic(item, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(object) => {
            let mut evaluated = Object::new();
            for (key, value) in object.iter() {
                evaluated.insert(key, evaluate_dynamic(value, scope)?);
            }
            Value::object(evaluated)
        }
        other => other.clone(),
    })
}

/// Expands a dynamic matrix: [`evaluate_dynamic`], [`spec_from_value`], then [`expand`].
pub fn expand_dynamic(value: &Value, scope: &Scope) -> Result<Vec<Combination>, MatrixError> {
    expand(&spec_from_value(&evaluate_dynamic(value, scope)?)?)
}

/// Keeps the combinations that `--matrix K:V` selects: for every key named in `wanted`, the
/// combination has that key (ignoring case) and its value, as a string, equals one of the
/// values given for the key. Repeating a key allows several values (`--matrix os:a --matrix
/// os:b`), as in act. A value reads as a string the way a job sees it: strings as they are,
/// numbers as GitHub prints them (`18`, `3.1`), `true`/`false`, null as empty, arrays and
/// objects as JSON.
pub fn filter(combos: &[Combination], wanted: &[(String, String)]) -> Vec<Combination> {
    combos
        .iter()
        .filter(|combo| {
            wanted.iter().all(|(key, _)| {
                combo.get(key).is_some_and(|value| {
                    let shown = value_as_string(value);
                    wanted
                        .iter()
                        .any(|(k, allowed)| same_key(k, key) && *allowed == shown)
                })
            })
        })
        .cloned()
        .collect()
}

/// The name GitHub shows for a matrix instance: `test (ubuntu-latest, 18)`.
///
/// The segments are the naming values (see [`Combination::named`]) walked depth first, objects
/// and arrays included, keeping every non-empty string, number (printed as GitHub prints it)
/// and boolean; null and empty strings are skipped. Without segments the name is the job name
/// alone. Names longer than 100 characters are cut to 97 and end in `...`.
pub fn instance_name(job_name: &str, combo: &Combination) -> String {
    let mut segments = Vec::new();
    for (_, value) in combo.naming_values() {
        collect_segments(value, &mut segments);
    }
    let name = if segments.is_empty() {
        job_name.to_owned()
    } else {
        format!("{job_name} ({})", segments.join(", "))
    };
    truncate_name(name)
}

/// The longest name GitHub shows, counted in UTF-16 code units as .NET counts.
const MAX_NAME_LENGTH: usize = 100;

fn truncate_name(name: String) -> String {
    if name.encode_utf16().count() <= MAX_NAME_LENGTH {
        return name;
    }
    let mut out = String::new();
    let mut units = 0;
    for c in name.chars() {
        units += c.len_utf16();
        if units > MAX_NAME_LENGTH - 3 {
            break;
        }
        out.push(c);
    }
    out.push_str("...");
    out
}

fn collect_segments(value: &Value, segments: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => segments.push(b.to_string()),
        Value::Number(n) => segments.push(format_number(*n)),
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => segments.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_segments(v, segments)),
        Value::Object(object) => object.values().for_each(|v| collect_segments(v, segments)),
    }
}

fn value_as_string(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Object(_) => value.to_json(),
        other => other.coerce_to_string(),
    }
}

/// The number of product combinations, refused above [`MAX_PRODUCT`]. No axes make none.
fn product_size(axes: &[(String, Vec<Value>)]) -> Result<usize, MatrixError> {
    if axes.is_empty() {
        return Ok(0);
    }
    axes.iter()
        .try_fold(1usize, |size, (_, values)| {
            size.checked_mul(values.len())
                .filter(|size| *size <= MAX_PRODUCT)
        })
        .ok_or(MatrixError::ProductTooLarge)
}

/// The product combination at `position` (0-based), the first axis varying slowest.
fn nth_product(
    axes: &[(String, Vec<Value>)],
    product: usize,
    position: usize,
) -> Vec<(&str, &Value)> {
    let mut block = product;
    axes.iter()
        .map(|(key, values)| {
            block /= values.len();
            (key.as_str(), &values[(position / block) % values.len()])
        })
        .collect()
}

/// How many leaves [`leaves_match`] compares for `value` (at least one).
fn leaves(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.iter().map(leaves).fold(1, usize::saturating_add),
        Value::Object(object) => object.values().map(leaves).fold(1, usize::saturating_add),
        _ => 1,
    }
}

/// Whether a combination matches every pair of an entry (or an entry's filter part).
fn entry_matches<'a>(
    mut pairs: impl Iterator<Item = (&'a str, &'a Value)>,
    combination: &[(&str, &Value)],
) -> bool {
    pairs.all(|(key, wanted)| {
        let actual = combination
            .iter()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, v)| *v);
        leaves_match(wanted, actual.unwrap_or(&Value::Null))
    })
}

/// GitHub's filter test: every leaf of `wanted` equals (`==`) the value at the same path in
/// `actual`; a path that does not exist there reads as null. An empty object or array in
/// `wanted` has no leaves and so matches anything.
fn leaves_match(wanted: &Value, actual: &Value) -> bool {
    match wanted {
        Value::Object(fields) => fields.iter().all(|(key, wanted)| {
            let actual = match actual {
                Value::Object(object) => object.get(key),
                _ => None,
            };
            leaves_match(wanted, actual.unwrap_or(&Value::Null))
        }),
        Value::Array(items) => items.iter().enumerate().all(|(index, wanted)| {
            let actual = match actual {
                Value::Array(array) => array.get(index),
                _ => None,
            };
            leaves_match(wanted, actual.unwrap_or(&Value::Null))
        }),
        leaf => actual.loose_eq(leaf),
    }
}

/// Sets `key` in an ordered list of pairs, replacing the value of an entry with the same key
/// (ignoring case) in place, or appending.
fn set(pairs: &mut Vec<(String, Value)>, key: &str, value: &Value) {
    match pairs.iter_mut().find(|(k, _)| same_key(k, key)) {
        Some((_, slot)) => *slot = value.clone(),
        None => pairs.push((key.to_owned(), value.clone())),
    }
}

/// Whether two keys are equal ignoring case, as the `matrix` context compares them (each
/// character upper-cased when it has a one-character upper case).
fn same_key(a: &str, b: &str) -> bool {
    fn upper(c: char) -> char {
        let mut upper = c.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) => u,
            _ => c,
        }
    }
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars().map(upper).eq(b.chars().map(upper))
}
