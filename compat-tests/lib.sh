# Shared words for the compatibility scenarios. Each scenario is a bash file
# that sources this, builds a host (a network namespace) and guests
# (processes in network namespaces of their own) inside it, runs pipework
# command lines exactly as users type them, and states the kernel state that
# must result. Everything made here is removed on exit, pass or fail.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIPEWORK_BIN=${PIPEWORK_BIN:-$ROOT/target/x86_64-unknown-linux-gnu/release/pipework}
SCENARIO=$(basename "$0" .sh)
# Unique per run, so leftovers of a killed run never collide with this one.
HOST=pwc$$r$RANDOM
# Guests sleep for a duration no other process uses, so cleanup finds them
# even though each was started in a subshell.
GUEST_TAG=599.$$$RANDOM
EXTRA_CLEANUP=()

cleanup() {
    local rc=$?
    for c in "${EXTRA_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
    pkill -9 -f "^sleep $GUEST_TAG\$" 2>/dev/null || true
    ip netns pids "$HOST" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$HOST" 2>/dev/null || true
    exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL [$SCENARIO]: $*" >&2; exit 1; }
note() { echo "  $*"; }

ip netns add "$HOST"
ip -n "$HOST" link set lo up

# give_uplink GUEST NET: the guest already has an uplink, up0 with NET.2/24,
# and its default route via NET.1 (a container's own, before pipework).
give_uplink() {
    local g=$1 net=$2
    in_guest "$g" ip link add up0 type veth peer name up0p
    in_guest "$g" ip link set up0 up
    in_guest "$g" ip link set up0p up
    in_guest "$g" ip addr add "$net.2/24" dev up0
    in_guest "$g" ip route add default via "$net.1"
}

# on_exit CMD: one more thing to remove at the end.
on_exit() { EXTRA_CLEANUP+=("$1"); }

# new_guest: start a container stand-in inside the host; prints its PID.
# Call as `G1=$(new_guest)`.
new_guest() {
    ip netns exec "$HOST" unshare -n sleep "$GUEST_TAG" >/dev/null 2>&1 &
    local pid=$! i
    for i in $(seq 500); do
        if [ "$(cat /proc/$pid/comm 2>/dev/null)" = sleep ] &&
           [ "$(readlink /proc/$pid/ns/net)" != "$(readlink /var/run/netns/$HOST)" ]; then
            echo "$pid"; return 0
        fi
        sleep 0.01
    done
    fail "guest $pid never got its own namespace"
}

# start_ovs: a private Open vSwitch for this host (scripts/ovs-up); every
# ovs-vsctl from here on, pipework's included, talks to it.
start_ovs() {
    OVS_DIR=$(mktemp -d /tmp/pwovs.XXXXXX)
    on_exit "$ROOT/scripts/ovs-down $OVS_DIR"
    local err
    # The daemons announce their log files on stderr; only failures matter.
    err=$("$ROOT/scripts/ovs-up" "$HOST" "$OVS_DIR" 2>&1) || fail "could not start Open vSwitch: $err"
    export OVS_RUNDIR=$OVS_DIR OVS_DBDIR=$OVS_DIR OVS_LOGDIR=$OVS_DIR
}
vsctl() { in_host ovs-vsctl --timeout=10 "$@"; }
# extid PORT KEY: one external-id of an Interface row, unquoted (ovsdb quotes
# a value only when it must, e.g. when it starts with a digit).
extid() { vsctl --if-exists get Interface "$1" "external-ids:$2" | sed 's/^"//; s/"$//'; }
# expect_extids PORT KEY=VALUE...: each external-id has exactly that value.
expect_extids() {
    local port=$1 kv got; shift
    for kv in "$@"; do
        got=$(extid "$port" "${kv%%=*}")
        [ "$got" = "${kv#*=}" ] || fail "$port: external-ids:${kv%%=*} is '$got', not '${kv#*=}'"
    done
    note "ok: $port has external-ids $*"
}

# expect_one_exec DESCRIPTION RUNNER… -- ARGS…: pipework ARGS, started by
# RUNNER (in_host, on_host I, env …), executes exactly one program: itself.
# strace -f counts every execve of it and of whatever it starts.
expect_one_exec() {
    local what=$1 runner=() log err n; shift
    while [ "$1" != -- ]; do runner+=("$1"); shift; done; shift
    log=$(mktemp /tmp/pwexecs.XXXXXX); on_exit "rm -f $log"
    err=$("${runner[@]}" strace -f -qq -e trace=execve -e signal=none -o "$log" "$PIPEWORK_BIN" "$@" 2>&1) ||
        fail "$what: failed: $err"
    n=$(grep -c 'execve(' "$log")
    [ "$n" = 1 ] || fail "$what: wanted one execve, got $n:
$(cat "$log")"
    note "ok: $what: one execve, pipework's own"
}

# start_dhcp_server BRIDGE NET: Linux bridge BRIDGE in the host with NET.1/24,
# and dnsmasq on it handing out NET.100-200 for two minutes (its shortest
# lease) with router NET.1. $DHCP_LEASES is its lease file.
start_dhcp_server() {
    local br=$1 net=$2
    DHCP_DIR=$(mktemp -d /tmp/pwdhcp.XXXXXX)
    on_exit "kill \$(cat $DHCP_DIR/pid); rm -rf $DHCP_DIR"
    in_host ip link add name "$br" type bridge
    in_host ip addr add "$net.1/24" dev "$br"
    in_host ip link set dev "$br" up
    in_host dnsmasq --conf-file=/dev/null --port=0 --interface="$br" --bind-interfaces \
        --dhcp-range="$net.100,$net.200,2m" --dhcp-option=3,"$net.1" \
        --dhcp-leasefile="$DHCP_DIR/leases" --pid-file="$DHCP_DIR/pid"
    DHCP_LEASES=$DHCP_DIR/leases
}

# procs_in GUEST: PIDs of the processes in GUEST's network namespace, the
# guest itself aside (a DHCP client left running shows up here).
procs_in() {
    local ns p
    ns=$(readlink "/proc/$1/ns/net")
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" != "$1" ] && [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
    done
    return 0
}

# kill_pidfile FILE: stop the process FILE names, and remove FILE.
kill_pidfile() { [ -f "$1" ] && kill "$(cat "$1")" 2>/dev/null; rm -f "$1"; }

# in_cgroup PID ID: puts process PID in a cgroup of its own whose name
# carries ID, as an engine's would (docker-ID.scope): what pipework checks
# before it believes a PID a shim gave for container ID. Removed on exit
# (the process is killed first: a cgroup with a member cannot go).
in_cgroup() {
    local pid=$1 id=$2 base dir
    if [ -f /sys/fs/cgroup/cgroup.procs ]; then base=/sys/fs/cgroup          # cgroup v2 only
    elif [ -d /sys/fs/cgroup/pids ]; then base=/sys/fs/cgroup/pids          # v1 (hybrid)
    else base=/sys/fs/cgroup/unified; fi
    dir=$base/pwc-$HOST-docker-$id.scope
    mkdir "$dir"
    on_exit "kill -9 $pid; for i in \$(seq 50); do rmdir $dir && break; sleep 0.1; done"
    echo "$pid" >"$dir/cgroup.procs"
}

# snapshot GUEST: links, addresses and routes of the host and of GUEST, to
# compare before and after a run that must change nothing (an IPv6
# address's duplicate detection ending meanwhile is no change of ours).
snapshot() {
    local g=$1 i
    # A link that just came up holds its IPv6 link-local address tentative
    # for a second or more (under TCG), and gets its local route only after:
    # wait for that to settle, so it is not taken for a change.
    for i in $(seq 100); do
        { in_host ip -6 -o addr show; in_guest "$g" ip -6 -o addr show; } 2>/dev/null | grep -q tentative || break
        sleep 0.1
    done
    { in_host ip -o link show; in_host ip -o addr show; in_host ip route show table all
      in_guest "$g" ip -o link show; in_guest "$g" ip -o addr show; in_guest "$g" ip route show table all
    } 2>&1 | sed -E 's/valid_lft [^ ]+ preferred_lft [^ ]+//; s/ tentative//'
}

# same_as_before GUEST BEFORE WHAT: snapshot GUEST equals BEFORE, given the
# kernel a moment for what it reports late (a bridge's carrier, after its
# last port went, is settled by the link watcher up to a second later).
same_as_before() {
    local g=$1 before=$2 what=$3 i
    for i in $(seq 30); do
        [ "$(snapshot "$g")" = "$before" ] && { note "ok: $what"; return 0; }
        sleep 0.1
    done
    fail "$what: it changed:
$(diff <(echo "$before") <(snapshot "$g"))"
}

# engine_proxy SOCK [LOG]: a unix socket at SOCK that forwards to dockerd's,
# writing the first line of each request to LOG; $PROXY_PID stops it (the
# engine seems gone to whoever speaks through it).
engine_proxy() {
    local sock=$1 log=${2:-/dev/null} i
    python3 -c '
import socket, sys, threading
def pipe(a, b, log=None):
    first = True
    try:
        while (d := a.recv(65536)):
            if log and first:
                with open(log, "a") as f:
                    f.write(d.split(b"\r\n", 1)[0].decode(errors="replace") + "\n")
                first = False
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
srv = socket.socket(socket.AF_UNIX); srv.bind(sys.argv[1]); srv.listen(64)
while True:
    c, _ = srv.accept()
    u = socket.socket(socket.AF_UNIX); u.connect("/var/run/docker.sock")
    threading.Thread(target=pipe, args=(c, u, sys.argv[2]), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
' "$sock" "$log" &
    PROXY_PID=$!
    on_exit "kill $PROXY_PID; rm -f $sock"
    for i in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
    fail "the engine proxy did not start"
}

# wait_log N PATTERN [TRIES]: until the file $LOG (a --watch's stderr) has
# N lines matching the ERE PATTERN; TRIES × 50 ms, default 10 s.
wait_log() {
    local n=$1 pattern=$2 tries=${3:-200} i
    for i in $(seq "$tries"); do
        [ "$(grep -cE -- "$pattern" "$LOG")" -ge "$n" ] && return 0
        sleep 0.05
    done
    fail "the watch log never had $n lines matching '$pattern':
$(cat "$LOG")"
}

# kernel_has MODULE: this kernel has MODULE, built in or loadable (loading it
# if need be). Scenarios whose right answer depends on the kernel (a
# refusal where the feature is missing, the feature where it is not) ask
# this, so they assert the right thing under every kernel of the tier.
kernel_has() { [ -d "/sys/module/$1" ] || modprobe -q "$1" 2>/dev/null; }

# needs_kernel FEATURE…: the scenario proves FEATUREs (modules, or
# bridge_vlan_filtering) and means nothing without them. Without one it
# exits 77, which compat-tests/run counts as a failure, unless
# COMPAT_ALLOW_NA=1 (the kernel matrix's row for a kernel known to lack it).
needs_kernel() {
    local f
    for f in "$@"; do
        case $f in
            bridge_vlan_filtering)
                in_host ip link add pwvfcheck type bridge vlan_filtering 1 2>/dev/null || true
                in_host ip -d link show pwvfcheck 2>/dev/null | grep -q "vlan_filtering 1" && f=
                in_host ip link del pwvfcheck 2>/dev/null || true ;;
            *) kernel_has "$f" && f= ;;
        esac
        [ -z "$f" ] || { echo "N/A [$SCENARIO]: this kernel ($(uname -r)) lacks $f"; exit 77; }
    done
}

# pipework ARGS…: our binary, run inside the host, as a user types it.
pipework() { ip netns exec "$HOST" "$PIPEWORK_BIN" "$@"; }
in_host() { ip netns exec "$HOST" "$@"; }
in_guest() { local g=$1; shift; nsenter -t "$g" -n "$@"; }

# expect DESCRIPTION PATTERN CMD…: CMD's output must match the ERE PATTERN.
expect() {
    local what=$1 pattern=$2 out; shift 2
    out=$("$@" 2>&1) || fail "$what: \`$*\` failed: $out"
    grep -qE -- "$pattern" <<<"$out" || fail "$what: \`$*\` gave:
$out
which does not match /$pattern/"
    note "ok: $what"
}

# expect_not DESCRIPTION PATTERN CMD…: CMD's output must not match.
expect_not() {
    local what=$1 pattern=$2 out; shift 2
    out=$("$@" 2>&1) || true
    if grep -qE -- "$pattern" <<<"$out"; then fail "$what: \`$*\` gave:
$out
which matches /$pattern/"; fi
    note "ok: $what"
}

# fails_with DESCRIPTION PATTERN CMD…: exit status 1 and stderr matching.
fails_with() {
    local what=$1 pattern=$2 err rc=0; shift 2
    err=$("$@" 2>&1 >/dev/null) || rc=$?
    [ "$rc" = 1 ] || fail "$what: wanted exit 1, got $rc ($err)"
    grep -qE -- "$pattern" <<<"$err" || fail "$what: stderr was: $err"
    note "ok: $what"
}

# ping_ok GUEST IP / ping_fails GUEST IP. IPv6 addresses need a moment for
# duplicate address detection, so a few tries are allowed.
ping_ok() {
    local g=$1 ip=$2 i
    for i in 1 2 3 4 5; do
        in_guest "$g" ping -c 1 -W 1 "$ip" >/dev/null 2>&1 && { note "ok: $g reaches $ip"; return 0; }
        sleep 0.5
    done
    fail "guest $g cannot ping $ip"
}
ping_fails() {
    local g=$1 ip=$2
    if in_guest "$g" ping -c 2 -W 1 "$ip" >/dev/null 2>&1; then fail "guest $g can ping $ip, but must not"; fi
    note "ok: $g cannot reach $ip"
}

# tcp_ok FROM TO IP [PORT]: FROM sends 1 MB of random bytes over TCP to TO,
# which listens on port 5001, at IP:PORT (PORT other than 5001 when a DNAT
# stands between them); both sides' SHA-256 must agree. Ping alone once hid a
# datapath that dropped every TCP segment.
tcp_ok() {
    local from=$1 to=$2 ip=$3 port=${4:-5001} data got want srv
    data=$(mktemp /tmp/pwtcp.XXXXXX); on_exit "rm -f $data"
    head -c 1048576 /dev/urandom >"$data"
    want=$(sha256sum <"$data" | cut -d' ' -f1)
    got=$(mktemp /tmp/pwtcp.XXXXXX); on_exit "rm -f $got"
    in_guest "$to" python3 -c '
import hashlib, socket, sys
s = socket.create_server(("", 5001), family=socket.AF_INET6, dualstack_ipv6=True)
s.settimeout(15)
c, _ = s.accept()
c.settimeout(15)
h = hashlib.sha256()
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
print(h.hexdigest())
' >"$got" 2>&1 &
    srv=$!
    local i
    for i in $(seq 50); do in_guest "$to" ss -ltn 2>/dev/null | grep -q ':5001 ' && break; sleep 0.05; done
    in_guest "$from" python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[3])), timeout=15)
s.sendall(open(sys.argv[2], "rb").read())
s.shutdown(socket.SHUT_WR)
s.recv(1)
' "$ip" "$data" "$port" || { kill "$srv" 2>/dev/null; fail "$from could not send 1 MB over TCP to $ip:$port"; }
    wait "$srv" || fail "$to did not receive the 1 MB sent to $ip: $(cat "$got")"
    [ "$(cat "$got")" = "$want" ] || fail "1 MB over TCP to $ip arrived changed: $(cat "$got")"
    note "ok: 1 MB over TCP from $from to $ip, checked"
}

# CNI: plugins as a runtime runs them. $CNI_DIR holds `pipework` (our
# binary) and the network configurations; CNI_PATH is it, then Debian's
# reference plugins. Call cni_setup first.
cni_setup() {
    [ -x /usr/lib/cni/bridge ] || fail "the CNI reference plugins are missing (scripts/setup installs containernetworking-plugins)"
    CNI_DIR=$(mktemp -d /tmp/pwcni.XXXXXX)
    on_exit "rm -rf $CNI_DIR"
    ln -s "$PIPEWORK_BIN" "$CNI_DIR/pipework"
    CNI_PATH_DIRS=$CNI_DIR:/usr/lib/cni
}
# cni PLUGIN COMMAND NETNS IFNAME ID CONF: PLUGIN (pipework, bridge…) run in
# the host with the CNI_* variables and the file CONF on stdin; its stdout
# is printed, its exit status returned.
cni() {
    local plugin=$1 cmd=$2 netns=$3 ifname=$4 id=$5 conf=$6 dir
    for dir in ${CNI_PATH_DIRS//:/ }; do [ -x "$dir/$plugin" ] && break; done
    in_host env CNI_COMMAND="$cmd" CNI_NETNS="$netns" CNI_IFNAME="$ifname" CNI_CONTAINERID="$id" CNI_ARGS="${CNI_ARGS-}" \
        CNI_PATH="$CNI_PATH_DIRS" "$dir/$plugin" <"$conf"
}
# jq_ FILE EXPR: the Python expression EXPR on the JSON document j in FILE.
jq_() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# with_prev CONF RESULT: CONF with RESULT as its prevResult (what a runtime
# sends to CHECK and DEL, and to the next plugin of a chain), on stdout.
with_prev() {
    python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["prevResult"] = json.load(open(sys.argv[2])); print(json.dumps(c))' "$1" "$2"
}
# cni_fails CODE WHAT CMD…: CMD exits non-zero and prints a CNI error object
# with that code and a message.
cni_fails() {
    local want=$1 what=$2 out rc=0; shift 2
    out=$("$@" 2>/dev/null) || rc=$?
    [ "$rc" != 0 ] || fail "$what: exit 0, wanted an error: $out"
    local got
    got=$(python3 -c 'import json, sys; e = json.loads(sys.argv[1]); assert e["msg"]; print(e["code"])' "$out" 2>&1) ||
        fail "$what: not a CNI error object: $out"
    [ "$got" = "$want" ] || fail "$what: code $got, wanted $want: $out"
    note "ok: $what (code $want)"
}

# Overlays: several hosts on an underlay. new_hosts makes a router
# namespace with two segments, A (172.31.0.0/24) and B (172.31.1.0/24), and
# three hosts: H1 172.31.0.1 and H2 172.31.0.2 on A, H3 172.31.1.3 on B
# (routed), each with eth0, its address and a default route via .254.
# HOSTS[i] names host i's namespace; UNDERLAY the router's.
new_hosts() {
    local i seg net addr
    UNDERLAY=${HOST}u
    ip netns add "$UNDERLAY"; on_exit "ip netns del $UNDERLAY"
    ip -n "$UNDERLAY" link set lo up
    ip netns exec "$UNDERLAY" sysctl -qw net.ipv4.ip_forward=1
    for seg in A:172.31.0 B:172.31.1; do
        ip -n "$UNDERLAY" link add "seg${seg%%:*}" type bridge
        ip -n "$UNDERLAY" addr add "${seg#*:}.254/24" dev "seg${seg%%:*}"
        ip -n "$UNDERLAY" link set "seg${seg%%:*}" up
    done
    HOSTS=("")
    for i in 1 2 3; do
        HOSTS[i]=${HOST}h$i
        ip netns add "${HOSTS[i]}"
        on_exit "ip netns pids ${HOSTS[i]} | xargs -r kill -9; ip netns del ${HOSTS[i]}"
        ip -n "${HOSTS[i]}" link set lo up
        if [ "$i" = 3 ]; then seg=B net=172.31.1; else seg=A net=172.31.0; fi
        ip -n "$UNDERLAY" link add "u$i" type veth peer name eth0 netns "${HOSTS[i]}"
        ip -n "$UNDERLAY" link set "u$i" master "seg$seg" up
        ip -n "${HOSTS[i]}" link set eth0 up
        ip -n "${HOSTS[i]}" addr add "$net.$i/24" dev eth0
        ip -n "${HOSTS[i]}" route add default via "$net.254"
    done
    H_ADDR=("" 172.31.0.1 172.31.0.2 172.31.1.3)
}
# on_host I CMD…: CMD on host I, with its private Open vSwitch if it has one.
on_host() {
    local i=$1; shift
    if [ -n "${OVS_DIRS[i]:-}" ]; then
        OVS_RUNDIR=${OVS_DIRS[i]} OVS_DBDIR=${OVS_DIRS[i]} OVS_LOGDIR=${OVS_DIRS[i]} ip netns exec "${HOSTS[i]}" "$@"
    else
        ip netns exec "${HOSTS[i]}" "$@"
    fi
}
pw_on() { local i=$1; shift; on_host "$i" "$PIPEWORK_BIN" "$@"; }
vsctl_on() { local i=$1; shift; on_host "$i" ovs-vsctl --timeout=10 "$@"; }
# guest_on I: a guest inside host I; prints its PID.
guest_on() {
    ip netns exec "${HOSTS[$1]}" unshare -n sleep "$GUEST_TAG" >/dev/null 2>&1 &
    local pid=$! n
    for n in $(seq 500); do
        if [ "$(readlink /proc/$pid/ns/net 2>/dev/null)" != "$(readlink "/var/run/netns/${HOSTS[$1]}")" ] &&
           [ "$(cat /proc/$pid/comm 2>/dev/null)" = sleep ]; then echo "$pid"; return 0; fi
        sleep 0.01
    done
    fail "guest $pid on host $1 never got its own namespace"
}
# start_ovs_on I: a private Open vSwitch in host I.
start_ovs_on() {
    local d
    d=$(mktemp -d /tmp/pwovs.XXXXXX)
    on_exit "$ROOT/scripts/ovs-down $d"
    OVS_DIRS[$1]=$d
    "$ROOT/scripts/ovs-up" "${HOSTS[$1]}" "$d" >/dev/null 2>&1 || fail "could not start Open vSwitch on host $1"
}
# br_phy I: the userspace datapath's underlay, once per host: host I's
# address moves from eth0 onto OVS bridge br-phy, which holds eth0
# (arp_ignore first, or both answer ARP for it).
br_phy() {
    local i=$1 gw
    gw=$(on_host "$i" ip route show default | awk '{print $3}')
    on_host "$i" sysctl -qw net.ipv4.conf.all.arp_ignore=1
    vsctl_on "$i" add-br br-phy -- set Bridge br-phy datapath_type=netdev -- add-port br-phy eth0
    on_host "$i" ip addr flush dev eth0
    on_host "$i" ip addr add "${H_ADDR[i]}/24" dev br-phy
    on_host "$i" ip link set br-phy up
    on_host "$i" ip route add default via "$gw"
}
# underlay_packets: packets the router's segment ports have received so far
# (a loop in the overlay shows here as tens of thousands).
underlay_packets() {
    local i n=0
    for i in 1 2 3; do n=$((n + $(ip netns exec "$UNDERLAY" cat "/sys/class/net/u$i/statistics/rx_packets"))); done
    echo "$n"
}
# host_state I: links (with details), addresses and forwarding entries of
# host I, to compare before and after a run that must change nothing. An
# IPv6 address's duplicate detection may end in between (slowly, under
# TCG): its `tentative` flag is not a change anyone made.
host_state() {
    { on_host "$1" ip -d -o link show; on_host "$1" ip -o addr show; on_host "$1" bridge fdb show
    } 2>&1 | sed -E 's/valid_lft [^ ]+ preferred_lft [^ ]+//; s/ used [0-9]+\/[0-9]+//g; s/[a-z_]+_timer +[0-9.]+//g
                   s/ tentative//' |
        grep -v ' 33:33:\| 01:00:5e:'
}
# ovs_state I: the OVS rows a tunnel line sets, on host I.
ovs_state() {
    vsctl_on "$1" --format=csv --columns=name,type,options,external_ids,mtu_request,other_config list Interface | sort
    vsctl_on "$1" --format=csv --columns=name,interfaces,tag,trunks,vlan_mode,protected,external_ids list Port | sort
    vsctl_on "$1" --format=csv --columns=name,ports,datapath_type,other_config,external_ids list Bridge | sort
}
# tx_csum_off I IF: `ethtool -K IF tx off` on host I (ethtool itself is not
# installed here): the SIOCETHTOOL ioctl with ETHTOOL_STXCSUM.
tx_csum_off() {
    on_host "$1" python3 -c '
import ctypes, fcntl, socket, struct, sys
ev = ctypes.create_string_buffer(struct.pack("II", 0x17, 0))
ifr = struct.pack("16sP16x", sys.argv[1].encode(), ctypes.addressof(ev))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fcntl.ioctl(s.fileno(), 0x8946, ifr)' "$2"
}
