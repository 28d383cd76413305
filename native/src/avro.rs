//! The bundled tracking-event schema's Avro binary, read straight into the properties of the
//! table Python handed over (`props::PropertyTable`). Mirrors `connector/prepare/reader.py`:
//! whatever that reader refuses (or reads in a way this one does not), this one declines, and
//! Python decides.

use crate::props::{PropertyTable, Props, Value};

pub struct Event<'a> {
    pub name: &'a str,
    pub props: Props<'a>,
    pub timestamp_ms: Option<i64>,
}

/// `None`: not the common case; the Python reader says what it is. `consent_key` and `route_key`:
/// the consent rule's and the routing's properties, kept too (`Props::consent`, `Props::route`).
pub fn read<'a>(
    b: &'a [u8],
    table: &PropertyTable,
    consent_key: Option<&str>,
    route_key: Option<&str>,
) -> Option<Event<'a>> {
    let mut r = Reader { b, pos: 0 };
    let name = r.string()?;
    let mut props = Props::default();
    loop {
        let count = r.block_count()?;
        if count == 0 {
            break;
        }
        for _ in 0..count {
            let key = r.string()?;
            let value = r.value()?;
            // A repeated key: the last one wins, as in a dict.
            if let Some(index) = table.index(key) {
                if table.bound(index).is_some() {
                    props.set(index, value);
                } else {
                    props.unruled = true; // null or not: Python's rule decides what it means
                }
            }
            if consent_key == Some(key) {
                props.consent = Some(value);
            }
            if route_key == Some(key) {
                props.route = Some(value);
            }
        }
    }
    let timestamp_ms = match r.byte()? {
        0 => None,
        2 => Some(r.long()?),
        _ => return None,
    };
    for _ in 0..3 {
        // user_id, anonymous_id, message_id: read for their validity only
        match r.byte()? {
            0 => {}
            2 => {
                r.string()?;
            }
            _ => return None,
        }
    }
    Some(Event {
        name,
        props,
        timestamp_ms,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    /// A zig-zag varint of at most 9 bytes (63 bits); longer ones are left to Python.
    fn long(&mut self) -> Option<i64> {
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
            shift += 7;
            if shift >= 63 {
                return None;
            }
        }
    }

    /// The item count of a map's or an array's next block (0: the end). A negative count is
    /// followed by the block's size in bytes, which is skipped.
    fn block_count(&mut self) -> Option<i64> {
        let count = self.long()?;
        if count >= 0 {
            return Some(count);
        }
        self.long()?;
        count.checked_neg()
    }

    fn string(&mut self) -> Option<&'a str> {
        let length = usize::try_from(self.long()?).ok()?;
        let end = self.pos.checked_add(length)?;
        let bytes = self.b.get(self.pos..end)?;
        self.pos = end;
        std::str::from_utf8(bytes).ok()
    }

    fn value(&mut self) -> Option<Value<'a>> {
        Some(match self.byte()? {
            0 => Value::Null,
            2 => match self.byte()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return None,
            },
            4 => Value::Long(self.long()?),
            6 => {
                let bytes = self.b.get(self.pos..self.pos + 8)?;
                self.pos += 8;
                Value::Double(f64::from_le_bytes(bytes.try_into().ok()?))
            }
            8 => Value::Str(self.string()?),
            10 => {
                loop {
                    let count = self.block_count()?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        self.string()?;
                    }
                }
                Value::List
            }
            _ => return None,
        })
    }
}
