# pipework --watch and containers' labels, with a real dockerd: a label is
# obeyed only where FILE's `labels HOSTIF[@VLANS]` lines allow. A label
# onto an allowed bridge attaches (ping, 1 MB TCP); onto a bridge FILE does
# not name, in a VLAN outside FILE's range, or asking for --direct-phys (even
# of an interface FILE names) is refused and logged, and the host is exactly
# as before; without any `labels` line, labels are ignored.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/docker-up" >/dev/null
start_ovs
vsctl add-br ovsbr51 -- set Bridge ovsbr51 datapath_type=netdev
in_host ip link add br1 type bridge; in_host ip link set br1 up
in_host ip link add br9 type bridge; in_host ip link set br9 up
# A "physical" NIC of the host: a veth whose peer stays home.
in_host ip link add phys51 type veth peer name phys51p
in_host ip link set phys51 up; in_host ip link set phys51p up

C0=pwc-lp0-$HOST; C1=pwc-lp1-$HOST; C2=pwc-lp2-$HOST; C3=pwc-lp3-$HOST; C4=pwc-lp4-$HOST
C5=pwc-lp5-$HOST; C6=pwc-lp6-$HOST
on_exit "docker rm -f $C0 $C1 $C2 $C3 $C4 $C5 $C6"
run() { local n=$1; shift; docker run -d --name "$n" --network none "$@" busybox:latest sleep 600 >/dev/null; }
pid_of() { docker inspect -f '{{.State.Pid}}' "$1"; }
# host_now: what a refused label must not change: the host's links (with
# their details: master, netns moves), addresses, and Open vSwitch's ports.
host_now() {
    { in_host ip -d -o link show; in_host ip -o addr show; vsctl show | grep -v ovs_version; } 2>&1 |
        sed -E 's/valid_lft [^ ]+ preferred_lft [^ ]+//; s/ tentative//; s/[a-z_]+_timer +[0-9.]+//g'
}

# Three containers whose labels ask for what FILE does not allow.
run "$C2" --label pipework.attach='br9 10.51.9.2/24'
run "$C3" --label pipework.attach='ovsbr51 10.51.1.3/24 @200'
run "$C4" --label pipework.attach='--direct-phys phys51 10.51.2.4/24'

WATCH=$(mktemp /tmp/pwwatch.XXXXXX); LOG=$(mktemp /tmp/pwwatch.XXXXXX)
on_exit "rm -f $WATCH $LOG"
cat >"$WATCH" <<EOF
labels br1 ovsbr51@100-199
labels phys51
br1 $C0 10.51.0.1/24
EOF
sleep 0.3   # the kernel settles the new links' carrier and IPv6 first
before=$(host_now)
ip netns exec "$HOST" "$PIPEWORK_BIN" --watch "$WATCH" 2>>"$LOG" &
W=$!; on_exit "kill $W"
wait_log 1 "reconciled"
expect "the watch says where labels may attach" "labels may attach to br1, ovsbr51@100-199, phys51 only" cat "$LOG"
expect "a label onto a bridge FILE does not name is refused and logged" \
    "label pipework.attach of $C2: refused: br9 is not among the host interfaces FILE lets labels use" cat "$LOG"
expect "a VLAN outside FILE's range is refused" \
    "label pipework.attach of $C3: refused: @200 on ovsbr51 is outside the VLANs FILE lets labels use there \(100-199\)" cat "$LOG"
expect "--direct-phys is refused, even of an interface FILE names" \
    "label pipework.attach of $C4: refused: a label may not ask for --direct-phys" cat "$LOG"
for c in "$C2" "$C3" "$C4"; do
    expect_not "$c got no interface" "eth1" in_guest "$(pid_of "$c")" ip -o link show
done
[ "$(host_now)" = "$before" ] || fail "refused labels changed the host:
$(diff <(echo "$before") <(host_now))"
note "ok: the host is as it was before the watch"

# An allowed label and a file line: attached on their start events.
run "$C0"
run "$C1" --label pipework.attach='br1 10.51.0.2/24' --label pipework.attach.1='-i eth2 ovsbr51 10.51.1.2/24 @150'
wait_log 1 "$C1: attached eth2 .* after the start event"
wait_log 1 "$C0: attached eth1 .* after the start event"
expect "a label onto an allowed bridge is served" "inet 10.51.0.2/24" in_guest "$(pid_of "$C1")" ip -o addr show eth1
expect "and onto an allowed VLAN" "^150$" vsctl get Port "veth2pl$(pid_of "$C1")" tag
ping_ok "$(pid_of "$C1")" 10.51.0.1
tcp_ok "$(pid_of "$C1")" "$(pid_of "$C0")" 10.51.0.1

# Without a `labels` line (SIGHUP re-reads FILE), labels are ignored: C5's
# start event comes before C6's, whose file line is served.
printf 'br1 %s 10.51.0.1/24\nbr1 %s 10.51.0.6/24\n' "$C0" "$C6" >"$WATCH"
kill -HUP "$W"
wait_log 1 "labels are off"
run "$C5" --label pipework.attach='br1 10.51.0.5/24'
run "$C6"
wait_log 1 "$C6: attached eth1 .* after the start event"
expect_not "with labels off, a label is ignored" "eth1" in_guest "$(pid_of "$C5")" ip -o link show
expect_not "and not even mentioned" "$C5" cat "$LOG"
kill -TERM "$W"; wait "$W" || fail "the watch exited $? on SIGTERM"
