# @VLAN on a Linux bridge: each guest's port is an access port of its VLAN
# (VLAN filtering on), and a trunk carries both VLANs tagged to a "switch"
# outside. Guests of one VLAN reach each other and the switch's side of
# their VLAN, and nothing of the other VLAN.
. "$(dirname "$0")/../lib.sh"
needs_kernel bridge_vlan_filtering 8021q
# vlans_of PORT: the port's VLANs, as `bridge vlan show` lists them, one
# "VID FLAGS…" per line.
vlans_of() {
    in_host bridge -j vlan show dev "$1" | python3 -c '
import json, sys
for port in json.load(sys.stdin):
    for v in port.get("vlans", []):
        print(v["vlan"], *v.get("flags", []))'
}
G1=$(new_guest); G2=$(new_guest); G3=$(new_guest)

pipework br10 "$G1" 10.80.10.1/24 @10
expect "a bridge made for @VLAN filters VLANs" "vlan_filtering 1" in_host ip -d link show br10
[ "$(vlans_of "veth1pl$G1")" = "10 PVID Egress Untagged" ] ||
    fail "veth1pl$G1 is not an access port of VLAN 10: $(vlans_of "veth1pl$G1")"
note "ok: veth1pl$G1 is in VLAN 10 alone, untagged"
pipework br10 "$G2" 10.80.10.2/24 @10
pipework br10 "$G3" 10.80.10.3/24 @20
[ "$(vlans_of "veth1pl$G3")" = "20 PVID Egress Untagged" ] || fail "veth1pl$G3: $(vlans_of "veth1pl$G3")"
note "ok: veth1pl$G3 is in VLAN 20 alone, untagged"

# The switch: a trunk port carrying 10 and 20 tagged; behind it, VLAN 10's
# side in one namespace (.254) and VLAN 20's in another (.253), the same
# subnet, so only the VLANs keep them apart.
SW=${HOST}s10 SW2=${HOST}s20
ip netns add "$SW"; on_exit "ip netns del $SW"
ip netns add "$SW2"; on_exit "ip netns del $SW2"
in_host ip link add trunk0 type veth peer name sw0 netns "$SW"
in_host ip link set trunk0 master br10 up
in_host bridge vlan add dev trunk0 vid 10
in_host bridge vlan add dev trunk0 vid 20
in_host bridge vlan del dev trunk0 vid 1
ip -n "$SW" link set sw0 up
ip -n "$SW" link add link sw0 name sw0.10 type vlan id 10
ip -n "$SW" link add link sw0 name sw0.20 type vlan id 20
ip -n "$SW" link set sw0.20 netns "$SW2"
ip -n "$SW" addr add 10.80.10.254/24 dev sw0.10; ip -n "$SW" link set sw0.10 up
ip -n "$SW2" addr add 10.80.10.253/24 dev sw0.20; ip -n "$SW2" link set sw0.20 up
[ "$(vlans_of trunk0 | xargs)" = "10 20" ] || fail "the trunk is not VLANs 10 and 20, tagged: $(vlans_of trunk0)"
note "ok: the trunk carries VLANs 10 and 20, tagged"

ping_ok "$G1" 10.80.10.2
tcp_ok "$G1" "$G2" 10.80.10.2
ping_ok "$G1" 10.80.10.254
ping_ok "$G3" 10.80.10.253
ping_fails "$G3" 10.80.10.1
ping_fails "$G3" 10.80.10.254
ping_fails "$G1" 10.80.10.253
ping_fails "$G1" 10.80.10.3

# A bridge that does not filter: refused before any change, naming the fix;
# --vlan-filtering turns filtering on, and says so.
in_host ip link add br30 type bridge
in_host ip link set br30 up
G4=$(new_guest)
before=$(snapshot "$G4")
fails_with "an existing bridge without VLAN filtering" \
    "br30 does not filter VLANs.*ip link set br30 type bridge vlan_filtering 1, or add --vlan-filtering" \
    pipework br30 "$G4" 10.80.30.4/24 @30
same_as_before "$G4" "$before" "the refused line changed nothing"
# A late failure undoes what --vlan-filtering turned on.
fails_with "a failed attach with --vlan-filtering is undone" "everything it had made was removed" \
    pipework br30 --vlan-filtering --sysctl net.ipv4.conf.eth1.no_such_setting=1 "$G4" 10.80.30.4/24 @30
expect "filtering is off again" "vlan_filtering 0" in_host ip -d link show br30
err=$(pipework br30 --vlan-filtering "$G4" 10.80.30.4/24 @30 2>&1 >/dev/null) || fail "--vlan-filtering: $err"
grep -q "turned on VLAN filtering on bridge br30" <<<"$err" || fail "not said on stderr: $err"
expect "now it filters" "vlan_filtering 1" in_host ip -d link show br30
[ "$(vlans_of "veth1pl$G4")" = "30 PVID Egress Untagged" ] || fail "veth1pl$G4: $(vlans_of "veth1pl$G4")"
note "ok: veth1pl$G4 is in VLAN 30 alone"

# The dry run says it as bridge commands.
G5=$(new_guest)
expect "--dry-run prints the bridge and its port's VLAN" \
    "ip link add br50 type bridge vlan_filtering 1 && .*bridge vlan add dev veth1pl$G5 vid 50 pvid untagged && bridge vlan del dev veth1pl$G5 vid 1" \
    sh -c "ip netns exec $HOST $PIPEWORK_BIN --dry-run br50 $G5 10.80.50.5/24 @50 | xargs"

# Detach takes the port and its VLAN; the bridge made for it goes too once
# nothing is left on it.
pipework --detach "$G3"
expect_not "VLAN 20's port is gone" "veth1pl$G3" in_host bridge vlan show
ping_fails "$G1" 10.80.10.3
pipework --detach "$G1"; pipework --detach "$G2"
expect "the bridge stays while the trunk is on it" "br10" in_host ip -o link show br10
