# GUEST can also be a PID (plain or pid:N), a name under /var/run/netns
# (plain or netns:NAME) or a path to a namespace file.
. "$(dirname "$0")/lib.sh"
NS=pwcg$$r$RANDOM
ip netns add "$NS"; on_exit "ip netns del $NS"
G1=$(new_guest)
pipework br1 -i e1 "pid:$G1" 10.170.0.2/24
pipework br1 -i e2 "$NS" 10.170.0.3/24
pipework br1 -i e3 "netns:$NS" 10.170.0.4/24
pipework br1 -i e4 "/var/run/netns/$NS" 10.170.0.5/24
expect "pid: guest" "10.170.0.2/24" in_guest "$G1" ip -o addr show e1
expect "netns name, netns: and path all reach the same namespace" "e2.*10.170.0.3/24" ip -n "$NS" -o addr
expect "netns path" "e4.*10.170.0.5/24" ip -n "$NS" -o addr
ping_ok "$G1" 10.170.0.5
