//! The property table as Python hands it over (`connector/transform/mapping.py` `PROPERTIES`,
//! through `connector/prepare/native.py`): each property the transform reads, the rule that
//! reads it (named after its Python twin) and the field it feeds. A property whose rule the
//! native code does not have, or whose field is not in the wire order, has no rule here: a
//! record carrying it is declined, and Python transforms it. The other properties of a record
//! are read for their validity and dropped, as Python drops them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::avro::{Bag, Value};
use crate::wire::Wire;

/// The rules the native code has, each by the name of the Python rule it follows (the name
/// `mapping.PROPERTIES` gives it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    ExplicitName,    // event_names.explicit_name
    ActionSource,    // normalize.action_source
    Flag,            // normalize.flag
    Url,             // normalize.url
    EventId,         // normalize.event_id
    EventTime,       // transformer._event_time
    EmailHashes,     // emails.email_hashes
    HashedPhone,     // user_data._hashed_phone
    Gender,          // normalize.gender
    DeviceId,        // normalize.device_id
    IpAddress,       // normalize.ip_address
    CappedText,      // normalize.capped_text
    Amount,          // normalize.amount
    Currency,        // normalize.currency
    ContentCategory, // taxonomy.CategoryResolver.resolve
}

const RULES: usize = 15;

/// What every event has, so the native code must know where each goes.
pub const REQUIRED: [Rule; 4] = [
    Rule::EventId,
    Rule::ExplicitName,
    Rule::EventTime,
    Rule::Flag,
];

impl Rule {
    pub fn from_name(name: &str) -> Option<Rule> {
        Some(match name {
            "explicit_name" => Rule::ExplicitName,
            "action_source" => Rule::ActionSource,
            "flag" => Rule::Flag,
            "url" => Rule::Url,
            "event_id" => Rule::EventId,
            "event_time" => Rule::EventTime,
            "email_hashes" => Rule::EmailHashes,
            "hashed_phone" => Rule::HashedPhone,
            "gender" => Rule::Gender,
            "device_id" => Rule::DeviceId,
            "ip_address" => Rule::IpAddress,
            "capped_text" => Rule::CappedText,
            "amount" => Rule::Amount,
            "currency" => Rule::Currency,
            "content_category" => Rule::ContentCategory,
            _ => return None,
        })
    }

    /// A rule the transform applies to one property; the others (text, IP) to each property
    /// bound to them, each into its own field.
    fn single(self) -> bool {
        !matches!(self, Rule::CappedText | Rule::IpAddress)
    }

    /// A rule that sends nothing for an absent property (the others send a default, a value
    /// from elsewhere, or decline: a PURCHASE needs its amount and currency).
    pub fn none_when_absent(self, purchase: bool) -> bool {
        match self {
            Rule::EventId | Rule::ExplicitName | Rule::EventTime | Rule::Flag => false,
            Rule::Amount | Rule::Currency => !purchase,
            _ => true,
        }
    }

    /// A rule that caps its text at the field's `transform.max_length`.
    fn capped(self) -> bool {
        matches!(
            self,
            Rule::CappedText | Rule::DeviceId | Rule::EventId | Rule::Url | Rule::ContentCategory
        )
    }
}

/// A property the native code reads: its rule, the field (index in the wire order) its value
/// goes to, and the field's length limit (for the rules that cap; 0 for the others).
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    pub rule: Rule,
    pub field: usize,
    pub limit: usize,
}

/// The most properties a table holds here; a property past them has no rule (declined).
pub const MAX_PROPERTIES: usize = 64;

/// The properties as handed over: by name, each bound to a rule or to none.
pub struct PropertyTable {
    by_name: HashMap<String, usize, BuildHasherDefault<KeyHasher>>,
    bindings: Vec<Option<Bound>>,
    single: [Option<usize>; RULES],
    /// Each field's properties with their bindings (by field, in the table's order).
    feeding: Vec<Vec<(usize, Bound)>>,
    /// The properties with no rule here (a record carrying one is declined).
    pub unruled: Vec<String>,
}

impl PropertyTable {
    /// `properties`: (property, rule name, field path, limit) in the table's order.
    pub fn new(properties: Vec<(String, String, String, Option<usize>)>, wire: &Wire) -> Self {
        let mut table = PropertyTable {
            by_name: HashMap::default(),
            bindings: Vec::with_capacity(properties.len()),
            single: [None; RULES],
            feeding: vec![Vec::new(); wire.len()],
            unruled: Vec::new(),
        };
        for (name, rule, path, limit) in properties {
            let index = table.bindings.len();
            let bound = Rule::from_name(&rule).and_then(|rule| {
                let field = wire.field(&path)?;
                let limit = if rule.capped() { limit? } else { 0 };
                // A second property for a rule that reads one: the native code has no rule
                // for how Python would combine them.
                let taken = rule.single() && table.single[rule as usize].is_some();
                (!taken && index < MAX_PROPERTIES).then_some(Bound { rule, field, limit })
            });
            match bound {
                Some(b) => {
                    if b.rule.single() {
                        table.single[b.rule as usize] = Some(index);
                    }
                    table.feeding[b.field].push((index, b));
                }
                None => table.unruled.push(name.clone()),
            }
            table.bindings.push(bound);
            table.by_name.insert(name, index);
        }
        table
    }

    /// The binding of a property, by name, if the table has it.
    #[inline]
    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The rule a property is bound to, if it has one here.
    pub fn bound(&self, index: usize) -> Option<Bound> {
        self.bindings[index]
    }

    /// The properties feeding a field and their bindings, in the table's order.
    pub fn feeding(&self, field: usize) -> &[(usize, Bound)] {
        &self.feeding[field]
    }

    /// The binding of a single rule, if a property is bound to it.
    pub fn single(&self, rule: Rule) -> Option<Bound> {
        self.single[rule as usize].and_then(|index| self.bindings[index])
    }

    /// The value of a single rule's property in a record.
    pub fn value<'a>(&self, props: &Props<'a>, rule: Rule) -> Option<Value<'a>> {
        self.single[rule as usize].and_then(|index| props.get(index))
    }
}

/// One record's values of the table's properties (by index: bound ones only); a null is stored
/// as absent, as `props.get()` reads it in Python.
pub struct Props<'a> {
    table: &'a PropertyTable,
    consent_key: Option<&'a str>,
    route_key: Option<&'a str>,
    values: [Option<Value<'a>>; MAX_PROPERTIES],
    /// The record carries a property that has no rule here.
    pub unruled: bool,
    /// The consent rule's property as read (a null kept as `Value::Null`), when there is a rule.
    pub consent: Option<Value<'a>>,
    /// The routing property as read, when routing is by property.
    pub route: Option<Value<'a>>,
}

impl<'a> Props<'a> {
    /// An empty bag for `table`'s properties; `consent_key` and `route_key`: the consent rule's
    /// and the routing's properties, kept too (`consent`, `route`).
    pub fn new(
        table: &'a PropertyTable,
        consent_key: Option<&'a str>,
        route_key: Option<&'a str>,
    ) -> Self {
        Props {
            table,
            consent_key,
            route_key,
            values: [None; MAX_PROPERTIES],
            unruled: false,
            consent: None,
            route: None,
        }
    }
}

impl<'a> Bag<'a> for Props<'a> {
    #[inline]
    fn put(&mut self, key: &'a str, value: Value<'a>) {
        if let Some(index) = self.table.index(key) {
            if self.table.bound(index).is_some() {
                self.set(index, value);
            } else {
                self.unruled = true; // null or not: Python's rule decides what it means
            }
        }
        if self.consent_key == Some(key) {
            self.consent = Some(value);
        }
        if self.route_key == Some(key) {
            self.route = Some(value);
        }
    }
}

impl<'a> Props<'a> {
    /// `index`: a bound property's (below `MAX_PROPERTIES`).
    pub fn set(&mut self, index: usize, value: Value<'a>) {
        self.values[index] = match value {
            Value::Null => None,
            other => Some(other),
        };
    }

    pub fn get(&self, index: usize) -> Option<Value<'a>> {
        self.values[index]
    }

    /// Takes out the properties whose bits `mask` sets (by index: the allow-list's), as
    /// `FieldFilter.allowed` takes them out of the bag.
    pub fn remove(&mut self, mut mask: u64) {
        while mask != 0 {
            self.values[mask.trailing_zeros() as usize] = None;
            mask &= mask - 1;
        }
    }
}

/// FxHash's step, a word at a time: the property names are short and few, and SipHash's
/// protection against chosen keys buys nothing for a table of our own names.
#[derive(Default)]
pub struct KeyHasher(u64);

const SEED: u64 = 0x517c_c1b7_2722_0a95;

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
