//! `connector.prepare._native`: the prepare step's common case in Rust (see
//! `connector/prepare/native.py`, which builds it from the settings and falls back to Python).

mod avro;
mod ids;
mod json;
mod props;
mod text;
mod transform;

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList, PyTuple};

use ids::PhonePlans;
use transform::{Outcome, Settings, Tables};

type Plans = Vec<(String, Vec<(String, Vec<usize>)>)>;

#[pyclass(module = "connector.prepare._native")]
struct NativePreparer {
    settings: Settings,
    plans: PhonePlans,
    tables: Tables,
}

#[pymethods]
impl NativePreparer {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (
        *, max_event_id, max_url, max_content_name, max_category, max_device_id, text_limits,
        default_opt_out, phone_digits_only, max_age_ms, consent_property, route_property, currencies,
        spotify_names, phone_plans
    ))]
    fn new(
        max_event_id: usize,
        max_url: usize,
        max_content_name: usize,
        max_category: usize,
        max_device_id: usize,
        text_limits: [usize; 9],
        default_opt_out: bool,
        phone_digits_only: bool,
        max_age_ms: Option<i64>,
        consent_property: Option<String>,
        route_property: Option<String>,
        currencies: HashSet<String>,
        spotify_names: HashSet<String>,
        phone_plans: Plans,
    ) -> PyResult<Self> {
        let plans =
            PhonePlans::new(phone_plans).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(NativePreparer {
            settings: Settings {
                max_event_id,
                max_url,
                max_content_name,
                max_category,
                max_device_id,
                text_limits,
                default_opt_out,
                phone_digits_only,
                max_age_ms,
                consent_property,
                route_property,
                currencies,
                spotify_names,
            },
            plans,
            tables: Tables::default(),
        })
    }

    /// Teach an own event name's Spotify name (what `EventNames.resolve` said).
    fn learn_name(&mut self, own_name: String, spotify_name: String) {
        if self.tables.names.len() < TABLE_LIMIT {
            self.tables.names.insert(own_name, spotify_name);
        }
    }

    /// Teach a content category's id: the text as sent, or `#` and a number's digits.
    fn learn_category(&mut self, sent: String, category_id: String) {
        if self.tables.categories.len() < TABLE_LIMIT {
            self.tables.categories.insert(sent, category_id);
        }
    }

    /// Each record's Ready fields `(event_id, event_name, event_time_ms, payload, kinds,
    /// email_count, route_key)`, or the int of why it was declined (`transform::UNKNOWN_*`,
    /// `OTHER`).
    /// The work runs without the GIL.
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
                        transform::prepare(
                            &self.settings,
                            &self.plans,
                            &self.tables,
                            bytes,
                            *kafka_ms,
                            now_ms,
                        )
                    }))
                    .unwrap_or(Outcome::Declined(transform::OTHER)),
                    None => Outcome::Declined(transform::OTHER),
                })
                .collect()
        });
        let items: Vec<PyObject> = outcomes
            .into_iter()
            .map(|outcome| -> PyResult<PyObject> {
                Ok(match outcome {
                    Outcome::Ready(r) => PyTuple::new(
                        py,
                        [
                            r.event_id.into_pyobject(py)?.into_any(),
                            r.event_name.into_pyobject(py)?.into_any(),
                            r.event_time_ms.into_pyobject(py)?.into_any(),
                            PyBytes::new(py, &r.payload).into_any(),
                            r.kinds.into_pyobject(py)?.into_any(),
                            r.email_count.into_pyobject(py)?.into_any(),
                            r.route_key.into_pyobject(py)?.into_any(),
                        ],
                    )?
                    .into_any()
                    .unbind(),
                    Outcome::Declined(code) => code.into_pyobject(py)?.into_any().unbind(),
                })
            })
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }
}

/// Entries a table holds: a stream has few distinct event names and categories.
const TABLE_LIMIT: usize = 4096;

/// `str.strip()` as the native code does it (tests compare it with Python's).
#[pyfunction]
fn py_strip(text: &str) -> &str {
    text::py_strip(text)
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
    Ok(())
}
