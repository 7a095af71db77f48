# The host reaching its own macvlan guests (reference #4, #130, #238): a
# macvlan parent passes no traffic between itself and its macvlans, so the
# host gets a macvlan of its own on the same parent: pipework --shim.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
in_host ip link add lan0 type veth peer name lan0p
in_host ip link set lan0p up
pipework lan0 "$G1" 10.38.0.2/24
# A process of the host's own namespace, to ping and send from. Started
# directly (not through a function, whose subshell would be $!), and checked
# to be in the host's namespace before anything is sent from it.
ip netns exec "$HOST" sleep "$GUEST_TAG" >/dev/null 2>&1 &
H=$!
in_ns() { [ "$(stat -L -c %i "/proc/$H/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/var/run/netns/$HOST")" ]; }
for i in $(seq 200); do in_ns && break; sleep 0.01; done
in_ns || fail "process $H never entered $HOST"

expect "the dry run shows the shim" "ip link add link lan0 name shim-lan0 .*type macvlan mode bridge" \
    pipework --dry-run --shim lan0 10.38.0.250/24
pipework --shim lan0 10.38.0.250/24 10.38.9.0/24
expect "the shim is a bridge-mode macvlan on lan0, marked" "shim-lan0@lan0.*alias pipework: host shim" in_host ip -d -o link show shim-lan0
expect "the extra route goes through it" "10.38.9.0/24 dev shim-lan0" in_host ip route
ping_ok "$H" 10.38.0.2
tcp_ok "$H" "$G1" 10.38.0.2
fails_with "a second shim of that name, another address, is refused with the fix" "shim-lan0 is already there, but not as asked: it lacks 10.38.0.251/24 \(--replace .*; pipework --detach --shim lan0 removes it\)" pipework --shim lan0 10.38.0.251/24

pipework --detach --shim lan0
expect_not "--detach --shim removes it" "shim-lan0" in_host ip -o link
in_host ip link add shim-x type veth peer name shim-xp
fails_with "only a shim pipework made is removed" "is not a shim pipework made" pipework --detach --shim -l shim-x lan0
