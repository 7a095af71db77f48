# No DHCP server on the network: every method gives up within the limit,
# exits 1, and leaves nothing: no veth, no interface in the guest, no client
# process, no pid file.
. "$(dirname "$0")/lib.sh"
in_host ip link add name brq type bridge
in_host ip link set dev brq up
G=$(new_guest); NAME=pwc-nosrv-$G
ip netns attach "$NAME" "$G"
on_exit "ip netns del $NAME"
host_before=$(in_host ip -o link show | sed 's/@[^:]*//' | awk '{print $2}' | sort)

for method in udhcpc udhcpc-f dhclient dhclient-f dhcpcd builtin-dhcp builtin-dhcp-f; do
    t0=$EPOCHREALTIME
    fails_with "$method without a server fails within 3 s" "no DHCP lease on eth1 within 3 s" \
        pipework --dhcp-timeout 3 brq "$NAME" "$method"
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
    awk -v t="$took" 'BEGIN {exit !(t < 6)}' || fail "$method took $took s to give up"
    [ "$(in_host ip -o link show | sed 's/@[^:]*//' | awk '{print $2}' | sort)" = "$host_before" ] ||
        fail "$method left links in the host: $(in_host ip -o link show)"
    expect_not "$method left no interface in the guest" "eth1" in_guest "$G" ip -o link
    left=$(procs_in "$G")
    [ -z "$left" ] || fail "$method left a process in the guest: $(ps -o args= -p "$left")"
    for f in /var/run/udhcpc.$NAME.pid /var/run/dhclient.$NAME.pid /var/run/pipework-dhcp.$NAME.eth1.pid; do
        [ ! -e "$f" ] || fail "$method left $f"
    done
    note "ok: $method gave up after $took s, leaving nothing"
done

t0=$EPOCHREALTIME
PIPEWORK_DHCP_TIMEOUT=2 fails_with "the limit can come from the environment" "within 2 s" \
    pipework brq "$NAME" builtin-dhcp
