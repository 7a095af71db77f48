# pipework br1 con1 0/0 — the interface is made, moved and set up, with no
# address; a later address of the user's own then works.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
pipework br1 "$G1" 0/0
expect "eth1 exists and is up" "eth1@.*<[^>]*,UP" in_guest "$G1" ip -o link show eth1
expect_not "eth1 has no IPv4 address" "inet " in_guest "$G1" ip -o -4 addr show eth1
