#!/bin/sh
# Builds a tiny container image for the container-probe tests from this host's own binaries (no registry
# is reachable from the test machines, so nothing can be pulled).
#
#   build-probe-image.sh IMAGE      e.g. tugboat-test/probe:local
#
# The image holds /usr/bin/sleep, true, false and /bin/sh (dash) with the shared libraries they load
# (from `ldd`) and the dynamic loader. It runs `sleep infinity`, which as PID 1 ignores SIGTERM: run it
# with `--stop-signal SIGKILL` (import cannot set STOPSIGNAL). Health checks are given at run time:
# `docker run --health-cmd /usr/bin/true` (or false).
#
# Cached: the image is labelled with a digest of this script and of the binaries; when an image with the
# same label exists, nothing is built. Builds are serialised with flock; the image is tagged only once
# complete (docker import to a temporary tag, then docker tag).
set -eu

IMAGE=${1:?usage: build-probe-image.sh IMAGE}
LABEL=org.tugboat.test.build
# /bin/sh too: `docker run --health-cmd` runs its command with `/bin/sh -c`.
BINS="/usr/bin/sleep /usr/bin/true /usr/bin/false /bin/sh"

die() { echo "build-probe-image: $*" >&2; exit 1; }

for bin in $BINS; do
    [ -x "$bin" ] || die "$bin is missing (coreutils)"
done
WANT="$(cat "$0" $BINS | sha256sum | cut -c1-16)"

have() {
    [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$IMAGE" 2>/dev/null || true)" = "$WANT" ]
}

have && exit 0

LOCK=${TMPDIR:-/tmp}/tugboat-test-probe-image.lock
exec 9>"$LOCK"
flock 9
have && exit 0 # another process built it while we waited

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/tug-probe-image.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM
ROOT=$STAGE/rootfs
mkdir -p "$ROOT/usr/bin" "$ROOT/usr/lib" "$ROOT/usr/lib64" "$ROOT/tmp" "$ROOT/etc"
ln -s usr/bin "$ROOT/bin"
ln -s usr/lib "$ROOT/lib"
ln -s usr/lib64 "$ROOT/lib64"

# Copies host file $1 to the same (canonical-directory) path in the image, following links.
put() {
    dir=$(readlink -f "$(dirname "$1")")
    mkdir -p "$ROOT$dir"
    cp -L "$1" "$ROOT$dir/$(basename "$1")"
}

for bin in $BINS; do
    put "$bin"
    ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
        put "$lib"
    done
done
printf 'root:x:0:0:root:/:/usr/bin/false\n' >"$ROOT/etc/passwd"

TMP_TAG="$IMAGE-building-$$"
tar -C "$ROOT" -c . | docker import \
    --change 'CMD ["/usr/bin/sleep", "infinity"]' \
    --change "LABEL $LABEL=$WANT" \
    - "$TMP_TAG" >/dev/null || die "docker import failed"
OLD=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
docker tag "$TMP_TAG" "$IMAGE"
docker rmi "$TMP_TAG" >/dev/null
[ -z "$OLD" ] || docker rmi "$OLD" >/dev/null 2>&1 || true
