//! The SQL each engine runs for parity: a per-row hash, a key, and bucketed aggregates. Both engines
//! produce the same text for the same values where their types agree, so MariaDB and PostgreSQL can be
//! compared with each other, not only with themselves.

use crate::db::schema::{Column, Table};
use crate::db::session::quote_ident;
use crate::db::Engine;

/// Text of one row: columns joined by the unit separator, then a NULL bitmap so `NULL` and `''` differ.
pub fn row_text(engine: Engine, columns: &[&Column]) -> String {
    let q = |c: &Column| quote_ident(engine, &c.name);
    match engine {
        Engine::Mariadb => {
            let values: Vec<String> = columns
                .iter()
                .map(|c| {
                    if c.binary {
                        format!("IFNULL(HEX({}), '')", q(c))
                    } else {
                        format!("IFNULL(CAST({} AS CHAR), '')", q(c))
                    }
                })
                .collect();
            let nulls: Vec<String> = columns.iter().map(|c| format!("ISNULL({})", q(c))).collect();
            format!("CONCAT_WS(CHAR(31), {}, CONCAT({}))", values.join(", "), nulls.join(", "))
        }
        Engine::Postgres => {
            let values: Vec<String> = columns
                .iter()
                .map(|c| {
                    if c.binary {
                        format!("coalesce(upper(encode({}, 'hex')), '')", q(c))
                    } else {
                        format!("coalesce({}::text, '')", q(c))
                    }
                })
                .collect();
            let nulls: Vec<String> =
                columns.iter().map(|c| format!("CASE WHEN {} IS NULL THEN '1' ELSE '0' END", q(c))).collect();
            format!("concat_ws(chr(31), {}, concat({}))", values.join(", "), nulls.join(", "))
        }
    }
}

/// MD5 of the row text, hex.
pub fn row_md5(engine: Engine, columns: &[&Column]) -> String {
    match engine {
        Engine::Mariadb => format!("MD5({})", row_text(engine, columns)),
        Engine::Postgres => format!("md5({})", row_text(engine, columns)),
    }
}

/// The first 60 bits of the row's MD5 as a non-negative integer, summable without overflow in both engines.
pub fn row_hash_number(engine: Engine, columns: &[&Column]) -> String {
    match engine {
        Engine::Mariadb => format!("CAST(CONV(LEFT({}, 15), 16, 10) AS UNSIGNED)", row_md5(engine, columns)),
        Engine::Postgres => format!("('x' || left({}, 15))::bit(60)::bigint", row_md5(engine, columns)),
    }
}

/// The primary key as a JSON array (`[42]`, `[7, "de"]`), safe on one line whatever the values hold.
pub fn key_json(engine: Engine, key: &[String]) -> String {
    let cols: Vec<String> = key.iter().map(|k| quote_ident(engine, k)).collect();
    match engine {
        Engine::Mariadb => format!("JSON_ARRAY({})", cols.join(", ")),
        Engine::Postgres => format!("json_build_array({})::text", cols.join(", ")),
    }
}

/// A bucket number in `0..buckets` from a hash of `text_expr`.
pub fn hash_bucket(engine: Engine, text_expr: &str, buckets: u64) -> String {
    match engine {
        Engine::Mariadb => format!("MOD(CONV(LEFT(MD5({text_expr}), 8), 16, 10), {buckets})"),
        Engine::Postgres => format!("(('x' || left(md5({text_expr}), 8))::bit(32)::bigint % {buckets})"),
    }
}

/// The key's text, for hash buckets over non-integer keys.
pub fn key_text(engine: Engine, table: &Table) -> String {
    let cols: Vec<&Column> =
        table.primary_key.iter().filter_map(|k| table.columns.iter().find(|c| &c.name == k)).collect();
    row_text(engine, &cols)
}

pub fn integer_div(engine: Engine, expr: &str, width: u64) -> String {
    match engine {
        Engine::Mariadb => format!("({expr}) DIV {width}"),
        Engine::Postgres => format!("(({expr}) / {width})"),
    }
}

/// Same-engine comparisons need no common text form, so they hash with the engine's own fast functions over a
/// lean row text (bare columns; NULL flags only for nullable columns): two CRC32s on MariaDB, `hashtextextended`
/// (64 bits) on PostgreSQL — several times cheaper than MD5 over cast text.
pub fn native_row_text(engine: Engine, columns: &[&Column]) -> String {
    let q = |c: &Column| quote_ident(engine, &c.name);
    let values: Vec<String> = columns.iter().map(|c| q(c)).collect();
    let nullable: Vec<&&Column> = columns.iter().filter(|c| c.nullable).collect();
    match engine {
        Engine::Mariadb => {
            let flags = if nullable.is_empty() {
                String::new()
            } else {
                format!(
                    ", CONCAT({})",
                    nullable.iter().map(|c| format!("ISNULL({})", q(c))).collect::<Vec<_>>().join(", ")
                )
            };
            format!("CONCAT_WS(CHAR(31), {}{flags})", values.join(", "))
        }
        Engine::Postgres => {
            let flags = if nullable.is_empty() {
                String::new()
            } else {
                format!(
                    ", concat({})",
                    nullable.iter().map(|c| format!("({} IS NULL)::int", q(c))).collect::<Vec<_>>().join(", ")
                )
            };
            format!("concat_ws(chr(31), {}{flags})", values.join(", "))
        }
    }
}

/// A 64-bit row hash from the engine's native functions, as a summable number.
pub fn native_row_hash(engine: Engine, columns: &[&Column]) -> String {
    let text = native_row_text(engine, columns);
    match engine {
        Engine::Mariadb => format!("(CRC32({text}) * 4294967296 + CRC32(CONCAT({text}, '#')))"),
        Engine::Postgres => format!("hashtextextended({text}, 0)"),
    }
}
