# -i storage-net0 with a PID makes v<IF>pl<PID> longer than Linux's 15 bytes;
# the reference fails, we shorten it stably and it works.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
pipework br1 -i storage-net0 "$G1" 10.150.0.2/24
pipework br1 -i storage-net1 "$G1" 10.151.0.2/24
expect "two host sides on br1, each at most 15 bytes" "^2$" sh -c "ip netns exec $HOST ip -o link show master br1 | grep -cE '^[0-9]+: v[0-9a-f]+pl$G1@'"
expect "guest has both long names" "storage-net1" in_guest "$G1" ip -o link show storage-net1
