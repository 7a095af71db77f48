# pipework as a CNI plugin, called directly as a runtime calls it: VERSION;
# ADD with a static "address" and with an IPAM plugin (host-local), and the
# result object; CHECK, also after someone removed the address; DEL twice,
# and after the namespace is gone (IPAM released); a failing ADD leaves
# nothing; every error is a CNI error object with the spec's code.
. "$(dirname "$0")/lib.sh"
cni_setup
G1=$(new_guest); G2=$(new_guest); G3=$(new_guest)
IPAM_DIR=$CNI_DIR/ipam
cat >"$CNI_DIR/static.json" <<JSON
{"cniVersion": "1.0.0", "name": "lan", "type": "pipework",
 "hostif": "brcni", "address": "10.60.0.2/24@10.60.0.1"}
JSON
cat >"$CNI_DIR/ipam.json" <<JSON
{"cniVersion": "1.0.0", "name": "lan", "type": "pipework", "hostif": "brcni",
 "ipam": {"type": "host-local", "dataDir": "$IPAM_DIR",
          "ranges": [[{"subnet": "10.60.0.0/24", "rangeStart": "10.60.0.10", "rangeEnd": "10.60.0.20",
                       "gateway": "10.60.0.1"}]],
          "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.77.0/24", "gw": "10.60.0.1"}]}}
JSON

out=$(echo '{"cniVersion": "1.1.0"}' | CNI_COMMAND=VERSION "$PIPEWORK_BIN")
[ "$(python3 -c 'import json, sys; v = json.loads(sys.argv[1]); print(v["cniVersion"], "1.0.0" in v["supportedVersions"], "1.1.0" in v["supportedVersions"])' "$out")" = "1.1.0 True True" ] ||
    fail "VERSION answered: $out"
note "ok: VERSION lists 1.0.0 and 1.1.0"

# ADD, static address: the command line's words, one to one.
cni pipework ADD /proc/$G1/ns/net eth1 c1 "$CNI_DIR/static.json" >"$CNI_DIR/r1.json" || fail "ADD: $(cat "$CNI_DIR/r1.json")"
expect "the address is on eth1" "inet 10.60.0.2/24 brd 10.60.0.255 scope global eth1" in_guest "$G1" ip -o -4 addr show eth1
expect "the default route is via the gateway" "^default via 10.60.0.1 dev eth1" in_guest "$G1" ip route show default
expect "the host side is a port of brcni" "master brcni .*state UP" in_host ip -o link show "$(jq_ "$CNI_DIR/r1.json" 'j["interfaces"][1]["name"]')"
[ "$(jq_ "$CNI_DIR/r1.json" 'j["ips"][0]["address"], j["ips"][0]["gateway"], j["interfaces"][j["ips"][0]["interface"]]["sandbox"], j["interfaces"][2]["name"], j["interfaces"][2]["mac"], j["interfaces"][0]["name"], j["routes"], j["cniVersion"]')" = \
  "('10.60.0.2/24', '10.60.0.1', '/proc/$G1/ns/net', 'eth1', '$(in_guest "$G1" ip -o link show eth1 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)', 'brcni', [{'dst': '0.0.0.0/0', 'gw': '10.60.0.1'}], '1.0.0')" ] ||
    fail "ADD result: $(cat "$CNI_DIR/r1.json")"
note "ok: the result names bridge, host side and eth1 in its sandbox; ips point at eth1"
# The same ADD again (a runtime retrying after a timeout): already as asked,
# the same result, nothing changed.
before=$(snapshot "$G1")
cni pipework ADD /proc/$G1/ns/net eth1 c1 "$CNI_DIR/static.json" >"$CNI_DIR/r1again.json" ||
    fail "the same ADD again: $(cat "$CNI_DIR/r1again.json")"
cmp -s "$CNI_DIR/r1.json" "$CNI_DIR/r1again.json" || fail "the same ADD again answered otherwise: $(cat "$CNI_DIR/r1again.json")"
same_as_before "$G1" "$before" "the same ADD again: already as asked, the same result, nothing changed"

# ADD, IPAM: host-local allocates, its routes are set.
cni pipework ADD /proc/$G2/ns/net eth1 c2 "$CNI_DIR/ipam.json" >"$CNI_DIR/r2.json" || fail "ADD: $(cat "$CNI_DIR/r2.json")"
expect "host-local's first address is on eth1" "inet 10.60.0.10/24 " in_guest "$G2" ip -o -4 addr show eth1
expect "its default route" "^default via 10.60.0.1 dev eth1" in_guest "$G2" ip route show default
expect "its other route" "^192.168.77.0/24 via 10.60.0.1 dev eth1" in_guest "$G2" ip route show 192.168.77.0/24
[ -f "$IPAM_DIR/lan/10.60.0.10" ] || fail "host-local holds no allocation for 10.60.0.10"
ping_ok "$G2" 10.60.0.2
tcp_ok "$G2" "$G1" 10.60.0.2

# CHECK against the prevResult, then after the address was removed by hand.
with_prev "$CNI_DIR/static.json" "$CNI_DIR/r1.json" >"$CNI_DIR/c1.json"
with_prev "$CNI_DIR/ipam.json" "$CNI_DIR/r2.json" >"$CNI_DIR/c2.json"
cni pipework CHECK /proc/$G1/ns/net eth1 c1 "$CNI_DIR/c1.json" >/dev/null || fail "CHECK of an intact attachment failed"
cni pipework CHECK /proc/$G2/ns/net eth1 c2 "$CNI_DIR/c2.json" >/dev/null || fail "CHECK (with host-local) failed"
note "ok: CHECK passes on what ADD made"
in_guest "$G1" ip addr del 10.60.0.2/24 dev eth1
cni_fails 101 "CHECK after the address went" cni pipework CHECK /proc/$G1/ns/net eth1 c1 "$CNI_DIR/c1.json"
out=$(cni pipework CHECK /proc/$G1/ns/net eth1 c1 "$CNI_DIR/c1.json" 2>/dev/null || true)
grep -q '"msg": "eth1 in c1: it lacks 10.60.0.2/24"' <<<"$out" || fail "CHECK's message does not name the address: $out"

# DEL twice; DEL once the namespace is gone, which still releases IPAM.
cni pipework DEL /proc/$G1/ns/net eth1 c1 "$CNI_DIR/c1.json" || fail "DEL failed"
cni pipework DEL /proc/$G1/ns/net eth1 c1 "$CNI_DIR/c1.json" || fail "a second DEL failed"
expect_not "eth1 is gone from the guest" "eth1" in_guest "$G1" ip -o link
expect_not "and its host side from the bridge" "$(jq_ "$CNI_DIR/r1.json" 'j["interfaces"][1]["name"]')" in_host ip -o link
kill -9 "$G2"
for i in $(seq 100); do [ -e "/proc/$G2" ] || break; sleep 0.05; done
cni pipework DEL /proc/$G2/ns/net eth1 c2 "$CNI_DIR/c2.json" || fail "DEL after the namespace went failed"
cni pipework DEL "" eth1 c2 "$CNI_DIR/c2.json" || fail "DEL with an empty CNI_NETNS failed"
[ ! -f "$IPAM_DIR/lan/10.60.0.10" ] || fail "DEL did not release 10.60.0.10 in host-local"
note "ok: DEL is idempotent, works without the namespace, and releases the address"

# A failing ADD leaves nothing: host-local allocates, our route via an
# unreachable gateway fails after the veth exists.
sed 's#"gw": "10.60.0.1"}]#"gw": "10.99.99.99"}]#' "$CNI_DIR/ipam.json" >"$CNI_DIR/bad-route.json"
before=$(snapshot "$G3")
cni_fails 100 "ADD whose route cannot be set" cni pipework ADD /proc/$G3/ns/net eth1 c3 "$CNI_DIR/bad-route.json"
same_as_before "$G3" "$before" "the failed ADD left no device, address or route"
[ -z "$(ls "$IPAM_DIR/lan" | grep -E '^10\.')" ] || fail "the failed ADD left an allocation: $(ls "$IPAM_DIR/lan")"
note "ok: a failed ADD undid the interface and released its address"

# Errors: each a CNI error object, with the spec's code, and nothing made.
before=$(snapshot "$G3")
bad() { echo "$2" >"$CNI_DIR/bad.json"; cni_fails "$1" "$3" cni pipework "${4:-ADD}" "${5-/proc/$G3/ns/net}" eth1 c3 "$CNI_DIR/bad.json"; }
bad 1 '{"cniVersion": "9.9.9", "name": "n", "hostif": "brcni"}' "an unknown cniVersion"
bad 6 '{"cniVersion": "1.0.0", ' "a configuration that is not JSON"
bad 7 '{"cniVersion": "1.0.0", "name": "n"}' "no hostif"
bad 7 '{"cniVersion": "1.0.0", "name": "n", "hostif": "brcni", "vlan": 5000}' "a VLAN out of range"
bad 7 '{"cniVersion": "1.0.0", "name": "n", "hostif": "brcni", "ipam": {"type": "nosuchipam"}}' "an IPAM plugin not in CNI_PATH"
bad 2 '{"cniVersion": "1.0.0", "name": "n", "hostif": "brcni", "runtimeConfig": {"ips": ["10.0.0.9/24"]}}' "the ips capability without IPAM"
bad 4 '{"cniVersion": "1.0.0", "name": "n", "hostif": "brcni"}' "an empty CNI_NETNS" ADD ""
bad 3 '{"cniVersion": "1.0.0", "name": "n", "hostif": "brcni"}' "a namespace that does not exist" ADD /var/run/netns/pwc-none-$HOST
bad 1 '{"cniVersion": "0.3.1", "name": "n", "hostif": "brcni"}' "CHECK in 0.3.1, which has none" CHECK
bad 50 '{"cniVersion": "1.1.0", "name": "n", "hostif": "nosuchnic0"}' "STATUS with a hostif that cannot be" STATUS
bad 1 '{"cniVersion": "1.0.0", "name": "n", "hostif": "brcni"}' "STATUS in 1.0.0" STATUS
echo '{"cniVersion": "1.1.0", "name": "n", "hostif": "brcni"}' >"$CNI_DIR/ok.json"
cni pipework STATUS "" "" "" "$CNI_DIR/ok.json" || fail "STATUS of a usable hostif failed"
in_host env CNI_COMMAND=ADD CNI_IFNAME=eth1 "$PIPEWORK_BIN" <"$CNI_DIR/ok.json" >"$CNI_DIR/err.json" 2>/dev/null && fail "ADD without CNI_CONTAINERID passed"
expect "the missing variables are named" "CNI_CONTAINERID, CNI_NETNS, CNI_PATH" cat "$CNI_DIR/err.json"
same_as_before "$G3" "$before" "no refused call changed anything"

# 0.4.0 results carry each IP's version.
sed 's/"1.0.0"/"0.4.0"/' "$CNI_DIR/static.json" >"$CNI_DIR/v04.json"
cni pipework ADD /proc/$G3/ns/net eth1 c3 "$CNI_DIR/v04.json" >"$CNI_DIR/r3.json" || fail "ADD 0.4.0: $(cat "$CNI_DIR/r3.json")"
[ "$(jq_ "$CNI_DIR/r3.json" 'j["cniVersion"], j["ips"][0]["version"]')" = "('0.4.0', '4')" ] || fail "0.4.0 result: $(cat "$CNI_DIR/r3.json")"
note "ok: a 0.4.0 result says each IP's version"

# A chain: bandwidth and portmap after pipework, each given the result
# before it as prevResult. bandwidth finds our host side through the result
# (a tbf on it); portmap forwards the host's port 8080 to the guest's 5001.
G4=$(new_guest)
sed 's#10.60.0.2/24#10.60.0.4/24#' "$CNI_DIR/static.json" >"$CNI_DIR/g4.json"
cni pipework ADD /proc/$G4/ns/net eth1 c4 "$CNI_DIR/g4.json" >"$CNI_DIR/r4.json" || fail "ADD: $(cat "$CNI_DIR/r4.json")"
cat >"$CNI_DIR/bw.json" <<JSON
{"cniVersion": "1.0.0", "name": "lan", "type": "bandwidth",
 "ingressRate": 800000000, "ingressBurst": 80000000, "egressRate": 800000000, "egressBurst": 80000000}
JSON
cat >"$CNI_DIR/pm.json" <<JSON
{"cniVersion": "1.0.0", "name": "lan", "type": "portmap", "capabilities": {"portMappings": true},
 "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 5001, "protocol": "tcp"}]}}
JSON
with_prev "$CNI_DIR/bw.json" "$CNI_DIR/r4.json" >"$CNI_DIR/bw-prev.json"
cni bandwidth ADD /proc/$G4/ns/net eth1 c4 "$CNI_DIR/bw-prev.json" >"$CNI_DIR/r4b.json" || fail "bandwidth after pipework: $(cat "$CNI_DIR/r4b.json")"
with_prev "$CNI_DIR/pm.json" "$CNI_DIR/r4b.json" >"$CNI_DIR/pm-prev.json"
cni portmap ADD /proc/$G4/ns/net eth1 c4 "$CNI_DIR/pm-prev.json" >/dev/null || fail "portmap after bandwidth"
expect "bandwidth shaped our host side" "qdisc tbf" in_host tc qdisc show dev "$(jq_ "$CNI_DIR/r4.json" 'j["interfaces"][1]["name"]')"
in_host ip addr add 10.60.0.1/24 dev brcni
# The client is the host itself: a process in its namespace.
ip netns exec "$HOST" sleep "$GUEST_TAG" >/dev/null 2>&1 &
H=$!
tcp_ok "$H" "$G4" 10.60.0.1 8080
cni portmap DEL /proc/$G4/ns/net eth1 c4 "$CNI_DIR/pm-prev.json" || fail "portmap DEL"
cni bandwidth DEL /proc/$G4/ns/net eth1 c4 "$CNI_DIR/bw-prev.json" || fail "bandwidth DEL"
cni pipework DEL /proc/$G4/ns/net eth1 c4 "$CNI_DIR/g4.json" || fail "pipework DEL"
expect_not "the chain's DEL left no DNAT rule" "8080" in_host iptables -t nat -S
expect_not "nor eth1" "eth1" in_guest "$G4" ip -o link

# DHCP through CNI: the built-in client (it writes no resolv.conf) leases an
# address from dnsmasq and stays to renew; the result reports the lease and
# the router; DEL stops the client.
resolv_before=$(sha256sum </etc/resolv.conf)
start_dhcp_server brdh 10.69.0
G5=$(new_guest)
echo '{"cniVersion": "1.0.0", "name": "dh", "type": "pipework", "hostif": "brdh", "address": "builtin-dhcp-f"}' >"$CNI_DIR/dh.json"
cni pipework ADD /proc/$G5/ns/net eth1 c5 "$CNI_DIR/dh.json" >"$CNI_DIR/r5.json" || fail "DHCP ADD: $(cat "$CNI_DIR/r5.json")"
leased=$(in_guest "$G5" ip -o -4 addr show eth1 | awk '{print $4}')
[[ "$leased" =~ ^10\.69\.0\.(1[0-9][0-9]|200)/24$ ]] || fail "no lease on eth1: '$leased'"
[ "$(jq_ "$CNI_DIR/r5.json" 'j["ips"][0]["address"], j["ips"][0]["gateway"], j["routes"][0]["gw"]')" = "('$leased', '10.69.0.1', '10.69.0.1')" ] ||
    fail "the DHCP result does not report the lease: $(cat "$CNI_DIR/r5.json")"
note "ok: the result reports the lease $leased and router 10.69.0.1"
grep -qE " ${leased%/24} c5 " "$DHCP_LEASES" || fail "the client did not send the container ID as hostname: $(cat "$DHCP_LEASES")"
[ -n "$(procs_in "$G5")" ] || fail "no DHCP client stayed to renew"
cni pipework DEL /proc/$G5/ns/net eth1 c5 "$CNI_DIR/dh.json" || fail "DHCP DEL"
for i in $(seq 50); do [ -z "$(procs_in "$G5")" ] && break; sleep 0.1; done
[ -z "$(procs_in "$G5")" ] || fail "DEL left the DHCP client running: $(procs_in "$G5")"
[ "$(sha256sum </etc/resolv.conf)" = "$resolv_before" ] || fail "the host's resolv.conf changed"
note "ok: DEL stopped the client; the host's resolv.conf is untouched"
