# Sourced by the MariaDB entrypoint on the first start of an empty data volume (not executable on
# purpose: sourced scripts get the entrypoint's docker_process_sql helper and its root credentials).
#
# Creates the read-only account that tugboat uses for dumps and parity checks (databases.main in
# tugboat.yml: user_env DB_BACKUP_USER, password_env DB_BACKUP_PASSWORD). The grants cover
# `mariadb-dump --single-transaction --routines --triggers --events` and row counts, nothing more.

_sql_quote() { printf '%s' "$1" | sed "s/'/''/g"; }

_backup_user=$(_sql_quote "$DB_BACKUP_USER")
_backup_pass=$(_sql_quote "$DB_BACKUP_PASSWORD")

docker_process_sql --database=mysql <<SQL
CREATE USER IF NOT EXISTS '${_backup_user}'@'localhost' IDENTIFIED BY '${_backup_pass}';
GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT, SHOW CREATE ROUTINE ON \`${MARIADB_DATABASE}\`.* TO '${_backup_user}'@'localhost';
GRANT PROCESS ON *.* TO '${_backup_user}'@'localhost';
SQL

unset _backup_user _backup_pass
