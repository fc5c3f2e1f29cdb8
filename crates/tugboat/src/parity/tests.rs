//! Parity against real servers (scratch MariaDB and PostgreSQL), tampering with a copy and checking that
//! exactly the changed, deleted and inserted rows are reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::db::scratch::ScratchServer;

fn run(server: &ScratchServer, db: &str, sql: &str) {
    let mut s = Session::connect(&server.endpoint(db)).unwrap();
    for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        s.execute(stmt).unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
}

const MARIADB_FIXTURE: &str = "
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2), note TEXT NULL, data VARBINARY(16) NULL);
INSERT INTO items SELECT seq, CONCAT('item-', seq), seq / 4, IF(seq % 7 = 0, NULL, CONCAT('n', seq % 13)), IF(seq % 5 = 0, NULL, UNHEX(HEX(seq))) FROM seq_1_to_5000;
CREATE TABLE tags (doc VARCHAR(20), tag VARCHAR(20), weight INT, PRIMARY KEY (doc, tag));
INSERT INTO tags SELECT CONCAT('doc', seq % 100), CONCAT('t', seq), seq FROM seq_1_to_1000;
CREATE TABLE log (at INT, msg VARCHAR(20));
INSERT INTO log SELECT seq % 50, CONCAT('m', seq % 10) FROM seq_1_to_300;
CREATE TABLE readings (device INT, seq INT, v DOUBLE, PRIMARY KEY (device, seq));
INSERT INTO readings SELECT seq DIV 10, seq % 10, seq / 3 FROM seq_1_to_3000;
CREATE TABLE huge_ids (id BIGINT UNSIGNED PRIMARY KEY, v INT);
INSERT INTO huge_ids VALUES (1, 1), (9223372036854775808, 2), (18446744073709551615, 3);
";

fn mariadb_pair() -> (ScratchServer, Endpoint, Endpoint) {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("src").unwrap();
    server.create_database("dst").unwrap();
    run(&server, "src", MARIADB_FIXTURE);
    run(&server, "dst", MARIADB_FIXTURE);
    let (a, b) = (server.endpoint("src"), server.endpoint("dst"));
    (server, a, b)
}

fn table<'a>(r: &'a ParityReport, name: &str) -> &'a TableReport {
    r.tables.iter().find(|t| t.table == name).unwrap()
}

fn keys(k: &Keys) -> Vec<String> {
    k.keys.iter().map(|v| v.to_string()).collect()
}

#[test]
fn mariadb_equal_then_tampered() {
    let (server, src, dst) = mariadb_pair();
    let r = compare(&src, &dst, &ParityOptions::default(), &()).unwrap();
    assert!(r.equal, "{r:#?}");
    assert_eq!(table(&r, "items").source_rows, 5000);
    assert_eq!(table(&r, "items").method, Method::KeyRanges);
    assert_eq!(table(&r, "tags").method, Method::KeyHashBuckets);
    assert_eq!(table(&r, "log").method, Method::RowHashes);
    assert_eq!(table(&r, "readings").method, Method::KeyHashBuckets);
    assert_eq!(table(&r, "huge_ids").source_rows, 3);

    run(
        &server,
        "dst",
        "UPDATE items SET price = price + 1 WHERE id IN (17, 2500);
         UPDATE items SET note = NULL WHERE id = 4999;
         UPDATE items SET note = '' WHERE id = 14;
         DELETE FROM items WHERE id IN (1, 3333);
         INSERT INTO items (id, name) VALUES (6001, 'new'), (-5, 'negative');
         UPDATE tags SET weight = 0 WHERE doc = 'doc7' AND tag = 't107';
         DELETE FROM tags WHERE doc = 'doc1' AND tag = 't1';
         INSERT INTO tags VALUES ('doc\\ttab', 'x', 1);
         DELETE FROM log WHERE at = 3 AND msg = 'm3' LIMIT 1;
         INSERT INTO log VALUES (99, 'extra');
         UPDATE readings SET v = 0 WHERE device = 3 AND seq = 4;
         UPDATE readings SET v = -1 WHERE device = 250 AND seq = 9;
         DELETE FROM readings WHERE device = 120 AND seq = 0;
         INSERT INTO readings VALUES (9000, 1, 1);
         UPDATE huge_ids SET v = 4 WHERE id = 18446744073709551615",
    );
    let r = compare(&src, &dst, &ParityOptions::default(), &()).unwrap();
    assert!(!r.equal);
    let items = table(&r, "items");
    assert_eq!(items.status, TableStatus::ContentDiffers);
    assert_eq!(keys(&items.changed), ["[14]", "[17]", "[2500]", "[4999]"]);
    assert_eq!(keys(&items.missing), ["[1]", "[3333]"]);
    assert_eq!(keys(&items.extra), ["[-5]", "[6001]"]);
    let tags = table(&r, "tags");
    assert_eq!(tags.status, TableStatus::ContentDiffers);
    assert_eq!(keys(&tags.changed), [r#"["doc7","t107"]"#]);
    assert_eq!(keys(&tags.missing), [r#"["doc1","t1"]"#]);
    assert_eq!(keys(&tags.extra), [r#"["doc\ttab","x"]"#]);
    let log = table(&r, "log");
    assert_eq!((log.missing.total, log.extra.total), (1, 1));
    assert_eq!(keys(&log.extra), [r#"[99,"extra"]"#]);
    // A composite key led by an integer: compared in ranges of its first column, then by key hash inside them.
    let readings = table(&r, "readings");
    assert_eq!(keys(&readings.changed), ["[3,4]", "[250,9]"]);
    assert_eq!(keys(&readings.missing), ["[120,0]"]);
    assert_eq!(keys(&readings.extra), ["[9000,1]"]);
    // Keys past i64: no ranges, key hashes over the whole table.
    assert_eq!(keys(&table(&r, "huge_ids").changed), ["[18446744073709551615]"]);
}

#[test]
fn mariadb_schema_objects_options_and_errors() {
    let (server, src, dst) = mariadb_pair();
    run(
        &server,
        "src",
        "CREATE VIEW cheap AS SELECT id FROM items WHERE price < 10;\nCREATE TABLE only_here (id INT PRIMARY KEY)",
    );
    run(&server, "dst", "ALTER TABLE items MODIFY name VARCHAR(80)");
    let r = compare(&src, &dst, &ParityOptions::default(), &()).unwrap();
    assert_eq!(r.tables_only_in_source, ["only_here"]);
    assert_eq!(r.objects_only_in_source, [SchemaObject { kind: "view".into(), name: "cheap".into() }]);
    let items = table(&r, "items");
    assert_eq!(items.status, TableStatus::SchemaDiffers);
    assert_eq!(items.schema_differences, ["column name: varchar(50) vs varchar(80)"]);

    // --tables / --exclude / --counts-only / --where
    run(&server, "dst", "DELETE FROM items WHERE id > 4000");
    let only_tags = ParityOptions { tables: vec!["ta*".into()], ..Default::default() };
    let r = compare(&src, &dst, &only_tags, &()).unwrap();
    assert_eq!(r.tables.iter().map(|t| t.table.as_str()).collect::<Vec<_>>(), ["tags"]);
    let counts = ParityOptions { counts_only: true, exclude: vec!["log".into()], ..Default::default() };
    let r = compare(&src, &dst, &counts, &()).unwrap();
    let items = table(&r, "items");
    assert_eq!((items.status, items.source_rows, items.target_rows), (TableStatus::CountDiffers, 5000, 4000));
    let bounded =
        ParityOptions { where_clause: Some("1 = 1".into()), tables: vec!["items".into()], ..Default::default() };
    let r = compare(&src, &dst, &bounded, &()).unwrap();
    assert_eq!(table(&r, "items").missing.total, 1000);
    assert_eq!(table(&r, "items").missing.keys.len(), 20);

    // A bad --where fails that table, not the run.
    let broken = ParityOptions {
        where_clause: Some("no_such_column = 1".into()),
        tables: vec!["items".into()],
        ..Default::default()
    };
    let r = compare(&src, &dst, &broken, &()).unwrap();
    let items = table(&r, "items");
    assert_eq!(items.status, TableStatus::Error);
    assert!(items.note.as_ref().unwrap().contains("no_such_column"), "{:?}", items.note);
}

const PG_FIXTURE: &str = "
CREATE TABLE items (id bigint PRIMARY KEY, name varchar(50), price numeric(10,2), note text, data bytea, seen timestamp);
INSERT INTO items SELECT g, 'item-' || g, g / 4.0, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || (g % 13) END, CASE WHEN g % 5 = 0 THEN NULL ELSE int8send(g) END, timestamp '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 5000) g;
CREATE SCHEMA audit;
CREATE TABLE audit.events (id uuid PRIMARY KEY, kind text);
INSERT INTO audit.events SELECT md5(g::text)::uuid, 'k' || (g % 3) FROM generate_series(1, 500) g;
";

#[test]
fn postgres_equal_then_tampered() {
    let server = ScratchServer::start(Engine::Postgres).unwrap();
    server.create_database("src").unwrap();
    server.create_database("dst").unwrap();
    run(&server, "src", PG_FIXTURE);
    run(&server, "dst", PG_FIXTURE);
    let (src, dst) = (server.endpoint("src"), server.endpoint("dst"));
    let r = compare(&src, &dst, &ParityOptions::default(), &()).unwrap();
    assert!(r.equal, "{r:#?}");
    assert_eq!(table(&r, "audit.events").method, Method::KeyHashBuckets);
    run(
        &server,
        "dst",
        "UPDATE items SET seen = seen + interval '1 second' WHERE id = 4321;
         UPDATE items SET data = NULL WHERE id = 12;
         DELETE FROM items WHERE id = 5000;
         DELETE FROM audit.events WHERE id = md5('42')::uuid",
    );
    let r = compare(&src, &dst, &ParityOptions::default(), &()).unwrap();
    let items = table(&r, "items");
    assert_eq!(keys(&items.changed), ["[12]", "[4321]"]);
    assert_eq!(keys(&items.missing), ["[5000]"]);
    assert_eq!(items.status, TableStatus::CountDiffers);
    let events = table(&r, "audit.events");
    assert_eq!(events.missing.total, 1);
}

#[test]
fn mariadb_against_postgres_where_types_agree() {
    let my = ScratchServer::start(Engine::Mariadb).unwrap();
    let pg = ScratchServer::start(Engine::Postgres).unwrap();
    my.create_database("app").unwrap();
    pg.create_database("app").unwrap();
    run(&my, "app", "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100), score INT NULL);\nINSERT INTO users SELECT seq, CONCAT('u', seq, '@example.org'), IF(seq % 3 = 0, NULL, seq) FROM seq_1_to_2000");
    run(&pg, "app", "CREATE TABLE users (id integer PRIMARY KEY, email varchar(100), score integer);\nINSERT INTO users SELECT g, 'u' || g || '@example.org', CASE WHEN g % 3 = 0 THEN NULL ELSE g END FROM generate_series(1, 2000) g");
    let r = compare(&my.endpoint("app"), &pg.endpoint("app"), &ParityOptions::default(), &()).unwrap();
    assert!(r.equal, "{r:#?}");
    run(&pg, "app", "UPDATE users SET score = 0 WHERE id = 1999");
    let r = compare(&my.endpoint("app"), &pg.endpoint("app"), &ParityOptions::default(), &()).unwrap();
    assert_eq!(keys(&table(&r, "users").changed), ["[1999]"], "{r:#?}");
}

#[test]
fn glob_patterns() {
    assert!(glob("*", "x") && glob("doc_*", "doc_files") && glob("*_log", "app_log") && glob("a*c*e", "abcde"));
    assert!(!glob("doc_*", "docs") && !glob("x", "xy"));
}

#[test]
fn chunk_ranges_cover_the_key_span_contiguously() {
    for (lo, hi) in [(1, 600_000), (5, 5), (-5, 6001), (0, 63), (i64::MIN, i64::MAX - 1)] {
        let chunks = chunk_ranges(lo, hi);
        assert!(!chunks.is_empty() && chunks.len() <= CHUNKS as usize, "{lo}..={hi}: {}", chunks.len());
        assert_eq!(chunks[0].0, lo);
        assert!(chunks.last().unwrap().1 > hi, "{lo}..={hi} ends at {:?}", chunks.last());
        assert!(chunks.windows(2).all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1), "{lo}..={hi}: {chunks:?}");
    }
    assert_eq!(chunk_ranges(5, 5), [(5, 6)]);
    assert_eq!(ranges_filter("k", &[(0, 10), (10, 20), (30, 40)]), "((k >= 0 AND k < 20) OR (k >= 30 AND k < 40))");
}
