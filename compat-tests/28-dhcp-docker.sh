# `dhcp`, the reference's Docker method: udhcpc runs in a throw-away busybox
# container sharing the guest's network namespace, and is gone afterwards.
# For a guest that is not a Docker container it is refused.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/docker-up" >/dev/null
start_dhcp_server brdh 10.33.0
C=pwc-dhcp-$HOST
on_exit "docker rm -f $C"
docker run -d --name "$C" --network none busybox:latest sleep 600 >/dev/null

pipework brdh "$C" dhcp
expect "the container has a lease on eth1" "inet 10\.33\.0\.[0-9]+/24" docker exec "$C" ip -o -4 addr show eth1
expect "and the server's default route" "default via 10.33.0.1 dev eth1" docker exec "$C" ip route
expect "the server knows the container's name" " $C " cat "$DHCP_LEASES"
expect_not "no helper container is left" "pipework-dhcp" docker ps -a --format '{{.Names}}'

# dhcp:-f (reference #228): the client stays, in a detached container, to
# renew the lease; --detach stops it, and its container goes.
pipework brdh -i eth2 "$C" dhcp:-f
expect "eth2 has a lease too" "inet 10\.33\.0\.[0-9]+/24" docker exec "$C" ip -o -4 addr show eth2
expect "its client container keeps running" "pipework-dhcp-.*-eth2" docker ps --format '{{.Names}}'
pipework --detach -i eth2 "$C"
for i in $(seq 50); do docker ps -a --format '{{.Names}}' | grep -q pipework-dhcp || break; sleep 0.2; done
expect_not "--detach stopped it and its container is gone" "pipework-dhcp" docker ps -a --format '{{.Names}}'

G=$(new_guest)
fails_with "dhcp needs a Docker guest" "is not a Docker container; use udhcpc, dhclient, dhcpcd or builtin-dhcp" \
    pipework brdh "$G" dhcp
expect_not "nothing was made for it" "veth1pl$G" in_host ip -o link
