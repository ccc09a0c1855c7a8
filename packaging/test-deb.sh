#!/usr/bin/env bash
# The Debian package, end to end on this machine, as root (CI runs it after
# the tests; a developer's machine gets a package installed and purged):
# build it, check its files, conffiles, maintainer scripts and lintian;
# install a previous build, edit the conffile, upgrade, reinstall; check
# the users, groups and directories, the units (systemd-analyze), the
# manual pages and completions; run the installed daemon as recd, as
# recd.service would, and talk to it as an admin, a reader and an outsider;
# remove, purge, and check what is left each time. Prints the figures.
#
# Usage: packaging/test-deb.sh [--no-build]
#   --no-build  package target/release/recd and recctl as they are, rather
#               than have cargo-deb build them (CI: the test run built them;
#               docs/packaging.md says what differs)
# RECD_DATASETS: a directory with ml-1m-part/ (MovieLens 1M files, copied to
# the installed daemon, never into the package); unset, the steps that need a
# model are SKIPPED.
#
# It ends with the package purged, the test users deleted, and the system
# user recd and the groups deleted too if this run made them; a run after
# an interrupted one purges what that one left first.
#
# lintian: an error fails the run. Warnings left, and why:
#   initial-upload-closes-no-bugs: the changelog's first entry closes no
#     ITP bug, since the package is not uploaded to Debian.
#   non-standard-file-perm etc/recd/recd.toml 0640 != 0644: on purpose, the
#     file may hold a database password or a webhook's secret; postinst
#     gives it the group recd.
# Also shown, as information: hardening-no-fortify-functions (Rust has no
# _FORTIFY_SOURCE), package-supports-alternative-init-but-no-init.d-script
# (systemd only), spelling-error-in-binary (strings of linked crates).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
UNITS=(recd.service recd.socket recd-train.service recd-train.timer)
TEST_USERS=(recd-test-admin recd-test-reader recd-test-outsider)
PIDFILE=/run/recd-test-deb.pid
# What recd.service gives the daemon besides its user.
UNIT_ENV=(RUNTIME_DIRECTORY=/run/recd STATE_DIRECTORY=/var/lib/recd
    LOGS_DIRECTORY=/var/log/recd CONFIGURATION_DIRECTORY=/etc/recd)

build=()
case "${1:-}" in
--no-build) build=(--no-build) ;;
"") ;;
*) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
esac
datasets=""
if [ -n "${RECD_DATASETS:-}" ]; then
    datasets=$(realpath "$RECD_DATASETS")
fi

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# WHAT, then a command that must succeed.
expect() {
    local what=$1
    shift
    "$@" || fail "$what"
    ok "$what"
}
# WHAT GOT WANT
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
    ok "$1: $3"
}
# MODE OWNER:GROUP PATH
expect_stat() {
    expect_eq "$3" "$(stat -c '%a %U:%G' "$3" 2>/dev/null || echo missing)" "$1 $2"
}
expect_absent() {
    for path in "$@"; do
        [ ! -e "$path" ] && [ ! -L "$path" ] || fail "$path is still there"
    done
    ok "gone: $*"
}
# USER COMMAND...: run as USER with its groups, the way a login has them.
as() {
    local user=$1
    shift
    setpriv --reuid="$user" --regid="$user" --init-groups -- \
        env -u RECD_CONFIG -u RECD_SOCKET "$@"
}
# USER WANT-STATUS COMMAND...: run as USER; its exit status must be WANT;
# its output is left in $out.
run_as() {
    local user=$1 want=$2 status=0
    shift 2
    out=$(as "$user" "$@" 2>&1) || status=$?
    printf '%s\n' "$out" | sed 's/^/    /'
    [ "$status" = "$want" ] || fail "as $user, '$*' exited $status, want $want"
    ok "as $user, '$*' exits $want"
}

# The daemon as recd.service runs it: user recd, its umask and directories.
start_daemon() { # LOG [ARGS...]
    local log=$1
    shift
    (cd / && umask 0027 && exec env -u RECD_CONFIG -u RECD_SOCKET -u NOTIFY_SOCKET \
        "${UNIT_ENV[@]}" setpriv --reuid=recd --regid=recd --init-groups -- \
        /usr/bin/recd "$@") >"$log" 2>&1 &
    daemon_pid=$!
    echo "$daemon_pid" >"$PIDFILE"
}
stop_daemon() { # must exit 0 on SIGTERM
    local status=0
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || status=$?
    rm -f "$PIDFILE"
    daemon_pid=""
    expect_eq "the daemon's exit status on SIGTERM" "$status" 0
}
# CONFIG WANT-STATUS: wait (up to 3 minutes) for health to say so.
wait_health() {
    local i
    for ((i = 0; i < 360; i++)); do
        if [ -n "$daemon_pid" ] && ! kill -0 "$daemon_pid" 2>/dev/null; then
            fail "the daemon exited; its log: $(cat "$daemon_log")"
        fi
        if recctl --config "$1" --json health 2>/dev/null | grep -q "\"status\": *\"$2\""; then
            ok "health says $2"
            return
        fi
        sleep 0.5
    done
    fail "health never said $2; the daemon's log: $(cat "$daemon_log")"
}

# What a previous or interrupted run left, and what this one must not.
daemon_pid=""
kill_leftover_daemon() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 0
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = recd ]; then
        kill -TERM "$pid" && sleep 2
    fi
    rm -f "$PIDFILE"
}
package_state() { dpkg-query -W -f='${db:Status-Status}' recd 2>/dev/null || echo not-installed; }
cleanup() {
    local status=$?
    set +e
    if [ -n "$daemon_pid" ]; then
        kill -TERM "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    kill_leftover_daemon
    [ "$(package_state)" = not-installed ] || dpkg --purge recd >/dev/null
    for user in "${TEST_USERS[@]}"; do
        getent passwd "$user" >/dev/null && userdel "$user"
    done
    if [ "$made_recd" = yes ]; then
        getent passwd recd >/dev/null && userdel recd
        getent group recd >/dev/null && groupdel recd
    fi
    [ "$made_admin_group" = yes ] && getent group recd-admin >/dev/null && groupdel recd-admin
    rm -rf "$work"
    exit "$status"
}

step "tools"
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v curl >/dev/null || need+=(curl)
command -v man >/dev/null || need+=(man-db)
command -v readelf >/dev/null || need+=(binutils)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
# Not in Debian's archive; a given version, since where units go and which
# snippets the maintainer scripts get changes between versions.
if ! cargo deb --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
ok "lintian, curl, man, readelf, systemd-analyze, cargo-deb $CARGO_DEB_VERSION"

work=$(mktemp -d)
chmod 0755 "$work" # recd reads the test config here
made_recd=no made_admin_group=no
kill_leftover_daemon
if [ "$(package_state)" != not-installed ]; then
    echo "purging the package a previous run left"
    dpkg --purge recd
fi
for user in "${TEST_USERS[@]}"; do
    getent passwd "$user" >/dev/null && userdel "$user"
done
getent passwd recd >/dev/null || made_recd=yes
getent group recd-admin >/dev/null || made_admin_group=yes
trap cleanup EXIT

step "build"
assets=target/package-assets
rm -rf "$assets"
# Built first, then run with the last commit's date for the manual pages:
# SOURCE_DATE_EPOCH in cargo's environment would rebuild the crates with C
# in them (their build scripts watch it).
cargo build --release --example package-assets
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
    "$target_dir/release/examples/package-assets" "$assets"
deb=$(cargo deb "${build[@]}" | tail -n 1)
[ -f "$deb" ] || fail "cargo deb made no package ($deb)"
version=$(dpkg-deb -f "$deb" Version)
ok "$deb (version $version)"

step "contents"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $1, $2, $6 }' | sort >"$work/contents"
cat "$work/contents"
sort >"$work/want" <<'EOF'
-rw-r----- 0/0 ./etc/recd/recd.toml
-rwxr-xr-x 0/0 ./usr/bin/recd
-rwxr-xr-x 0/0 ./usr/bin/recctl
-rw-r--r-- 0/0 ./usr/lib/systemd/system/recd.service
-rw-r--r-- 0/0 ./usr/lib/systemd/system/recd.socket
-rw-r--r-- 0/0 ./usr/lib/systemd/system/recd-train.service
-rw-r--r-- 0/0 ./usr/lib/systemd/system/recd-train.timer
-rw-r--r-- 0/0 ./usr/lib/tmpfiles.d/recd.conf
-rw-r--r-- 0/0 ./usr/share/man/man8/recd.8.gz
-rw-r--r-- 0/0 ./usr/share/man/man1/recctl.1.gz
-rw-r--r-- 0/0 ./usr/share/bash-completion/completions/recd
-rw-r--r-- 0/0 ./usr/share/bash-completion/completions/recctl
-rw-r--r-- 0/0 ./usr/share/zsh/vendor-completions/_recd
-rw-r--r-- 0/0 ./usr/share/zsh/vendor-completions/_recctl
-rw-r--r-- 0/0 ./usr/share/fish/vendor_completions.d/recd.fish
-rw-r--r-- 0/0 ./usr/share/fish/vendor_completions.d/recctl.fish
-rw-r--r-- 0/0 ./usr/share/doc/recd/README.md
-rw-r--r-- 0/0 ./usr/share/doc/recd/changelog.Debian.gz
-rw-r--r-- 0/0 ./usr/share/doc/recd/copyright
EOF
for doc in docs/*.md; do
    echo "-rw-r--r-- 0/0 ./usr/share/doc/recd/${doc#docs/}"
done | sort - "$work/want" >"$work/want.all"
diff -u "$work/want.all" "$work/contents" || fail "the package's files are not those listed above"
ok "the files, their modes and owners"
expect_eq "conffiles" "$(dpkg-deb -I "$deb" conffiles)" /etc/recd/recd.toml
mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
for bin in recd recctl; do
    expect "$bin is stripped" bash -c "! readelf -S --wide '$work/x/usr/bin/$bin' | grep -qE '\\.symtab|\\.debug_'"
done
expect "no MovieLens data in the package" bash -c "! dpkg-deb -c '$deb' | grep -qiE 'ratings|movies|users\\.dat|\\.zip'"
# What only systemd can do: the maintainer scripts' lines that do it.
dpkg-deb -e "$deb" "$work/control"
scripts=$work/control
expect "postinst enables recd.service and recd.socket" \
    grep -q 'deb-systemd-helper enable recd.socket' "$scripts/postinst"
expect "postinst starts them (restarts them on an upgrade)" \
    grep -q 'deb-systemd-invoke $_dh_action recd.service recd.socket' "$scripts/postinst"
expect "postinst enables recd-train.timer only if the admin had" \
    grep -q 'deb-systemd-helper debian-installed recd-train.timer' "$scripts/postinst"
expect "prerm stops the units on removal" \
    grep -q 'deb-systemd-invoke stop recd.service recd.socket' "$scripts/prerm"
expect "postrm disables them on purge" grep -q 'deb-systemd-helper purge recd.service recd.socket' "$scripts/postrm"
expect "postinst makes /run/recd through systemd-tmpfiles" grep -q 'systemd-tmpfiles --create recd.conf' "$scripts/postinst"

step "lintian"
lintian --display-info "$deb" 2>&1 | grep -v '^running with root privileges' | tee "$work/lintian" || true
errors=$(grep -c '^E:' "$work/lintian" || true)
warnings=$(grep -c '^W:' "$work/lintian" || true)
[ "$errors" = 0 ] || fail "lintian: $errors errors"
ok "lintian: 0 errors, $warnings warnings"

step "install a previous build (the same files, version lower)"
prev_version="${version%-*}-0"
dpkg-deb -R "$deb" "$work/prev"
sed -i "s/^Version: .*/Version: $prev_version/" "$work/prev/DEBIAN/control"
dpkg-deb --root-owner-group -b "$work/prev" "$work/recd_prev.deb" >/dev/null
dpkg -i "$work/recd_prev.deb" 2>&1 | tee "$work/install"
expect_eq "installed version" "$(dpkg-query -W -f='${Version}' recd)" "$prev_version"
expect "postinst's recd check-config found no error" bash -c "! grep -q 'recd: warning' '$work/install'"
expect "recd is a system user, primary group recd, home /var/lib/recd, no login" \
    bash -c '[ "$(id -u recd)" -lt 1000 ] && [ "$(id -gn recd)" = recd ] &&
        getent passwd recd | grep -q ":/var/lib/recd:/usr/sbin/nologin$"'
expect "recd-admin is a system group" bash -c '[ "$(getent group recd-admin | cut -d: -f3)" -lt 1000 ]'
expect_stat 750 root:recd /etc/recd
expect_stat 640 root:recd /etc/recd/recd.toml
expect_stat 750 recd:recd /var/lib/recd
expect_stat 750 recd:recd /var/lib/recd/datasets
expect_stat 750 recd:recd /var/log/recd
expect_stat 750 recd:recd /run/recd
expect "recd.socket and recd.service are enabled" \
    test -L /etc/systemd/system/sockets.target.wants/recd.socket -a \
    -L /etc/systemd/system/multi-user.target.wants/recd.service
expect_absent /etc/systemd/system/timers.target.wants/recd-train.timer

step "upgrade over it, with the conffile edited"
printf '\n# Edited by the administrator.\n' >>/etc/recd/recd.toml
sed -i 's/^keep_files = 14$/keep_files = 7/' /etc/recd/recd.toml
edited=$(md5sum </etc/recd/recd.toml | cut -d' ' -f1)
uids="$(id recd) $(getent group recd-admin)"
dpkg -i "$deb"
expect_eq "installed version" "$(dpkg-query -W -f='${Version}' recd)" "$version"
expect_eq "the edited conffile" "$(md5sum </etc/recd/recd.toml | cut -d' ' -f1)" "$edited"
expect_stat 640 root:recd /etc/recd/recd.toml
expect_absent /etc/recd/recd.toml.dpkg-dist /etc/recd/recd.toml.dpkg-new

step "reinstall: postinst again finds its user, groups and directories"
dpkg -i "$deb" 2>&1 | tee "$work/install"
expect "postinst's recd check-config found no error" bash -c "! grep -q 'recd: warning' '$work/install'"
expect_eq "the user and groups" "$(id recd) $(getent group recd-admin)" "$uids"
expect_eq "the edited conffile" "$(md5sum </etc/recd/recd.toml | cut -d' ' -f1)" "$edited"
expect_stat 750 recd:recd /var/lib/recd

step "units"
for unit in "${UNITS[@]}"; do
    err=$(systemd-analyze verify "/usr/lib/systemd/system/$unit" 2>&1 >/dev/null) || fail "verify $unit: $err"
    [ -z "$err" ] || fail "systemd-analyze verify $unit says: $err"
    ok "systemd-analyze verify $unit: nothing on stderr"
done
systemd-analyze security --offline=yes /usr/lib/systemd/system/recd.service >"$work/security" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for recd.service: \([0-9.]*\).*/\1/p' "$work/security")
[ -n "$exposure" ] || fail "systemd-analyze security gave no score: $(cat "$work/security")"
echo "findings that add to the exposure:"
grep '✗' "$work/security" | sed 's/  */ /g; s/^/    /'
expect "exposure $exposure is at most 2.0" awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'

step "manual pages and completions"
for page in recd recctl; do
    file=$(man -w "$page")
    MANWIDTH=80 MAN_KEEP_STDERR=1 man -l "$file" >"$work/$page.txt" 2>"$work/$page.err"
    [ ! -s "$work/$page.err" ] || fail "man $page: $(cat "$work/$page.err")"
    expect "man $page ($file) renders, with its commands" grep -q '^COMMANDS' "$work/$page.txt"
done
# Completion as bash asks for it: the words so far, the function's replies.
complete_word() { # COMMAND WORD -> the completions
    bash -c ". /usr/share/bash-completion/completions/$1
        COMP_WORDS=($1 $2); COMP_CWORD=1; COMP_LINE='$1 $2'; COMP_POINT=\${#COMP_LINE}
        _$1 $1 $2 $1; printf '%s\n' \"\${COMPREPLY[@]}\""
}
expect_eq "bash completes 'recctl he'" "$(complete_word recctl he)" health
expect_eq "bash completes 'recd check'" "$(complete_word recd check)" check-config

step "first start without a dataset (downloads turned off)"
# A copy of the installed config with dataset_url = "": the test reaches no
# host; the packaged one would download MovieLens 1M.
sed 's/^dataset_url = .*/dataset_url = ""/' /etc/recd/recd.toml >"$work/nodata.toml"
chmod 0644 "$work/nodata.toml"
daemon_log=$work/nodata.log
start_daemon "$daemon_log" --config "$work/nodata.toml"
wait_health "$work/nodata.toml" no_model
expect "the log says where ratings.dat and movies.dat belong" \
    grep -q 'ratings.dat, movies.dat.*/var/lib/recd/datasets/ml-1m\|/var/lib/recd/datasets/ml-1m.*ratings.dat' "$daemon_log"
grep -m1 'ratings.dat' "$daemon_log" | sed 's/^/    /'
stop_daemon

step "the installed daemon, as recd.service runs it"
if [ -z "$datasets" ]; then
    echo "SKIPPED: serving, the three users and /metrics (RECD_DATASETS is unset)"
else
    install -d -o recd -g recd -m 0750 /var/lib/recd/datasets/ml-1m
    install -o recd -g recd -m 0640 "$datasets/ml-1m-part/movies.dat" \
        "$datasets/ml-1m-part/ratings.dat" /var/lib/recd/datasets/ml-1m/
    # Before the daemon starts: it reads the admin group's members then.
    useradd --system --no-create-home --shell /usr/sbin/nologin --groups recd,recd-admin recd-test-admin
    useradd --system --no-create-home --shell /usr/sbin/nologin --groups recd recd-test-reader
    useradd --system --no-create-home --shell /usr/sbin/nologin recd-test-outsider
    # The metrics endpoint, turned on (an edit the conffile keeps) where the
    # packaged config leaves it off.
    metrics=$(sed -n '/^\[metrics\]/,/^\[/s/^listen = "\(.*\)"$/\1/p' /etc/recd/recd.toml)
    if [ -z "$metrics" ]; then
        metrics=127.0.0.1:9464
        sed -i "/^\[metrics\]/,/^\[/s/^listen = \"\"$/listen = \"$metrics\"/" /etc/recd/recd.toml
        edited=$(md5sum </etc/recd/recd.toml | cut -d' ' -f1)
    fi

    run_as recd 0 env "${UNIT_ENV[@]}" /usr/bin/recd check-config # ExecStartPre=
    daemon_log=$work/daemon.log
    start_daemon "$daemon_log"
    wait_health /etc/recd/recd.toml ok
    expect_stat 660 recd:recd /run/recd/recd.sock

    run_as recd-test-reader 0 recctl health
    run_as recd-test-reader 0 recctl recommend ml:1 -n 3
    expect "recommend names the model's strategy" grep -q 'strategy model' <<<"$out"
    run_as recd-test-reader 1 recctl retrain
    expect "retrain is refused" grep -q 'permission_denied' <<<"$out"
    run_as recd-test-reader 1 recctl reload
    expect "reload is refused" grep -q 'permission_denied' <<<"$out"

    run_as recd-test-admin 0 recctl retrain
    run_as recd-test-admin 0 recctl reload --wait
    run_as recd-test-admin 0 recctl history -n 2

    run_as recd-test-outsider 3 recctl health
    expect "the outsider is told why" grep -q 'permission denied' <<<"$out"

    expect_stat 600 recd:recd /var/lib/recd/recd.db
    expect "model files are 0640 recd:recd" \
        bash -c '[ -z "$(find /var/lib/recd/models -name "*.recd" ! -perm 0640)" ]'
    expect "log files are 0640 recd:recd" \
        bash -c '[ -z "$(find /var/log/recd -type f \( ! -perm 0640 -o ! -user recd \))" ]'

    promtool=${RECD_PROMTOOL:-$(command -v promtool || true)}
    if [ -z "$promtool" ]; then
        # Debian's prometheus package, unpacked: promtool alone is needed.
        (cd "$work" && { apt-get download -q -o APT::Sandbox::User=root prometheus ||
            { apt-get update -q && apt-get download -q -o APT::Sandbox::User=root prometheus; }; } &&
            dpkg -x prometheus_*.deb prometheus)
        promtool=$work/prometheus/usr/bin/promtool
    fi
    curl -sf "http://$metrics/metrics" >"$work/metrics" || fail "no /metrics on $metrics"
    ok "/metrics on $metrics: $(wc -l <"$work/metrics") lines"
    expect "promtool check metrics" "$promtool" check metrics <"$work/metrics"
    expect "/healthz says 200" curl -sf -o /dev/null "http://$metrics/healthz"
    stop_daemon
    expect_absent /run/recd/recd.sock
fi

step "figures"
installed_kib=$(dpkg-query -W -f='${Installed-Size}' recd)
deb_bytes=$(stat -c %s "$deb")
echo "installed size: $installed_kib KiB (dpkg-query -W -f='\${Installed-Size}' recd)"
echo "package size: $deb_bytes bytes (stat -c %s $(basename "$deb"))"
echo "systemd-analyze security recd.service: $exposure"

step "remove"
dpkg -r recd
expect_eq "package state" "$(package_state)" config-files
expect_absent /usr/bin/recd /usr/bin/recctl /usr/lib/systemd/system/recd.service \
    /usr/lib/systemd/system/recd.socket /usr/share/man/man8/recd.8.gz
expect_eq "the edited conffile is kept" "$(md5sum </etc/recd/recd.toml | cut -d' ' -f1)" "$edited"
expect "the data and logs are kept" test -d /var/lib/recd/models -a -d /var/log/recd
expect "recd.service is masked while removed" \
    test "$(readlink /etc/systemd/system/recd.service)" = /dev/null
expect "the user and groups are kept" bash -c 'id recd && getent group recd-admin >/dev/null' 

step "purge"
dpkg --purge recd
expect_eq "package state" "$(package_state)" not-installed
expect_absent /etc/recd /var/lib/recd /var/log/recd /run/recd
leftover=$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
    /var/lib/systemd/deb-systemd-helper-masked -name '*recd*' 2>/dev/null || true)
[ -z "$leftover" ] || fail "the units' links or state are left: $leftover"
ok "no link or state of the units is left"
expect "the system user recd and its groups stay, as Debian does" \
    bash -c 'id recd && getent group recd-admin >/dev/null' 

echo
echo "test-deb: all checks passed"
