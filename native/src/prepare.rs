//! The prepare step's common case, end to end: the record's bytes, decoded and transformed, to
//! the event's JSON. Follows `connector/transform/transformer.py` and `user_data.py` rule by
//! rule, only where they send a value as it is, with no warning; at anything else it declines and
//! Python transforms the record (tests/unit/test_native_prepare.py holds the two to the same
//! bytes). Its tables are Python's, handed over at construction (`connector/prepare/native.py`):
//! which property each rule reads and which field it feeds, the fields' order and limits, the
//! identifier kinds, the currency codes, event names, genders and action sources, the consent
//! rule and the allow-list's properties; and, as records go, the resolution plan of each writer
//! schema (`connector/prepare/plan.py`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::avro::{self, Plan, Value};
use crate::ids::{email_hash, is_ipv4, sha256_hex, PhonePlans};
use crate::json::float_text;
use crate::props::{Bound, PropertyTable, Props, Rule};
use crate::text::{py_len, py_strip};
use crate::wire::{Out, Wire};

const MAX_RECORD_BYTES: usize = 1_000_000;
/// `event_time.parse_event_time` reads a number in this range as epoch milliseconds.
const EPOCH_MS: std::ops::Range<i64> = 100_000_000_000..100_000_000_000_000;

/// Why a record was declined, as bits: what Python can teach (`Taught`) so that the next
/// record like it is not declined, and what it decides itself. The module exports them
/// (lib.rs); Python reads them there.
pub const UNKNOWN_NAME: u8 = 1;
pub const UNKNOWN_CATEGORY: u8 = 2;
pub const OTHER: u8 = 4;
/// A schema id with no plan yet: Python plans its writer schema and teaches it.
pub const UNKNOWN_SCHEMA: u8 = 8;
/// A schema id whose writer schema the native code cannot follow: Python's, for that id.
pub const WRITER_SCHEMA: u8 = 16;
/// A consent that is not a clear grant: Python drops the event, sends it for attribution only,
/// or warns, as the rule says.
pub const CONSENT: u8 = 32;

/// How a record's value is framed.
pub enum Framing {
    /// Avro binary alone, written with one writer schema: its plan.
    Plain(Plan),
    /// The Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), Avro
    /// binary written with that id's schema, whose plan Python teaches (`Taught::schemas`).
    Confluent,
}

/// The consent rule (`connector/transform/consent.py` `ConsentRule`), when there is one.
pub enum Consent {
    Boolean,
    /// The category as the rule compares it: stripped and lower-cased by Python.
    Category(String),
}

/// The settings and Python's tables, as `NativePreparer` was built with them.
pub struct Settings {
    pub properties: PropertyTable,
    pub wire: Wire,
    /// Each field's identifier kind as its bit (`identifiers.KINDS`' order: kind `i` is bit
    /// `i`), 0 for a field that carries none.
    pub kinds: Vec<u32>,
    /// Whether each field is one of those an event needs one of (`mapping.IDENTIFIER_FIELDS`).
    pub identifiers: Vec<bool>,
    /// What the native code cannot write (a field no property feeds, a rule every event needs
    /// that no property is bound to, ...): while there is any, every record is declined.
    pub unwritten: Vec<String>,
    pub default_opt_out: bool,
    pub phone_digits_only: bool,
    pub max_age_ms: Option<i64>,
    pub framing: Framing,
    pub consent_property: Option<String>, // the consent rule's property, if there is one
    pub consent: Option<Consent>,
    /// The properties the allow-list takes out (`FieldFilter`), as bits by table index: of every
    /// event, and of a PURCHASE (which keeps its amount and currency).
    pub removed: u64,
    pub removed_from_purchase: u64,
    /// The identifier properties (`identifiers.IDENTIFIER_PROPERTIES`, in order) by table index:
    /// bit `i` of a Ready's `dropped` is the `i`-th, present and taken out by the allow-list.
    pub identifier_properties: Vec<Option<usize>>,
    pub route_property: Option<String>, // the routing property, when routing is by property
    pub currencies: HashSet<String>,
    pub spotify_names: HashSet<String>,
    pub genders: HashMap<String, String>, // `normalize.GENDERS`: lower-case text → Spotify's
    pub action_sources: HashSet<String>,
    pub zero_text: Vec<char>, // `normalize.ZERO_TEXT`: an id made only of these is a placeholder
    pub longest_placeholder_word: usize,
    pub min_event_time_ms: i64,
}

/// What Python resolved once and taught: own event name → Spotify name, content category as
/// sent (`#` and the digits for a number) → taxonomy id.
#[derive(Default)]
pub struct Taught {
    pub names: HashMap<String, String>,
    pub categories: HashMap<String, String>,
    /// Schema id → its writer schema's plan, or `None`: the native code cannot follow it.
    pub schemas: HashMap<u32, Option<Plan>>,
}

pub struct Ready {
    /// `routing._route_key` of the routing property (Python finds the connection).
    pub route_key: Option<String>,
    pub event_id: String,
    pub event_name: String,
    pub event_time_ms: i64,
    pub payload: Vec<u8>,
    pub kinds: u32,
    pub email_count: u8,
    /// The identifier properties the allow-list took out (bits: `identifier_properties`).
    pub dropped: u32,
}

pub enum Outcome {
    Ready(Ready),
    Declined(u8),
}

/// A record as read: its properties (the table's), its record timestamp.
struct Event<'e, 'a> {
    props: &'e Props<'a>,
    timestamp_ms: Option<i64>,
}

/// What the rules of a record read besides their own property.
struct Record<'a> {
    event_id: &'a str,
    event_name: &'a str,
    event_time_ms: i64,
    content_category: Option<&'a str>,
    purchase: bool,
}

/// One record's Ready, or why it was declined. Event name and category first: a record that
/// needs Python's answer for one of them says so (`UNKNOWN_*`), so that Python can teach it.
pub fn prepare(
    settings: &Settings,
    plans: &PhonePlans,
    taught: &Taught,
    value: &[u8],
    kafka_ms: Option<i64>,
    now_ms: i64,
) -> Outcome {
    if !settings.unwritten.is_empty() || value.is_empty() || value.len() > MAX_RECORD_BYTES {
        return Outcome::Declined(OTHER);
    }
    let (plan, body) = match &settings.framing {
        Framing::Plain(plan) => (plan, value),
        Framing::Confluent => {
            let (0, Some(&[a, b, c, d])) = (value[0], value.get(1..5)) else {
                return Outcome::Declined(OTHER); // not framed: Python says so
            };
            match taught.schemas.get(&u32::from_be_bytes([a, b, c, d])) {
                Some(Some(plan)) => (plan, &value[5..]),
                Some(None) => return Outcome::Declined(WRITER_SCHEMA),
                None => return Outcome::Declined(UNKNOWN_SCHEMA),
            }
        }
    };
    let table = &settings.properties;
    let consent_key = settings.consent_property.as_deref();
    let route_key = settings.route_property.as_deref();
    let mut props = Props::new(table, consent_key, route_key);
    let Some(head) = avro::read(body, plan, &mut props) else {
        return Outcome::Declined(OTHER);
    };
    // A property Python maps and the native code has no rule for: Python's to transform.
    if props.unruled {
        return Outcome::Declined(OTHER);
    }
    // A consent rule: only a granted consent is the common case; denied, missing and anything
    // else are Python's to act on (drop, attribution only, a warning).
    if let Some(rule) = &settings.consent {
        if !granted(rule, props.consent, body) {
            return Outcome::Declined(CONSENT);
        }
    }
    let mut unknown = 0;
    let event_name = match table.value(&props, Rule::ExplicitName) {
        Some(Value::Str(name)) if settings.spotify_names.contains(name) => Some(name),
        Some(_) => return Outcome::Declined(OTHER),
        None => taught.names.get(head.name).map(String::as_str),
    };
    if event_name.is_none() {
        unknown |= UNKNOWN_NAME;
    }
    // The allow-list: what may not leave is taken out before any rule reads it. A PURCHASE
    // keeps its amount and currency; an unknown name takes out what both would.
    let removed = match event_name {
        Some("PURCHASE") => settings.removed_from_purchase,
        Some(_) => settings.removed,
        None => settings.removed & settings.removed_from_purchase,
    };
    let mut dropped = 0;
    if removed != 0 {
        for (bit, index) in settings.identifier_properties.iter().enumerate() {
            if let Some(index) = *index {
                if removed & (1 << index) != 0 && props.get(index).is_some() {
                    dropped |= 1 << bit;
                }
            }
        }
        props.remove(removed);
    }
    let event = Event {
        props: &props,
        timestamp_ms: head.timestamp_ms,
    };
    let props = event.props;
    let max_category = table.single(Rule::ContentCategory).map_or(0, |b| b.limit);
    let category = match table.value(props, Rule::ContentCategory) {
        None => Ok(None),
        Some(Value::Str(text)) if py_strip(text).is_empty() => Ok(None),
        Some(Value::Str(text)) if py_len(text) <= max_category => taught
            .categories
            .get(text)
            .map(|id| Some(id.as_str()))
            .ok_or(UNKNOWN_CATEGORY),
        Some(Value::Long(number)) => taught
            .categories
            .get(&format!("#{number}"))
            .map(|id| Some(id.as_str()))
            .ok_or(UNKNOWN_CATEGORY),
        Some(_) => Err(OTHER),
    };
    let content_category = match category {
        Ok(found) => found,
        Err(code) => {
            unknown |= code;
            None
        }
    };
    if unknown != 0 {
        return Outcome::Declined(unknown);
    }
    let event_name = event_name.unwrap_or_default();
    match ready(
        settings,
        plans,
        &event,
        event_name,
        content_category,
        kafka_ms,
        now_ms,
    ) {
        Some(ready) => Outcome::Ready(Ready { dropped, ..ready }),
        None => Outcome::Declined(OTHER),
    }
}

/// `ConsentRule.read` is `GRANTED`: the boolean `true` (a boolean rule), or the category among
/// the granted ones, as a list or comma-separated text, not marked `:0` (a rule by category).
/// Text that is not ASCII is left to Python (its `lower()` maps some of it to ASCII).
fn granted<'a>(rule: &Consent, value: Option<Value<'a>>, record: &'a [u8]) -> bool {
    let category = match rule {
        Consent::Boolean => return matches!(value, Some(Value::Bool(true))),
        Consent::Category(category) => category.as_str(),
    };
    let mut found = None;
    let mut entry = |entry: &str| {
        if !entry.is_ascii() {
            found = Some(false);
        } else {
            let stripped = py_strip(entry);
            let (name, state) = stripped.split_once(':').unwrap_or((stripped, ""));
            if py_strip(name).eq_ignore_ascii_case(category) {
                found = Some(py_strip(state) != "0");
            }
        }
        found.is_none() // on to the next entry
    };
    match value {
        Some(Value::Str(text)) if !py_strip(text).is_empty() => {
            for part in text.split(',') {
                if !entry(part) {
                    break;
                }
            }
        }
        Some(Value::List(items)) => {
            items.each(record, entry);
        }
        _ => return false, // missing, or nothing the rule reads
    }
    found == Some(true)
}

/// The rest of the transform, and the JSON; `None` at the first thing that is not common.
fn ready<'a>(
    settings: &'a Settings,
    plans: &PhonePlans,
    event: &Event<'_, 'a>,
    event_name: &'a str,
    content_category: Option<&'a str>,
    kafka_ms: Option<i64>,
    now_ms: i64,
) -> Option<Ready> {
    let table = &settings.properties;
    let props = &event.props;
    let max_event_id = table.single(Rule::EventId)?.limit;
    let event_id = match table.value(props, Rule::EventId)? {
        Value::Str(id) => {
            let id = py_strip(id);
            (!id.is_empty() && py_len(id) <= max_event_id).then_some(id)?
        }
        _ => return None,
    };
    let event_time_ms = event_time(
        settings,
        table.value(props, Rule::EventTime),
        event.timestamp_ms,
        kafka_ms,
        now_ms,
    )?;
    let record = Record {
        event_id,
        event_name,
        event_time_ms,
        content_category,
        purchase: event_name == "PURCHASE", // transformer._event_details' `purchase`
    };
    // Each field in wire order, from its properties by their rules (of two properties feeding
    // one field, the later one the record carries decides, as in user_data.py's loops).
    let emails = table.single(Rule::EmailHashes).map(|b| b.field);
    let (mut kinds, mut identified, mut email_count) = (0, false, 0);
    let payload = settings.wire.write(
        |field| {
            let mut found = None;
            for &(index, bound) in table.feeding(field) {
                let value = props.get(index);
                if value.is_none() && bound.rule.none_when_absent(record.purchase) {
                    continue; // the common absent property, without the rule's round trip
                }
                found = apply(settings, plans, &record, bound, value)?;
            }
            Some(found)
        },
        |field| {
            kinds |= settings.kinds[field];
            identified |= settings.identifiers[field];
            email_count += u8::from(emails == Some(field));
        },
    )?;
    if !identified {
        return None; // no identifier: Python rejects it
    }
    Some(Ready {
        route_key: props.route.and_then(route_key),
        event_id: event_id.to_owned(),
        event_name: event_name.to_owned(),
        event_time_ms,
        payload,
        kinds,
        email_count,
        dropped: 0,
    })
}

/// One property's field by its rule, as `UserDataBuilder.build` and `Transformer.transform` call
/// each rule: `Some(None)` nothing to send, `Some(Some(out))` the value to send, `None` declined.
fn apply<'a>(
    settings: &'a Settings,
    plans: &PhonePlans,
    record: &Record<'a>,
    bound: Bound,
    value: Option<Value<'a>>,
) -> Option<Option<Out<'a>>> {
    Some(match bound.rule {
        Rule::EventId => Some(Out::text(record.event_id)),
        Rule::ExplicitName => Some(Out::text(record.event_name)),
        Rule::EventTime => Some(Out::owned(format_utc_ms(record.event_time_ms))),
        Rule::ContentCategory => record.content_category.map(Out::text),
        Rule::Flag => Some(Out::Raw(Cow::Borrowed(if opt_out(settings, value)? {
            "true"
        } else {
            "false"
        }))),
        Rule::ActionSource => action_source(settings, value)?.map(Out::owned),
        Rule::Url => event_source_url(value, bound.limit)?.map(Out::owned),
        Rule::EmailHashes => match value {
            None => None,
            Some(Value::Str(text)) => Some(Out::List(email_hash(text)?)),
            Some(_) => return None,
        },
        Rule::HashedPhone => hashed_phone(settings, plans, value)?.map(Out::owned),
        Rule::Gender => gender(settings, value)?.map(Out::text),
        Rule::DeviceId => device_id(settings, value, bound.limit)?.map(Out::text),
        Rule::IpAddress => ip(settings, value)?.map(Out::text),
        Rule::CappedText => capped_text(value, bound.limit)?.map(Out::text),
        Rule::Amount => amount(value, record.purchase)?.map(|a| Out::Raw(Cow::Owned(a))),
        Rule::Currency => currency(settings, value, record.purchase)?.map(Out::owned),
    })
}

/// `transformer._event_time`: `$event_time` as epoch ms, else the record's timestamp, else
/// Kafka's, else now; refused or adjusted times are Python's.
fn event_time(
    settings: &Settings,
    value: Option<Value<'_>>,
    record_ms: Option<i64>,
    kafka_ms: Option<i64>,
    now_ms: i64,
) -> Option<i64> {
    let epoch_ms = match value {
        Some(Value::Long(ms)) if EPOCH_MS.contains(&ms) => ms,
        Some(_) => return None,
        None => match (record_ms, kafka_ms) {
            (Some(ms), _) if ms > 0 => ms,
            (_, Some(ms)) if ms > 0 => ms,
            _ => now_ms,
        },
    };
    if epoch_ms < settings.min_event_time_ms || epoch_ms > now_ms {
        return None;
    }
    if let Some(max_age_ms) = settings.max_age_ms {
        if now_ms - epoch_ms > max_age_ms {
            return None;
        }
    }
    Some(epoch_ms)
}

/// `transformer._opt_out`: a boolean as it is (`normalize.flag`'s common case); absent, the
/// setting's default.
fn opt_out(settings: &Settings, value: Option<Value<'_>>) -> Option<bool> {
    match value {
        None => Some(settings.default_opt_out),
        Some(Value::Bool(flag)) => Some(flag),
        Some(_) => None,
    }
}

/// `normalize.action_source` on ASCII text: one of the action sources, upper-cased.
fn action_source(settings: &Settings, value: Option<Value<'_>>) -> Option<Option<String>> {
    match value {
        None => Some(None),
        Some(Value::Str(text)) => {
            let raw = py_strip(text);
            if raw.is_empty() {
                return Some(None);
            }
            if !raw.is_ascii() {
                return None;
            }
            let upper = raw.to_ascii_uppercase();
            settings
                .action_sources
                .contains(&upper)
                .then_some(Some(upper))
        }
        Some(_) => None,
    }
}

/// `transformer._url`: `normalize.url` within the field's limit.
fn event_source_url(value: Option<Value<'_>>, limit: usize) -> Option<Option<String>> {
    match value {
        None => Some(None),
        Some(Value::Str(text)) => {
            let raw = py_strip(text);
            if raw.is_empty() {
                return Some(None);
            }
            let url = url(raw)?;
            (py_len(&url) <= limit).then_some(Some(url))
        }
        Some(_) => None,
    }
}

/// `user_data._hashed_phone`'s common case: a number in E.164 form, hashed. Not inlined: its
/// regex reads a thread-local, which the caller would then read for every field.
#[inline(never)]
fn hashed_phone(
    settings: &Settings,
    plans: &PhonePlans,
    value: Option<Value<'_>>,
) -> Option<Option<String>> {
    match value {
        None => Some(None),
        Some(Value::Str(text)) => {
            let e164 = plans.e164(py_strip(text))?;
            let hashed = if settings.phone_digits_only {
                &e164[1..]
            } else {
                &e164
            };
            Some(Some(sha256_hex(hashed)))
        }
        Some(_) => None,
    }
}

/// `normalize.gender` on ASCII text: the Spotify value of a known spelling.
fn gender<'a>(settings: &'a Settings, value: Option<Value<'_>>) -> Option<Option<&'a str>> {
    match value {
        None => Some(None),
        Some(Value::Str(text)) => {
            let raw = py_strip(text);
            if raw.is_empty() {
                Some(None)
            } else if !raw.is_ascii() {
                None
            } else {
                let found = settings.genders.get(&raw.to_ascii_lowercase())?;
                Some(Some(found.as_str()))
            }
        }
        Some(_) => None,
    }
}

/// `normalize.device_id`'s common case: longer than any placeholder word, not all zeros, within
/// its limit.
fn device_id<'a>(
    settings: &Settings,
    value: Option<Value<'a>>,
    limit: usize,
) -> Option<Option<&'a str>> {
    match value {
        None => Some(None),
        Some(Value::Str(text)) => {
            let id = py_strip(text);
            let length = py_len(id);
            let usable = settings.longest_placeholder_word < length
                && length <= limit
                && !id.trim_matches(settings.zero_text.as_slice()).is_empty();
            usable.then_some(Some(id))
        }
        Some(_) => None,
    }
}

/// A free-text field (`normalize.capped_text`'s common case): `Some(None)` absent or blank,
/// `Some(Some(text))` the trimmed text within `limit` characters, `None` declined.
fn capped_text(value: Option<Value<'_>>, limit: usize) -> Option<Option<&str>> {
    match value {
        None => Some(None),
        Some(Value::Str(text)) => {
            let stripped = py_strip(text);
            (py_len(stripped) <= limit).then_some((!stripped.is_empty()).then_some(stripped))
        }
        Some(_) => None,
    }
}

/// `normalize.ip_address`'s IPv4 case: `Some(None)` absent, `Some(Some(ip))` a usable IPv4
/// address (not a placeholder: `0.0.0.0`), `None` declined.
fn ip<'a>(settings: &Settings, value: Option<Value<'a>>) -> Option<Option<&'a str>> {
    match value {
        None => Some(None),
        Some(Value::Str(text)) => {
            let ip = py_strip(text);
            let usable = !ip.trim_matches(settings.zero_text.as_slice()).is_empty()
                && !ip.contains(':')
                && is_ipv4(ip);
            usable.then_some(Some(ip))
        }
        Some(_) => None,
    }
}

/// `normalize.url` for an ASCII scheme: `http(s)://`, a host character, no whitespace or
/// control characters; the scheme lower-cased.
fn url(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let scheme_ok = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let mut chars = rest.chars();
    let first = chars.next()?;
    let bad = |c: char| crate::text::py_isspace(c) || c <= '\x1f' || c == '\x7f';
    if !scheme_ok || bad(first) || matches!(first, '/' | '?' | '#') || chars.any(bad) {
        return None;
    }
    let mut url = scheme.to_ascii_lowercase();
    url.push_str("://");
    url.push_str(rest);
    Some(url)
}

/// `normalize.amount` of a number, as orjson writes it; a PURCHASE needs one
/// (`transformer._required`).
fn amount(value: Option<Value<'_>>, purchase: bool) -> Option<Option<String>> {
    match value {
        None if purchase => None,
        None => Some(None),
        Some(Value::Double(number)) => Some(Some(float_text(number)?)),
        Some(Value::Long(number)) if number.unsigned_abs() < (1 << 53) => {
            Some(Some(float_text(number as f64)?))
        }
        Some(_) => None,
    }
}

/// `normalize.currency`: an ISO 4217 code, upper-cased; a PURCHASE needs one
/// (`transformer._required`).
fn currency(
    settings: &Settings,
    value: Option<Value<'_>>,
    purchase: bool,
) -> Option<Option<String>> {
    match value {
        None if purchase => None,
        None => Some(None),
        Some(Value::Str(text)) => {
            let code = py_strip(text);
            if !code.is_ascii() {
                return None;
            }
            let code = code.to_ascii_uppercase();
            settings.currencies.contains(&code).then_some(Some(code))
        }
        Some(_) => None,
    }
}

/// `routing._route_key`: a boolean as `true`/`false`, text trimmed, an integer's digits; other
/// values route by no key (the default connection).
fn route_key(value: Value<'_>) -> Option<String> {
    match value {
        Value::Bool(flag) => Some(if flag { "true" } else { "false" }.to_owned()),
        Value::Str(text) => Some(py_strip(text).to_owned()),
        Value::Long(number) => Some(number.to_string()),
        _ => None,
    }
}

/// `event_time.format_utc_ms`: `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC (times from 2000 on).
pub fn format_utc_ms(epoch_ms: i64) -> String {
    let seconds = epoch_ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = String::with_capacity(24);
    for (value, width, end) in [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (of_day / 3600, 2, ':'),
        (of_day / 60 % 60, 2, ':'),
        (of_day % 60, 2, '.'),
        (epoch_ms.rem_euclid(1000), 3, 'Z'),
    ] {
        push_digits(&mut text, value, width);
        text.push(end);
    }
    text
}

/// `value` in decimal, zero-padded to `width` digits (`value` has at most `width` digits).
fn push_digits(text: &mut String, value: i64, width: u32) {
    let mut divisor = 10_i64.pow(width - 1);
    while divisor > 0 {
        text.push(char::from(b'0' + (value / divisor % 10) as u8));
        divisor /= 10;
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
