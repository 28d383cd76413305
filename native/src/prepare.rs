//! The transform's common case, end to end: the record's bytes to the event's JSON. Follows
//! `connector/transform/transformer.py` and `user_data.py` rule by rule, only where they send a
//! value as it is, with no warning; at anything else it declines and Python transforms the
//! record (tests/unit/test_native_prepare.py holds the two to the same bytes).

use std::collections::{HashMap, HashSet};

use crate::avro;
use crate::ids::{email_hash, is_ipv4, sha256_hex, PhonePlans};
use crate::json::{float_text, Json};
use crate::props::{Prop, Props, Value};
use crate::text::{py_len, py_strip};

pub const MIN_EVENT_TIME_MS: i64 = 946_684_800_000; // 2000-01-01T00:00:00Z
const MAX_RECORD_BYTES: usize = 1_000_000;
const LONGEST_PLACEHOLDER_WORD: usize = 9; // "undefined"
const ZERO_TEXT: &[char] = &['0', '-', ':', '.', ' '];
const NOT_AN_IP: &[char] = &['0', ':', '.'];

/// Why a record was declined, as bits: what Python can teach (`Tables`) so that the next
/// record like it is not declined.
pub const UNKNOWN_NAME: u8 = 1;
pub const UNKNOWN_CATEGORY: u8 = 2;
pub const OTHER: u8 = 4;

/// The identifier kinds a Ready carries, as bits in `identifiers.KINDS`' order.
const EMAIL: u8 = 1;
const PHONE: u8 = 2;
const IP: u8 = 4;
const DEVICE_ID: u8 = 8;
const CLICK_ID: u8 = 16;

/// The user-data text fields (`mapping.USER_TEXT_FIELDS`): property, then wire key.
const TEXT_FIELDS: [(Prop, &str); 9] = [
    (Prop::UserAgent, "user_agent"),
    (Prop::PlatformId, "platform_id"),
    (Prop::SessionId, "session_id"),
    (Prop::AliasId, "alias_id"),
    (Prop::Cookie1, "cookie1"),
    (Prop::PageId, "page_id"),
    (Prop::ConnectionType, "connection_type"),
    (Prop::AgeGroup, "age_group"),
    (Prop::ClickId, "clickID"),
];

pub struct Settings {
    pub max_event_id: usize,
    pub max_url: usize,
    pub max_content_name: usize,
    pub max_category: usize,
    pub max_device_id: usize,
    pub text_limits: [usize; 9], // TEXT_FIELDS' order
    pub default_opt_out: bool,
    pub phone_digits_only: bool,
    pub max_age_ms: Option<i64>,
    pub consent_property: Option<String>, // a boolean consent rule's property, if there is one
    pub route_property: Option<String>,   // the routing property, when routing is by property
    pub currencies: HashSet<String>,
    pub spotify_names: HashSet<String>,
}

/// What Python resolved once and taught: own event name → Spotify name, content category as
/// sent (`#` and the digits for a number) → taxonomy id.
#[derive(Default)]
pub struct Tables {
    pub names: HashMap<String, String>,
    pub categories: HashMap<String, String>,
}

pub struct Ready {
    /// `routing._route_key` of the routing property (Python finds the connection).
    pub route_key: Option<String>,
    pub event_id: String,
    pub event_name: String,
    pub event_time_ms: i64,
    pub payload: Vec<u8>,
    pub kinds: u8,
    pub email_count: u8,
}

pub enum Outcome {
    Ready(Ready),
    Declined(u8),
}

struct UserData<'a> {
    ip: Option<&'a str>,
    device_id: Option<&'a str>,
    phone: Option<String>,
    texts: [Option<&'a str>; 9],
    gender: Option<&'static str>,
    request_ip: Option<&'a str>,
    event_ip: Option<&'a str>,
    email: Option<String>,
}

struct Details<'a> {
    amount: Option<String>,
    currency: Option<String>,
    content_name: Option<&'a str>,
    content_category: Option<&'a str>,
}

/// One record's Ready, or why it was declined. Event name and category first: a record that
/// needs Python's answer for one of them says so (`UNKNOWN_*`), so that Python can teach it.
pub fn prepare(
    settings: &Settings,
    plans: &PhonePlans,
    tables: &Tables,
    value: &[u8],
    kafka_ms: Option<i64>,
    now_ms: i64,
) -> Outcome {
    if value.is_empty() || value.len() > MAX_RECORD_BYTES {
        return Outcome::Declined(OTHER);
    }
    let consent_key = settings.consent_property.as_deref();
    let Some(event) = avro::read(value, consent_key, settings.route_property.as_deref()) else {
        return Outcome::Declined(OTHER);
    };
    let props = &event.props;
    // A consent rule (boolean): only a granted consent is the common case; denied, missing and
    // anything else are Python's to act on (drop, attribution only, a warning).
    if settings.consent_property.is_some() && !matches!(props.consent, Some(Value::Bool(true))) {
        return Outcome::Declined(OTHER);
    }
    let mut unknown = 0;
    let event_name = match props.get(Prop::SpotifyEventName) {
        Some(Value::Str(name)) if settings.spotify_names.contains(name) => Some(name),
        Some(_) => return Outcome::Declined(OTHER),
        None => tables.names.get(event.name).map(String::as_str),
    };
    if event_name.is_none() {
        unknown |= UNKNOWN_NAME;
    }
    let category = match props.get(Prop::ContentCategory) {
        None => Ok(None),
        Some(Value::Str(text)) if py_strip(text).is_empty() => Ok(None),
        Some(Value::Str(text)) if py_len(text) <= settings.max_category => tables
            .categories
            .get(text)
            .map(|id| Some(id.as_str()))
            .ok_or(UNKNOWN_CATEGORY),
        Some(Value::Long(number)) => tables
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
    match ready(
        settings,
        plans,
        &event,
        event_name.unwrap_or_default(),
        content_category,
        kafka_ms,
        now_ms,
    ) {
        Some(ready) => Outcome::Ready(ready),
        None => Outcome::Declined(OTHER),
    }
}

/// The rest of the transform, and the JSON; `None` at the first thing that is not common.
fn ready(
    settings: &Settings,
    plans: &PhonePlans,
    event: &avro::Event<'_>,
    event_name: &str,
    content_category: Option<&str>,
    kafka_ms: Option<i64>,
    now_ms: i64,
) -> Option<Ready> {
    let props = &event.props;
    let event_id = match props.get(Prop::EventId)? {
        Value::Str(id) => {
            let id = py_strip(id);
            (!id.is_empty() && py_len(id) <= settings.max_event_id).then_some(id)?
        }
        _ => return None,
    };
    let event_time_ms = event_time(settings, props, event.timestamp_ms, kafka_ms, now_ms)?;
    let user_data = user_data(settings, plans, props)?;
    if user_data.ip.is_none()
        && user_data.device_id.is_none()
        && user_data.email.is_none()
        && user_data.phone.is_none()
    {
        return None; // no identifier: Python rejects it
    }
    let action_source = match props.get(Prop::ActionSource) {
        None => None,
        Some(Value::Str(text)) => {
            let raw = py_strip(text);
            match raw.to_ascii_uppercase().as_str() {
                _ if raw.is_empty() => None,
                _ if !raw.is_ascii() => return None,
                upper @ ("WEB" | "APP" | "OFFLINE") => Some(upper.to_owned()),
                _ => return None,
            }
        }
        Some(_) => return None,
    };
    let opt_out = match props.get(Prop::OptOutTargeting) {
        None => settings.default_opt_out,
        Some(Value::Bool(flag)) => flag,
        Some(_) => return None,
    };
    let url = match props.get(Prop::EventSourceUrl) {
        None => None,
        Some(Value::Str(text)) => {
            let raw = py_strip(text);
            if raw.is_empty() {
                None
            } else {
                let url = url(raw)?;
                (py_len(&url) <= settings.max_url).then_some(url)?.into()
            }
        }
        Some(_) => return None,
    };
    let details = details(settings, props, event_name == "PURCHASE", content_category)?;

    let mut json = Json::new();
    json.open();
    json.str_field("event_id", event_id);
    json.str_field("event_name", event_name);
    json.str_field("event_time", &format_utc_ms(event_time_ms));
    if let Some(source) = &action_source {
        json.str_field("action_source", source);
    }
    json.raw_field("opt_out_targeting", if opt_out { "true" } else { "false" });
    if let Some(url) = &url {
        json.str_field("event_source_url", url);
    }
    json.key("user_data");
    json.open();
    let kinds = write_user_data(&mut json, &user_data);
    json.close();
    let has_details = details.amount.is_some()
        || details.currency.is_some()
        || details.content_name.is_some()
        || details.content_category.is_some();
    if has_details {
        json.key("event_details");
        json.open();
        if let Some(amount) = &details.amount {
            json.raw_field("amount", amount);
        }
        if let Some(currency) = &details.currency {
            json.str_field("currency", currency);
        }
        if let Some(name) = details.content_name {
            json.str_field("content_name", name);
        }
        if let Some(category) = details.content_category {
            json.str_field("content_category", category);
        }
        json.close();
    }
    json.close();
    Some(Ready {
        route_key: props.route.and_then(route_key),
        event_id: event_id.to_owned(),
        event_name: event_name.to_owned(),
        event_time_ms,
        payload: json.out,
        kinds,
        email_count: u8::from(user_data.email.is_some()),
    })
}

/// `transformer._event_time`: `$event_time` as epoch ms, else the record's timestamp, else
/// Kafka's, else now; refused or adjusted times are Python's.
fn event_time(
    settings: &Settings,
    props: &Props<'_>,
    record_ms: Option<i64>,
    kafka_ms: Option<i64>,
    now_ms: i64,
) -> Option<i64> {
    let epoch_ms = match props.get(Prop::EventTime) {
        Some(Value::Long(ms)) if (100_000_000_000..100_000_000_000_000).contains(&ms) => ms,
        Some(_) => return None,
        None => match (record_ms, kafka_ms) {
            (Some(ms), _) if ms > 0 => ms,
            (_, Some(ms)) if ms > 0 => ms,
            _ => now_ms,
        },
    };
    if epoch_ms < MIN_EVENT_TIME_MS || epoch_ms > now_ms {
        return None;
    }
    if let Some(max_age_ms) = settings.max_age_ms {
        if now_ms - epoch_ms > max_age_ms {
            return None;
        }
    }
    Some(epoch_ms)
}

fn user_data<'a>(
    settings: &Settings,
    plans: &PhonePlans,
    props: &Props<'a>,
) -> Option<UserData<'a>> {
    let device_id = match props.get(Prop::DeviceId) {
        None => None,
        Some(Value::Str(text)) => {
            let id = py_strip(text);
            let length = py_len(id);
            let usable = LONGEST_PLACEHOLDER_WORD < length
                && length <= settings.max_device_id
                && !id.trim_matches(ZERO_TEXT).is_empty();
            usable.then_some(id)?.into()
        }
        Some(_) => return None,
    };
    let mut texts = [None; 9];
    for (index, (prop, _)) in TEXT_FIELDS.iter().enumerate() {
        texts[index] = capped_text(props.get(*prop), settings.text_limits[index])?;
    }
    let email = match props.get(Prop::Email) {
        None => None,
        Some(Value::Str(text)) => Some(email_hash(text)?),
        Some(_) => return None,
    };
    let phone = match props.get(Prop::Phone) {
        None => None,
        Some(Value::Str(text)) => {
            let e164 = plans.e164(py_strip(text))?;
            Some(sha256_hex(if settings.phone_digits_only {
                &e164[1..]
            } else {
                &e164
            }))
        }
        Some(_) => return None,
    };
    let gender = match props.get(Prop::Gender) {
        None => None,
        Some(Value::Str(text)) => {
            let raw = py_strip(text);
            if raw.is_empty() {
                None
            } else if !raw.is_ascii() {
                return None;
            } else {
                match raw.to_ascii_lowercase().as_str() {
                    "m" | "male" | "man" => Some("MALE"),
                    "f" | "female" | "woman" => Some("FEMALE"),
                    _ => return None,
                }
            }
        }
        Some(_) => return None,
    };
    Some(UserData {
        ip: ip(props.get(Prop::Ip))?,
        device_id,
        phone,
        texts,
        gender,
        request_ip: ip(props.get(Prop::RequestIp))?,
        event_ip: ip(props.get(Prop::EventIp))?,
        email,
    })
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

/// An IP field: `Some(None)` absent, `Some(Some(ip))` a usable IPv4 address, `None` declined.
fn ip<'a>(value: Option<Value<'a>>) -> Option<Option<&'a str>> {
    match value {
        None => Some(None),
        Some(Value::Str(text)) => {
            let ip = py_strip(text);
            let usable = !ip.trim_matches(NOT_AN_IP).is_empty() && !ip.contains(':') && is_ipv4(ip);
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

fn details<'a>(
    settings: &Settings,
    props: &Props<'a>,
    purchase: bool,
    content_category: Option<&'a str>,
) -> Option<Details<'a>> {
    let amount = match props.get(Prop::Amount) {
        None if purchase => return None,
        None => None,
        Some(Value::Double(number)) => Some(float_text(number)?),
        Some(Value::Long(number)) if number.unsigned_abs() < (1 << 53) => {
            Some(float_text(number as f64)?)
        }
        Some(_) => return None,
    };
    let currency = match props.get(Prop::Currency) {
        None if purchase => return None,
        None => None,
        Some(Value::Str(text)) => {
            let code = py_strip(text);
            if !code.is_ascii() {
                return None;
            }
            let code = code.to_ascii_uppercase();
            settings.currencies.contains(&code).then_some(code)?.into()
        }
        Some(_) => return None,
    };
    let content_name = capped_text(props.get(Prop::ContentName), settings.max_content_name)?;
    Some(Details {
        amount,
        currency,
        content_name,
        content_category,
    })
}

/// `user_data` in `models._user_data_wire`'s order; the identifier kinds it carries.
fn write_user_data(json: &mut Json, user_data: &UserData<'_>) -> u8 {
    let mut kinds = 0;
    if let Some(ip) = user_data.ip {
        json.str_field("ip_address", ip);
        kinds |= IP;
    }
    if let Some(id) = user_data.device_id {
        json.str_field("device_id", id);
        kinds |= DEVICE_ID;
    }
    if let Some(phone) = &user_data.phone {
        json.str_field("hashed_phone_number", phone);
        kinds |= PHONE;
    }
    if let Some(agent) = user_data.texts[0] {
        json.str_field("user_agent", agent);
    }
    if let Some(gender) = user_data.gender {
        json.str_field("gender", gender);
    }
    if let Some(ip) = user_data.request_ip {
        json.str_field("request_ip_address", ip);
    }
    if let Some(ip) = user_data.event_ip {
        json.str_field("event_ip_address", ip);
    }
    for index in 1..8 {
        if let Some(text) = user_data.texts[index] {
            json.str_field(TEXT_FIELDS[index].1, text);
        }
    }
    if let Some(hash) = &user_data.email {
        json.key("hashed_emails");
        json.out.push(b'[');
        json.string(hash);
        json.out.push(b']');
        kinds |= EMAIL;
    }
    if let Some(click_id) = user_data.texts[8] {
        json.str_field("clickID", click_id);
        kinds |= CLICK_ID;
    }
    kinds
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
