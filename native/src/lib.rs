//! `connector.prepare._native`: the prepare step's common case in Rust (see
//! `connector/prepare/native.py`, which builds it from the settings and Python's tables, and
//! falls back to Python).

mod avro;
mod ids;
mod json;
mod plan;
mod prepare;
mod props;
mod text;
mod wire;

use std::collections::{HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use avro::{Bag, Value};
use ids::PhonePlans;
use prepare::{Consent, Framing, Outcome, Ready, Settings, Taught};
use props::{PropertyTable, MAX_PROPERTIES, REQUIRED};
use wire::Wire;

type Plans = Vec<(String, Vec<(String, Vec<usize>)>)>;
/// (property, rule, field path, limit), as `native._properties` hands them over.
type Properties = Vec<(String, String, String, Option<usize>)>;

/// The fields of a Ready tuple, Python asking for them in its order (`native.READY_FIELDS`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadyField {
    EventId,
    EventName,
    EventTimeMs,
    Payload,
    Kinds,
    EmailCount,
    RouteKey,
    Dropped,
}

const READY_FIELDS: [(&str, ReadyField); 8] = [
    ("event_id", ReadyField::EventId),
    ("event_name", ReadyField::EventName),
    ("event_time_ms", ReadyField::EventTimeMs),
    ("payload", ReadyField::Payload),
    ("kinds", ReadyField::Kinds),
    ("email_count", ReadyField::EmailCount),
    ("route_key", ReadyField::RouteKey),
    ("dropped", ReadyField::Dropped),
];

fn ready_order(names: &[String]) -> PyResult<Vec<ReadyField>> {
    let order: Vec<ReadyField> = names
        .iter()
        .map(|name| {
            READY_FIELDS
                .iter()
                .find(|(known, _)| known == name)
                .map(|&(_, field)| field)
                .ok_or_else(|| PyValueError::new_err(format!("no Ready field {name}")))
        })
        .collect::<PyResult<_>>()?;
    let every = READY_FIELDS.iter().all(|(_, field)| order.contains(field));
    if !every || order.len() != READY_FIELDS.len() {
        return Err(PyValueError::new_err(
            "ready_fields names each field of a Ready once",
        ));
    }
    Ok(order)
}

#[pyclass(module = "connector.prepare._native")]
struct NativePreparer {
    settings: Settings,
    plans: PhonePlans,
    taught: Taught,
    ready_order: Vec<ReadyField>,
}

#[pymethods]
impl NativePreparer {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (
        *, properties, wire_order, kinds, identifiers, ready_fields, default_opt_out,
        phone_digits_only, max_age_ms, schema_plan, consent_property, consent_category,
        removed, removed_from_purchase, identifier_properties, route_property, currencies,
        spotify_names, genders, action_sources, zero_text, longest_placeholder_word,
        min_event_time_ms, phone_plans
    ))]
    fn new(
        properties: Properties,
        wire_order: Vec<String>,
        kinds: Vec<String>,
        identifiers: Vec<String>,
        ready_fields: Vec<String>,
        default_opt_out: bool,
        phone_digits_only: bool,
        max_age_ms: Option<i64>,
        schema_plan: Option<Bound<'_, PyAny>>,
        consent_property: Option<String>,
        consent_category: Option<String>,
        removed: HashSet<String>,
        removed_from_purchase: HashSet<String>,
        identifier_properties: Vec<String>,
        route_property: Option<String>,
        currencies: HashSet<String>,
        spotify_names: HashSet<String>,
        genders: HashMap<String, String>,
        action_sources: HashSet<String>,
        zero_text: &str,
        longest_placeholder_word: usize,
        min_event_time_ms: i64,
        phone_plans: Plans,
    ) -> PyResult<Self> {
        let plans =
            PhonePlans::new(phone_plans).map_err(|e| PyValueError::new_err(e.to_string()))?;
        if kinds.len() > 32 {
            return Err(PyValueError::new_err("at most 32 identifier kinds (bits)"));
        }
        let wire = Wire::new(wire_order).map_err(PyValueError::new_err)?;
        let fed: HashSet<String> = properties.iter().map(|p| p.2.clone()).collect();
        let properties = PropertyTable::new(properties, &wire);
        let mut unwritten: Vec<String> = (0..wire.len())
            .map(|field| wire.path(field))
            .filter(|path| !fed.contains(*path))
            .map(|path| format!("no property feeds the field {path}"))
            .collect();
        for rule in REQUIRED {
            if properties.single(rule).is_none() {
                unwritten.push(format!("no property is read by the rule {rule:?}"));
            }
        }
        // Per field: its kind's bit, and whether it is an identifier.
        let mut field_kinds = vec![0; wire.len()];
        let mut field_identifiers = vec![false; wire.len()];
        for (bit, path) in kinds.iter().enumerate() {
            match wire.field(path) {
                Some(field) => field_kinds[field] |= 1 << bit,
                None => unwritten.push(format!("{path} is not in the wire order")),
            }
        }
        for path in &identifiers {
            match wire.field(path) {
                Some(field) => field_identifiers[field] = true,
                None => unwritten.push(format!("{path} is not in the wire order")),
            }
        }
        // The allow-list's properties as bits by table index; one the table lacks, or holds
        // past `MAX_PROPERTIES` (with no rule), is read by no rule here: taking it out changes
        // nothing.
        let kept = |name: &str| properties.index(name).filter(|&i| i < MAX_PROPERTIES);
        let mask = |names: &HashSet<String>| {
            names
                .iter()
                .filter_map(|name| kept(name))
                .fold(0u64, |mask, index| mask | (1 << index))
        };
        if identifier_properties.len() > 32 {
            return Err(PyValueError::new_err(
                "at most 32 identifier properties (bits)",
            ));
        }
        // An identifier property the table lacks is never kept here: one the allow-list takes
        // out could not be reported `not_allowed`.
        let identifier_properties = identifier_properties
            .iter()
            .map(|name| {
                let index = kept(name);
                if index.is_none()
                    && (removed.contains(name) || removed_from_purchase.contains(name))
                {
                    unwritten.push(format!(
                        "the identifier property {name} is not in the table"
                    ));
                }
                index
            })
            .collect();
        let (removed, removed_from_purchase) = (mask(&removed), mask(&removed_from_purchase));
        let framing = match schema_plan {
            Some(plan) => Framing::Plain(plan::from_python(&plan)?),
            None => Framing::Confluent,
        };
        let consent = consent_property.as_ref().map(|_| match consent_category {
            Some(category) => Consent::Category(category),
            None => Consent::Boolean,
        });
        Ok(NativePreparer {
            settings: Settings {
                properties,
                wire,
                kinds: field_kinds,
                identifiers: field_identifiers,
                unwritten,
                default_opt_out,
                phone_digits_only,
                max_age_ms,
                framing,
                consent_property,
                consent,
                removed,
                removed_from_purchase,
                identifier_properties,
                route_property,
                currencies,
                spotify_names,
                genders,
                action_sources,
                zero_text: zero_text.chars().collect(),
                longest_placeholder_word,
                min_event_time_ms,
            },
            plans,
            taught: Taught::default(),
            ready_order: ready_order(&ready_fields)?,
        })
    }

    /// The properties of the table that have no rule here: a record carrying one is declined.
    #[getter]
    fn unruled(&self) -> Vec<String> {
        self.settings.properties.unruled.clone()
    }

    /// What the native code cannot write from the tables it was given; while there is anything,
    /// every record is declined.
    #[getter]
    fn unwritten(&self) -> Vec<String> {
        self.settings.unwritten.clone()
    }

    /// Teach an own event name's Spotify name (what `EventNames.resolve` said).
    fn learn_name(&mut self, own_name: String, spotify_name: String) {
        if self.taught.names.len() < TABLE_LIMIT {
            self.taught.names.insert(own_name, spotify_name);
        }
    }

    /// Teach a content category's id: the text as sent, or `#` and a number's digits.
    fn learn_category(&mut self, sent: String, category_id: String) {
        if self.taught.categories.len() < TABLE_LIMIT {
            self.taught.categories.insert(sent, category_id);
        }
    }

    /// Teach a schema id's resolution plan (`connector/prepare/plan.py`): the records written
    /// with it are read natively from now on. False when the table is full (Python's, then).
    fn learn_schema(&mut self, schema_id: u32, plan: &Bound<'_, PyAny>) -> PyResult<bool> {
        let plan = plan::from_python(plan)?;
        Ok(self.remember_schema(schema_id, Some(plan)))
    }

    /// Say that a schema id's writer schema is one the native code cannot follow: its records
    /// are declined (`WRITER_SCHEMA`) without being read.
    fn refuse_schema(&mut self, schema_id: u32) -> bool {
        self.remember_schema(schema_id, None)
    }

    /// Each record's Ready fields in `ready_fields`' order, or the int of why it was declined
    /// (`UNKNOWN_NAME`, `UNKNOWN_CATEGORY`, `OTHER`, ...: bits). The work runs without the GIL.
    fn prepare_batch<'py>(
        &self,
        py: Python<'py>,
        records: Vec<(Option<PyBackedBytes>, Option<i64>)>,
        now_ms: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        let outcomes: Vec<Outcome> = py.allow_threads(|| {
            records
                .iter()
                .map(|(value, kafka_ms)| match value {
                    // A panic (a bug) declines the record: Python prepares it, and its own
                    // safety net turns a failure into a rejection. The run goes on.
                    Some(bytes) => panic::catch_unwind(AssertUnwindSafe(|| {
                        prepare::prepare(
                            &self.settings,
                            &self.plans,
                            &self.taught,
                            bytes,
                            *kafka_ms,
                            now_ms,
                        )
                    }))
                    .unwrap_or(Outcome::Declined(prepare::OTHER)),
                    None => Outcome::Declined(prepare::OTHER),
                })
                .collect()
        });
        let items: Vec<PyObject> = outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::Ready(ready) => self.ready_tuple(py, ready),
                Outcome::Declined(code) => Ok(code.into_pyobject(py)?.into_any().unbind()),
            })
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }
}

impl NativePreparer {
    fn remember_schema(&mut self, schema_id: u32, plan: Option<avro::Plan>) -> bool {
        let schemas = &mut self.taught.schemas;
        if schemas.len() >= TABLE_LIMIT && !schemas.contains_key(&schema_id) {
            return false;
        }
        schemas.insert(schema_id, plan);
        true
    }

    fn ready_tuple(&self, py: Python<'_>, ready: Ready) -> PyResult<PyObject> {
        // In ReadyField's order, then in the order Python asked for.
        let fields = [
            ready.event_id.into_pyobject(py)?.into_any(),
            ready.event_name.into_pyobject(py)?.into_any(),
            ready.event_time_ms.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &ready.payload).into_any(),
            ready.kinds.into_pyobject(py)?.into_any(),
            ready.email_count.into_pyobject(py)?.into_any(),
            ready.route_key.into_pyobject(py)?.into_any(),
            ready.dropped.into_pyobject(py)?.into_any(),
        ];
        let ordered = self
            .ready_order
            .iter()
            .map(|&field| &fields[field as usize]);
        Ok(PyTuple::new(py, ordered)?.into_any().unbind())
    }
}

/// Entries a taught table holds: a stream has few distinct event names, categories and schema
/// ids.
const TABLE_LIMIT: usize = 4096;

/// `str.strip()` as the native code does it (tests compare it with Python's).
#[pyfunction]
fn py_strip(text: &str) -> &str {
    text::py_strip(text)
}

/// Every property of a record, for `read_event`.
#[derive(Default)]
struct Every<'a>(Vec<(&'a str, Value<'a>)>);

impl<'a> Bag<'a> for Every<'a> {
    fn put(&mut self, key: &'a str, value: Value<'a>) {
        self.0.push((key, value));
    }
}

/// The record as the native code reads it by `plan` (connector/prepare/plan.py): the event
/// name, every property, the record timestamp; None where it declines the bytes. For the tests,
/// which hold it to fastavro (tests/unit/test_native_schemas.py).
#[pyfunction]
fn read_event<'py>(
    py: Python<'py>,
    plan: &Bound<'py, PyAny>,
    record: &[u8],
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let plan = plan::from_python(plan)?;
    let mut every = Every::default();
    let Some(head) = avro::read(record, &plan, &mut every) else {
        return Ok(None);
    };
    let properties = PyDict::new(py);
    for (key, value) in every.0 {
        let value = match value {
            Value::Null => py.None().into_bound(py),
            Value::Bool(flag) => flag.into_pyobject(py)?.to_owned().into_any(),
            Value::Long(number) => number.into_pyobject(py)?.into_any(),
            Value::Double(number) => number.into_pyobject(py)?.into_any(),
            Value::Str(text) => text.into_pyobject(py)?.into_any(),
            Value::List(items) => {
                let mut texts = Vec::new();
                items.each(record, |item| {
                    texts.push(item);
                    true
                });
                PyList::new(py, texts)?.into_any()
            }
        };
        properties.set_item(key, value)?;
    }
    let fields = [
        head.name.into_pyobject(py)?.into_any(),
        properties.into_any(),
        head.timestamp_ms.into_pyobject(py)?.into_any(),
    ];
    Ok(Some(PyTuple::new(py, fields)?))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // A panic's message can quote the text it failed on, an e-mail or a phone number: only its
    // place in the source is printed.
    panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        eprintln!(
            "connector.prepare._native: a bug at {}",
            place.unwrap_or_default()
        );
    }));
    m.add_class::<NativePreparer>()?;
    m.add_function(wrap_pyfunction!(py_strip, m)?)?;
    m.add_function(wrap_pyfunction!(read_event, m)?)?;
    // Why a record was declined (bits); Python reads them here (connector/prepare/native.py).
    m.add("UNKNOWN_NAME", prepare::UNKNOWN_NAME)?;
    m.add("UNKNOWN_CATEGORY", prepare::UNKNOWN_CATEGORY)?;
    m.add("OTHER", prepare::OTHER)?;
    m.add("UNKNOWN_SCHEMA", prepare::UNKNOWN_SCHEMA)?;
    m.add("WRITER_SCHEMA", prepare::WRITER_SCHEMA)?;
    m.add("CONSENT", prepare::CONSENT)?;
    Ok(())
}
