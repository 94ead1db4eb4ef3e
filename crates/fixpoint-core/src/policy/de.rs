//! Serde over our YAML tree: typed values from [`Node`]s, errors with positions.
//!
//! Two things set this apart from a generic YAML deserializer:
//! - every error carries the position of the innermost node it concerns;
//! - unknown fields do not stop deserialisation: `deserialize_struct` knows the
//!   struct's field names, so each unknown key is recorded (with a "did you
//!   mean" hint) and skipped, and one pass reports every misspelt field.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

use super::yaml::{Entry, Node, Pos, Value, is_null_text};

/// A deserialisation error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    pub message: String,
    pub pos: Option<Pos>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            pos: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::custom(format_args!("expected {exp}, found {}", describe(&unexp)))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::custom(format_args!(
            "invalid value {}: expected {exp}",
            describe(&unexp)
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::custom(format_args!(
            "unknown value `{variant}`, expected {}{}",
            one_of(expected),
            did_you_mean(variant, expected)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::custom(format_args!("missing field `{field}`"))
    }
}

fn describe(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Str(s) => format!("`{s}`"),
        de::Unexpected::Unit => "nothing (null)".to_owned(),
        de::Unexpected::Map => "a mapping".to_owned(),
        de::Unexpected::Seq => "a list".to_owned(),
        other => other.to_string(),
    }
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing here".to_owned(),
        [one] => format!("`{one}`"),
        many => {
            let list: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", list.join(", "))
        }
    }
}

/// " (did you mean `x`?)" when one name is close to `given`.
pub(crate) fn did_you_mean(given: &str, names: &[&str]) -> String {
    let lower = given.to_ascii_lowercase();
    names
        .iter()
        .map(|n| (edit_distance(&lower, &n.to_ascii_lowercase()), n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Unknown fields seen while deserialising, to report after the pass.
pub type UnknownFields = RefCell<Vec<DeError>>;

/// Deserialises `T` from `node`; unknown fields are pushed onto `unknown`.
pub fn from_node<'de, T: de::Deserialize<'de>>(
    node: &'de Node,
    unknown: &'de UnknownFields,
) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, unknown })
}

/// A configuration file's one YAML document as `T` (its default when the file
/// is empty), with the policy loader's YAML reader: the first problem, syntax,
/// a wrong value or an unknown setting, comes back with its position, which
/// the caller prefixes with the file's name.
pub fn from_config_text<T: de::DeserializeOwned + Default>(text: &str) -> Result<T, DeError> {
    let stream = super::yaml::parse_stream(text, super::yaml::Limits::default());
    if let Some(issue) = stream.issues.first() {
        return Err(DeError {
            message: issue.message.clone(),
            pos: Some(issue.pos),
        });
    }
    let Some(node) = stream.documents.first() else {
        return Ok(T::default());
    };
    if stream.documents.len() != 1 {
        return Err(DeError {
            message: format!(
                "one YAML document expected, found {}",
                stream.documents.len()
            ),
            pos: stream.documents.get(1).map(|d| d.pos),
        });
    }
    let unknown = UnknownFields::default();
    let value: T = from_node(node, &unknown).map_err(|mut e| {
        e.pos.get_or_insert(node.pos);
        e
    })?;
    if let Some(mut e) = unknown.borrow_mut().drain(..).next() {
        e.pos.get_or_insert(node.pos);
        return Err(e);
    }
    Ok(value)
}

struct NodeDe<'a> {
    node: &'a Node,
    unknown: &'a UnknownFields,
}

impl<'a> NodeDe<'a> {
    fn at<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|mut e| {
            e.pos.get_or_insert(self.node.pos);
            e
        })
    }

    fn plain_text(&self) -> Option<&'a str> {
        match &self.node.value {
            Value::Scalar { text, plain: true } => Some(text),
            _ => None,
        }
    }

    fn unexpected(&self) -> de::Unexpected<'a> {
        match &self.node.value {
            Value::Scalar { text, plain } => {
                if *plain && is_null_text(text) {
                    de::Unexpected::Unit
                } else {
                    de::Unexpected::Str(text)
                }
            }
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        }
    }

    fn type_error<T>(&self, exp: &dyn de::Expected) -> Result<T, DeError> {
        Err(DeError {
            pos: Some(self.node.pos),
            ..de::Error::invalid_type(self.unexpected(), exp)
        })
    }

    fn parse_number<T: std::str::FromStr, V: Visitor<'a>>(
        &self,
        visitor: &V,
    ) -> Result<T, DeError> {
        match self.plain_text() {
            Some(t) => t
                .replace('_', "")
                .parse()
                .or_else(|_| self.type_error(visitor)),
            None => self.type_error(visitor),
        }
    }
}

macro_rules! number {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            let n: $ty = self.parse_number(&visitor)?;
            let r = visitor.$visit(n);
            self.at(r)
        }
    };
}

impl<'a> de::Deserializer<'a> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Scalar { text, plain: true } => {
                let t = text.as_str();
                if is_null_text(t) {
                    visitor.visit_unit()
                } else if let Some(b) = parse_bool(t) {
                    visitor.visit_bool(b)
                } else if let Ok(n) = t.parse::<i64>() {
                    visitor.visit_i64(n)
                } else if let Ok(n) = t.parse::<u64>() {
                    visitor.visit_u64(n)
                } else if looks_like_float(t) {
                    match t.parse::<f64>() {
                        Ok(f) => visitor.visit_f64(f),
                        Err(_) => visitor.visit_borrowed_str(t),
                    }
                } else {
                    visitor.visit_borrowed_str(t)
                }
            }
            Value::Scalar { text, plain: false } => visitor.visit_borrowed_str(text),
            Value::Seq(_) => return self.deserialize_seq(visitor),
            Value::Map(_) => return self.deserialize_map(visitor),
        };
        self.at(r)
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.plain_text().and_then(parse_bool) {
            Some(b) => {
                let r = visitor.visit_bool(b);
                self.at(r)
            }
            None => self.type_error(&visitor),
        }
    }

    number!(deserialize_i8, visit_i8, i8);
    number!(deserialize_i16, visit_i16, i16);
    number!(deserialize_i32, visit_i32, i32);
    number!(deserialize_i64, visit_i64, i64);
    number!(deserialize_u8, visit_u8, u8);
    number!(deserialize_u16, visit_u16, u16);
    number!(deserialize_u32, visit_u32, u32);
    number!(deserialize_u64, visit_u64, u64);
    number!(deserialize_f32, visit_f32, f32);
    number!(deserialize_f64, visit_f64, f64);

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    /// Strings accept any non-null scalar: `version: 12` is the string "12".
    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar { text, plain } if !(*plain && is_null_text(text)) => {
                let r = visitor.visit_borrowed_str(text);
                self.at(r)
            }
            _ => self.type_error(&visitor),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.type_error(&visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.type_error(&visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            let r = visitor.visit_none();
            self.at(r)
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            let r = visitor.visit_unit();
            self.at(r)
        } else {
            self.type_error(&visitor)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let node = self.node;
        let r = visitor.visit_newtype_struct(NodeDe {
            node,
            unknown: self.unknown,
        });
        self.at(r)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => {
                let r = visitor.visit_seq(Items {
                    items: items.iter(),
                    unknown: self.unknown,
                });
                self.at(r)
            }
            _ => self.type_error(&visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => {
                let r = visitor.visit_map(Entries {
                    entries: entries.iter(),
                    value: None,
                    unknown: self.unknown,
                    fields: None,
                });
                self.at(r)
            }
            _ => self.type_error(&visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => {
                let r = visitor.visit_map(Entries {
                    entries: entries.iter(),
                    value: None,
                    unknown: self.unknown,
                    fields: Some(fields),
                });
                self.at(r)
            }
            _ => self.type_error(&visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Scalar { text, .. } => visitor.visit_enum(UnitVariant { name: text }),
            Value::Map(entries) if entries.len() == 1 => visitor.visit_enum(TaggedVariant {
                entry: &entries[0],
                unknown: self.unknown,
            }),
            _ => return self.type_error(&visitor),
        };
        self.at(r)
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn looks_like_float(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

struct Items<'a, I> {
    items: I,
    unknown: &'a UnknownFields,
}

impl<'a, I: Iterator<Item = &'a std::sync::Arc<Node>>> SeqAccess<'a> for Items<'a, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDe {
                    node,
                    unknown: self.unknown,
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

struct Entries<'a, I> {
    entries: I,
    value: Option<&'a Node>,
    unknown: &'a UnknownFields,
    fields: Option<&'static [&'static str]>,
}

impl<'a, I: Iterator<Item = &'a Entry>> MapAccess<'a> for Entries<'a, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for entry in self.entries.by_ref() {
            if let (Some(fields), Some(key)) = (self.fields, entry.key.as_str())
                && !fields.contains(&key)
            {
                self.unknown.borrow_mut().push(DeError {
                    message: format!(
                        "unknown field `{key}`, expected {}{}",
                        one_of(fields),
                        did_you_mean(key, fields)
                    ),
                    pos: Some(entry.key.pos),
                });
                continue;
            }
            self.value = Some(&entry.value);
            let key = NodeDe {
                node: &entry.key,
                unknown: self.unknown,
            };
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        match self.value.take() {
            Some(node) => seed.deserialize(NodeDe {
                node,
                unknown: self.unknown,
            }),
            None => Err(de::Error::custom("value requested before key")),
        }
    }
}

struct UnitVariant<'a> {
    name: &'a str,
}

impl<'a> EnumAccess<'a> for UnitVariant<'a> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<(T::Value, Self), DeError> {
        let de = de::value::BorrowedStrDeserializer::<DeError>::new(self.name);
        Ok((seed.deserialize(de)?, self))
    }
}

impl<'a> VariantAccess<'a> for UnitVariant<'a> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, _seed: T) -> Result<T::Value, DeError> {
        Err(de::Error::custom(format_args!(
            "`{}` needs a value",
            self.name
        )))
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, _visitor: V) -> Result<V::Value, DeError> {
        Err(de::Error::custom(format_args!(
            "`{}` needs a list",
            self.name
        )))
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, DeError> {
        Err(de::Error::custom(format_args!(
            "`{}` needs a mapping",
            self.name
        )))
    }
}

struct TaggedVariant<'a> {
    entry: &'a Entry,
    unknown: &'a UnknownFields,
}

impl<'a> EnumAccess<'a> for TaggedVariant<'a> {
    type Error = DeError;
    type Variant = NodeDe<'a>;

    fn variant_seed<T: DeserializeSeed<'a>>(
        self,
        seed: T,
    ) -> Result<(T::Value, NodeDe<'a>), DeError> {
        let key = NodeDe {
            node: &self.entry.key,
            unknown: self.unknown,
        };
        let tag = key.at(seed.deserialize(NodeDe {
            node: &self.entry.key,
            unknown: self.unknown,
        }))?;
        Ok((
            tag,
            NodeDe {
                node: &self.entry.value,
                unknown: self.unknown,
            },
        ))
    }
}

impl<'a> VariantAccess<'a> for NodeDe<'a> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}
