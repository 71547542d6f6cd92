#!/usr/bin/env bash
# Sets up a Debian machine, builds hybriddb, mounts a fresh database and
# walks through what a user does with it: collections, documents, shell
# tools, the control and stats files, and persistence across a remount.
#
#   scripts/demo.sh [WORKDIR]     (default: a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

packages=(meson ninja-build pkg-config gcc libc6-dev libfuse3-dev fuse3 zlib1g-dev jq)
hdb_install_missing "${packages[@]}"

[ -d build-demo ] || meson setup build-demo -Dtests=false --buildtype=release >/dev/null
ninja -C build-demo >/dev/null
hdb=$PWD/build-demo/mount/hybriddb

work=${1:-$(mktemp -d /tmp/hybriddb-demo.XXXXXX)}
data=$work/data
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() { mountpoint -q "$mnt" && fusermount3 -u "$mnt" || true; }
trap cleanup EXIT

step() { printf '\n$ %s\n' "$*"; eval "$@"; }

step "$hdb" --version
step "$hdb" mount "$data" "$mnt"
step mkdir "$mnt/users"
step "echo '{\"name\":\"Alice\",\"age\":30,\"city\":\"Paris\"}' > $mnt/users/alice.json"
step "echo '{\"name\":\"Bob\",\"age\":25,\"city\":\"Lyon\"}' > $mnt/users/bob.json"
step cat "$mnt/users/alice.json"
step ls -l "$mnt/users"
step "grep -l '\"city\":\"Paris\"' $mnt/users/*.json"
step "jq -c 'select(.age > 26) | .name' $mnt/users/*.json"
step "printf '{\"broken\": ' > $work/carol.json"
step "cp $work/carol.json $mnt/users/ || echo 'refused: invalid JSON (EINVAL), nothing stored'"
step ls "$mnt/users"
step mv "$mnt/users/bob.json" "$mnt/users/robert.json"
step "for i in \$(seq 1 1000); do printf '{\"id\":%d}' \$i > $mnt/users/u\$i.json; done"
step "ls $mnt/users | wc -l"
step "ls $mnt/users/.where/age=30/"
step mkdir "$mnt/scores"
step "echo '{\"columns\":{\"id\":\"integer\",\"name\":\"string\",\"score\":\"number\"},\"required\":[\"id\",\"name\"],\"key\":\"id\"}' > $mnt/scores/.schema"
step "printf 'id,name,score\\n1,\"Ann, A.\",9.5\\n2,Bo,7\\n' > $mnt/scores/.import.csv"
step ls "$mnt/scores"
step cat "$mnt/scores/1.json"
step "echo '{\"id\":3,\"score\":\"high\"}' > $work/3.json"
step "cp $work/3.json $mnt/scores/ || echo 'refused: no name, and score is not a number (EINVAL)'"
step "cat $mnt/scores/.export.csv"
step "echo compact > $mnt/.control"
step "jq -c '{documents, collections, disk_bytes: .engine.disk_bytes, tables: [.engine.levels[] | select(.tables > 0)]}' $mnt/.stats"
step fusermount3 -u "$mnt"
step "$hdb" check "$data"
step "$hdb" mount "$data" "$mnt"
step cat "$mnt/users/robert.json"
step "ls $mnt/users | wc -l"
step fusermount3 -u "$mnt"
echo
echo "demo data left in $work"
