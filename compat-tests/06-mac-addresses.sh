# pipework br1 con1 10.60.0.2/24 U:myhost.foo.com — a stable MAC derived from
# text; and an explicit MAC.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest); G2=$(new_guest)
pipework br1 "$G1" 10.60.0.2/24 U:myhost.foo.com
pipework br1 "$G2" 10.60.0.3/24 26:2e:71:98:60:8f
expect "U: gives the reference's MAC" "link/ether 02:72:6c:cd:9b:8d" in_guest "$G1" ip -o link show eth1
expect "explicit MAC is set" "link/ether 26:2e:71:98:60:8f" in_guest "$G2" ip -o link show eth1
ping_ok "$G1" 10.60.0.3
