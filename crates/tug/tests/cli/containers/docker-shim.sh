#!/bin/sh
# Stands in for `docker` on tug's PATH in the `containers` tests: appends each command line tug runs to
# $TUG_TEST_DOCKER_LOG (with whether MYSQL_PWD was in its environment, never its value), then runs the
# real docker ($TUG_TEST_REAL_DOCKER) with the same arguments, environment, stdin and stdout.
printf 'MYSQL_PWD=%s argv: %s\n' "${MYSQL_PWD:+set}" "$*" >>"$TUG_TEST_DOCKER_LOG"
exec "$TUG_TEST_REAL_DOCKER" "$@"
