//! Avro binary read into the properties of the table Python handed over (`props::PropertyTable`),
//! by a resolution plan Python made once for the writer schema (`connector/prepare/plan.py`;
//! parsed from its tuples by `plan.rs`): the writer's fields in the writer's order, each read
//! into a field of the tracking event as fastavro's schema resolution reads it (promotions,
//! unions widened, defaults for the fields the writer lacks), or skipped.
//!
//! Mirrors `connector/prepare/reader.py` (the bundled layout) and fastavro (any other writer
//! schema): whatever either refuses, or reads in a way this one does not, this one declines,
//! and Python decides. It is stricter than both: a union's branch is one byte, a varint at most
//! nine, a boolean 0 or 1, every length within the record, and a skipped block that gives its
//! size in bytes must take exactly that size (fastavro jumps over it).

/// How one writer value is read as a value of the reader's type: fastavro's resolution.
#[derive(Debug, PartialEq)]
pub enum Read {
    Null,
    Boolean,
    Long,          // an int or a long
    LongAsDouble,  // an int or a long into a double
    FloatAsDouble, // a float into a double
    Double,
    Str,              // a string or bytes, UTF-8
    Array(Box<Read>), // an array of strings: how each item is read
    Map(Box<Read>),   // the property bag: how each value is read
    /// A writer union: each branch's read, `None` where fastavro refuses the branch (or the
    /// native code does not follow it): a record holding it is declined.
    Union(Vec<Option<Read>>),
    /// The union of the bundled schema's property values read as itself (`BAG_VALUE`): read
    /// with a match on its branch byte, as before plans (the common case, made so by plan.rs).
    BagValue,
}

/// The bundled schema's property value, `["null", "boolean", "long", "double", "string",
/// {"type": "array", "items": "string"}]`, as a plan reads it into the reader's same union.
pub fn bag_value() -> Read {
    Read::Union(vec![
        Some(Read::Null),
        Some(Read::Boolean),
        Some(Read::Long),
        Some(Read::Double),
        Some(Read::Str),
        Some(Read::Array(Box::new(Read::Str))),
    ])
}

/// The items of the bundled schema's arrays.
static STRINGS: Read = Read::Str;

/// How a writer value no reader field takes is skipped; nested types by index into
/// `Plan::skips` (a record may refer to itself).
#[derive(Debug)]
pub enum Skip {
    Null,
    Boolean,
    Long, // int, long, enum
    Float,
    Double,
    Bytes, // bytes, string
    Fixed(usize),
    Array(usize),
    Map(usize),
    Union(Vec<usize>),
    Record(Vec<usize>),
}

/// Which field of the tracking event a writer field is read into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Event,      // the event name: a string
    Properties, // the property bag
    Timestamp,  // null or a long
    Check,      // read for its validity only (user_id, anonymous_id, message_id)
}

#[derive(Debug)]
pub enum Step {
    Read(Role, Read),
    Skip(usize),
}

/// A writer schema's plan: its fields in order. A reader field the writer lacks is null.
#[derive(Debug)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub skips: Vec<Skip>,
}

/// Nesting deeper than this in skipped values is declined (a recursive type could go on).
const MAX_DEPTH: u32 = 32;
/// Items of no bytes a block may count beyond the bytes left (see `skip_blocks`).
const ZERO_SIZED_ITEMS: u64 = 4096;

/// A value as read: a property's, the event name's, the timestamp's.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Str(&'a str),
    /// An array of strings: never the common case of a field read here, but a consent rule by
    /// category reads its items.
    List(Items<'a>),
}

/// Where the property bag's entries go as they are read (`props::Props` through the property
/// table; every entry, for the tests' `read_event`).
pub trait Bag<'a> {
    fn put(&mut self, key: &'a str, value: Value<'a>);
}

/// The event's name and record timestamp; its properties went into the bag.
pub struct Head<'a> {
    pub name: &'a str,
    pub timestamp_ms: Option<i64>,
}

/// `None`: not the common case; Python says what it is.
pub fn read<'a>(b: &'a [u8], plan: &'a Plan, bag: &mut impl Bag<'a>) -> Option<Head<'a>> {
    let mut r = Reader { b, pos: 0 };
    let mut name = None;
    let mut timestamp_ms = None;
    for step in &plan.steps {
        match step {
            Step::Skip(node) => r.skip(&plan.skips, *node, 0)?,
            Step::Read(Role::Event, read) => match r.value(read)? {
                Value::Str(text) => name = Some(text),
                _ => return None,
            },
            Step::Read(Role::Properties, read) => r.properties(read, bag)?,
            Step::Read(Role::Timestamp, read) => {
                timestamp_ms = match r.value(read)? {
                    Value::Null => None,
                    Value::Long(ms) => Some(ms),
                    _ => return None,
                }
            }
            Step::Read(Role::Check, read) => {
                r.value(read)?;
            }
        }
    }
    Some(Head {
        name: name?,
        timestamp_ms,
    })
}

/// An array of strings as read (`Value::List`): where it lies in the record, read again only
/// when a rule needs the items (a consent rule by category). Small, so that a `Value` stays
/// three words: the bag's values are copied about.
#[derive(Clone, Copy, Debug)]
pub struct Items<'a> {
    start: u32,
    end: u32,
    read: &'a Read,
}

impl<'a> Items<'a> {
    /// Each item in order, until `each` says stop (`false`); `record`: the bytes the list was
    /// read from. `None` only on other bytes than those.
    pub fn each(&self, record: &'a [u8], each: impl FnMut(&'a str) -> bool) -> Option<()> {
        let b = record.get(self.start as usize..self.end as usize)?;
        Reader { b, pos: 0 }.items(self.read, each)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    #[inline]
    fn take(&mut self, length: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(length)?;
        let bytes = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// A zig-zag varint of at most 9 bytes (63 bits); longer ones are left to Python.
    #[inline]
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

    #[inline]
    fn length(&mut self) -> Option<usize> {
        usize::try_from(self.long()?).ok()
    }

    /// A union's branch: one byte, not negative (reader.py reads it so; fastavro takes more).
    #[inline]
    fn index(&mut self) -> Option<usize> {
        let byte = self.byte()?;
        (byte & 0x81 == 0).then_some(usize::from(byte >> 1))
    }

    /// The item count of a map's or an array's next block (0: the end). A negative count is
    /// followed by the block's size in bytes, which is read over.
    #[inline]
    fn block_count(&mut self) -> Option<i64> {
        let count = self.long()?;
        if count >= 0 {
            return Some(count);
        }
        self.long()?;
        count.checked_neg()
    }

    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        let length = self.length()?;
        std::str::from_utf8(self.take(length)?).ok()
    }

    /// A value: a union's branch, then the branch's value (a union holds no union). Inlined
    /// whole: the property bag's loop is where a record's time goes.
    #[inline(always)]
    fn value(&mut self, read: &'a Read) -> Option<Value<'a>> {
        match read {
            Read::BagValue => self.bag_value(),
            Read::Union(branches) => {
                let branch = branches.get(self.index()?)?.as_ref()?;
                self.plain(branch)
            }
            _ => self.plain(read),
        }
    }

    /// `Read::BagValue`: the branch byte says the type (reader.py reads it so).
    #[inline(always)]
    fn bag_value(&mut self) -> Option<Value<'a>> {
        Some(match self.byte()? {
            0 => Value::Null,
            2 => match self.byte()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return None,
            },
            4 => Value::Long(self.long()?),
            6 => Value::Double(f64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            8 => Value::Str(self.string()?),
            10 => self.list(&STRINGS)?,
            _ => return None,
        })
    }

    /// A value of a type that is not a union.
    #[inline(always)]
    fn plain(&mut self, read: &'a Read) -> Option<Value<'a>> {
        Some(match read {
            Read::Null => Value::Null,
            Read::Boolean => match self.byte()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return None,
            },
            Read::Long => Value::Long(self.long()?),
            Read::LongAsDouble => Value::Double(self.long()? as f64),
            Read::FloatAsDouble => Value::Double(f64::from(f32::from_le_bytes(
                self.take(4)?.try_into().ok()?,
            ))),
            Read::Double => Value::Double(f64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            Read::Str => Value::Str(self.string()?),
            Read::Array(items) => self.list(items)?,
            Read::Map(_) | Read::Union(_) | Read::BagValue => return None, // not plain
        })
    }

    /// An array of strings, read through to be kept as its bytes (out of the common path).
    #[inline(never)]
    fn list(&mut self, items: &'a Read) -> Option<Value<'a>> {
        let start = u32::try_from(self.pos).ok()?;
        self.items(items, |_| true)?;
        Some(Value::List(Items {
            start,
            end: u32::try_from(self.pos).ok()?,
            read: items,
        }))
    }

    /// An array of strings (read as fastavro reads one: a block's size is read over), each
    /// item handed to `each` while it says go on.
    fn items(&mut self, read: &'a Read, mut each: impl FnMut(&'a str) -> bool) -> Option<()> {
        let mut going = true;
        loop {
            let count = self.block_count()?;
            if count == 0 {
                return Some(());
            }
            for _ in 0..count {
                match self.value(read)? {
                    Value::Str(item) => {
                        if going {
                            going = each(item);
                        }
                    }
                    _ => return None,
                }
            }
        }
    }

    fn properties(&mut self, read: &'a Read, bag: &mut impl Bag<'a>) -> Option<()> {
        let values = match read {
            Read::Map(values) => values,
            Read::Union(branches) => match branches.get(self.index()?)? {
                Some(Read::Map(values)) => values,
                _ => return None,
            },
            _ => return None,
        };
        // How a value is read is chosen once a bag, not once a value.
        match &**values {
            Read::BagValue => self.entries(bag, |r| r.bag_value()),
            values => self.entries(bag, |r| r.value(values)),
        }
    }

    /// The bag's entries, each value read by `value`.
    #[inline(always)]
    fn entries(
        &mut self,
        bag: &mut impl Bag<'a>,
        value: impl Fn(&mut Self) -> Option<Value<'a>>,
    ) -> Option<()> {
        loop {
            let count = self.block_count()?;
            if count == 0 {
                return Some(());
            }
            for _ in 0..count {
                let key = self.string()?;
                let value = value(self)?;
                bag.put(key, value); // a repeated key: the last one wins, as in a dict
            }
        }
    }

    /// A value no reader field takes. A block that gives its size must take exactly that many
    /// bytes (fastavro jumps over it by the size, this reader reads it through).
    fn skip(&mut self, skips: &[Skip], node: usize, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match skips.get(node)? {
            Skip::Null => {}
            Skip::Boolean => {
                self.byte()?;
            }
            Skip::Long => {
                self.long()?;
            }
            Skip::Float => {
                self.take(4)?;
            }
            Skip::Double => {
                self.take(8)?;
            }
            Skip::Bytes => {
                let length = self.length()?;
                self.take(length)?;
            }
            Skip::Fixed(size) => {
                self.take(*size)?;
            }
            Skip::Array(item) => self.skip_blocks(|r| r.skip(skips, *item, depth + 1))?,
            Skip::Map(value) => self.skip_blocks(|r| {
                let length = r.length()?;
                r.take(length)?;
                r.skip(skips, *value, depth + 1)
            })?,
            Skip::Union(branches) => {
                let branch = *branches.get(self.index()?)?;
                self.skip(skips, branch, depth + 1)?;
            }
            Skip::Record(fields) => {
                for &field in fields {
                    self.skip(skips, field, depth + 1)?;
                }
            }
        }
        Some(())
    }

    fn skip_blocks(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        loop {
            let count = self.long()?;
            if count == 0 {
                return Some(());
            }
            let size = if count < 0 {
                Some(usize::try_from(self.long()?).ok()?)
            } else {
                None
            };
            let count = count.unsigned_abs();
            // Items of no bytes (null, an empty fixed) could make a count of billions cost as
            // much: a block counting more items than there are bytes left, and more than
            // ZERO_SIZED_ITEMS, is declined (fastavro reads a few such items, so this reader does).
            if count > (self.b.len() - self.pos) as u64 && count > ZERO_SIZED_ITEMS {
                return None;
            }
            let start = self.pos;
            for _ in 0..count {
                item(self)?;
            }
            if size.is_some_and(|size| self.pos - start != size) {
                return None;
            }
        }
    }
}
