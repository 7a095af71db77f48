# The reference's plain Open vSwitch flow on the kernel datapath: `pipework
# ovsbr0 …` creates ovsbr0 with a plain add-br, and access tags isolate.
. "$(dirname "$0")/../lib.sh"
needs_kernel openvswitch
start_ovs
G1=$(new_guest); G2=$(new_guest); G3=$(new_guest)
err=$(pipework ovsbr0 "$G1" 10.53.0.1/24 @100 2>&1) || fail "attach failed: $err"
grep -q "userspace datapath" <<<"$err" && fail "this kernel has the OVS datapath, yet: $err"
pipework ovsbr0 "$G2" 10.53.0.2/24 @100
pipework ovsbr0 "$G3" 10.53.0.3/24 @200
expect "a plain add-br: the kernel datapath" '^""$|^system$' vsctl get Bridge ovsbr0 datapath_type
expect "the bridge is a kernel openvswitch device" "openvswitch" in_host ip -d link show ovsbr0
ping_ok "$G1" 10.53.0.2
tcp_ok "$G1" "$G2" 10.53.0.2
ping_fails "$G3" 10.53.0.1
ping_fails "$G2" 10.53.0.3
