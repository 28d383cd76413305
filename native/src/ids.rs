//! Identifiers in their common forms: one plain e-mail address, a phone number in E.164 form,
//! an IPv4 address. Anything else is declined (`None`) and Python's rules decide.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::text::py_isspace;

/// Lower-case hex SHA-256 of the UTF-8 bytes (`hashing.sha256_hex`).
pub fn sha256_hex(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0F)] as char);
    }
    out
}

const MAX_ADDRESS_LENGTH: usize = 254;

/// `emails.email_hashes`' first branch: an ASCII text holding one plain address.
pub fn email_hash(value: &str) -> Option<String> {
    if !value.is_ascii() {
        return None;
    }
    let address = value.trim_matches(py_isspace).to_ascii_lowercase();
    if address.len() > MAX_ADDRESS_LENGTH || !is_plain_address(&address) {
        return None;
    }
    Some(sha256_hex(&address))
}

/// `emails._PLAIN`: one `@` with text on both sides, none of whitespace, `<>()[],;:"\`.
fn is_plain_address(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let plain = |part: &str| {
        !part.is_empty()
            && !part.chars().any(|c| {
                py_isspace(c)
                    || matches!(
                        c,
                        '@' | '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '"' | '\\'
                    )
            })
    };
    plain(local) && plain(domain)
}

/// The numbering plans of the calling codes (`phone._plans_for`): national-number pattern and
/// possible lengths, as the installed phonenumbers metadata has them. A code's patterns are
/// compiled on its first number (all of them take ~0.1 s; a stream sees few codes).
pub struct PhonePlans {
    by_code: HashMap<String, CodePlans>,
}

struct CodePlans {
    texts: Vec<(String, Vec<usize>)>,
    compiled: OnceLock<Option<Vec<(Regex, Vec<usize>)>>>,
}

impl CodePlans {
    /// `None` if a pattern did not compile (over the regex crate's size limit, say): the
    /// numbers of that code are then declined.
    fn compiled(&self) -> Option<&[(Regex, Vec<usize>)]> {
        self.compiled
            .get_or_init(|| {
                self.texts
                    .iter()
                    .map(|(pattern, lengths)| Some((anchored(pattern).ok()?, lengths.clone())))
                    .collect()
            })
            .as_deref()
    }
}

fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

impl PhonePlans {
    /// Refuses a pattern the regex crate does not read (checked once, not compiled for use).
    pub fn new(
        plans: Vec<(String, Vec<(String, Vec<usize>)>)>,
    ) -> Result<PhonePlans, regex::Error> {
        let mut by_code = HashMap::new();
        for (code, texts) in plans {
            for (pattern, _) in &texts {
                regex_syntax::Parser::new()
                    .parse(&format!("^(?:{pattern})$"))
                    .map_err(|e| regex::Error::Syntax(e.to_string()))?;
            }
            if !texts.is_empty() {
                by_code.insert(
                    code,
                    CodePlans {
                        texts,
                        compiled: OnceLock::new(),
                    },
                );
            }
        }
        Ok(PhonePlans { by_code })
    }

    /// `phone.to_e164`'s first path on an already stripped ASCII text: `+` and digits once
    /// whitespace, `-`, `.`, `(` and `)` are out, fitting its calling code's plan.
    pub fn e164(&self, raw: &str) -> Option<String> {
        if !raw.is_ascii() {
            return None;
        }
        let compact: String = raw
            .chars()
            .filter(|&c| !(py_isspace(c) || matches!(c, '-' | '.' | '(' | ')')))
            .collect();
        let bytes = compact.as_bytes();
        let well_formed = (8..=16).contains(&bytes.len())
            && bytes[0] == b'+'
            && (b'1'..=b'9').contains(&bytes[1])
            && bytes[2..].iter().all(u8::is_ascii_digit);
        if well_formed && self.plausible(&compact)? {
            Some(compact)
        } else {
            None
        }
    }

    /// `phone._plausible_e164`: calling codes are prefix-free, the first of 1–3 digits with a
    /// plan decides. `None`: its plans did not compile.
    fn plausible(&self, e164: &str) -> Option<bool> {
        for split in 2..=4 {
            if let Some(plans) = self.by_code.get(&e164[1..split]) {
                let national = &e164[split..];
                return Some(plans.compiled()?.iter().any(|(pattern, lengths)| {
                    lengths.contains(&national.len()) && pattern.is_match(national)
                }));
            }
        }
        Some(false)
    }
}

/// `normalize.is_ip_address` for a text without `:`: glibc's `inet_pton(AF_INET)`, four
/// decimal octets up to 255 with no leading zero.
pub fn is_ipv4(text: &str) -> bool {
    let mut octets = 0;
    for part in text.split('.') {
        octets += 1;
        let bytes = part.as_bytes();
        if octets > 4
            || bytes.is_empty()
            || bytes.len() > 3
            || !bytes.iter().all(u8::is_ascii_digit)
            || (bytes.len() > 1 && bytes[0] == b'0')
        {
            return false;
        }
        let value: u32 = bytes.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0'));
        if value > 255 {
            return false;
        }
    }
    octets == 4
}
