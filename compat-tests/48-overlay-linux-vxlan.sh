# pipework tunnel on Linux bridges, no Open vSwitch: three hosts (H3 behind
# a router), two tenants on one subnet, one line per tenant run unchanged on
# every host. Same-tenant guests reach each other across hosts and move
# 1 MB; cross-tenant guests do not; guests inherit the overlay's MTU; a
# re-run changes nothing; tunnel lines in a --batch run before its
# attaches; a guest attached before the tunnel is warned about; --detach of
# one peer, then of all; refusals change nothing.
. "$(dirname "$0")/lib.sh"
# Asked first: loading ip_gre gives every namespace its fallback devices.
has_ip_gre=false
kernel_has ip_gre && has_ip_gre=true
new_hosts
PEERS="172.31.0.1 172.31.0.2 172.31.1.3"

# A guest attached before any tunnel keeps MTU 1500: the line warns.
E=$(guest_on 1)
pw_on 1 br100 -i eth9 "$E" 10.100.0.99/24
err=$(pw_on 1 tunnel br100 vxlan:100 $PEERS 2>&1 >/dev/null) || fail "tunnel on H1: $err"
grep -q "veth9pl$E on br100 has MTU 1500, above the overlay's 1450" <<<"$err" || fail "no warning about veth9pl$E: $err"
note "ok: the line names the port attached earlier with a larger MTU"
pw_on 2 tunnel br100 vxlan:100 $PEERS || fail "tunnel br100 on H2"
for i in 1 2; do pw_on "$i" tunnel br200 vxlan:200 $PEERS || fail "tunnel br200 on H$i"; done

expect "vxlan-100 is marked, has the overlay MTU and UDP 4789" "vxlan-100: .* mtu 1450 .*master br100.*vxlan id 100 .*dstport 4789.*alias pipework-tunnel:vxlan:100" \
    on_host 1 ip -d -o link show vxlan-100
[ "$(on_host 1 bridge fdb show dev vxlan-100 | grep -c '^00:00:00:00:00:00 dst 172.31.0.2 \|^00:00:00:00:00:00 dst 172.31.1.3 ')" = 2 ] ||
    fail "H1's vxlan-100 does not flood to exactly H2 and H3: $(on_host 1 bridge fdb show dev vxlan-100)"
note "ok: H1 floods vxlan-100 to H2 and H3, not to itself"

declare -A A B
for i in 1 2 3; do A[$i]=$(guest_on "$i"); B[$i]=$(guest_on "$i"); done
for i in 1 2; do
    pw_on "$i" br100 "${A[$i]}" "10.100.0.$i/24"
    pw_on "$i" br200 "${B[$i]}" "10.100.0.10$i/24"
done
# H3 takes the same lines as a batch: tunnel lines first, then attaches.
BATCH=$(mktemp /tmp/pwbatch.XXXXXX); on_exit "rm -f $BATCH"
printf '%s\n' "br100 ${A[3]} 10.100.0.3/24" "pipework tunnel br100 vxlan:100 $PEERS" \
    "br200 ${B[3]} 10.100.0.103/24" "tunnel br200 vxlan:200 $PEERS" >"$BATCH"
pw_on 3 --batch "$BATCH" || fail "H3's batch of tunnel and attach lines failed"
expect "a guest attached after the tunnel gets MTU 1450" "eth1@.* mtu 1450 " in_guest "${A[1]}" ip -o link show eth1
pw_on 1 --detach -i eth9 "$E"
pw_on 1 br100 -i eth9 "$E" 10.100.0.99/24
expect "the guest warned about, attached again, gets 1450" "eth9@.* mtu 1450 " in_guest "$E" ip -o link show eth9
ping_ok "${A[1]}" 10.100.0.2
ping_ok "${A[1]}" 10.100.0.3
ping_ok "${A[2]}" 10.100.0.3
ping_ok "${B[1]}" 10.100.0.102
ping_ok "${B[3]}" 10.100.0.101
expect "a DF packet of the full 1450 crosses the router" "1 received" in_guest "${A[1]}" ping -c 1 -W 2 -M do -s 1422 10.100.0.3
tcp_ok "${A[1]}" "${A[3]}" 10.100.0.3
ping_fails "${A[1]}" 10.100.0.102
ping_fails "${B[2]}" 10.100.0.3

# Re-running every line changes nothing.
before=$(for i in 1 2 3; do host_state "$i"; done)
for i in 1 2 3; do
    pw_on "$i" tunnel br100 vxlan:100 $PEERS 2>/dev/null; pw_on "$i" tunnel br200 vxlan:200 $PEERS 2>/dev/null
done
expect "a guest of H3's batch got the overlay's MTU" "eth1@.* mtu 1450 " in_guest "${A[3]}" ip -o link show eth1
[ "$(for i in 1 2 3; do host_state "$i"; done)" = "$before" ] || fail "a re-run changed something:
$(diff <(echo "$before") <(for i in 1 2 3; do host_state "$i"; done) | head -20)"
note "ok: re-running every line left links and forwarding tables as they were"
expect "the list shows both devices" "linux +br100 +vxlan-100 +vxlan:100 peers=172.31.0.2,172.31.1.3 dstport=4789 mtu=1450 state=up" pw_on 1 tunnel
expect_not "and only br200's when asked for br200" "br100" pw_on 1 tunnel br200

# The dry run prints the commands and changes nothing.
before=$(host_state 1)
expect "--dry-run prints the device and its peers" "ip link add vxlan-300 mtu 1450 type vxlan id 300 dstport 4789 local 172.31.0.1" \
    pw_on 1 --dry-run tunnel br300 vxlan:300 $PEERS
expect "and the fdb entries" "bridge fdb append 00:00:00:00:00:00 dev vxlan-300 dst 172.31.1.3" pw_on 1 --dry-run tunnel br300 vxlan:300 $PEERS
[ "$(host_state 1)" = "$before" ] || fail "the dry run changed something"

# Refusals: exit 1, the object and the fix named, nothing changed.
on_host 1 ip link add vxother type vxlan id 300 dstport 4789
before=$(host_state 1)
# (where the kernel has ip_gre, compat-tests/kernel/07 makes that mesh)
$has_ip_gre ||
    fails_with "gre on a Linux bridge without ip_gre" "gretap.*use vxlan, or an Open vSwitch bridge" pw_on 1 tunnel br100 gre $PEERS
fails_with "@VLAN on a Linux bridge" "@10 needs an Open vSwitch bridge" pw_on 1 tunnel br100 vxlan:100 $PEERS @10
fails_with "a VNI over 24 bits" "key '16777216' is not a number from 0 to 16777215" pw_on 1 tunnel br100 vxlan:16777216 $PEERS
fails_with "only this host's own address" "no peer left" pw_on 1 tunnel br100 vxlan:100 172.31.0.1
fails_with "a HOSTIF that is no bridge" "eth0 is neither a Linux bridge nor an Open vSwitch bridge" pw_on 1 tunnel eth0 vxlan:100 $PEERS
fails_with "a VNI taken by a device of someone else" "VNI 300 is taken by vxother" pw_on 1 tunnel br300 vxlan:300 $PEERS
fails_with "a VNI already serving another bridge" "VNI 100 already serves bridge br100" pw_on 1 tunnel br999 vxlan:100 $PEERS
# OVS's kernel datapath names its VXLAN port vxlan_sys_4789 and holds UDP
# 4789 (kernel/06 shows the real one under Debian's kernels; a stand-in of that name here).
on_host 1 ip link add vxlan_sys_4789 type veth peer name vxsys4789p
fails_with "UDP 4789 held by OVS's kernel VXLAN port" "UDP port 4789 is held by Open vSwitch.*--dstport" \
    pw_on 1 tunnel br400 vxlan:400 $PEERS
on_host 1 ip link del vxlan_sys_4789
[ "$(host_state 1)" = "$before" ] || fail "a refused line changed something:
$(diff <(echo "$before") <(host_state 1) | head -20)"
note "ok: no refused line changed anything"

# --detach of one peer: its flooding entry and every MAC learned behind it
# go. H3 leaves tenant A: H3 drops H1 and H2 first (its device goes with
# its last peer, so nothing from H3 can teach H1 again), then H1 and H2 drop
# H3 with what they learned from it.
pw_on 3 --detach tunnel br100 vxlan:100 172.31.0.1 172.31.0.2 || fail "detaching H1 and H2 on H3"
for i in 1 2; do pw_on "$i" --detach tunnel br100 vxlan:100 172.31.1.3 || fail "detaching H3 on H$i"; done
expect_not "nothing on H1 points at H3 any more, learned entries included" "dst 172.31.1.3" on_host 1 bridge fdb show dev vxlan-100
expect_not "H3's vxlan-100 went with its last peer" "vxlan-100" on_host 3 ip -o link show
for g in "${A[1]}" "${A[3]}"; do in_guest "$g" ip neigh flush all; done
ping_ok "${A[1]}" 10.100.0.2
ping_fails "${A[1]}" 10.100.0.3
# Then the whole line, twice.
pw_on 1 --detach tunnel br100 vxlan:100 $PEERS || fail "--detach tunnel failed"
pw_on 1 --detach tunnel br100 vxlan:100 $PEERS || fail "a second --detach tunnel failed"
expect_not "vxlan-100 is gone from H1" "vxlan-100" on_host 1 ip -o link show
ping_fails "${A[1]}" 10.100.0.2
ping_ok "${B[1]}" 10.100.0.102
