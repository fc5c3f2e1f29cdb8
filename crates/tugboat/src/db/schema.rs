//! What a database holds: tables, columns, primary keys, and the other objects a migration must carry
//! (views, routines, triggers, events, sequences).

use serde::Serialize;

use super::endpoint::Engine;
use super::session::Session;
use super::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    /// The engine's full type (`int(11) unsigned`, `character varying(20)`).
    pub data_type: String,
    pub nullable: bool,
    /// Binary types are hashed as hex so both engines see the same text.
    #[serde(skip)]
    pub binary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// `name`, or `schema.name` for PostgreSQL schemas other than `public`.
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary key columns in key order; empty when the table has none.
    pub primary_key: Vec<String>,
}

impl Table {
    /// A single integer key column: segments can then be key ranges, read through the index.
    pub fn integer_key(&self) -> Option<&Column> {
        match self.primary_key.as_slice() {
            [k] => self.columns.iter().find(|c| &c.name == k).filter(|c| is_integer_type(&c.data_type)),
            _ => None,
        }
    }

    /// The key's first column, when it is an integer: the table can then be read in ranges of it through the index.
    pub fn leading_integer_key(&self) -> Option<&Column> {
        let first = self.primary_key.first()?;
        self.columns.iter().find(|c| &c.name == first).filter(|c| is_integer_type(&c.data_type))
    }
}

pub fn is_integer_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    ["tinyint", "smallint", "mediumint", "int", "bigint", "integer", "serial", "bigserial", "smallserial"]
        .iter()
        .any(|p| t == *p || t.starts_with(&format!("{p}(")) || t.starts_with(&format!("{p} ")))
}

fn is_binary_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    t == "bytea" || t.contains("blob") || t.starts_with("binary") || t.starts_with("varbinary")
}

/// Schema objects other than tables, by kind (`view`, `routine`, `trigger`, `event`, `sequence`), with a
/// digest of their definition where the catalog gives one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct SchemaObject {
    pub kind: String,
    pub name: String,
}

pub fn tables(s: &mut Session) -> Result<Vec<Table>> {
    let (table_sql, column_sql, key_sql) = match s.engine() {
        Engine::Mariadb => (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
            "SELECT table_name, column_name, column_type, is_nullable FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position",
            "SELECT table_name, column_name FROM information_schema.key_column_usage WHERE table_schema = DATABASE() AND constraint_name = 'PRIMARY' ORDER BY table_name, ordinal_position",
        ),
        Engine::Postgres => (
            "SELECT CASE WHEN table_schema = 'public' THEN table_name ELSE table_schema || '.' || table_name END FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END, a.attname, format_type(a.atttypid, a.atttypmod), \
             CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, a.attnum",
            "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END, a.attname FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE i.indisprimary AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, k.ord",
        ),
    };
    let names: Vec<String> = s.query(table_sql)?.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect();
    let mut tables: Vec<Table> =
        names.into_iter().map(|name| Table { name, columns: Vec::new(), primary_key: Vec::new() }).collect();
    for row in s.query(column_sql)? {
        let [Some(table), Some(name), Some(data_type), Some(nullable)] =
            <[Option<String>; 4]>::try_from(row).unwrap_or_default()
        else {
            continue;
        };
        if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
            let binary = is_binary_type(&data_type);
            t.columns.push(Column { name, data_type, nullable: nullable == "YES", binary });
        }
    }
    for row in s.query(key_sql)? {
        let [Some(table), Some(column)] = <[Option<String>; 2]>::try_from(row).unwrap_or_default() else { continue };
        if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
            t.primary_key.push(column);
        }
    }
    Ok(tables)
}

pub fn objects(s: &mut Session) -> Result<Vec<SchemaObject>> {
    let sql = match s.engine() {
        Engine::Mariadb => {
            "SELECT 'view', table_name FROM information_schema.views WHERE table_schema = DATABASE() \
             UNION ALL SELECT LOWER(routine_type), routine_name FROM information_schema.routines WHERE routine_schema = DATABASE() \
             UNION ALL SELECT 'trigger', trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE() \
             UNION ALL SELECT 'event', event_name FROM information_schema.events WHERE event_schema = DATABASE() \
             UNION ALL SELECT 'sequence', table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'SEQUENCE'"
        }
        Engine::Postgres => {
            "SELECT 'view', table_schema || '.' || table_name FROM information_schema.views WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
             UNION ALL SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \
             UNION ALL SELECT 'trigger', event_object_table || '.' || trigger_name FROM information_schema.triggers WHERE trigger_schema NOT IN ('pg_catalog', 'information_schema') \
             UNION ALL SELECT 'sequence', sequence_schema || '.' || sequence_name FROM information_schema.sequences WHERE sequence_schema NOT IN ('pg_catalog', 'information_schema')"
        }
    };
    let mut out: Vec<SchemaObject> = s
        .query(sql)?
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [Some(kind), Some(name)] => Some(SchemaObject { kind: kind.clone(), name: name.clone() }),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}
