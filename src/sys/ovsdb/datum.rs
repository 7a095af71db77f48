//! Values as an OVSDB database holds them (RFC 7047 §5.1), and their JSON
//! forms. Schema-free: every column value is a set of atoms or a map, as in
//! ovsdb itself; a scalar column is a set of exactly one, an optional one a
//! set of zero or one. The wire writes a one-element set as the bare atom.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

/// One value of a column's base type.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(String),
    /// A row inserted earlier in the same transaction, by its `uuid-name`.
    NamedUuid(String),
}

/// A column's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Set(Vec<Atom>),
    Map(Vec<(Atom, Atom)>),
}

/// One row, or the part of it a request names: column → value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row(BTreeMap<String, Datum>);

/// JSON the server sent that is not what RFC 7047 says.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "malformed OVSDB value: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

impl Atom {
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    pub fn from_json(v: &Value) -> Result<Atom, Malformed> {
        Ok(match v {
            Value::Bool(b) => Atom::Boolean(*b),
            Value::String(s) => Atom::String(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Atom::Integer(i),
                None => Atom::Real(n.as_f64().ok_or_else(|| Malformed(v.to_string()))?),
            },
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.get(1).and_then(Value::as_str)) {
                (Some("uuid"), Some(u)) if a.len() == 2 => Atom::Uuid(u.to_string()),
                (Some("named-uuid"), Some(n)) if a.len() == 2 => Atom::NamedUuid(n.to_string()),
                _ => return Err(Malformed(v.to_string())),
            },
            _ => return Err(Malformed(v.to_string())),
        })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) | Atom::Uuid(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl Datum {
    /// The empty set: how a request clears an optional column.
    pub fn empty() -> Datum {
        Datum::Set(Vec::new())
    }

    pub fn uuid(u: &str) -> Datum {
        Datum::Set(vec![Atom::Uuid(u.to_string())])
    }

    pub fn named_uuid(n: &str) -> Datum {
        Datum::Set(vec![Atom::NamedUuid(n.to_string())])
    }

    /// A set of strings (also: the keys a map mutation deletes).
    pub fn strings<S: AsRef<str>>(items: &[S]) -> Datum {
        Datum::Set(items.iter().map(|s| Atom::String(s.as_ref().to_string())).collect())
    }

    /// A string → string map.
    pub fn string_map<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Datum {
        Datum::Map(
            pairs
                .iter()
                .map(|(k, v)| (Atom::String(k.as_ref().to_string()), Atom::String(v.as_ref().to_string())))
                .collect(),
        )
    }

    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(atoms) if atoms.len() == 1 => atoms[0].to_json(),
            Datum::Set(atoms) => json!(["set", atoms.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(pairs) => {
                json!(["map", pairs.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect::<Vec<_>>()])
            }
        }
    }

    pub fn from_json(v: &Value) -> Result<Datum, Malformed> {
        if let Some([tag, Value::Array(items)]) = v.as_array().map(Vec::as_slice) {
            match tag.as_str() {
                Some("set") => return Ok(Datum::Set(items.iter().map(Atom::from_json).collect::<Result<_, _>>()?)),
                Some("map") => {
                    let pair = |p: &Value| match p.as_array().map(Vec::as_slice) {
                        Some([k, v]) => Ok((Atom::from_json(k)?, Atom::from_json(v)?)),
                        _ => Err(Malformed(p.to_string())),
                    };
                    return Ok(Datum::Map(items.iter().map(pair).collect::<Result<_, _>>()?));
                }
                _ => {}
            }
        }
        Ok(Datum::Set(vec![Atom::from_json(v)?]))
    }

    /// The atoms of a set (a map's keys).
    pub fn atoms(&self) -> Vec<&Atom> {
        match self {
            Datum::Set(a) => a.iter().collect(),
            Datum::Map(p) => p.iter().map(|(k, _)| k).collect(),
        }
    }

    /// The one atom of a scalar or a non-empty optional column.
    pub fn single(&self) -> Option<&Atom> {
        match self {
            Datum::Set(a) if a.len() == 1 => a.first(),
            _ => None,
        }
    }

    /// A map's string pairs (others skipped).
    pub fn to_string_map(&self) -> BTreeMap<String, String> {
        match self {
            Datum::Map(p) => {
                p.iter().filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string()))).collect()
            }
            Datum::Set(_) => BTreeMap::new(),
        }
    }
}

impl From<&str> for Datum {
    fn from(s: &str) -> Datum {
        Datum::Set(vec![Atom::String(s.to_string())])
    }
}

impl From<String> for Datum {
    fn from(s: String) -> Datum {
        Datum::Set(vec![Atom::String(s)])
    }
}

impl From<i64> for Datum {
    fn from(i: i64) -> Datum {
        Datum::Set(vec![Atom::Integer(i)])
    }
}

impl From<bool> for Datum {
    fn from(b: bool) -> Datum {
        Datum::Set(vec![Atom::Boolean(b)])
    }
}

impl Row {
    pub fn new() -> Row {
        Row::default()
    }

    /// The row with one more column set.
    pub fn with(mut self, column: &str, value: impl Into<Datum>) -> Row {
        self.0.insert(column.to_string(), value.into());
        self
    }

    pub fn set(&mut self, column: &str, value: impl Into<Datum>) {
        self.0.insert(column.to_string(), value.into());
    }

    pub fn get(&self, column: &str) -> Option<&Datum> {
        self.0.get(column)
    }

    pub fn columns(&self) -> impl Iterator<Item = (&String, &Datum)> {
        self.0.iter()
    }

    /// A string column; "" when absent or not a single string.
    pub fn str(&self, column: &str) -> &str {
        self.get(column).and_then(Datum::single).and_then(Atom::as_str).unwrap_or("")
    }

    /// An integer column, scalar or optional.
    pub fn int(&self, column: &str) -> Option<i64> {
        self.get(column).and_then(Datum::single).and_then(Atom::as_int)
    }

    /// The row's own UUID (`_uuid`), or any single-UUID column.
    pub fn uuid(&self, column: &str) -> Option<&str> {
        match self.get(column)?.single()? {
            Atom::Uuid(u) => Some(u),
            _ => None,
        }
    }

    /// The UUIDs of a set-of-references column.
    pub fn uuids(&self, column: &str) -> Vec<&str> {
        let atoms = self.get(column).map(Datum::atoms).unwrap_or_default();
        atoms
            .into_iter()
            .filter_map(|a| match a {
                Atom::Uuid(u) => Some(u.as_str()),
                _ => None,
            })
            .collect()
    }

    /// A string → string map column (`external_ids`, `options`).
    pub fn map(&self, column: &str) -> BTreeMap<String, String> {
        self.get(column).map(Datum::to_string_map).unwrap_or_default()
    }

    pub fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }

    pub fn from_json(v: &Value) -> Result<Row, Malformed> {
        let obj = v.as_object().ok_or_else(|| Malformed(format!("a row must be an object: {v}")))?;
        Ok(Row(obj.iter().map(|(k, v)| Ok((k.clone(), Datum::from_json(v)?))).collect::<Result<_, Malformed>>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_element_sets_travel_bare_and_come_back_as_sets() {
        assert_eq!(Datum::from(5).to_json(), json!(5));
        assert_eq!(Datum::empty().to_json(), json!(["set", []]));
        assert_eq!(Datum::named_uuid("p").to_json(), json!(["named-uuid", "p"]));
        assert_eq!(Datum::string_map(&[("a", "1")]).to_json(), json!(["map", [["a", "1"]]]));
        for v in [json!(5), json!("x"), json!(["set", []]), json!(["map", [["k", "v"]]]), json!(["uuid", "u1"])] {
            assert_eq!(Datum::from_json(&v).unwrap().to_json(), v);
        }
        assert!(Datum::from_json(&json!(["bogus", 1])).is_err());
    }

    #[test]
    fn a_row_as_ovsdb_server_sends_it() {
        let row = Row::from_json(&json!({
            "name": "sw0", "datapath_type": "netdev", "_uuid": ["uuid", "d3c6"],
            "ports": ["set", [["uuid", "a1"], ["uuid", "a2"]]], "tag": ["set", []],
            "external_ids": ["map", [["pipework.vlan", "100"]]]
        }))
        .unwrap();
        assert_eq!(row.str("name"), "sw0");
        assert_eq!(row.uuid("_uuid"), Some("d3c6"));
        assert_eq!(row.uuids("ports"), ["a1", "a2"]);
        assert_eq!(row.int("tag"), None);
        assert_eq!(row.map("external_ids").get("pipework.vlan").map(String::as_str), Some("100"));
    }
}
