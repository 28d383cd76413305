//! JSON as `orjson.dumps` writes it: compact, strings escaped the same way, floats in their
//! shortest round-trip form (only where both write decimal notation: `float_text`).

pub struct Json {
    pub out: Vec<u8>,
    first: bool,
}

impl Json {
    pub fn new() -> Json {
        Json {
            out: Vec::with_capacity(512),
            first: true,
        }
    }

    pub fn open(&mut self) {
        self.out.push(b'{');
        self.first = true;
    }

    pub fn close(&mut self) {
        self.out.push(b'}');
        self.first = false;
    }

    pub fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.string(key);
        self.out.push(b':');
    }

    /// A key written once as JSON (`"key":`, `Json::quoted_key`).
    pub fn quoted_key(&mut self, quoted: &[u8]) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.extend_from_slice(quoted);
    }

    /// `"key":` as `key` writes it.
    pub fn quote_key(key: &str) -> Vec<u8> {
        let mut json = Json::new();
        json.key(key);
        json.out
    }

    pub fn string(&mut self, value: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.out.push(b'"');
        let bytes = value.as_bytes();
        if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
            self.out.extend_from_slice(bytes); // the common case: nothing to escape
            self.out.push(b'"');
            return;
        }
        let mut start = 0;
        for (index, &byte) in bytes.iter().enumerate() {
            let escape: &[u8] = match byte {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0C => b"\\f",
                0x00..=0x1F => b"",
                _ => continue,
            };
            self.out.extend_from_slice(&bytes[start..index]);
            if escape.is_empty() {
                self.out.extend_from_slice(b"\\u00");
                self.out.push(HEX[usize::from(byte >> 4)]);
                self.out.push(HEX[usize::from(byte & 0x0F)]);
            } else {
                self.out.extend_from_slice(escape);
            }
            start = index + 1;
        }
        self.out.extend_from_slice(&bytes[start..]);
        self.out.push(b'"');
    }
}

/// The text orjson writes for a finite float, for the values where it is plain decimal
/// notation with at least one digit after the point (`5.0`, `123.45`, `0.0001`): zero and
/// 1e-4 ≤ x < 1e15. Others are left to Python (`None`).
pub fn float_text(value: f64) -> Option<String> {
    if value == 0.0 {
        return if value.is_sign_positive() {
            Some("0.0".to_owned())
        } else {
            None
        };
    }
    if !(1e-4..1e15).contains(&value) {
        return None;
    }
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value);
    if text.contains('e') || !text.contains('.') {
        return None;
    }
    Some(text.to_owned())
}
