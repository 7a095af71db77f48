# pipework route|rule|tc con1 …: iproute2 commands run inside the guest; their
# exit status is ours.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
pipework br1 "$G1" 10.120.0.2/24@10.120.0.1
pipework route "$G1" add 10.121.0.0/16 via 10.120.0.254
pipework rule "$G1" add from 10.120.0.2 table 5
pipework tc "$G1" qdisc add dev eth1 root tbf rate 1mbit burst 32kbit latency 400ms
expect "route added in the guest" "10.121.0.0/16 via 10.120.0.254 dev eth1" in_guest "$G1" ip route
expect "rule added in the guest" "from 10.120.0.2 lookup 5" in_guest "$G1" ip rule
expect "qdisc added in the guest" "qdisc tbf" in_guest "$G1" tc qdisc show dev eth1
expect_not "the host got none of it" "10.121.0.0" in_host ip route
rc=0; pipework route "$G1" add garbage 2>/dev/null || rc=$?
want=0; in_guest "$G1" ip route add garbage 2>/dev/null || want=$?
[ "$rc" = "$want" ] && [ "$rc" != 0 ] || fail "exit status $rc, ip itself gives $want"
note "ok: a failing ip route gives its own exit status ($rc)"
