# A host-side name that already exists: up → exit 1 with a message saying so;
# down (a leftover) → deleted and made anew, as the reference does.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
pipework br1 "$G1" 10.30.0.2/24
fails_with "attaching the same interface again is refused" "veth1pl$G1 already exists and is up" \
    pipework br1 "$G1" 10.30.0.3/24

G2=$(new_guest)
in_host ip link add veth1pl$G2 type veth peer name leftover0
expect "the leftover is down" "state DOWN" in_host ip -o link show veth1pl$G2
pipework br1 "$G2" 10.30.0.4/24
expect "the leftover was replaced by a fresh pair on br1" "veth1pl$G2@.*master br1" in_host ip -o link show veth1pl$G2
expect_not "the leftover's peer is gone with it" "leftover0" in_host ip -o link
ping_ok "$G2" 10.30.0.2
