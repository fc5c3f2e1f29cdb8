#!/bin/sh
# Builds a MariaDB container image from this host's own Debian binaries, for the `containers` tests
# (no registry is reachable from the test machines, so nothing can be pulled).
#
#   build-mariadb-image.sh IMAGE      e.g. tugboat-test/mariadb:local
#
# The image holds mariadbd, mariadb, mariadb-dump, every shared library they load (from `ldd`) plus the
# dynamic loader, /usr/share/mysql (error messages, charsets), a minimal /etc/passwd and /etc/group, and a
# data directory initialised here on the host with mariadb-install-db (a shell script, but it runs
# `mariadbd --bootstrap`, so it is run here rather than in the image). Root logs in over the socket with no
# password. Nothing else: no shell, no package manager.
#
# Cached: the image is labelled with the host's `mariadbd --version` and a digest of this script; when an
# image with the same label exists, nothing is built. Builds are serialised with flock, and the image is
# tagged only once complete.
#
# Needs: docker (engine running), mariadb-server and mariadb-client installed on the host.
set -eu

IMAGE=${1:?usage: build-mariadb-image.sh IMAGE}
LABEL=org.tugboat.test.build

die() { echo "build-mariadb-image: $*" >&2; exit 1; }

for tool in /usr/sbin/mariadbd /usr/bin/mariadb /usr/bin/mariadb-dump; do
    [ -x "$tool" ] || die "$tool is missing: apt-get install mariadb-server mariadb-client"
done
INSTALL_DB=$(command -v mariadb-install-db || command -v mysql_install_db || true)
[ -n "$INSTALL_DB" ] || die "mariadb-install-db is missing: apt-get install mariadb-server"

VERSION=$(/usr/sbin/mariadbd --version)
SCRIPT_DIGEST=$(sha256sum "$0" | cut -c1-16)
WANT="$VERSION | script $SCRIPT_DIGEST"

have() {
    [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$IMAGE" 2>/dev/null || true)" = "$WANT" ]
}

have && exit 0

LOCK=${TMPDIR:-/tmp}/tugboat-test-mariadb-image.lock
exec 9>"$LOCK"
flock 9
have && exit 0 # another process built it while we waited

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/tug-mariadb-image.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM
ROOT=$STAGE/rootfs
mkdir -p "$ROOT"

# Merged /usr, as on the host (Debian 12): /lib, /lib64, /bin, /sbin are links into /usr.
mkdir -p "$ROOT/usr/bin" "$ROOT/usr/sbin" "$ROOT/usr/lib" "$ROOT/usr/lib64"
ln -s usr/bin "$ROOT/bin"
ln -s usr/sbin "$ROOT/sbin"
ln -s usr/lib "$ROOT/lib"
ln -s usr/lib64 "$ROOT/lib64"

# Copies host file $1 to the same path in the image (following links, so the image gets real files
# under the names the loader asks for). The directory part is canonicalised: /lib/x -> /usr/lib/x.
put() {
    dir=$(readlink -f "$(dirname "$1")")
    mkdir -p "$ROOT$dir"
    cp -L "$1" "$ROOT$dir/$(basename "$1")"
}

for bin in /usr/sbin/mariadbd /usr/bin/mariadb /usr/bin/mariadb-dump; do
    put "$bin"
    # `libx.so.1 => /lib/.../libx.so.1 (0x…)` and the loader's own `/lib64/ld-linux-x86-64.so.2 (0x…)`.
    ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
        put "$lib"
    done
done
ln -s mariadb-dump "$ROOT/usr/bin/mysqldump"
ln -s mariadb "$ROOT/usr/bin/mysql"

mkdir -p "$ROOT/usr/share"
cp -a /usr/share/mysql "$ROOT/usr/share/mysql"
# The SQL scripts are only for mariadb-install-db, which runs on the host.
rm -f "$ROOT"/usr/share/mysql/*.sql

mkdir -p "$ROOT/etc" "$ROOT/tmp" "$ROOT/run/mysqld" "$ROOT/var/lib/mysql"
chmod 1777 "$ROOT/tmp"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nmysql:x:101:101:MariaDB:/nonexistent:/usr/sbin/nologin\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nmysql:x:101:\n' >"$ROOT/etc/group"
mkdir -p "$ROOT/root"

# The data directory, initialised on the host with the host's own server; small InnoDB log to keep the
# image small (the container must start mariadbd with the same --innodb-log-file-size).
mkdir -p "$STAGE/tmp"
if ! "$INSTALL_DB" --no-defaults --user=root --datadir="$ROOT/var/lib/mysql" --tmpdir="$STAGE/tmp" \
    --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
    --innodb-log-file-size=8M >"$STAGE/install.log" 2>&1; then
    cat "$STAGE/install.log" >&2
    die "mariadb-install-db failed"
fi
rm -f "$ROOT"/var/lib/mysql/*.pid "$ROOT"/var/lib/mysql/*.err

cat >"$STAGE/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
LABEL $LABEL="$WANT"
CMD ["/usr/sbin/mariadbd", "--no-defaults", "--user=root", "--datadir=/var/lib/mysql", "--socket=/run/mysqld/mysqld.sock", "--skip-networking", "--innodb-log-file-size=8M"]
EOF

# The classic builder: it ships with every engine (BuildKit needs the buildx plugin, which may be absent).
TMP_TAG="$IMAGE-building-$$"
DOCKER_BUILDKIT=0 docker build -q -t "$TMP_TAG" "$STAGE" >/dev/null 2>"$STAGE/build.log" || {
    cat "$STAGE/build.log" >&2
    die "docker build failed"
}
OLD=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
docker tag "$TMP_TAG" "$IMAGE"
docker rmi "$TMP_TAG" >/dev/null
# The image of an older mariadbd (or script) is no longer needed; keep it if a container still uses it.
[ -z "$OLD" ] || docker rmi "$OLD" >/dev/null 2>&1 || true
