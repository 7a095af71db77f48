//! `monitor_cond` (ovsdb-server's extension of RFC 7047 §4.1.5): the rows
//! of interest and the columns asked, kept current from `update2`
//! notifications. Those carry, for a modified column, the difference, not
//! the new value; reading a difference needs the column's shape (a scalar
//! is replaced, a set toggles elements, a map adds, changes or drops
//! keys), which the caller states — no schema is fetched.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::datum::{Atom, Datum, Malformed, Row};
use super::op::Condition;

/// How a column's difference applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exactly one value (`name`, `cur_cfg`): replaced.
    Scalar,
    /// A set, also an optional value (`ofport`, `error`): elements toggle.
    Set,
    /// A map (`external_ids`): keys added, changed or dropped.
    Map,
}

/// One table to watch: which columns, and which rows (all when None).
#[derive(Debug, Clone)]
pub struct Watch {
    pub table: String,
    pub columns: Vec<(String, Shape)>,
    pub conditions: Option<Vec<Condition>>,
}

/// The watched rows as the server last described them.
#[derive(Debug, Default)]
pub struct Monitor {
    pub id: String,
    shapes: HashMap<String, HashMap<String, Shape>>,
    tables: HashMap<String, BTreeMap<String, Row>>,
}

impl Monitor {
    /// The monitor and the params of its `monitor_cond` request.
    pub fn request(db: &str, id: &str, watches: &[Watch]) -> (Monitor, Value) {
        let mut mon = Monitor { id: id.to_string(), ..Monitor::default() };
        let mut requests = serde_json::Map::new();
        for w in watches {
            mon.shapes.insert(w.table.clone(), w.columns.iter().cloned().collect());
            let mut req = json!({"columns": w.columns.iter().map(|(c, _)| c).collect::<Vec<_>>()});
            if let Some(conds) = &w.conditions {
                // Clauses of one condition are alternatives (any may match).
                req["where"] = conds.iter().map(|c| json!([c.column, c.function, c.value.to_json()])).collect();
            }
            requests.insert(w.table.clone(), json!([req]));
        }
        (mon, json!([db, id, requests]))
    }

    /// Applies `<table-updates2>`: the monitor's initial contents, or one
    /// notification's.
    pub fn apply(&mut self, updates: &Value) -> Result<(), Malformed> {
        let tables = updates.as_object().ok_or_else(|| Malformed(format!("table updates: {updates}")))?;
        for (table, rows) in tables {
            let rows = rows.as_object().ok_or_else(|| Malformed(format!("row updates: {rows}")))?;
            let shapes = self.shapes.get(table).cloned().unwrap_or_default();
            let cache = self.tables.entry(table.clone()).or_default();
            for (uuid, change) in rows {
                let change = change.as_object().ok_or_else(|| Malformed(format!("row update: {change}")))?;
                for (kind, row) in change {
                    match kind.as_str() {
                        "initial" | "insert" => {
                            cache.insert(uuid.clone(), Row::from_json(row)?);
                        }
                        "delete" => {
                            cache.remove(uuid);
                        }
                        "modify" => {
                            let diff = Row::from_json(row)?;
                            let old = cache.entry(uuid.clone()).or_default();
                            for (column, d) in diff.columns() {
                                let shape = shapes.get(column).copied().unwrap_or(Shape::Scalar);
                                let new = apply_diff(old.get(column), d, shape);
                                old.set(column, new);
                            }
                        }
                        _ => return Err(Malformed(format!("row update kind {kind}"))),
                    }
                }
            }
        }
        Ok(())
    }

    /// The watched rows of a table, by UUID.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&String, &Row)> {
        self.tables.get(table).into_iter().flatten()
    }
}

fn apply_diff(old: Option<&Datum>, diff: &Datum, shape: Shape) -> Datum {
    match (shape, old, diff) {
        (Shape::Scalar, _, d) => d.clone(),
        (_, Some(Datum::Map(old)), Datum::Map(changes)) => {
            let mut pairs = old.clone();
            for (k, v) in changes {
                match pairs.iter().position(|(ok, _)| ok == k) {
                    Some(i) if pairs[i].1 == *v => {
                        pairs.remove(i);
                    }
                    Some(i) => pairs[i].1 = v.clone(),
                    None => pairs.push((k.clone(), v.clone())),
                }
            }
            Datum::Map(pairs)
        }
        (_, None, d) => d.clone(),
        (_, Some(old), d) => {
            let mut atoms: Vec<Atom> = old.atoms().into_iter().cloned().collect();
            for a in d.atoms() {
                match atoms.iter().position(|o| o == a) {
                    Some(i) => {
                        atoms.remove(i);
                    }
                    None => atoms.push(a.clone()),
                }
            }
            Datum::Set(atoms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::ovsdb::op::eq;

    fn iface_monitor() -> Monitor {
        let watches = [Watch {
            table: "Interface".into(),
            columns: vec![("name".into(), Shape::Scalar), ("ofport".into(), Shape::Set), ("error".into(), Shape::Set)],
            conditions: Some(vec![eq("name", "vA")]),
        }];
        let (mon, params) = Monitor::request("Open_vSwitch", "pw", &watches);
        assert_eq!(
            params,
            json!(["Open_vSwitch", "pw", {"Interface": [{"columns": ["name", "ofport", "error"],
                                                          "where": [["name", "==", "vA"]]}]}])
        );
        mon
    }

    #[test]
    fn optional_columns_toggle_and_scalars_are_replaced() {
        let mut mon = iface_monitor();
        // As ovsdb-server 3.1 sent them for a new port (recorded).
        mon.apply(&json!({"Interface": {"9c65": {"insert": {"name": "vA"}}}})).unwrap();
        mon.apply(&json!({"Interface": {"9c65": {"modify": {"ofport": 1}}}})).unwrap();
        let row = mon.rows("Interface").next().unwrap().1;
        assert_eq!((row.str("name"), row.int("ofport")), ("vA", Some(1)));
        mon.apply(&json!({"Interface": {"9c65": {"modify": {"ofport": ["set", [1, -1]], "error": "gone"}}}})).unwrap();
        let row = mon.rows("Interface").next().unwrap().1;
        assert_eq!((row.int("ofport"), row.str("error")), (Some(-1), "gone"));
        mon.apply(&json!({"Interface": {"9c65": {"modify": {"error": "gone"}}}})).unwrap();
        assert_eq!(mon.rows("Interface").next().unwrap().1.get("error"), Some(&Datum::empty()));
        mon.apply(&json!({"Interface": {"9c65": {"delete": null}}})).unwrap();
        assert_eq!(mon.rows("Interface").count(), 0);
    }

    #[test]
    fn map_differences_add_change_and_drop_keys() {
        let old = Datum::string_map(&[("a", "1"), ("b", "2")]);
        let diff = Datum::string_map(&[("a", "1"), ("b", "3"), ("c", "4")]);
        assert_eq!(apply_diff(Some(&old), &diff, Shape::Map), Datum::string_map(&[("b", "3"), ("c", "4")]));
    }
}
