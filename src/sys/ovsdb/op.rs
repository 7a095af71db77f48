//! The operations of a `transact` request (RFC 7047 §5.2) and what each
//! answers. Schema-free: tables and columns are names; each schema's typed
//! helpers (`vswitch.rs`) build these.

use serde_json::{json, Value};

use super::datum::{Datum, Malformed, Row};
use super::error::{TxnError, TxnErrorKind};

/// `[column, function, value]`: which rows an operation acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub function: &'static str,
    pub value: Datum,
}

/// `column == value`.
pub fn eq(column: &str, value: impl Into<Datum>) -> Condition {
    Condition { column: column.into(), function: "==", value: value.into() }
}

/// `column includes value`: a set column holds every element of `value`.
pub fn includes(column: &str, value: Datum) -> Condition {
    Condition { column: column.into(), function: "includes", value }
}

/// `[column, mutator, value]`: a change relative to the present value, so
/// that concurrent writers of other elements do not overwrite each other.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub column: String,
    pub mutator: &'static str,
    pub value: Datum,
}

/// Adds elements to a set, or pairs whose keys are absent to a map.
pub fn insert(column: &str, value: Datum) -> Mutation {
    Mutation { column: column.into(), mutator: "insert", value }
}

/// Removes elements from a set, or keys (a set) or pairs (a map) from a map.
pub fn delete(column: &str, value: Datum) -> Mutation {
    Mutation { column: column.into(), mutator: "delete", value }
}

/// `column += n` on an integer column.
pub fn add(column: &str, n: i64) -> Mutation {
    Mutation { column: column.into(), mutator: "+=", value: n.into() }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A new row; `uuid_name` lets later operations of the same transaction
    /// refer to it (`Datum::named_uuid`).
    Insert {
        table: String,
        row: Row,
        uuid_name: Option<String>,
    },
    /// The rows that match, with these columns (all when empty).
    Select {
        table: String,
        conditions: Vec<Condition>,
        columns: Vec<String>,
    },
    Update {
        table: String,
        conditions: Vec<Condition>,
        row: Row,
    },
    Mutate {
        table: String,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    },
    // Root-table rows (OVN's Logical_Switch_Port…); Open vSwitch's rows go
    // when no longer referenced.
    #[allow(dead_code)]
    Delete {
        table: String,
        conditions: Vec<Condition>,
    },
    /// Fails the whole transaction unless the matching rows, reduced to
    /// `columns`, are exactly `rows` (`equal`) or are not (`!equal`): the
    /// guard that makes a transaction built from an earlier read safe.
    /// Never waits: timeout 0.
    Wait {
        table: String,
        conditions: Vec<Condition>,
        columns: Vec<String>,
        equal: bool,
        rows: Vec<Row>,
    },
    /// Written to the server's log with the transaction.
    Comment(String),
}

impl Op {
    pub fn insert(table: &str, row: Row, uuid_name: Option<&str>) -> Op {
        Op::Insert { table: table.into(), row, uuid_name: uuid_name.map(str::to_string) }
    }

    pub fn select(table: &str, conditions: Vec<Condition>, columns: &[&str]) -> Op {
        Op::Select { table: table.into(), conditions, columns: columns.iter().map(|c| c.to_string()).collect() }
    }

    pub fn update(table: &str, conditions: Vec<Condition>, row: Row) -> Op {
        Op::Update { table: table.into(), conditions, row }
    }

    pub fn mutate(table: &str, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Op {
        Op::Mutate { table: table.into(), conditions, mutations }
    }

    #[allow(dead_code)]
    pub fn delete(table: &str, conditions: Vec<Condition>) -> Op {
        Op::Delete { table: table.into(), conditions }
    }

    /// Guard: no row matches.
    pub fn wait_none(table: &str, conditions: Vec<Condition>) -> Op {
        Op::Wait { table: table.into(), conditions, columns: vec!["_uuid".into()], equal: true, rows: Vec::new() }
    }

    /// Guard: some row matches.
    pub fn wait_some(table: &str, conditions: Vec<Condition>) -> Op {
        Op::Wait { table: table.into(), conditions, columns: vec!["_uuid".into()], equal: false, rows: Vec::new() }
    }

    pub fn to_json(&self) -> Value {
        let conds =
            |c: &[Condition]| -> Value { c.iter().map(|c| json!([c.column, c.function, c.value.to_json()])).collect() };
        match self {
            Op::Insert { table, row, uuid_name } => {
                let mut o = json!({"op": "insert", "table": table, "row": row.to_json()});
                if let Some(n) = uuid_name {
                    o["uuid-name"] = json!(n);
                }
                o
            }
            Op::Select { table, conditions, columns } => {
                let mut o = json!({"op": "select", "table": table, "where": conds(conditions)});
                if !columns.is_empty() {
                    o["columns"] = json!(columns);
                }
                o
            }
            Op::Update { table, conditions, row } => {
                json!({"op": "update", "table": table, "where": conds(conditions), "row": row.to_json()})
            }
            Op::Mutate { table, conditions, mutations } => json!({
                "op": "mutate", "table": table, "where": conds(conditions),
                "mutations": mutations.iter().map(|m| json!([m.column, m.mutator, m.value.to_json()])).collect::<Vec<_>>()
            }),
            Op::Delete { table, conditions } => json!({"op": "delete", "table": table, "where": conds(conditions)}),
            Op::Wait { table, conditions, columns, equal, rows } => json!({
                "op": "wait", "table": table, "where": conds(conditions), "columns": columns,
                "until": if *equal { "==" } else { "!=" }, "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
                "timeout": 0
            }),
            Op::Comment(c) => json!({"op": "comment", "comment": c}),
        }
    }
}

/// What each operation of a transaction that committed answered, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply(Vec<Value>);

impl Reply {
    /// The `result` of a transact: one object per operation, or the first
    /// error among them (a commit-time error comes after the last one).
    pub fn parse(result: &Value, ops: usize) -> Result<Result<Reply, TxnError>, Malformed> {
        let items =
            result.as_array().ok_or_else(|| Malformed(format!("a transact result must be an array: {result}")))?;
        for (i, item) in items.iter().enumerate() {
            if let Some(e) = item.get("error").and_then(Value::as_str) {
                let details = item.get("details").and_then(Value::as_str).unwrap_or("").to_string();
                let op = (i < ops).then_some(i);
                return Ok(Err(TxnError { kind: TxnErrorKind::of(e), error: e.to_string(), details, op }));
            }
        }
        Ok(Ok(Reply(items.clone())))
    }

    /// The rows a `select` returned.
    pub fn rows(&self, op: usize) -> Result<Vec<Row>, Malformed> {
        let rows = self.0.get(op).and_then(|r| r.get("rows")).and_then(Value::as_array);
        rows.ok_or_else(|| Malformed(format!("operation {op} returned no rows")))?.iter().map(Row::from_json).collect()
    }

    /// The UUID an `insert` gave its row.
    pub fn uuid(&self, op: usize) -> Result<String, Malformed> {
        let uuid = self.0.get(op).and_then(|r| r.get("uuid")).and_then(|u| u.get(1)).and_then(Value::as_str);
        uuid.map(str::to_string).ok_or_else(|| Malformed(format!("operation {op} returned no uuid")))
    }

    /// How many rows an `update`, `mutate` or `delete` matched.
    #[allow(dead_code)]
    pub fn count(&self, op: usize) -> Result<i64, Malformed> {
        let n = self.0.get(op).and_then(|r| r.get("count")).and_then(Value::as_i64);
        n.ok_or_else(|| Malformed(format!("operation {op} returned no count")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_as_rfc_7047_spells_them() {
        let w = Op::wait_none("Port", vec![eq("name", "p1")]);
        assert_eq!(
            w.to_json(),
            json!({"op": "wait", "table": "Port", "where": [["name", "==", "p1"]], "columns": ["_uuid"],
                   "until": "==", "rows": [], "timeout": 0})
        );
        let m = Op::mutate("Bridge", vec![eq("name", "sw0")], vec![insert("ports", Datum::named_uuid("port"))]);
        assert_eq!(
            m.to_json(),
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "sw0"]],
                   "mutations": [["ports", "insert", ["named-uuid", "port"]]]})
        );
        let i = Op::insert("Interface", Row::new().with("name", "p1"), Some("iface"));
        assert_eq!(
            i.to_json(),
            json!({"op": "insert", "table": "Interface", "row": {"name": "p1"}, "uuid-name": "iface"})
        );
        let s = Op::select("Open_vSwitch", vec![], &["next_cfg"]);
        assert_eq!(s.to_json(), json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]}));
    }
}
