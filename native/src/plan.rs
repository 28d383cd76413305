//! A writer schema's resolution plan as Python hands it over (`connector/prepare/plan.py`, whose
//! docstring is the format's definition), checked and turned into `avro::Plan`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::avro::{bag_value, Plan, Read, Role, Skip, Step};

/// Nesting of reads deeper than this is refused (the reader schema's is three).
const MAX_READ_DEPTH: u32 = 16;

fn bad(what: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("not a resolution plan: {what}"))
}

/// `(steps, skips)`: each step `(role, read)` or `("skip", node)`, each skip node a type.
pub fn from_python(plan: &Bound<'_, PyAny>) -> PyResult<Plan> {
    let (steps, skips): (Vec<Bound<'_, PyAny>>, Vec<Bound<'_, PyAny>>) = plan.extract()?;
    let skips = skips.iter().map(skip).collect::<PyResult<Vec<_>>>()?;
    let mut parsed = Vec::with_capacity(steps.len());
    let mut roles = Vec::new();
    for step in &steps {
        let (role, what): (String, Bound<'_, PyAny>) = step.extract()?;
        parsed.push(match role.as_str() {
            "skip" => Step::Skip(what.extract()?),
            _ => {
                let role = match role.as_str() {
                    "event" => Role::Event,
                    "properties" => Role::Properties,
                    "timestamp" => Role::Timestamp,
                    "check" => Role::Check,
                    other => return Err(bad(format!("no role {other:?}"))),
                };
                if role != Role::Check && roles.contains(&role) {
                    return Err(bad(format!("{role:?} read twice")));
                }
                roles.push(role);
                Step::Read(role, read(&what, 0)?)
            }
        });
    }
    if !roles.contains(&Role::Event) || !roles.contains(&Role::Properties) {
        return Err(bad("the event name and the properties must be read"));
    }
    let nodes = skips.len();
    let in_range = |node: &usize| *node < nodes;
    let skips_ok = skips.iter().all(|node| match node {
        Skip::Array(n) | Skip::Map(n) => in_range(n),
        Skip::Union(ns) | Skip::Record(ns) => ns.iter().all(in_range),
        _ => true,
    });
    let steps_ok = parsed.iter().all(|step| match step {
        Step::Skip(n) => in_range(n),
        Step::Read(..) => true,
    });
    if !skips_ok || !steps_ok {
        return Err(bad("a skip node out of range"));
    }
    Ok(Plan {
        steps: parsed,
        skips,
    })
}

/// A name alone (`"long"`), or `(name, argument)`.
fn kind<'py>(what: &Bound<'py, PyAny>) -> PyResult<(String, Option<Bound<'py, PyAny>>)> {
    if what.is_instance_of::<PyString>() {
        return Ok((what.extract()?, None));
    }
    let tuple = what.downcast::<PyTuple>()?;
    if tuple.len() != 2 {
        return Err(bad("a tuple of other than two"));
    }
    Ok((tuple.get_item(0)?.extract()?, Some(tuple.get_item(1)?)))
}

fn read(what: &Bound<'_, PyAny>, depth: u32) -> PyResult<Read> {
    if depth > MAX_READ_DEPTH {
        return Err(bad("reads nested too deep"));
    }
    let (name, argument) = kind(what)?;
    Ok(match (name.as_str(), argument) {
        ("null", None) => Read::Null,
        ("boolean", None) => Read::Boolean,
        ("long", None) => Read::Long,
        ("long_as_double", None) => Read::LongAsDouble,
        ("float_as_double", None) => Read::FloatAsDouble,
        ("double", None) => Read::Double,
        ("string", None) => Read::Str,
        ("array", Some(items)) => Read::Array(Box::new(read(&items, depth + 1)?)),
        ("map", Some(values)) => Read::Map(Box::new(read(&values, depth + 1)?)),
        ("union", Some(branches)) => {
            let branches: Vec<Option<Bound<'_, PyAny>>> = branches.extract()?;
            let union = Read::Union(
                branches
                    .iter()
                    .map(|b| b.as_ref().map(|b| read(b, depth + 1)).transpose())
                    .collect::<PyResult<_>>()?,
            );
            // The bundled layout's property value: read by its branch byte (the same reads).
            if union == bag_value() {
                Read::BagValue
            } else {
                union
            }
        }
        (other, _) => return Err(bad(format!("no read {other:?}"))),
    })
}

fn skip(what: &Bound<'_, PyAny>) -> PyResult<Skip> {
    let (name, argument) = kind(what)?;
    Ok(match (name.as_str(), argument) {
        ("null", None) => Skip::Null,
        ("boolean", None) => Skip::Boolean,
        ("long", None) => Skip::Long,
        ("float", None) => Skip::Float,
        ("double", None) => Skip::Double,
        ("bytes", None) => Skip::Bytes,
        ("fixed", Some(size)) => Skip::Fixed(size.extract()?),
        ("array", Some(item)) => Skip::Array(item.extract()?),
        ("map", Some(value)) => Skip::Map(value.extract()?),
        ("union", Some(branches)) => Skip::Union(branches.extract()?),
        ("record", Some(fields)) => Skip::Record(fields.extract()?),
        (other, _) => return Err(bad(format!("no skip {other:?}"))),
    })
}
