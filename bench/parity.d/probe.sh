# Sourced by bench/parity (uses its servers, helpers and $dir). Two kinds of evidence about where the time
# of `tug parity` goes:
#  1. one tug run with the server's statement log on (MariaDB slow log at long_query_time=0, PostgreSQL
#     log_min_duration_statement=0): server time per statement, summed by step, table and side;
#  2. tug's pass-1 bucket query on `orders`, taken from that log, timed alone on one side next to variants
#     that drop one part of it at a time, and its EXPLAIN.
# Results: $dir/statements-ENGINE.md, rows appended to $dir/probe.md, $dir/probe-ENGINE-explain.txt.

# "db<TAB>ms<TAB>statement" lines on stdin -> markdown table of server time by step/table/side.
summarize_statements() { # engine tug_wall_ms
  awk -F'\t' -v engine="$1" -v wall="$2" '
    function step(s) {
      if (s ~ /^SELECT .tugboat-end-[0-9]+.;?$/ || s ~ /^SET /) return ""
      if (s ~ /GROUP BY 1/) return "pass 1: bucket count + hash sum"
      if (s ~ /(MIN|min)\(/) return "key range (MIN/MAX)"
      if (s ~ /JSON_ARRAY|json_build_array/) return "pass 2: (key, md5) of differing buckets"
      if (s ~ /information_schema|pg_catalog|pg_attribute|pg_class|pg_index|pg_namespace|pg_proc|pg_trigger|pg_views|pg_sequence/) return "schema and objects"
      return "other"
    }
    function table(s,  m) {
      if (match(s, /FROM [`"][^`"]+[`"]/)) return substr(s, RSTART + 6, RLENGTH - 7)
      return ""
    }
    {
      st = step($3); if (st == "") next
      t = (st == "schema and objects" || st == "other") ? "—" : table($3)
      k = st SUBSEP t
      if (!(k in seen)) { seen[k] = 1; order[++n] = k }
      ms[k, $1] += $2; total[$1] += $2; count[k]++
    }
    END {
      printf "Server time per statement of one `tug parity bench_a bench_c` run (10 changes) on %s (statement log; tug wall time %.2f s):\n\n", engine, wall / 1000
      print "| step | table | statements | bench_a | bench_c |"
      print "|---|---|---:|---:|---:|"
      for (i = 1; i <= n; i++) {
        split(order[i], p, SUBSEP)
        printf "| %s | %s | %d | %.0f ms | %.0f ms |\n", p[1], p[2], count[order[i]], ms[order[i], "bench_a"], ms[order[i], "bench_c"]
      }
      printf "| all logged statements | | | %.0f ms | %.0f ms |\n", total["bench_a"], total["bench_c"]
    }'
}

tug_once() { # engine -> wall ms on stdout
  local t0
  wait_for_idle_cpu "$1" >&2
  t0=$(now_ms)
  (cd "$dir" && "$tug" parity "$(url "$1" bench_a)" "$(url "$1" bench_c)" --json >/dev/null 2>&1) || true
  echo $(($(now_ms) - t0))
}

probe_mariadb() {
  local sl=$dir/maria-slow.log wall bucket
  maria -e "SET GLOBAL slow_query_log_file = '$sl'; SET GLOBAL long_query_time = 0; SET GLOBAL slow_query_log = 1"
  wall=$(tug_once mariadb)
  maria -e "SET GLOBAL slow_query_log = 0; SET GLOBAL long_query_time = 10"
  # Entry: "# Thread_id: N  Schema: DB ..." / "# Query_time: S ..." / "SET timestamp=...;" / statement;
  awk '/^# Thread_id:/ {db = $5} /^# Query_time:/ {qt = $3}
       /^SET timestamp=/ {getline s; sub(/;$/, "", s); printf "%s\t%.3f\t%s\n", db, qt * 1000, s}' "$sl" |
    summarize_statements MariaDB "$wall" >"$dir/statements-mariadb.md"

  bucket=$(grep -o 'SELECT .* FROM `orders` GROUP BY 1' "$sl" | head -1 || true)
  local hash=${bucket#*", COUNT(*), SUM("}; hash=${hash%" FROM \`orders\` GROUP BY 1"}; hash=${hash%")"}
  local b=${bucket#"SELECT "}; b=${b%%", COUNT(*)"*}
  local t=${hash#"CAST(CONV(LEFT(MD5("}; t=${t%"), 15), 16, 10) AS UNSIGNED)"}
  probe_time mariadb "tug's pass-1 bucket query" "$bucket"
  probe_time mariadb "  the same with ORDER BY NULL (no filesort of the groups)" "$bucket ORDER BY NULL"
  probe_time mariadb "  tug's hash, no GROUP BY" "SELECT COUNT(*), SUM($hash) FROM orders"
  probe_time mariadb "  GROUP BY bucket, COUNT(*) only" "SELECT $b, COUNT(*) FROM orders GROUP BY 1"
  probe_time mariadb "  row text only: SUM(LENGTH(row text))" "SELECT COUNT(*), SUM(LENGTH($t)) FROM orders"
  probe_time mariadb "  MD5 of row text, no CONV: SUM(LENGTH(MD5(row text)))" "SELECT COUNT(*), SUM(LENGTH(MD5($t))) FROM orders"
  probe_time mariadb "  SUM(CRC32(row text)), no GROUP BY" "SELECT COUNT(*), SUM(CRC32($t)) FROM orders"
  probe_time mariadb "  GROUP BY bucket, SUM(CRC32(row text))" "SELECT $b, COUNT(*), SUM(CRC32($t)) FROM orders GROUP BY 1"
  # A slimmer row text with the same information: CONCAT_WS converts by itself and skips NULLs, and the
  # NULL bitmap need only cover the nullable columns (the schema says which).
  local slim="CONCAT_WS(CHAR(31), \`id\`, \`customer_id\`, \`status\`, \`amount\`, \`created_at\`, \`shipped_at\`, \`note\`, CONCAT(ISNULL(\`shipped_at\`), ISNULL(\`note\`)))"
  probe_time mariadb "  slim row text only: SUM(LENGTH(slim text))" "SELECT COUNT(*), SUM(LENGTH($slim)) FROM orders"
  probe_time mariadb "  GROUP BY bucket, tug's MD5 hash of the slim text" "SELECT $b, COUNT(*), SUM(CAST(CONV(LEFT(MD5($slim), 15), 16, 10) AS UNSIGNED)) FROM orders GROUP BY 1"
  probe_time mariadb "  GROUP BY bucket, SUM(CRC32(slim text))" "SELECT $b, COUNT(*), SUM(CRC32($slim)) FROM orders GROUP BY 1"
  probe_time mariadb "  GROUP BY bucket, 64-bit SUM(CRC32(slim) << 32 \\| CRC32C(slim))" "SELECT $b, COUNT(*), SUM(CRC32($slim) << 32 | CRC32C($slim)) FROM orders GROUP BY 1"
  probe_time mariadb "database's hashed scan: SUM(CRC32(CONCAT_WS('#', cols)))" "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('#', ${maria_cols[orders]}))) FROM orders"
  { echo "MariaDB: EXPLAIN of tug's pass-1 bucket query on orders"
    maria -t --column-names bench_a -e "EXPLAIN $bucket" 2>&1
    echo "The query (first 700 characters):"; echo "$bucket" | cut -c1-700
    local fetch; fetch=$(grep -o 'SELECT JSON_ARRAY[^;]* FROM `orders` WHERE [^;]*' "$sl" | head -1 || true)
    echo; echo "EXPLAIN of tug's pass-2 query on orders:"
    maria -t --column-names bench_a -e "EXPLAIN $fetch" 2>&1; } >"$dir/probe-mariadb-explain.txt"
}

probe_postgres() {
  local wall mark bucket
  pg -d postgres -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "ALTER SYSTEM SET log_line_prefix = '%d '" \
    -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  mark=$(($(wc -l <"$dir/pg.log") + 1))
  wall=$(tug_once postgres)
  pg -d postgres -c "ALTER SYSTEM RESET log_min_duration_statement" -c "ALTER SYSTEM RESET log_line_prefix" \
    -c "SELECT pg_reload_conf()" >/dev/null
  # Line: "DB LOG:  duration: 12.345 ms  statement: SQL"
  tail -n +"$mark" "$dir/pg.log" | sed -n 's/^\([^ ]*\) LOG:  duration: \([0-9.]*\) ms  statement: \(.*\)$/\1\t\2\t\3/p' |
    summarize_statements PostgreSQL "$wall" >"$dir/statements-postgres.md"

  bucket=$(tail -n +"$mark" "$dir/pg.log" | grep -o 'SELECT .* FROM "orders" GROUP BY 1' | head -1 || true)
  local hash=${bucket#*", COUNT(*), SUM("}; hash=${hash%' FROM "orders" GROUP BY 1'}; hash=${hash%")"}
  local b=${bucket#"SELECT "}; b=${b%%", COUNT(*)"*}
  local t=${hash#"('x' || left(md5("}; t=${t%"), 15))::bit(60)::bigint"}
  probe_time postgres "tug's pass-1 bucket query" "$bucket"
  probe_time postgres "  the same, SET enable_sort = off (hash aggregate)" "SET enable_sort = off; $bucket"
  probe_time postgres "  the same, SET work_mem = '64MB' (sort in memory)" "SET work_mem = '64MB'; $bucket"
  probe_time postgres "  the same, SET max_parallel_workers_per_gather = 0" "SET max_parallel_workers_per_gather = 0; $bucket"
  probe_time postgres "  tug's hash, no GROUP BY" "SELECT COUNT(*), SUM($hash) FROM orders"
  probe_time postgres "  GROUP BY bucket, COUNT(*) only" "SELECT $b, COUNT(*) FROM orders GROUP BY 1"
  probe_time postgres "  row text only: SUM(length(row text))" "SELECT COUNT(*), SUM(length($t)) FROM orders"
  probe_time postgres "  md5 of row text, no bit conversion: SUM(length(md5(row text)))" "SELECT COUNT(*), SUM(length(md5($t))) FROM orders"
  probe_time postgres "  GROUP BY bucket, 64-bit SUM(hashtextextended(row text, 0))" "SELECT $b, COUNT(*), SUM(hashtextextended($t, 0)) FROM orders GROUP BY 1"
  local slim='concat_ws(chr(31), "id", "customer_id", "status", "amount", "created_at", "shipped_at", "note", concat(("shipped_at" IS NULL)::int, ("note" IS NULL)::int))'
  probe_time postgres "  slim row text only: SUM(length(slim text))" "SELECT COUNT(*), SUM(length($slim)) FROM orders"
  probe_time postgres "  GROUP BY bucket, tug's md5 hash of the slim text" "SELECT $b, COUNT(*), SUM(('x' || left(md5($slim), 15))::bit(60)::bigint) FROM orders GROUP BY 1"
  probe_time postgres "  GROUP BY bucket, 64-bit SUM(hashtextextended(slim text, 0))" "SELECT $b, COUNT(*), SUM(hashtextextended($slim, 0)) FROM orders GROUP BY 1"
  probe_time postgres "  the same, SET work_mem = '64MB'" "SET work_mem = '64MB'; SELECT $b, COUNT(*), SUM(hashtextextended($slim, 0)) FROM orders GROUP BY 1"
  probe_time postgres "database's hashed scan: sum(hashtext(t::text))" "SELECT count(*), sum(hashtext(orders::text)::bigint) FROM orders"
  local range fetch
  range=$(tail -n +"$mark" "$dir/pg.log" | grep -o 'SELECT MIN([^;]* FROM "orders"' | head -1 || true)
  fetch=$(tail -n +"$mark" "$dir/pg.log" | grep -o 'SELECT json_build_array[^;]* FROM "orders" WHERE [^;]*' | head -1 || true)
  { echo "PostgreSQL: EXPLAIN ANALYZE of tug's pass-1 bucket query on orders"
    pg -d bench_a -c "EXPLAIN (ANALYZE) $bucket" 2>&1 | sed 's/^\(.\{150\}\).*/\1…/' 
    echo "The query (first 700 characters):"; echo "$bucket" | cut -c1-700
    echo; echo "EXPLAIN ANALYZE of tug's key-range query on orders: $range"
    pg -d bench_a -c "EXPLAIN (ANALYZE, COSTS OFF) $range" 2>&1
    echo; echo "EXPLAIN ANALYZE of tug's pass-2 query on orders (first 300 characters: $(echo "$fetch" | cut -c1-300)…)"
    pg -d bench_a -c "EXPLAIN (ANALYZE, COSTS OFF) $fetch" 2>&1 | grep -v '^ *Filter: '
    echo; echo "The same two without the ::bigint cast on the key:"
    pg -d bench_a -c "EXPLAIN (ANALYZE, COSTS OFF) ${range//::bigint/}" 2>&1
    pg -d bench_a -c "EXPLAIN (ANALYZE, COSTS OFF) ${fetch//\"id\"::bigint/\"id\"}" 2>&1 | grep -v -e '^ *Filter: ' -e '^ *Recheck Cond: ' -e '^ *Index Cond: '
  } >"$dir/probe-postgres-explain.txt"
  probe_time postgres "tug's key-range query (MIN/MAX of \"id\"::bigint)" "$range"
  probe_time postgres "  the same without ::bigint (index endpoints)" "${range//::bigint/}"
  probe_time postgres "tug's pass-2 query (key ranges on \"id\"::bigint)" "$fetch"
  probe_time postgres "  the same without ::bigint on the key (index range scans)" "${fetch//\"id\"::bigint/\"id\"}"
}

probe_time() { # engine label sql: median of $runs on bench_a, started when the machine is otherwise idle
  local e=$1 label=$2 sql=$3 i t0 ms=()
  [ -n "$sql" ] || { echo "| $e | $label | (statement not found in the server log) |" >>"$dir/probe.md"; return; }
  wait_for_idle_cpu "$e"
  for i in $(seq 1 "$runs"); do
    t0=$(now_ms)
    run_sql "$e" bench_a "$sql" >/dev/null 2>"$dir/probe.err" || { echo "| $e | $label | failed: $(head -c 200 "$dir/probe.err") |" >>"$dir/probe.md"; return; }
    ms+=($(($(now_ms) - t0)))
  done
  echo "| $e | $label | $(secs "$(printf '%s\n' "${ms[@]}" | median)") |" >>"$dir/probe.md"
}
