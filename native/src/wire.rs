//! The event's fields in the order Python writes them (`SpotifyEvent.to_wire`, read off by
//! `connector/prepare/native.py` `_wire_order` and handed over as contract paths: `event_id`,
//! `user_data.clickID`, ...), and the JSON written in that order.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::json::Json;

/// A field's value as written: a JSON string, a number or boolean as it is, or a list of one
/// string (`hashed_emails`).
pub enum Out<'a> {
    Str(Cow<'a, str>),
    Raw(Cow<'a, str>),
    List(String),
}

impl<'a> Out<'a> {
    pub fn text(text: &'a str) -> Out<'a> {
        Out::Str(Cow::Borrowed(text))
    }

    pub fn owned(text: String) -> Out<'a> {
        Out::Str(Cow::Owned(text))
    }
}

enum Entry {
    Field(usize),
    /// An object (`user_data`, `event_details`): written when one of its fields is (Python
    /// writes `user_data` always, and an event the native code takes always has one).
    Object(Vec<u8>, Vec<usize>),
}

pub struct Wire {
    paths: Vec<String>,
    keys: Vec<Vec<u8>>, // each field's key as JSON, `"key":`
    by_path: HashMap<String, usize>,
    entries: Vec<Entry>,
}

impl Wire {
    /// `paths`: every field, in order; an object's fields one after the other.
    pub fn new(paths: Vec<String>) -> Result<Wire, String> {
        let mut wire = Wire {
            paths: Vec::with_capacity(paths.len()),
            keys: Vec::with_capacity(paths.len()),
            by_path: HashMap::new(),
            entries: Vec::new(),
        };
        let mut objects: HashMap<String, usize> = HashMap::new();
        for (field, path) in paths.into_iter().enumerate() {
            if wire.by_path.insert(path.clone(), field).is_some() {
                return Err(format!("the wire order names {path} twice"));
            }
            let key = match path.split_once('.') {
                None => {
                    wire.entries.push(Entry::Field(field));
                    path.clone()
                }
                Some((object, key)) => {
                    let entry = *objects.entry(object.to_owned()).or_insert_with(|| {
                        wire.entries
                            .push(Entry::Object(Json::quote_key(object), Vec::new()));
                        wire.entries.len() - 1
                    });
                    if let Entry::Object(_, fields) = &mut wire.entries[entry] {
                        fields.push(field);
                    }
                    key.to_owned()
                }
            };
            wire.keys.push(Json::quote_key(&key));
            wire.paths.push(path);
        }
        Ok(wire)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn field(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    pub fn path(&self, field: usize) -> &str {
        &self.paths[field]
    }

    /// The event's JSON, each field in order: `value` gives a field's value (`Some(None)`:
    /// none; `None`: the record is declined, and so is the JSON), `written` hears of each field
    /// written.
    pub fn write<'a>(
        &self,
        mut value: impl FnMut(usize) -> Option<Option<Out<'a>>>,
        mut written: impl FnMut(usize),
    ) -> Option<Vec<u8>> {
        let mut json = Json::new();
        json.open();
        for entry in &self.entries {
            match entry {
                Entry::Field(field) => {
                    if let Some(out) = value(*field)? {
                        self.write_field(&mut json, *field, &out);
                        written(*field);
                    }
                }
                Entry::Object(key, members) => {
                    let mut opened = false;
                    for &field in members {
                        if let Some(out) = value(field)? {
                            if !opened {
                                json.quoted_key(key);
                                json.open();
                                opened = true;
                            }
                            self.write_field(&mut json, field, &out);
                            written(field);
                        }
                    }
                    if opened {
                        json.close();
                    }
                }
            }
        }
        json.close();
        Some(json.out)
    }

    fn write_field(&self, json: &mut Json, field: usize, out: &Out<'_>) {
        json.quoted_key(&self.keys[field]);
        match out {
            Out::Str(text) => json.string(text),
            Out::Raw(raw) => json.out.extend_from_slice(raw.as_bytes()),
            Out::List(item) => {
                json.out.push(b'[');
                json.string(item);
                json.out.push(b']');
            }
        }
    }
}
